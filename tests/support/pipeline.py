"""The pipeline's pure steps in memory, from a synthetic chain to the replay's inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from softliq_core.decode import DecodedLogs, decode_logs
from softliq_core.markets import build_markets
from softliq_core.oracle_prices import oracle_prices
from softliq_core.replay.inputs import MarketHistory, market_histories
from softliq_core.sources.synthetic import SyntheticChain
from softliq_core.store.warehouse import OUTCOME_TABLES, Warehouse


@dataclass(frozen=True)
class InMemory:
    decoded: DecodedLogs
    markets: pl.DataFrame
    rate_samples: pl.DataFrame
    prices: pl.DataFrame
    histories: list[MarketHistory]


def run_in_memory(chain: SyntheticChain, decoded: DecodedLogs | None = None) -> InMemory:
    feeds = chain.feeds_table()
    if decoded is None:
        decoded = decode_logs(chain.raw_logs, chain.blocks, feeds)
    markets = build_markets(decoded.morpho_events, chain.tokens_table(), chain.oracles_table())
    rates = chain.rate_samples()
    prices = oracle_prices(decoded.oracle_rounds, markets, feeds, chain.blocks, rates)
    histories = market_histories(decoded.morpho_events, prices, markets, chain.blocks)
    return InMemory(decoded, markets, rates, prices, histories)


def warehouse_rows(
    path: str | Path, protocol: str | None = None
) -> dict[str, list[tuple[object, ...]]]:
    """Every outcome table of a DuckDB file (optionally one protocol's rows), its rows sorted: two
    runs compare equal or not."""
    warehouse = Warehouse(path)
    where = {
        table: f" WHERE protocol = '{protocol}'" if protocol and table != "scenarios" else ""
        for table in OUTCOME_TABLES
    }
    return {
        table: sorted(warehouse.query(f"SELECT * FROM {table}{where[table]}").rows(), key=repr)
        for table in OUTCOME_TABLES
    }
