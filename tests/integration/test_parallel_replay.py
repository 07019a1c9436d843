"""The scenario set replayed in parallel chunks under Dagster's multiprocess executor: 30 days,
three chunks, every step green, and DuckDB rows equal to a serial in-process run; and the same on
a lake in an object store (S3 on loopback, fewer days), which every step process reads and writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from pipelines.definitions import INGEST_JOB, REPLAY_JOB, build_definitions, replay_job
from pipelines.settings import Settings
from softliq_core.store.warehouse import OUTCOME_TABLES
from tests.support.object_store import s3_bucket
from tests.support.pipeline import warehouse_rows

SCENARIOS = Path(__file__).parents[2] / "data" / "scenarios" / "default.toml"


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
            run_config={"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}},
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
