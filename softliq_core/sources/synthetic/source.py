"""The synthetic chain behind the ChainSource interface, generated once per configuration."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import polars as pl

from softliq_core.replay.aave_history import AavePoolSetup
from softliq_core.sources.synthetic.aave import AAVE_POOL, AAVE_TREASURY
from softliq_core.sources.synthetic.chain import (
    SyntheticChain,
    SyntheticChainConfig,
    generate_chain,
)


@lru_cache(maxsize=4)
def _chain(config: SyntheticChainConfig) -> SyntheticChain:
    return generate_chain(config)


class SyntheticSource:
    def __init__(self, config: SyntheticChainConfig | None = None) -> None:
        self.config = config or SyntheticChainConfig()
        self.chain_id = self.config.chain_id

    @property
    def chain(self) -> SyntheticChain:
        return _chain(self.config)

    def days(self) -> list[date]:
        return [self.config.start_date + timedelta(days=i) for i in range(self.config.days)]

    def day_block_range(self, day: date) -> tuple[int, int] | None:
        start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        in_day = self.chain.blocks.filter(
            (pl.col("timestamp") >= start) & (pl.col("timestamp") < start + 86_400)
        )
        if in_day.is_empty():
            return None
        return int(in_day["block_number"].min()), int(in_day["block_number"].max())  # type: ignore[arg-type]

    def logs(self, first_block: int, last_block: int) -> pl.DataFrame:
        return self.chain.raw_logs.filter(
            pl.col("block_number").is_between(first_block, last_block)
        )

    def blocks(self, first_block: int, last_block: int) -> pl.DataFrame:
        return self.chain.blocks.filter(pl.col("block_number").is_between(first_block, last_block))

    def tokens(self) -> pl.DataFrame:
        return self.chain.tokens_table()

    def oracles(self) -> pl.DataFrame:
        return self.chain.oracles_table()

    def feeds(self) -> pl.DataFrame:
        return self.chain.feeds_table()

    def oracle_truth(self) -> pl.DataFrame:
        return self.chain.truth_prices

    def rate_at(
        self, contract: str, call: str, sample: int | None, blocks: Sequence[int]
    ) -> list[int]:
        return [self.chain.rate_at(contract, call, sample, b) for b in blocks]

    def aave_pool(self) -> AavePoolSetup | None:
        aave = self.chain.aave
        if aave is None:
            return None
        return AavePoolSetup(
            AAVE_POOL,
            AAVE_TREASURY,
            aave.versions,
            aave.price_sources,
            {address: (symbol, decimals) for symbol, (address, decimals) in aave.tokens.items()},
        )
