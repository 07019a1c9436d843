"""The float sweep of a scenario grid (replay/float_sweep.py): Parquet beside the DuckDB file, read
by its ``float_sweep_*`` views. The sweep is one step (numba threads over the cores); the views
are made by a second, the DuckDB writer of the ``duckdb_writer`` pool."""

import time
from pathlib import Path
from typing import Any

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
from softliq_core.store.sweeps import read_sweep, sweep_dir

SWEEP_INPUTS = ("morpho_events", "oracle_prices", "markets", "blocks")


@dg.op(ins={dep: dg.In(dg.Nothing) for dep in SWEEP_INPUTS})
def sweep_scenario_set(
    context: dg.OpExecutionContext,
    source: ChainSourceResource,
    lake: LakeResource,
    warehouse: WarehouseResource,
    sweep_scenarios: ScenarioSetResource,
) -> dict[str, Any]:
    """Sweep the set over the lake's Morpho markets; write its tables; what the run shows."""
    scenario_file = Path(sweep_scenarios.path)
    started = time.perf_counter()
    sweep, written = steps.sweep_floats(
        lake.lake(),
        source.open().chain_id,
        scenario_file,
        sweep_dir(warehouse.path, scenario_file),
    )
    seconds = time.perf_counter() - started
    context.log.info(f"{sweep.scenarios.height} scenarios swept in {seconds:.1f} s")
    summary = sweep.summary
    return {
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


@dg.op(pool="duckdb_writer", out=dg.Out(dg.Nothing))
def make_sweep_views(
    context: dg.OpExecutionContext,
    swept: dict[str, Any],
    lake: LakeResource,
    warehouse: WarehouseResource,
) -> None:
    """The DuckDB file's views over the sweeps beside it, made again (one write, in the pool)."""
    warehouse.warehouse().refresh_views(lake.root)
    context.add_output_metadata(swept)


@dg.graph_asset(
    ins={dep: dg.AssetIn(dagster_type=dg.Nothing) for dep in SWEEP_INPUTS},
    group_name="outcomes",
    kinds={"numba", "parquet", "duckdb"},
    description="The sweep scenario set (SOFTLIQ_SWEEP_SCENARIOS) over every Morpho market in the float kernel: per position, per scenario x market and the scenarios, in sweeps/sweep=<set>/ beside the DuckDB file and its float_sweep_* views",
)
def float_sweep(morpho_events, oracle_prices, markets, blocks):  # type: ignore[no-untyped-def]
    swept = sweep_scenario_set(
        morpho_events=morpho_events, oracle_prices=oracle_prices, markets=markets, blocks=blocks
    )
    return make_sweep_views(swept)


@dg.asset_check(
    asset="float_sweep",
    description="No simulated position ends with a negative or non-finite count, balance, amount or LTV",
)
def outcomes_are_physical(
    warehouse: WarehouseResource, sweep_scenarios: ScenarioSetResource
) -> dg.AssetCheckResult:
    positions = read_sweep(sweep_dir(warehouse.path, sweep_scenarios.path), "positions")
    broken = unphysical_outcomes(positions)
    return dg.AssetCheckResult(
        passed=broken.is_empty(),
        metadata={"positions_checked": positions.height, "broken": _table(broken, 5)},
    )
