"""What the pipeline asks of a chain source, whatever it is (synthetic, RPC, files)."""

from __future__ import annotations

from datetime import date
from typing import Protocol

import polars as pl


class ChainSource(Protocol):
    chain_id: int

    def day_block_range(self, day: date) -> tuple[int, int] | None:
        """First and last block whose timestamp falls on ``day`` (UTC), None if there are none."""
        ...

    def logs(self, first_block: int, last_block: int) -> pl.DataFrame:
        """``raw_logs`` rows (cryo's logs schema) of the watched contracts in the range."""
        ...

    def blocks(self, first_block: int, last_block: int) -> pl.DataFrame:
        """``blocks`` rows of every block in the range."""
        ...

    def tokens(self) -> pl.DataFrame:
        """address, symbol, decimals of the markets' tokens."""
        ...

    def oracles(self) -> pl.DataFrame:
        """The markets' oracle immutables (feeds, scale factor)."""
        ...

    def feeds(self) -> pl.DataFrame:
        """The Chainlink feeds (proxies) the oracles name, one row per phase (``FEEDS``)."""
        ...
