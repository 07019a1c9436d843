"""Daily-partitioned ingest and decode: raw_logs + blocks, then morpho_events, aave_events, oracle_rounds, quarantine."""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import polars as pl

from pipelines.resources import ChainSourceResource, LakeResource
from softliq_core import steps
from softliq_core.tables import BLOCKS


def _days(context: dg.AssetExecutionContext) -> list[date]:
    return [date.fromisoformat(key) for key in context.partition_keys]


def ingest_assets(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=[
            dg.AssetSpec("raw_logs", description="EVM logs of the watched contracts (cryo logs schema)", group_name="lake", kinds={"parquet"}),
            dg.AssetSpec("blocks", description="Every block: number, hash, parent hash, timestamp, base fee", group_name="lake", kinds={"parquet"}),
        ],
        check_specs=[
            dg.AssetCheckSpec("blocks_contiguous", asset="blocks", description="No gap in block numbers and each block's parent hash is its predecessor's hash, across the run's days"),
        ],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )  # fmt: skip
    def raw_logs_and_blocks(
        context: dg.AssetExecutionContext, source: ChainSourceResource, lake: LakeResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        chain = source.open()
        store = lake.lake()
        counts = [steps.ingest_day(chain, store, day) for day in _days(context)]
        for c in counts:
            context.log.info(f"{c.day}: blocks {c.first_block}..{c.last_block}, {c.logs} logs")
        logs = sum(c.logs for c in counts)
        yield dg.MaterializeResult(asset_key="raw_logs", metadata={"logs": logs})
        yield dg.MaterializeResult(
            asset_key="blocks", metadata={"blocks": sum(c.blocks for c in counts)}
        )
        blocks = store.read("blocks", BLOCKS, chain.chain_id, _days(context)).sort("block_number")
        numbers = blocks["block_number"].cast(pl.Int64)
        gaps = int((numbers.diff().drop_nulls() != 1).sum())
        broken_links = (
            int(
                (
                    blocks["parent_hash"].slice(1)
                    != blocks["block_hash"].slice(0, blocks.height - 1)
                ).sum()
            )
            if blocks.height > 1
            else 0
        )
        yield dg.AssetCheckResult(
            asset_key="blocks",
            check_name="blocks_contiguous",
            passed=gaps == 0 and broken_links == 0,
            metadata={"gaps": gaps, "broken_parent_links": broken_links},
        )

    return raw_logs_and_blocks


def decode_assets(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=[
            dg.AssetSpec("morpho_events", deps=["raw_logs", "blocks"], description="Morpho Blue, AdaptiveCurveIrm and pre-liquidation events, one row per log", group_name="lake", kinds={"parquet"}),
            dg.AssetSpec("aave_events", deps=["raw_logs", "blocks"], description="Aave V3 Pool, aToken / variable debt token, PoolConfigurator and AaveOracle events, one row per log", group_name="lake", kinds={"parquet"}),
            dg.AssetSpec("oracle_rounds", deps=["raw_logs", "blocks"], description="Chainlink AnswerUpdated rounds per feed", group_name="lake", kinds={"parquet"}),
            dg.AssetSpec("quarantine", deps=["raw_logs", "blocks"], description="Logs that did not decode, with the reason and the whole log", group_name="lake", kinds={"parquet"}),
        ],
        check_specs=[
            dg.AssetCheckSpec("every_log_decoded_or_quarantined", asset="morpho_events", description="raw logs = morpho events + aave events + oracle rounds + quarantined logs, day by day"),
        ],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )  # fmt: skip
    def decoded_events(
        context: dg.AssetExecutionContext, source: ChainSourceResource, lake: LakeResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        chain_id = source.open().chain_id
        store = lake.lake()
        per_day = {day: steps.decode_day(store, chain_id, day) for day in _days(context)}
        totals = {k: sum(c[k] for c in per_day.values()) for k in next(iter(per_day.values()))}
        for table in ("morpho_events", "aave_events", "oracle_rounds", "quarantine"):
            yield dg.MaterializeResult(asset_key=table, metadata={"rows": totals[table]})
        unbalanced = [
            str(day)
            for day, c in per_day.items()
            if c["raw_logs"]
            != c["morpho_events"] + c["aave_events"] + c["oracle_rounds"] + c["quarantine"]
        ]
        yield dg.AssetCheckResult(
            asset_key="morpho_events",
            check_name="every_log_decoded_or_quarantined",
            passed=not unbalanced,
            metadata={**totals, "unbalanced_days": ", ".join(unbalanced) or "none"},
        )

    return decoded_events
