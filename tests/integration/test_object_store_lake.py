"""The lake on an object store: an S3 server on loopback (moto's, speaking the S3 protocol over
HTTP) holds the lake and the replay snapshots, configured the way AWS tools are (AWS_* variables).
The same pipeline steps give the same tables and outcomes as on a local disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from softliq_core import steps
from softliq_core.replay.scenario import Scenario
from softliq_core.replay.snapshot import replay_version
from softliq_core.sources.synthetic import SyntheticChainConfig, SyntheticSource
from softliq_core.store.lake import Lake
from softliq_core.store.snapshots import SnapshotStore
from softliq_core.store.warehouse import Warehouse
from softliq_core.tables import BLOCKS, MARKETS, MORPHO_EVENTS, ORACLE_PRICES, RAW_LOGS
from tests.integration.test_divergence import SCENARIOS as DIVERGENCE_SCENARIOS
from tests.support.object_store import s3_bucket
from tests.support.pipeline import warehouse_rows

SOURCE = SyntheticSource(SyntheticChainConfig(seed=11, days=3, borrowers_per_market=8, crash_day=1))
SCENARIOS: list[Scenario] = DIVERGENCE_SCENARIOS[:3]


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    with s3_bucket() as bucket:
        yield f"{bucket}/softliq"


@pytest.fixture(scope="module")
def lakes(s3: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Lake]:
    remote, local = Lake(s3), Lake(tmp_path_factory.mktemp("local") / "lake")
    for lake in (remote, local):
        steps.build_lake(SOURCE, lake, SOURCE.days())
    return remote, local


def test_the_lake_on_s3_holds_what_a_local_lake_holds(lakes: tuple[Lake, Lake]) -> None:
    remote, local = lakes
    assert remote.root.startswith("s3://lake-") and not remote.storage.is_local
    assert remote.days("blocks", 1) == local.days("blocks", 1) == SOURCE.days()
    assert remote.chain_ids() == [1]
    for table, schema in (
        ("raw_logs", RAW_LOGS), ("blocks", BLOCKS), ("morpho_events", MORPHO_EVENTS),
        ("markets", MARKETS), ("oracle_prices", ORACLE_PRICES),
    ):  # fmt: skip
        on_s3 = remote.read(table, schema, 1)
        assert on_s3.height > 0, table
        assert on_s3.equals(local.read(table, schema, 1)), table
    # objects are published whole: no draft left behind
    assert not [f for f in remote.storage.files() if f.endswith(".tmp")]


def test_replay_and_daily_snapshots_on_s3_equal_a_local_run(
    lakes: tuple[Lake, Lake], tmp_path: Path
) -> None:
    remote, local = lakes
    outcomes = {}
    for name, lake in (("remote", remote), ("local", local)):
        outcomes[name] = steps.replay_scenarios(lake, 1, SCENARIOS)
        steps.store_outcomes(outcomes[name], tmp_path / f"{name}.duckdb", lake)
        for day in lake.days("blocks", 1):  # the daily replay, snapshots in the lake
            steps.replay_through(lake, 1, SCENARIOS, day, tmp_path / f"{name}_daily.duckdb")
    assert outcomes["remote"].liquidation_actions.height > 0
    assert warehouse_rows(tmp_path / "remote.duckdb") == warehouse_rows(tmp_path / "local.duckdb")
    assert warehouse_rows(tmp_path / "remote_daily.duckdb") == warehouse_rows(
        tmp_path / "local.duckdb"
    )
    snapshots = SnapshotStore(remote.root, 1, replay_version(SCENARIOS))
    assert snapshots.days() == SOURCE.days()
    assert snapshots.size(SOURCE.days()[-1]) > 0
    assert snapshots.path(SOURCE.days()[0]).startswith(f"{remote.root}/replay_snapshots/")
    # DuckDB here cannot read s3:// (no httpfs offline): the markets and feeds are copied beside
    # the file, so the views over them (and the summary in tokens) read as over a local lake;
    # the views over the big tables are not made
    remote_db, local_db = (
        Warehouse(tmp_path / "remote.duckdb"),
        Warehouse(tmp_path / "local.duckdb"),
    )
    views = "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1"
    assert set(remote_db.query(views)["view_name"]) == {
        "lake_markets",
        "lake_feeds",
        "scenario_market_summary_tokens",
    }
    assert len(local_db.query(views)) > 5
    tokens = "SELECT * FROM scenario_market_summary_tokens ORDER BY ALL"
    assert remote_db.query(tokens).height > 0
    assert remote_db.query(tokens).equals(local_db.query(tokens))
    assert (tmp_path / "remote.duckdb.lake" / "markets" / "chain_id=1").is_dir()
