"""What the pipeline asks of a chain source, whatever it is (synthetic, RPC, files)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import polars as pl

if TYPE_CHECKING:
    from softliq_core.replay.aave_history import AavePoolSetup


class DayNotFinalError(Exception):
    """The day is not final yet (not ``confirmations`` blocks below the head, or above the node's
    finalized block): ingesting it now could write blocks a reorg replaces. Run it again later."""


class ChainSource(Protocol):
    chain_id: int

    def day_block_range(self, day: date) -> tuple[int, int] | None:
        """First and last block whose timestamp falls on ``day`` (UTC), None if there are none;
        raises ``DayNotFinalError`` while the day may still change."""
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

    def rate_at(
        self, contract: str, call: str, sample: int | None, blocks: Sequence[int]
    ) -> list[int]:
        """An oracle input that emits no event (``rate_samples.py``: a vault's
        ``convertToAssets(sample)``, an adapter's ``latestRoundData()`` answer) as ``eth_call``
        at each block returns it: the state after that block."""
        ...


@runtime_checkable
class KnowsOraclePrices(Protocol):
    """A source that knows the price its oracles returned (the synthetic chain): ground truth."""

    def oracle_truth(self) -> pl.DataFrame:
        """(block_number, log_index, market_id, kind, price) of every oracle read of history."""
        ...


@runtime_checkable
class RejectsRows(Protocol):
    """A source that imports rows it may refuse (files): the refused rows, with their reasons."""

    def rejected(self) -> pl.DataFrame:
        """``import_quarantine`` rows."""
        ...


@runtime_checkable
class KnowsAavePool(Protocol):
    """A source that knows its Aave V3 pool's configuration (the synthetic chain): the pool and
    treasury addresses, the Pool version in force by block, the AaveOracle sources' recipes."""

    def aave_pool(self) -> AavePoolSetup | None:
        """None when the chain has no Aave pool."""
        ...
