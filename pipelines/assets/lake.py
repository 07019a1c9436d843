"""Daily-partitioned ingest and decode: raw_logs + blocks, then morpho_events, aave_events,
oracle_rounds, quarantine; and the ``feeds`` reference table (Chainlink proxies and phases) that
decoding maps aggregators' rounds with, refreshed on every ingest run."""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import polars as pl

from pipelines.resources import ChainSourceResource, LakeResource
from softliq_core import steps
from softliq_core.sources.base import ChainSource, DayNotFinalError
from softliq_core.store.lake import Lake
from softliq_core.tables import BLOCKS


def _days(context: dg.AssetExecutionContext) -> list[date]:
    return [date.fromisoformat(key) for key in context.partition_keys]


def _ingest_days(
    context: dg.AssetExecutionContext, chain: ChainSource, store: Lake, days: list[date]
) -> list[steps.DayCounts]:
    """Ingest day by day, logging each day's and the run's blocks/s and logs/s."""
    counts: list[steps.DayCounts] = []
    for i, day in enumerate(days, 1):
        try:
            c = steps.ingest_day(chain, store, day)
        except DayNotFinalError as error:
            raise dg.Failure(f"{error}; run it again once it is final") from None
        counts.append(c)
        seconds = sum(x.seconds for x in counts)
        context.log.info(
            f"{c.day} ({i}/{len(days)}): blocks {c.first_block}..{c.last_block}, {c.blocks} blocks, "
            f"{c.logs} logs in {c.seconds:.1f} s ({c.blocks / max(c.seconds, 1e-9):,.0f} blocks/s, "
            f"{c.logs / max(c.seconds, 1e-9):,.0f} logs/s); run so far "
            f"{sum(x.blocks for x in counts) / max(seconds, 1e-9):,.0f} blocks/s, "
            f"{sum(x.logs for x in counts) / max(seconds, 1e-9):,.0f} logs/s"
        )
    return counts


def _contiguity(blocks: pl.DataFrame) -> tuple[int, int]:
    """Gaps in block numbers and parent links that are not the previous block's hash."""
    numbers = blocks["block_number"].cast(pl.Int64)
    gaps = int((numbers.diff().drop_nulls() != 1).sum())
    if blocks.height < 2:
        return gaps, 0
    links = blocks["parent_hash"].slice(1) != blocks["block_hash"].slice(0, blocks.height - 1)
    return gaps, int(links.sum())


def ingest_assets(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=[
            dg.AssetSpec("raw_logs", description="EVM logs of the watched contracts (cryo logs schema)", group_name="lake", kinds={"parquet"}),
            dg.AssetSpec("blocks", description="Every block: number, hash, parent hash, timestamp, base fee", group_name="lake", kinds={"parquet"}),
        ],
        check_specs=[
            dg.AssetCheckSpec("blocks_contiguous", asset="blocks", description="No gap in block numbers and each block's parent hash is its predecessor's hash, across the run's days"),
            dg.AssetCheckSpec("partitions_linked", asset="blocks", description="Each day's first block has the previous day's last block as parent, and the run's days and the newest one still end in the source's canonical blocks; partitions a reorg replaced are ingested and decoded again (listed in `reingested`)"),
        ],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )  # fmt: skip
    def raw_logs_and_blocks(
        context: dg.AssetExecutionContext, source: ChainSourceResource, lake: LakeResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        chain = source.open()
        store = lake.lake()
        days = _days(context)
        counts = _ingest_days(context, chain, store, days)
        rejected = steps.record_rejected_rows(chain, store)
        if rejected:
            context.log.warning(f"{rejected} imported row(s) quarantined: see import_quarantine")
        yield dg.MaterializeResult(
            asset_key="raw_logs",
            metadata={"logs": sum(c.logs for c in counts), "rows_quarantined_at_import": rejected},
        )
        yield dg.MaterializeResult(
            asset_key="blocks", metadata={"blocks": sum(c.blocks for c in counts)}
        )
        repair = steps.repair_reorgs(chain, store, days)
        if repair.reingested:
            context.log.warning(
                f"reorg: partitions {', '.join(map(str, repair.reingested))} no longer matched the "
                "source's chain and were ingested and decoded again"
            )
        yield dg.AssetCheckResult(
            asset_key="blocks",
            check_name="partitions_linked",
            passed=not repair.remaining,
            metadata={
                "broken_links": ", ".join(f"{a}->{b}" for a, b in repair.broken_links) or "none",
                "reingested": ", ".join(map(str, repair.reingested)) or "none",
                "still_broken": ", ".join(f"{a}->{b}" for a, b in repair.remaining) or "none",
            },
        )
        blocks = store.read("blocks", BLOCKS, chain.chain_id, days).sort("block_number")
        gaps, broken = _contiguity(blocks)
        # an export of logs alone (no blocks file) holds only the blocks its logs name
        sparse = not getattr(chain, "complete_blocks", True)
        yield dg.AssetCheckResult(
            asset_key="blocks",
            check_name="blocks_contiguous",
            passed=sparse or (gaps == 0 and broken == 0),
            metadata={
                "gaps": gaps,
                "broken_parent_links": broken,
                "blocks": "only those the imported logs name (no blocks file)" if sparse else "all",
            },
        )

    return raw_logs_and_blocks


@dg.asset(
    group_name="reference",
    kinds={"parquet"},
    description="Chainlink feeds by proxy: description, decimals, heartbeat, and each phase (aggregator, first block it served the proxy)",
)
def feeds(source: ChainSourceResource, lake: LakeResource) -> dg.MaterializeResult:
    table = steps.build_feeds(source.open(), lake.lake())
    return dg.MaterializeResult(
        metadata={
            "feeds": table["feed"].n_unique(),
            "phases": table.height,
            "switches": table.height - table["feed"].n_unique(),
        }
    )


def decode_assets(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=[
            dg.AssetSpec("morpho_events", deps=["raw_logs", "blocks"], description="Morpho Blue, AdaptiveCurveIrm and pre-liquidation events, one row per log", group_name="lake", kinds={"parquet"}),
            dg.AssetSpec("aave_events", deps=["raw_logs", "blocks"], description="Aave V3 Pool, aToken / variable debt token, PoolConfigurator and AaveOracle events, one row per log", group_name="lake", kinds={"parquet"}),
            dg.AssetSpec("oracle_rounds", deps=["raw_logs", "blocks", "feeds"], description="Chainlink AnswerUpdated rounds of every phase aggregator, mapped to the feed proxy (round id = phase << 64 | aggregator round)", group_name="lake", kinds={"parquet"}),
            dg.AssetSpec("quarantine", deps=["raw_logs", "blocks"], description="Logs that did not decode, with the reason and the whole log", group_name="lake", kinds={"parquet"}),
        ],
        check_specs=[
            dg.AssetCheckSpec("every_log_decoded_or_quarantined", asset="morpho_events", description="raw logs = morpho events + aave events + logs behind oracle rounds + quarantined logs, day by day"),
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
            != c["morpho_events"] + c["aave_events"] + c["oracle_round_logs"] + c["quarantine"]
        ]
        yield dg.AssetCheckResult(
            asset_key="morpho_events",
            check_name="every_log_decoded_or_quarantined",
            passed=not unbalanced,
            metadata={**totals, "unbalanced_days": ", ".join(unbalanced) or "none"},
        )

    return decoded_events
