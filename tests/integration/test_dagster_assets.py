"""The Dagster assets, materialised in process against a temporary lake and DuckDB file."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from pipelines.assets.daily_replay import REPLAY_STATE
from pipelines.definitions import DAILY_JOB, REPLAY_JOB, build_definitions
from pipelines.schedules import SCHEDULE
from pipelines.settings import Settings
from softliq_core.store.lake import Lake
from softliq_core.store.warehouse import OUTCOME_TABLES, Warehouse
from softliq_core.tables import FEEDS, MARKETS, ORACLE_ROUNDS, RAW_LOGS
from tests.support.pipeline import warehouse_rows


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
        "feeds", "raw_logs", "blocks", "morpho_events", "aave_events", "oracle_rounds", "quarantine",
        "markets", "rate_samples",
        "oracle_prices", "scenarios", "liquidation_actions", "clipped_actions",
        "position_outcomes", "scenario_market_summary", "baseline_validation", "governance_report",
        "replay_state", "float_sweep",
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
        assert checks == {
            "blocks_contiguous": True,
            "partitions_linked": True,
            "every_log_decoded_or_quarantined": True,
        }
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


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def _ingest_all(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    for day in ("2024-03-01", "2024-03-02"):
        job = defs.resolve_job_def("ingest_daily")
        assert job.execute_in_process(partition_key=day, instance=instance).success


ORACLE_ASSETS = ["markets", "rate_samples", "oracle_prices"]


def test_oracle_checks_pass_on_the_synthetic_chain_and_compare_with_its_oracle(
    settings: Settings,
) -> None:
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    _ingest_all(defs, instance)
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey(k) for k in ORACLE_ASSETS}
    )
    result = job.execute_in_process(instance=instance)
    assert result.success
    checks = _checks(result)
    assert {name: c.passed for name, c in checks.items()} == {
        "prices_positive": True,
        "every_market_priced_from_its_inputs": True,
        "prices_equal_the_sources_oracle": True,
        "feeds_within_heartbeat": True,
        "price_jumps": True,
    }
    truth = checks["prices_equal_the_sources_oracle"].metadata
    assert truth["evaluated"].value is True and truth["oracle_reads"].value > 0  # type: ignore[attr-defined,operator]
    assert truth["mismatches"].value == 0  # type: ignore[attr-defined]
    assert checks["feeds_within_heartbeat"].severity == dg.AssetCheckSeverity.WARN


def test_a_feed_without_history_fails_the_blocking_check_naming_market_and_feed(
    settings: Settings,
) -> None:
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    _ingest_all(defs, instance)
    lake = Lake(settings.lake_root)
    feeds = lake.read("feeds", FEEDS, 1)
    btc = feeds.filter(pl.col("description") == "BTC / USD")["feed"][0]
    for day in (date(2024, 3, 1), date(2024, 3, 2)):  # the BTC/USD rounds never ingested
        rounds = lake.read("oracle_rounds", ORACLE_ROUNDS, 1, [day])
        lake.write("oracle_rounds", rounds.filter(pl.col("feed") != btc), 1, day)
    result = defs.resolve_job_def("replay_scenarios").execute_in_process(
        instance=instance, raise_on_error=False
    )
    checks = _checks(result)
    priced = checks["every_market_priced_from_its_inputs"]
    assert not priced.passed
    problems = str(priced.metadata["problems"].value)  # type: ignore[attr-defined]
    (market,) = lake.read("markets", MARKETS, 1).filter(pl.col("collateral_symbol") == "WBTC")["market_id"]  # fmt: skip
    assert f"market {market}" in problems and f"feed {btc}" in problems
    # blocking: the replay did not run on a market it could not price
    materialized = {
        e.asset_key.to_user_string()
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key is not None
    }
    assert "oracle_prices" in materialized
    assert not materialized & {
        "scenario_market_summary",
        "liquidation_actions",
        "baseline_validation",
    }


def test_the_daily_job_replays_one_day_per_run_and_matches_the_full_replay_asset(
    settings: Settings, tmp_path: Path
) -> None:
    """Through Dagster: the daily job (ingest, reference, prices, replay_state) day after day, each
    run replaying one day from the day before's snapshot, equals the full replay's DuckDB rows."""
    defs = build_definitions(settings)
    replay_state = defs.resolve_assets_def(REPLAY_STATE)
    assert replay_state.partitions_def == defs.resolve_job_def(DAILY_JOB).partitions_def
    instance = dg.DagsterInstance.ephemeral()
    for day in ["2024-03-01", "2024-03-02"]:
        result = defs.resolve_job_def(DAILY_JOB).execute_in_process(
            partition_key=day, instance=instance
        )
        assert result.success
        [materialised] = result.asset_materializations_for_node(REPLAY_STATE)
        assert materialised.partition == day
        assert materialised.metadata["days_replayed"].value == 1
    full = replace(settings, duckdb_path=str(tmp_path / "full.duckdb"))
    assert (
        build_definitions(full)
        .resolve_job_def(REPLAY_JOB)
        .execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey(t) for t in OUTCOME_TABLES],
        )
        .success
    )
    # every row, the Aave pool's included
    assert warehouse_rows(settings.duckdb_path) == warehouse_rows(full.duckdb_path)
    on_aave = "SELECT count(*) FROM position_outcomes WHERE protocol = 'aave_v3'"
    assert Warehouse(settings.duckdb_path).query(on_aave).item() > 0
    schedule = defs.resolve_schedule_def(SCHEDULE)
    assert schedule.job_name == DAILY_JOB
