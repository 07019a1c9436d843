"""The scenario set replayed in parallel chunks under Dagster's multiprocess executor: 30 days,
three chunks, every step green, and DuckDB rows equal to a serial in-process run; the same on a
lake in an object store (S3 on loopback, fewer days), which every step process reads and writes;
and the daily replay backfilled day by day, three chunk steps a day, and as one run over the range,
each equal to the serial run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from dagster import DagsterInstance
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from pipelines.assets.daily_replay import REPLAY_STATE
from pipelines.definitions import INGEST_JOB, REPLAY_JOB, build_definitions, daily_job, replay_job
from pipelines.settings import Settings
from softliq_core.store.warehouse import OUTCOME_TABLES
from tests.support.object_store import s3_bucket
from tests.support.pipeline import warehouse_rows

SCENARIOS = Path(__file__).parents[2] / "data" / "scenarios" / "default.toml"
# spawned step processes: each reads the settings from the environment the test set (a forkserver,
# started once per process, would keep the first test's)
MULTIPROCESS = {"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}}


@pytest.fixture(params=[("local", 30), ("s3", 4)], ids=["local-30-days", "s3-4-days"])
def lake_and_days(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int]]:
    where, days = request.param
    if where == "local":
        yield str(tmp_path / "lake"), days
        return
    with s3_bucket() as bucket:
        yield f"{bucket}/softliq", days


def _env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, duckdb_file: str, lake: tuple[str, int]
) -> Settings:
    for name, value in {
        "SOFTLIQ_LAKE": lake[0],
        "SOFTLIQ_DUCKDB": str(tmp_path / duckdb_file),
        "SOFTLIQ_SCENARIOS": str(SCENARIOS),
        "SOFTLIQ_START_DATE": "2024-03-01",
        "SOFTLIQ_DAYS": str(lake[1]),
        "SOFTLIQ_SEED": "11",
        "SOFTLIQ_BORROWERS_PER_MARKET": "5",
        "SOFTLIQ_SCENARIO_CHUNKS": "3",
    }.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def test_multiprocess_replay_in_chunks_equals_a_serial_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lake_and_days: tuple[str, int]
) -> None:
    settings = _env(monkeypatch, tmp_path, "serial.duckdb", lake_and_days)
    defs = build_definitions(settings)
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        ingest = defs.resolve_job_def(INGEST_JOB).execute_in_process(
            instance=instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: settings.start_date.isoformat(),
                ASSET_PARTITION_RANGE_END_TAG: date(2024, 3, lake_and_days[1]).isoformat(),
            },
        )
        assert ingest.success
        outcome_keys = [dg.AssetKey(table) for table in OUTCOME_TABLES]
        serial = defs.resolve_job_def(REPLAY_JOB).execute_in_process(
            instance=instance,
            asset_selection=[
                *(dg.AssetKey(k) for k in ("markets", "rate_samples", "oracle_prices")),
                *outcome_keys,
            ],
        )
        assert serial.success  # also builds markets, rate_samples and oracle_prices

        _env(monkeypatch, tmp_path, "parallel.duckdb", lake_and_days)
        with dg.execute_job(
            dg.reconstructable(replay_job),
            instance=instance,
            asset_selection=outcome_keys,
            run_config=MULTIPROCESS,
        ) as parallel:
            assert parallel.success
            chunk_steps = {
                e.step_key
                for e in parallel.all_events
                if e.event_type_value == "STEP_SUCCESS"
                and e.step_key.startswith("scenario_outcomes.replay_scenario_chunk")
            }
            assert len(chunk_steps) == 3
            checks = [
                e.asset_check_evaluation_data
                for e in parallel.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION"
            ]
            assert checks and all(c.passed for c in checks), [c.check_name for c in checks]
            step_pids = {e.pid for e in parallel.all_events if e.step_key}
            assert len(step_pids) > 1  # the steps ran in processes of their own
    parallel_rows = warehouse_rows(tmp_path / "parallel.duckdb")
    assert parallel_rows == warehouse_rows(tmp_path / "serial.duckdb")
    assert len(parallel_rows["scenarios"]) == 9 and parallel_rows["liquidation_actions"]


# 30 is the backfill; the suite runs fewer days (each day is a run of its own, with its
# step processes): SOFTLIQ_BACKFILL_TEST_DAYS=30 runs the whole month (measured in the README).
BACKFILL_DAYS = int(os.environ.get("SOFTLIQ_BACKFILL_TEST_DAYS", "3"))


def _days_range(days: list[str]) -> dict[str, str]:
    return {ASSET_PARTITION_RANGE_START_TAG: days[0], ASSET_PARTITION_RANGE_END_TAG: days[-1]}


@contextmanager
def _lake_replayed_serially(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[DagsterInstance, list[str]]]:
    """``BACKFILL_DAYS`` days ingested and replayed serially in process (``serial.duckdb``), then
    the settings pointed at ``daily.duckdb`` for the backfill under test; yields the instance and
    the days."""
    lake = (str(tmp_path / "lake"), BACKFILL_DAYS)
    defs = build_definitions(_env(monkeypatch, tmp_path, "serial.duckdb", lake))
    (tmp_path / "dagster_home").mkdir()
    days = [date(2024, 3, d).isoformat() for d in range(1, BACKFILL_DAYS + 1)]
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        ingest = defs.resolve_job_def(INGEST_JOB)
        assert ingest.execute_in_process(instance=instance, tags=_days_range(days)).success
        references = [dg.AssetKey(k) for k in ("markets", "rate_samples", "oracle_prices")]
        assert (
            defs.resolve_job_def(REPLAY_JOB)
            .execute_in_process(
                instance=instance,
                asset_selection=[*references, *(dg.AssetKey(t) for t in OUTCOME_TABLES)],
            )
            .success
        )
        _env(monkeypatch, tmp_path, "daily.duckdb", lake)
        yield instance, days


def _assert_daily_rows_equal_the_serial_ones(tmp_path: Path) -> None:
    daily_rows = warehouse_rows(tmp_path / "daily.duckdb")
    assert daily_rows == warehouse_rows(tmp_path / "serial.duckdb")
    assert len(daily_rows["scenarios"]) == 9 and daily_rows["liquidation_actions"]


def test_a_daily_backfill_in_chunks_under_the_multiprocess_executor_equals_a_serial_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``replay_state`` day after day, as a backfill runs a self-dependent asset (one partition per
    run, in order), each run under the multiprocess executor with three chunk steps resuming their
    own snapshots: every step green, each day replays one day, and the DuckDB rows equal the
    serial full replay's."""
    with _lake_replayed_serially(monkeypatch, tmp_path) as (instance, days):
        for day in days:
            with dg.execute_job(
                dg.reconstructable(daily_job),
                instance=instance,
                asset_selection=[dg.AssetKey(REPLAY_STATE)],
                tags={PARTITION_NAME_TAG: day},
                run_config=MULTIPROCESS,
            ) as run:
                assert run.success, day
                succeeded = [e for e in run.all_events if e.event_type_value == "STEP_SUCCESS"]
                chunk_steps = [e for e in succeeded if ".replay_day_chunk[" in e.step_key]
                assert len(chunk_steps) == 3 and len(succeeded) == 5, day  # plan, 3 chunks, write
                assert len({e.pid for e in run.all_events if e.step_key}) > 1
                [written] = run.asset_materializations_for_node(REPLAY_STATE)
                assert (written.partition, written.metadata["days_replayed"].value) == (day, 1)
    _assert_daily_rows_equal_the_serial_ones(tmp_path)


def test_a_backfill_of_a_range_of_days_is_one_run_equal_to_a_serial_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``replay_state`` backfilled as one run over a range of days (its single-run backfill
    policy): three chunk steps replay the range in one stretch, every day of it is materialised,
    and the DuckDB rows equal the serial full replay's."""
    with (
        _lake_replayed_serially(monkeypatch, tmp_path) as (instance, days),
        dg.execute_job(
            dg.reconstructable(daily_job),
            instance=instance,
            asset_selection=[dg.AssetKey(REPLAY_STATE)],
            tags=_days_range(days),
            run_config=MULTIPROCESS,
        ) as run,
    ):
        assert run.success
        succeeded = [e for e in run.all_events if e.event_type_value == "STEP_SUCCESS"]
        assert len(succeeded) == 5  # plan, 3 chunks, write: once for the range
        written = run.asset_materializations_for_node(REPLAY_STATE)
        assert sorted(m.partition for m in written) == days
        assert {m.metadata["days_replayed"].value for m in written} == {BACKFILL_DAYS}
    _assert_daily_rows_equal_the_serial_ones(tmp_path)
