"""What an Aave V3 replay reads: the pool's configuration (address, treasury, the Pool version in
force by block, the AaveOracle sources' recipes, its assets), its decoded events, the price sources'
inputs and the block clock.

The configuration is the source's (``sources.base.KnowsAavePool``): the synthetic chain knows it;
an RPC or file source without it replays Morpho only. Everything else comes from the lake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import polars as pl

from softliq_core.aave_price_sources import PriceSource
from softliq_core.protocols.aave.math import PERCENTAGE_FACTOR, WAD
from softliq_core.protocols.aave.version import VersionSchedule
from softliq_core.replay.aave_ledger import AaveLedger, price_updates
from softliq_core.replay.inputs import BlockClock
from softliq_core.replay.scenario import AAVE_V3, MarketRef


@dataclass(frozen=True)
class AavePoolSetup:
    pool: str
    treasury: str
    versions: VersionSchedule
    price_sources: Mapping[str, PriceSource]  # AaveOracle source address -> recipe
    assets: Mapping[str, tuple[str, int]]  # reserve asset -> (symbol, decimals)


@dataclass(frozen=True)
class AaveHistory:
    setup: AavePoolSetup
    events: pl.DataFrame  # aave_events, in (block, log index) order
    prices: pl.DataFrame  # aave_ledger.price_updates
    clock: BlockClock
    # a stretch resumed from a snapshot: the highest liquidation threshold set before its events
    earlier_lltv: int = 0

    @property
    def market(self) -> MarketRef:
        ref = aave_market_ref(self.setup, self.events)
        return replace(ref, lltv=max(ref.lltv, self.earlier_lltv))

    def ledger(self) -> AaveLedger:
        decimals = {asset: d for asset, (_, d) in self.setup.assets.items()}
        return AaveLedger(
            self.setup.pool,
            self.setup.treasury,
            self.setup.versions,
            decimals,
            self.setup.price_sources,
        )

    def symbol(self, asset: str) -> str:
        return self.setup.assets.get(asset, (asset, 0))[0]


AAVE_CONFIGURATIONS = ("CollateralConfigurationChanged", "EModeCategoryAdded")


def aave_market_ref(setup: AavePoolSetup, aave_events: pl.DataFrame) -> MarketRef:
    """The pool as the "market" scenarios are validated against: its ``lltv`` is the highest
    liquidation threshold history ever set (a reserve's or an eMode's), as a WAD ratio — what
    bounds preLIF2 (preLIF2 · LT ≤ 1 keeps health from falling)."""
    highest = aave_event_days(aave_events)["highest_threshold"].to_list()
    return aave_pool_market(setup, max(highest, default=0))


def aave_pool_market(setup: AavePoolSetup, highest_threshold: int) -> MarketRef:
    """The pool as a market whose ``lltv`` is ``highest_threshold`` (basis points) as a WAD."""
    return MarketRef(
        setup.pool, "Aave V3 pool", highest_threshold * WAD // PERCENTAGE_FACTOR, protocol=AAVE_V3
    )


def aave_event_days(aave_events: pl.DataFrame) -> pl.DataFrame:
    """(date, events, highest_threshold) of ``aave_events`` with their ``date``, or of them as one
    day (null ``date``) without: each day's events counted and the highest liquidation threshold
    its configurations set (0 without one), what the pool's market reference needs of a day."""
    dated = aave_events if "date" in aave_events.columns else aave_events.with_columns(date=None)
    configured = pl.col("event").is_in(AAVE_CONFIGURATIONS)
    threshold = pl.col("liquidation_threshold").cast(pl.UInt64).filter(configured)
    return dated.group_by("date", maintain_order=True).agg(
        pl.len().alias("events"), threshold.max().fill_null(0).alias("highest_threshold")
    )


def aave_history(
    setup: AavePoolSetup,
    aave_events: pl.DataFrame,
    oracle_rounds: pl.DataFrame,
    feeds: pl.DataFrame,
    rate_samples: pl.DataFrame,
    blocks: pl.DataFrame,
    after_block: int = -1,
    earlier_lltv: int = 0,
) -> AaveHistory:
    """The pool's history within ``blocks``; the price inputs from ``oracle_rounds`` of these
    blocks and any before them (an aggregator switch replays the new aggregator's last earlier
    round), kept after ``after_block`` only: a stretch resumed from a snapshot of that block, whose
    ledger already holds the earlier inputs (``earlier_lltv``: see ``AaveHistory``)."""
    clock = BlockClock.from_blocks(blocks)
    # only what is in force within these blocks: a later aggregator switch, an input read in the
    # last block (in force from the next one) are beyond them
    serving = feeds.filter(pl.col("first_block") <= clock.last_block)
    prices = price_updates(oracle_rounds, serving, rate_samples)
    return AaveHistory(
        setup,
        aave_events.sort("block_number", "log_index"),
        prices.filter(pl.col("block_number").is_between(after_block + 1, clock.last_block)),
        clock,
        earlier_lltv,
    )
