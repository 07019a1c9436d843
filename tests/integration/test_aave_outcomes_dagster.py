"""The Aave pool's scenarios through Dagster: the replay job materialises the outcome tables, and
their Aave rows in DuckDB are the engine's, row for row, beside the Morpho markets' rows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from pipelines.definitions import INGEST_JOB, REPLAY_JOB, build_definitions
from pipelines.resources import chain_source_resource
from pipelines.settings import Settings
from softliq_core import steps
from softliq_core.replay.aave_engine import run_aave_scenarios
from softliq_core.replay.scenario import load_scenarios
from softliq_core.store.lake import Lake
from softliq_core.store.warehouse import Warehouse

SCENARIOS = Path(__file__).parents[2] / "data" / "scenarios" / "default.toml"


def test_aave_rows_in_duckdb_equal_the_engines(tmp_path: Path) -> None:
    settings = Settings(
        lake_root=str(tmp_path / "lake"), duckdb_path=str(tmp_path / "softliq.duckdb"),
        scenario_file=str(SCENARIOS), start_date=date(2024, 3, 1), days=2, seed=5,
        borrowers_per_market=10,
    )  # fmt: skip
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    for day in ("2024-03-01", "2024-03-02"):
        ingest = defs.resolve_job_def(INGEST_JOB)
        assert ingest.execute_in_process(partition_key=day, instance=instance).success
    replay = defs.resolve_job_def(REPLAY_JOB).execute_in_process(
        instance=instance,
        asset_selection=[
            dg.AssetKey(k)
            for k in ("markets", "rate_samples", "oracle_prices", "scenarios",
                      "liquidation_actions", "clipped_actions", "position_outcomes",
                      "scenario_market_summary")
        ],
    )  # fmt: skip
    assert replay.success

    source = chain_source_resource(settings).open()
    history = steps.load_aave_history(Lake(settings.lake_root), 1, steps.aave_setup(source))
    assert history is not None
    scenarios = load_scenarios(SCENARIOS)
    engine = run_aave_scenarios(history, scenarios)
    warehouse = Warehouse(settings.duckdb_path)
    for table, rows in (
        ("liquidation_actions", engine.actions),
        ("position_outcomes", engine.positions),
    ):
        stored = warehouse.query(f"SELECT * FROM {table} WHERE protocol = 'aave_v3'")
        assert stored.height == len(rows) > 0, table
        expected = pl.DataFrame(rows, infer_schema_length=None).select(stored.columns)
        key = ["scenario_id", "borrower"] + (
            ["block_number", "call_index"] if table == "liquidation_actions" else []
        )
        assert stored.cast(pl.String).sort(key).rows() == expected.cast(pl.String).sort(key).rows()  # fmt: skip
    # every Aave scenario of the set has its pool row in the summary, with what the engine did
    summary = warehouse.query(
        "SELECT s.name, m.liquidations, m.pre_liquidations FROM scenario_market_summary m "
        "JOIN scenarios s USING (scenario_id) WHERE m.protocol = 'aave_v3' ORDER BY s.name"
    )
    names = {s.scenario_id: s.name for s in scenarios}
    actions = pl.DataFrame(engine.actions, infer_schema_length=None)
    counted = {
        names[sid]: (
            actions.filter(
                (pl.col("scenario_id") == sid) & (pl.col("kind") == "liquidation")
            ).height,
            actions.filter(
                (pl.col("scenario_id") == sid) & (pl.col("kind") == "pre_liquidation")
            ).height,
        )
        for sid in names
        if names[sid] in ("history", "aave_baseline", "aave_pre_liq_105", "aave_pre_liq_110")
    }
    assert {r[0]: (r[1], r[2]) for r in summary.rows()} == counted
