"""Reorgs across day partitions: each partition records the blocks at its ends (``partition_blocks``),
so a partition whose blocks a reorg replaced after it was written is found and ingested again.

Within a day the sources check that every block's parent is its predecessor. Across days only the
lake can tell: the first block of a day must have the previous day's last block as parent. A broken
link says one side is stale, not which; the source's canonical hashes at both ends of each suspect
partition decide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

import polars as pl

from softliq_core.tables import PARTITION_BLOCKS

# block number -> (hash, parent hash) of the canonical block the source serves now, None if it has
# no such block (a lake written from another chain or export)
CanonicalBlock = Callable[[int], tuple[bytes, bytes] | None]


def partition_record(chain_id: int, day: date, blocks: pl.DataFrame, logs: int) -> pl.DataFrame:
    """The ``partition_blocks`` row of one day partition (hashes null when the day has no block)."""
    ordered = blocks.sort("block_number")
    first = ordered.row(0, named=True) if ordered.height else None
    last = ordered.row(-1, named=True) if ordered.height else None
    row = {
        "chain_id": chain_id,
        "date": day,
        "first_block": first and first["block_number"],
        "last_block": last and last["block_number"],
        "first_block_hash": first and first["block_hash"],
        "first_parent_hash": first and first["parent_hash"],
        "last_block_hash": last and last["block_hash"],
        "blocks": ordered.height,
        "logs": logs,
    }
    return pl.DataFrame([row], schema=pl.Schema(PARTITION_BLOCKS))


def broken_links(records: pl.DataFrame) -> list[tuple[date, date]]:
    """Consecutive partitions (the second starts right after the first ends) whose link is broken:
    the second's first parent hash is not the first's last block hash."""
    ends = records.filter(pl.col("first_block").is_not_null()).sort("first_block")
    pairs = ends.with_columns(
        pl.col("date").shift().alias("previous_date"),
        pl.col("last_block").shift().alias("previous_last"),
        pl.col("last_block_hash").shift().alias("previous_hash"),
    ).filter(
        (pl.col("first_block") == pl.col("previous_last") + 1)
        & (pl.col("first_parent_hash") != pl.col("previous_hash"))
    )
    return list(zip(pairs["previous_date"], pairs["date"], strict=True))


def stale_partitions(
    records: pl.DataFrame, days: Iterable[date], canonical: CanonicalBlock
) -> list[date]:
    """The ``days`` whose recorded end blocks are not the source's canonical ones any more."""
    wanted = set(days)
    stale = []
    for row in records.filter(pl.col("first_block").is_not_null()).iter_rows(named=True):
        if row["date"] not in wanted:
            continue
        first, last = canonical(row["first_block"]), canonical(row["last_block"])
        recorded = (row["first_block_hash"], row["first_parent_hash"], row["last_block_hash"])
        if first is None or last is None or (*first, last[0]) != recorded:
            stale.append(row["date"])
    return sorted(stale)
