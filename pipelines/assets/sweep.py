"""The float sweep of a scenario grid (replay/float_sweep.py): Parquet beside the DuckDB file, read
by its ``float_sweep_*`` views. Like the exact replay it fans out: the set is checked whole, then
swept in chunks (``SOFTLIQ_SWEEP_CHUNKS``, one step each, on any executor); one step in the
``duckdb_writer`` pool writes the files and makes the views."""

import time
from collections.abc import Iterator

import dagster as dg
import polars as pl

from pipelines.assets.replay import _table, fan_out
from pipelines.resources import (
    ChainSourceResource,
    LakeResource,
    ScenarioSetResource,
    WarehouseResource,
)
from softliq_core import steps
from softliq_core.replay.float_sweep import FloatSweep, concat_sweeps, unphysical_outcomes
from softliq_core.replay.scenario import Scenario
from softliq_core.store.sweeps import read_sweep, sweep_dir, write_sweep

SWEEP_INPUTS = ("morpho_events", "oracle_prices", "markets", "blocks")


@dg.op(ins={dep: dg.In(dg.Nothing) for dep in SWEEP_INPUTS}, out=dg.DynamicOut(list))
def plan_sweep_chunks(
    context: dg.OpExecutionContext,
    source: ChainSourceResource,
    lake: LakeResource,
    sweep_scenarios: ScenarioSetResource,
) -> Iterator[dg.DynamicOutput[list[Scenario]]]:
    """Check the whole sweep set, then fan it out in chunks (one step each)."""
    chunks = steps.plan_sweep_chunks(
        lake.lake(), source.open().chain_id, sweep_scenarios.load(), sweep_scenarios.chunks
    )
    yield from fan_out(context, chunks)


@dg.op
def sweep_scenario_chunk(
    context: dg.OpExecutionContext,
    chunk: list[Scenario],
    source: ChainSourceResource,
    lake: LakeResource,
) -> FloatSweep:
    """Sweep one chunk of the set over every Morpho market (numba threads over the cores)."""
    started = time.perf_counter()
    sweep = steps.sweep_floats(lake.lake(), source.open().chain_id, chunk)
    context.log.info(
        f"{sweep.scenarios.height} scenarios swept in {time.perf_counter() - started:.1f} s: "
        f"{sweep.positions.height} simulated positions"
    )
    return sweep


@dg.op(pool="duckdb_writer", out=dg.Out(dg.Nothing))
def write_sweep_tables(
    context: dg.OpExecutionContext,
    chunks: list[FloatSweep],
    lake: LakeResource,
    warehouse: WarehouseResource,
    sweep_scenarios: ScenarioSetResource,
) -> None:
    """The single writer: the set's tables beside the DuckDB file, then the file's views."""
    sweep = concat_sweeps(chunks)
    written = write_sweep(sweep, sweep_dir(warehouse.path, sweep_scenarios.path))
    warehouse.warehouse().refresh_views(lake.root)
    summary = sweep.summary
    context.add_output_metadata(
        {
            "scenarios": sweep.scenarios.height,
            "chunks": len(chunks),
            "markets": summary["market_id"].n_unique(),
            "positions_simulated": sweep.positions.height,
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


@dg.graph_asset(
    ins={dep: dg.AssetIn(dagster_type=dg.Nothing) for dep in SWEEP_INPUTS},
    group_name="outcomes",
    kinds={"numba", "parquet", "duckdb"},
    description="The sweep scenario set (SOFTLIQ_SWEEP_SCENARIOS) over every Morpho market in the float kernel, in chunks: per position, per scenario x market and the scenarios, in sweeps/sweep=<set>/ beside the DuckDB file and its float_sweep_* views",
)
def float_sweep(morpho_events, oracle_prices, markets, blocks):  # type: ignore[no-untyped-def]
    """The sweep set in parallel chunks, its tables written by one writer step."""
    chunks = plan_sweep_chunks(
        morpho_events=morpho_events, oracle_prices=oracle_prices, markets=markets, blocks=blocks
    )
    return write_sweep_tables(chunks.map(sweep_scenario_chunk).collect())


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
