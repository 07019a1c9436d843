"""The pipeline's steps as plain functions over a source, a lake and a warehouse.

Dagster assets (``pipelines/``) call these one to one; a notebook can call them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from softliq_core.decode import decode_logs
from softliq_core.markets import build_markets
from softliq_core.oracle_prices import oracle_prices
from softliq_core.replay.baseline_validation import baseline_validation
from softliq_core.replay.inputs import MarketHistory, market_histories
from softliq_core.replay.run import Outcomes, run_scenarios
from softliq_core.replay.scenario import Scenario, load_scenarios
from softliq_core.report.governance import build_report
from softliq_core.sources.base import ChainSource
from softliq_core.store.lake import Lake
from softliq_core.store.reports import report_inputs, write_report
from softliq_core.store.warehouse import Warehouse
from softliq_core.tables import (
    BLOCKS,
    MARKETS,
    MORPHO_EVENTS,
    ORACLE_PRICES,
    ORACLE_ROUNDS,
    RAW_LOGS,
)


@dataclass(frozen=True)
class DayCounts:
    day: date
    first_block: int | None
    last_block: int | None
    logs: int
    blocks: int


def ingest_day(source: ChainSource, lake: Lake, day: date) -> DayCounts:
    """Copy one UTC day of logs and blocks from the source into the lake's raw layer."""
    block_range = source.day_block_range(day)
    if block_range is None:
        logs = pl.DataFrame(schema=pl.Schema(RAW_LOGS))
        blocks = pl.DataFrame(schema=pl.Schema(BLOCKS))
    else:
        logs = source.logs(*block_range)
        blocks = source.blocks(*block_range)
    lake.write("raw_logs", logs, source.chain_id, day)
    lake.write("blocks", blocks, source.chain_id, day)
    first, last = block_range if block_range else (None, None)
    return DayCounts(day, first, last, logs.height, blocks.height)


def decode_day(lake: Lake, chain_id: int, day: date) -> dict[str, int]:
    """Decode one day of raw logs into morpho_events, aave_events, oracle_rounds and quarantine."""
    raw = lake.read("raw_logs", RAW_LOGS, chain_id, [day])
    blocks = lake.read("blocks", BLOCKS, chain_id, [day])
    decoded = decode_logs(raw, blocks)
    lake.write("morpho_events", decoded.morpho_events, chain_id, day)
    lake.write("aave_events", decoded.aave_events, chain_id, day)
    lake.write("oracle_rounds", decoded.oracle_rounds, chain_id, day)
    lake.write("quarantine", decoded.quarantine, chain_id, day)
    return {
        "raw_logs": raw.height,
        "morpho_events": decoded.morpho_events.height,
        "aave_events": decoded.aave_events.height,
        "oracle_rounds": decoded.oracle_rounds.height,
        "quarantine": decoded.quarantine.height,
    }


def _with_date(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.from_epoch(pl.col("timestamp").cast(pl.Int64), time_unit="s").dt.date().alias("date")
    )


def build_reference(source: ChainSource, lake: Lake) -> pl.DataFrame:
    """The ``markets`` table from every CreateMarket in the lake and the source's descriptions."""
    events = lake.read("morpho_events", MORPHO_EVENTS, source.chain_id)
    markets = build_markets(events, source.tokens(), source.oracles())
    lake.write("markets", markets, source.chain_id, None)
    return markets


def build_oracle_prices(lake: Lake, chain_id: int) -> pl.DataFrame:
    """Every market's oracle price after each round of its feeds, partitioned by day."""
    markets = lake.read("markets", MARKETS, chain_id)
    prices = oracle_prices(lake.read("oracle_rounds", ORACLE_ROUNDS, chain_id), markets)
    lake.write_by_day("oracle_prices", _with_date(prices), chain_id)
    return prices


def load_histories(lake: Lake, chain_id: int) -> list[MarketHistory]:
    """Every market's events, oracle prices and block clock, from the lake."""
    return market_histories(
        lake.read("morpho_events", MORPHO_EVENTS, chain_id),
        lake.read("oracle_prices", ORACLE_PRICES, chain_id),
        lake.read("markets", MARKETS, chain_id),
        lake.read("blocks", BLOCKS, chain_id),
    )


def replay_scenarios(lake: Lake, chain_id: int, scenarios: Sequence[Scenario]) -> Outcomes:
    """Replay every market of the lake under the scenario set (validated before any work)."""
    return run_scenarios(load_histories(lake, chain_id), scenarios)


def validate_baseline(lake: Lake, chain_id: int, warehouse_path: str | Path) -> pl.DataFrame:
    """Check every historical liquidation with the engine's rule and store ``baseline_validation``."""
    table = baseline_validation(load_histories(lake, chain_id))
    Warehouse(warehouse_path).replace_table("baseline_validation", table, lake.root)
    return table


def store_outcomes(outcomes: Outcomes, warehouse_path: str | Path, lake: Lake) -> None:
    Warehouse(warehouse_path).write_outcomes(outcomes, lake.root)


def write_governance_report(
    lake: Lake,
    chain_id: int,
    warehouse_path: str | Path,
    scenario_file: str | Path,
    out_dir: str | Path,
) -> Path:
    """The governance report of a replayed scenario set (``report.md`` and PNG charts)."""
    inputs = report_inputs(
        Warehouse(warehouse_path),
        load_histories(lake, chain_id),
        load_scenarios(scenario_file),
        scenario_file,
    )
    return write_report(build_report(inputs), out_dir)
