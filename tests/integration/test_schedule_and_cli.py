"""The daily schedule waits for yesterday to be final; ``softliq ingest`` backfills a date range
with a progress bar and says where to resume when a day fails."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from pipelines import cli
from pipelines.assets.lake import decode_assets, ingest_assets
from pipelines.resources import ChainSourceResource
from pipelines.schedules import ingest_yesterday_schedule
from softliq_core.sources.synthetic import SyntheticChain
from softliq_core.store.lake import Lake
from softliq_core.tables import BLOCKS, PARTITION_BLOCKS, RAW_LOGS
from tests.integration.test_file_source import write_cryo
from tests.integration.test_reorgs import day_ranges
from tests.integration.test_rpc_source import CONFIG, PATH, chain, watched
from tests.support.rpc_server import serving

__all__ = ["chain"]  # the module fixture


def rpc_resource(chain: SyntheticChain, confirmations: int) -> ChainSourceResource:
    return ChainSourceResource(
        kind="rpc",
        rpc_addresses=list(watched(chain)),
        rpc_requests_per_second=0,
        rpc_backoff_base=0.001,
        rpc_confirmations=confirmations,
        rpc_min_block=CONFIG.first_block,
        rpc_markets_from_block=CONFIG.first_block,
    )


def test_the_schedule_requests_yesterday_only_once_final(
    chain: SyntheticChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    daily = dg.DailyPartitionsDefinition(start_date="2024-03-01", end_date="2024-03-03")
    assets = [ingest_assets(daily), decode_assets(daily)]
    job = dg.define_asset_job("ingest_daily", selection=dg.AssetSelection.assets(*assets))
    schedule = ingest_yesterday_schedule(job, daily)
    ranges = day_ranges(chain)

    def evaluate(at: datetime) -> dg.RunRequest | dg.SkipReason:
        context = dg.build_schedule_context(
            scheduled_execution_time=at, resources={"source": rpc_resource(chain, 20)}
        )
        return schedule(context)  # type: ignore[no-any-return]

    with serving(chain) as server:
        monkeypatch.setenv("SOFTLIQ_RPC_URL", server.url(PATH))
        server.head = ranges[date(2024, 3, 2)][0] + 10  # 10 blocks into day two: 20 are needed
        waiting = evaluate(datetime(2024, 3, 2, 0, 15, tzinfo=UTC))
        assert isinstance(waiting, dg.SkipReason)
        assert waiting.skip_message is not None
        assert "2024-03-01 not ingested yet" in waiting.skip_message
        assert "head minus 20 confirmations" in waiting.skip_message
        server.head += 10  # an hour later, deep enough
        ready = evaluate(datetime(2024, 3, 2, 1, 15, tzinfo=UTC))
        assert isinstance(ready, dg.RunRequest)
        assert ready.partition_key == ready.run_key == "2024-03-01"  # once: the run key is the day
        outside = evaluate(datetime(2024, 3, 9, 1, 15, tzinfo=UTC))
        assert isinstance(outside, dg.SkipReason) and "not one of the job's days" in str(outside.skip_message)  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("SOFTLIQ_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("SOFTLIQ_DUCKDB", str(tmp_path / "softliq.duckdb"))
    return tmp_path


def test_cli_backfills_a_range_from_files_with_progress(
    chain: SyntheticChain,
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs, blocks = write_cryo(chain, env / "cryo")
    monkeypatch.setenv("SOFTLIQ_SOURCE", "files")
    monkeypatch.setenv("SOFTLIQ_FILES_LOGS", logs)
    monkeypatch.setenv("SOFTLIQ_FILES_BLOCKS", blocks)
    cli.main(["ingest", "--from", "2024-03-01", "--to", "2024-03-02"])
    out = capsys.readouterr()
    assert "2/2" in out.err and "blocks/s" in out.err and "logs/s" in out.err  # the progress bar
    assert "ingested 2 day(s), 14,400 blocks" in out.out
    lake = Lake(env / "lake")
    assert lake.read("blocks", BLOCKS, 1).height == 14_400
    two_days = pl.col("block_number") < CONFIG.first_block + 14_400
    assert lake.read("raw_logs", RAW_LOGS, 1).height == chain.raw_logs.filter(two_days).height
    assert lake.read("partition_blocks", PARTITION_BLOCKS, 1).height == 2
    assert lake.exists("morpho_events")  # decoded too: the ingest job is ingest + decode


def test_cli_stops_at_a_day_not_final_and_says_where_to_resume(
    chain: SyntheticChain, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ranges = day_ranges(chain)
    with serving(chain) as server:
        server.head = ranges[date(2024, 3, 2)][0] + 100  # day two is still being produced
        for key, value in {
            "SOFTLIQ_SOURCE": "rpc",
            "SOFTLIQ_RPC_URL": server.url(PATH),
            "SOFTLIQ_RPC_ADDRESSES": ",".join(watched(chain)),
            "SOFTLIQ_RPC_CONFIRMATIONS": "0",
            "SOFTLIQ_RPC_RPS": "0",
            "SOFTLIQ_RPC_MIN_BLOCK": str(CONFIG.first_block),
        }.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(SystemExit) as stopped:
            cli.main(["ingest", "--from", "2024-03-01", "--to", "2024-03-02"])
    message = str(stopped.value)
    assert "2024-03-02 failed: 2024-03-02 is not final" in message
    assert "resume with: softliq ingest --from 2024-03-02 --to 2024-03-02" in message
    assert Lake(env / "lake").read("blocks", BLOCKS, 1, [date(2024, 3, 1)]).height == 7_200
    assert not Lake(env / "lake").has_partition("blocks", 1, date(2024, 3, 2))
