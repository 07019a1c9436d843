"""The float sweep of a scenario grid (replay/float_sweep.py): Parquet beside the DuckDB file, read
by its ``float_sweep_*`` views."""

import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl

from pipelines.assets.replay import _table
from pipelines.resources import (
    ChainSourceResource,
    LakeResource,
    ScenarioSetResource,
    WarehouseResource,
)
from softliq_core import steps
from softliq_core.replay.float_sweep import unphysical_outcomes
from softliq_core.store.sweeps import sweep_dir

OUTCOMES_ARE_PHYSICAL = "outcomes_are_physical"


@dg.asset(
    deps=["morpho_events", "oracle_prices", "markets", "blocks"],
    group_name="outcomes",
    kinds={"numba", "parquet", "duckdb"},
    # Not in the duckdb_writer pool: a sweep holds its step for minutes, and its one write to the
    # file (the views) waits its turn on the warehouse's lock like any other writer.
    description="The sweep scenario set (SOFTLIQ_SWEEP_SCENARIOS) over every Morpho market in the float kernel: per position, per scenario x market and the scenarios, in sweeps/sweep=<set>/ beside the DuckDB file and its float_sweep_* views",
    check_specs=[
        dg.AssetCheckSpec(
            OUTCOMES_ARE_PHYSICAL,
            asset="float_sweep",
            description="No simulated position ends with a negative or non-finite count, balance, amount or LTV",
        )
    ],
)
def float_sweep(
    source: ChainSourceResource,
    lake: LakeResource,
    warehouse: WarehouseResource,
    sweep_scenarios: ScenarioSetResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    scenario_file = Path(sweep_scenarios.path)
    started = time.perf_counter()
    sweep, written = steps.sweep_floats(
        lake.lake(),
        source.open().chain_id,
        scenario_file,
        sweep_dir(warehouse.path, scenario_file),
    )
    seconds = time.perf_counter() - started
    warehouse.warehouse().refresh_views(lake.root)
    summary = sweep.summary
    yield dg.MaterializeResult(
        metadata={
            "scenarios": sweep.scenarios.height,
            "markets": summary["market_id"].n_unique(),
            "positions_simulated": sweep.positions.height,
            "seconds": round(seconds, 2),
            "path": dg.MetadataValue.path(str(written["summary"].parent)),
            "summary": _table(
                summary.select(
                    "scenario_name",
                    pl.col("market_id").str.slice(0, 10),
                    "positions_simulated",
                    "pre_liquidations",
                    "liquidations",
                    "bad_debt_assets",
                )
            ),
        }
    )
    broken = unphysical_outcomes(sweep.positions)
    yield dg.AssetCheckResult(
        check_name=OUTCOMES_ARE_PHYSICAL,
        passed=broken.is_empty(),
        metadata={"positions_checked": sweep.positions.height, "broken": _table(broken, 5)},
    )
