"""The Dagster assets, materialised in process against a temporary lake and DuckDB file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from pipelines.definitions import build_definitions
from pipelines.settings import Settings
from softliq_core.store.lake import Lake
from softliq_core.tables import RAW_LOGS


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        lake_root=str(tmp_path / "lake"),
        duckdb_path=str(tmp_path / "softliq.duckdb"),
        scenario_file=str(Path(__file__).parents[2] / "data" / "scenarios" / "default.toml"),
        start_date=date(2024, 3, 1),
        days=2,
        seed=5,
        borrowers_per_market=10,
    )


def test_asset_graph_has_every_layer(settings: Settings) -> None:
    defs = build_definitions(settings)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {
        "raw_logs", "blocks", "morpho_events", "aave_events", "oracle_rounds", "quarantine", "markets",
        "oracle_prices", "scenarios", "liquidation_actions", "clipped_actions",
        "position_outcomes", "scenario_market_summary", "baseline_validation", "governance_report",
    }  # fmt: skip
    daily = defs.resolve_job_def("ingest_daily").partitions_def
    assert daily is not None and daily.get_partition_keys() == ["2024-03-01", "2024-03-02"]


def test_one_day_materialises_with_passing_checks_and_rerun_is_idempotent(
    settings: Settings,
) -> None:
    defs = build_definitions(settings)
    job = defs.resolve_job_def("ingest_daily")
    instance = dg.DagsterInstance.ephemeral()
    for _ in range(2):
        result = job.execute_in_process(partition_key="2024-03-02", instance=instance)
        assert result.success
        checks = {
            e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        }
        assert checks == {"blocks_contiguous": True, "every_log_decoded_or_quarantined": True}
    files = sorted(
        p.relative_to(settings.lake_root).as_posix()
        for p in Path(settings.lake_root).rglob("*.parquet")
    )
    assert "raw_logs/chain_id=1/date=2024-03-02/part-0.parquet" in files
    assert not any("2024-03-01" in f for f in files)  # only the requested day
    logs = Lake(settings.lake_root).read("raw_logs", RAW_LOGS, 1, [date(2024, 3, 2)])
    assert logs.height > 0 and logs["block_number"].n_unique() > 1
    # the file is plain Parquet: readable without softliq, partition columns in the path
    assert (
        "chain_id"
        not in pl.read_parquet(
            Path(settings.lake_root)
            / files[files.index("raw_logs/chain_id=1/date=2024-03-02/part-0.parquet")]
        ).columns
    )
