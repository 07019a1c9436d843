"""Finality and reorgs: a day is ingested only once final, and partitions whose blocks a reorg
replaced after they were written are found and ingested again, until the lake equals the chain the
loopback server serves now."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from pipelines.assets.lake import ingest_assets
from pipelines.resources import ChainSourceResource, LakeResource
from softliq_core import reorgs, steps
from softliq_core.sources.rpc import DayNotFinalError, RpcSource
from softliq_core.sources.synthetic import SyntheticChain
from softliq_core.store.lake import Lake
from softliq_core.tables import (
    AAVE_EVENTS,
    BLOCKS,
    MORPHO_EVENTS,
    ORACLE_ROUNDS,
    PARTITION_BLOCKS,
    QUARANTINE,
    RAW_LOGS,
)
from tests.integration.test_rpc_source import CONFIG, DAYS, PATH, chain, rpc_config, watched
from tests.support.rpc_server import ChainRpcServer, serving

__all__ = ["chain"]  # the module fixture


def day_ranges(chain: SyntheticChain) -> dict[date, tuple[int, int]]:
    days = chain.blocks.with_columns(
        pl.from_epoch(pl.col("timestamp").cast(pl.Int64)).dt.date().alias("date")
    ).group_by("date").agg(pl.col("block_number").min().alias("lo"), pl.col("block_number").max().alias("hi"))  # fmt: skip
    return {d: (lo, hi) for d, lo, hi in days.iter_rows()}


def assert_lake_is_served_chain(lake: Lake, server: ChainRpcServer, days: list[date]) -> None:
    logs, blocks = server.served()
    ranges = day_ranges(server.chain)
    for day in days:
        lo, hi = ranges[day]
        for table, schema, served in (("raw_logs", RAW_LOGS, logs), ("blocks", BLOCKS, blocks)):
            ours = lake.read(table, schema, CONFIG.chain_id, [day])
            theirs = served.filter(pl.col("block_number").is_between(lo, hi))
            assert ours.height == theirs.height > 0, (table, day)
            assert ours.equals(theirs.sort("block_number", *(["log_index"] if table == "raw_logs" else []))), (table, day)  # fmt: skip


def test_partition_records_and_broken_links(chain: SyntheticChain, tmp_path: Path) -> None:
    with serving(chain) as server:
        lake = Lake(tmp_path)
        for day in DAYS:
            steps.ingest_day(RpcSource(rpc_config(server, chain)), lake, day)
    records = lake.read("partition_blocks", PARTITION_BLOCKS, CONFIG.chain_id).sort("date")
    assert records["date"].to_list() == DAYS
    assert records["first_block"][1] == records["last_block"][0] + 1
    assert records["first_parent_hash"][1] == records["last_block_hash"][0]
    assert reorgs.broken_links(records) == []
    tampered = records.with_columns(
        pl.when(pl.col("date") == DAYS[0])
        .then(pl.lit(b"\x01" * 32))
        .otherwise(pl.col("last_block_hash"))
        .alias("last_block_hash")
    )
    assert reorgs.broken_links(tampered) == [(DAYS[0], DAYS[1])]
    served = {r["block_number"]: (r["block_hash"], r["parent_hash"]) for r in chain.blocks.iter_rows(named=True)}  # fmt: skip
    assert reorgs.stale_partitions(records, DAYS, served.get) == []
    assert reorgs.stale_partitions(tampered, DAYS, served.get) == [DAYS[0]]
    assert reorgs.stale_partitions(records, DAYS[1:], lambda _: None) == [DAYS[1]]  # not served


def test_a_day_waits_for_confirmations_or_the_finalized_block(
    chain: SyntheticChain,
) -> None:
    ranges = day_ranges(chain)
    with serving(chain) as server:
        server.head = ranges[DAYS[1]][0] + 10  # ten blocks into day two: day one has ended
        config = rpc_config(server, chain)
        assert RpcSource(config).day_block_range(DAYS[0]) == ranges[DAYS[0]]
        deeper = dataclasses.replace(config, confirmations=11)
        with pytest.raises(DayNotFinalError, match="head minus 11 confirmations"):
            RpcSource(deeper).day_block_range(DAYS[0])
        finalized = dataclasses.replace(config, finalized=True)
        server.finalized_lag = 11  # the finalized block is still in day one
        with pytest.raises(DayNotFinalError, match="finalized block"):
            RpcSource(finalized).day_block_range(DAYS[0])
        server.finalized_lag = 10
        assert RpcSource(finalized).day_block_range(DAYS[0]) == ranges[DAYS[0]]


def test_a_reorg_of_the_newest_day_is_reingested(chain: SyntheticChain, tmp_path: Path) -> None:
    ranges = day_ranges(chain)
    lake = Lake(tmp_path)
    with serving(chain) as server:
        server.head = ranges[DAYS[1]][1] + 1  # day two is final
        source = RpcSource(rpc_config(server, chain))
        # the feeds table decoding maps AnswerUpdated to proxies with (what build_feeds writes)
        lake.write("feeds", chain.feeds_table(), CONFIG.chain_id, None)
        for day in DAYS:
            steps.ingest_day(source, lake, day)
        before = lake.read("raw_logs", RAW_LOGS, CONFIG.chain_id, [DAYS[1]]).height
        # the last 2,000 blocks of day two are replaced; nothing new is ingested afterwards
        server.reorg(ranges[DAYS[1]][1] - 1_999)
        repair = steps.repair_reorgs(RpcSource(rpc_config(server, chain)), lake, [])
        assert repair.reingested == [DAYS[1]]
        assert repair.remaining == []
        assert lake.read("raw_logs", RAW_LOGS, CONFIG.chain_id, [DAYS[1]]).height < before
        assert_lake_is_served_chain(lake, server, DAYS)
        # decoded again too: every log of the new day is an event, a round or quarantined
        decoded = [
            lake.read(table, schema, CONFIG.chain_id, [DAYS[1]]).height
            for table, schema in (
                ("morpho_events", MORPHO_EVENTS),
                ("aave_events", AAVE_EVENTS),
                ("oracle_rounds", ORACLE_ROUNDS),
                ("quarantine", QUARANTINE),
            )
        ]
        assert (
            decoded[2] > 0
            and sum(decoded) == lake.read("raw_logs", RAW_LOGS, CONFIG.chain_id, [DAYS[1]]).height
        )


def test_dagster_reingests_the_partitions_a_reorg_replaced_between_two_runs(
    chain: SyntheticChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ranges = day_ranges(chain)
    daily = dg.DailyPartitionsDefinition(start_date="2024-03-01", end_date="2024-03-03")
    root = tmp_path / "lake"
    with serving(chain) as server:
        monkeypatch.setenv("SOFTLIQ_RPC_URL", server.url(PATH))
        resources = {
            "source": ChainSourceResource(
                kind="rpc",
                rpc_addresses=list(watched(chain)),
                rpc_requests_per_second=0,
                rpc_backoff_base=0.001,
                rpc_confirmations=0,
                rpc_min_block=CONFIG.first_block,
                rpc_markets_from_block=CONFIG.first_block,
            ),
            "lake": LakeResource(root=str(root)),
        }
        server.head = ranges[DAYS[1]][0] + 20  # run 1: day one just became final
        first = dg.materialize(
            [ingest_assets(daily)], partition_key=DAYS[0].isoformat(), resources=resources
        )
        assert first.success
        # between the runs, the last 30 blocks of day one and every block after them are replaced
        # (transactions dropped, new hashes), and the chain grows to the end of day three
        server.reorg(ranges[DAYS[0]][1] - 29, new_head=max(ranges[d][1] for d in ranges))
        second = dg.materialize(
            [ingest_assets(daily)], partition_key=DAYS[1].isoformat(), resources=resources
        )
        assert second.success
        checks = {e.check_name: e for e in second.get_asset_check_evaluations()}
        linked = checks["partitions_linked"]
        assert linked.passed and checks["blocks_contiguous"].passed
        metadata = {k: v.value for k, v in linked.metadata.items()}
        assert metadata["broken_links"] == "2024-03-01->2024-03-02"
        assert metadata["reingested"] == "2024-03-01"
        assert metadata["still_broken"] == "none"
        assert_lake_is_served_chain(Lake(root), server, DAYS)
