"""Replay snapshots are a cache: the daily replay keeps the newest days and each month-end, and a
re-run of a day whose day-before snapshot is gone replays from the month-end before it, writing the
rows of one full replay."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from softliq_core import steps
from softliq_core.replay.snapshot import replay_version
from softliq_core.sources.synthetic import SyntheticChainConfig, SyntheticSource
from softliq_core.store.lake import Lake
from softliq_core.store.snapshots import TABLE, SnapshotStore
from tests.integration.test_daily_replay import SCENARIOS
from tests.support.pipeline import warehouse_rows

# Six days across a month's end: February 27 .. March 3, 2024 (a leap year).
SOURCE = SyntheticSource(
    SyntheticChainConfig(
        seed=9, days=6, start_date=date(2024, 2, 27), borrowers_per_market=8, crash_day=2
    )
)


def test_prune_keeps_the_newest_days_and_each_month_end(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, 1, "v")
    days = [date(2024, 1, 20) + timedelta(days=i) for i in range(60)]  # Jan 20 .. Mar 19
    for day in days:
        file = Path(store.path(day))
        file.parent.mkdir(parents=True)
        file.write_bytes(b"snapshot")
    assert store.prune(0) == [] and store.days() == days
    deleted = store.prune(5)
    assert store.days() == [date(2024, 1, 31), date(2024, 2, 29), *days[-5:]]
    assert sorted(deleted + store.days()) == days
    assert store.prune(5) == []


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("retention") / "lake")
    steps.build_lake(SOURCE, lake, SOURCE.days())
    return lake


def test_a_day_re_run_after_pruning_replays_from_the_month_end(lake: Lake, tmp_path: Path) -> None:
    days = lake.days("blocks", 1)
    assert [d.month for d in days] == [2, 2, 2, 3, 3, 3]
    steps.store_outcomes(steps.replay_scenarios(lake, 1, SCENARIOS), tmp_path / "full.duckdb", lake)
    daily = tmp_path / "daily.duckdb"
    for day in days:
        assert steps.replay_through(lake, 1, SCENARIOS, day, daily, keep_snapshot_days=2) == [day]
    store = SnapshotStore(lake.root, 1, replay_version(SCENARIOS))
    assert store.days() == [date(2024, 2, 29), *days[-2:]]
    assert warehouse_rows(daily) == warehouse_rows(tmp_path / "full.duckdb")
    # March 2's snapshot of the day before (March 1) is gone: from February 29's, two days
    assert steps.replay_through(lake, 1, SCENARIOS, days[4], daily, keep_snapshot_days=2) == [
        days[3],
        days[4],
    ]
    assert warehouse_rows(daily) == warehouse_rows(tmp_path / "full.duckdb")


def test_a_stretch_leaves_a_snapshot_at_each_month_end(lake: Lake, tmp_path: Path) -> None:
    """A catch-up from genesis (or a backfill of a range) in one stretch stops at February's end to
    leave a snapshot there; a later re-run of March 2 resumes from it, the rows unchanged."""
    shutil.copytree(lake.root, tmp_path / "lake", ignore=shutil.ignore_patterns(TABLE))
    lake = Lake(tmp_path / "lake")  # without the other test's snapshots
    days = lake.days("blocks", 1)
    steps.store_outcomes(steps.replay_scenarios(lake, 1, SCENARIOS), tmp_path / "full.duckdb", lake)
    daily = tmp_path / "daily.duckdb"
    assert steps.replay_through(lake, 1, SCENARIOS, days[-1], daily) == days
    store = SnapshotStore(lake.root, 1, replay_version(SCENARIOS))
    assert store.days() == [date(2024, 2, 29), days[-1]]
    assert warehouse_rows(daily) == warehouse_rows(tmp_path / "full.duckdb")
    assert steps.replay_through(lake, 1, SCENARIOS, days[4], daily) == days[3:5]
    assert warehouse_rows(daily) == warehouse_rows(tmp_path / "full.duckdb")
