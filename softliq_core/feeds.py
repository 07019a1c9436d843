"""Chainlink feeds as consumers see them: a proxy, its phases, and the answer in force at each log.

Morpho oracles and Aave price sources name a feed by its **proxy** (EACAggregatorProxy). The proxy
emits nothing: each phase's aggregator emits ``AnswerUpdated``, and the proxy forwards to the
aggregator of its current phase (spec ``aave_chainlink.md`` §6.3). So the ``feeds`` reference table
lists, per proxy, every phase: its id, its aggregator and the first block it served the proxy.

* ``oracle_rounds`` maps each aggregator's ``AnswerUpdated`` to the proxy, with the proxy's round id
  ``phase_id << 64 | aggregator round`` (unique across phases), and says whether the round was
  ``in_force``: published while its aggregator served the proxy. A new aggregator usually reports
  for a while before the switch, and the old one may go on reporting after it; those rounds are kept
  (the proxy's ``getRoundData`` returns them) but never set the price.
* ``feed_updates`` gives the answer the proxy returns, as it changes: every in-force round from its
  log, and each switch from the start of its first block (the proxy switches with no log, and
  discovery by ``aggregator()`` at block B only knows the switch happened somewhere in B) with the
  new aggregator's latest answer before that block. A switch inside the feed's known history whose
  aggregator has no earlier round in the lake is an error naming the feed and phase, never a gap
  silently filled by the old aggregator.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import polars as pl

from softliq_core.tables import FEEDS, ORACLE_ROUNDS

T = TypeVar("T")

PHASE_OFFSET = 64  # proxy round id = phase_id << 64 | aggregator round id (AggregatorProxy.sol)
START_OF_BLOCK = 0  # the log index standing for "from the start of the block" (switches, samples)


class FeedError(ValueError):
    """Feed history the lake cannot answer (unknown feed, a switch without the new aggregator's
    rounds)."""


def proxy_round_id(phase_id: int, aggregator_round_id: int) -> int:
    return (phase_id << PHASE_OFFSET) | aggregator_round_id


def split_round_id(round_id: int) -> tuple[int, int]:
    """(phase id, aggregator round id) of a proxy round id."""
    return round_id >> PHASE_OFFSET, round_id & ((1 << PHASE_OFFSET) - 1)


def phase_windows(feeds: pl.DataFrame) -> pl.DataFrame:
    """Each phase with ``until_block``: the first block of the next phase (null for the last)."""
    return feeds.sort("feed", "phase_id").with_columns(
        pl.col("first_block").shift(-1).over("feed").alias("until_block")
    )


def map_rounds(
    answer_updates: pl.DataFrame, feeds: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decoded ``AnswerUpdated`` rows (``contract`` = the aggregator, ``round_id`` its own round)
    → (``oracle_rounds`` rows, the rows whose aggregator no feed's phase names).

    An aggregator that serves two proxies gives one row per proxy."""
    phases = phase_windows(feeds).select(
        pl.col("aggregator").alias("contract"), "feed", "phase_id", "first_block", "until_block"
    )
    answer_updates = answer_updates.with_columns(pl.col("contract").cast(pl.String))
    joined = answer_updates.join(phases, on="contract", how="left")
    unknown = joined.filter(pl.col("feed").is_null()).select(answer_updates.columns)
    mapped = joined.filter(pl.col("feed").is_not_null())
    block = pl.col("block_number")
    rounds = mapped.select(
        "chain_id", "block_number", "timestamp", "transaction_hash", "transaction_index",
        "log_index", "feed", "phase_id",
        pl.col("contract").alias("aggregator"),
        pl.col("round_id").cast(pl.UInt64).alias("aggregator_round_id"),
        (
            pl.col("phase_id").cast(pl.UInt128) * (1 << PHASE_OFFSET)
            + pl.col("round_id").cast(pl.UInt128)
        ).cast(pl.String).alias("round_id"),
        pl.col("current").alias("answer"),
        pl.col("updated_at").cast(pl.UInt64),
        ((block >= pl.col("first_block")) & (pl.col("until_block").is_null() | (block < pl.col("until_block")))).alias("in_force"),
    ).cast(pl.Schema(ORACLE_ROUNDS))  # fmt: skip
    return rounds.sort("block_number", "log_index", "feed"), unknown


@dataclass(frozen=True, slots=True)
class FeedUpdate:
    """The answer a proxy returns from (block_number, log_index) on."""

    feed: str
    block_number: int
    log_index: int
    timestamp: int | None  # None for a switch: no log; the block's timestamp is looked up
    answer: int
    round_id: int
    cause: str  # "round" | "phase_switch"


def feed_updates(
    feed: str, oracle_rounds: pl.DataFrame, feeds: pl.DataFrame, since_block: int = 0
) -> list[FeedUpdate]:
    """The proxy's answer as it changed over the lake's history (see the module docstring);
    ``since_block``: only the changes from that block on, after the last one before it (the answer
    in force when it starts), so a daily build need not walk every earlier round."""
    phases = feeds.filter(pl.col("feed") == feed).sort("phase_id")
    if phases.is_empty():
        raise FeedError(f"feed {feed}: not in the feeds table (no proxy phases configured)")
    rounds = oracle_rounds.filter(pl.col("feed") == feed).sort("block_number", "log_index")
    in_force = rounds.filter(pl.col("in_force"))
    first_seen = in_force["block_number"].min() if in_force.height else None
    in_force_at_start = in_force.filter(pl.col("block_number") < since_block).tail(1)
    updates = [
        FeedUpdate(feed, b, i, t, int(a), int(r), "round")
        for b, i, t, a, r in pl.concat(
            [in_force_at_start, in_force.filter(pl.col("block_number") >= since_block)]
        )
        .select("block_number", "log_index", "timestamp", "answer", "round_id")
        .iter_rows()
    ]  # fmt: skip
    for phase_id, aggregator, first_block in phases.select(
        "phase_id", "aggregator", "first_block"
    ).iter_rows():
        if first_seen is None or first_block <= first_seen:
            continue  # the switch predates the lake's history of this feed
        before = rounds.filter(
            (pl.col("aggregator") == aggregator)
            & (pl.col("phase_id") == phase_id)
            & (pl.col("block_number") < first_block)
        )
        if before.is_empty():
            raise FeedError(
                f"feed {feed}: phase {phase_id} (aggregator {aggregator}) serves from block "
                f"{first_block}, but the lake has no round of that aggregator before it; ingest "
                "its AnswerUpdated logs from before the switch"
            )
        last = before.row(before.height - 1, named=True)
        updates.append(
            FeedUpdate(feed, first_block, START_OF_BLOCK, None, int(last["answer"]),
                       int(last["round_id"]), "phase_switch")
        )  # fmt: skip
    # A switch is at the start of its block: before any log of that block.
    updates.sort(key=lambda u: (u.block_number, u.log_index, u.cause != "phase_switch"))
    return changes_since(updates, since_block, lambda u: u.block_number)


def rounds_read_since(
    oracle_rounds: pl.DataFrame, feeds: pl.DataFrame, since_block: int
) -> pl.DataFrame:
    """The rows of ``oracle_rounds`` that ``feed_updates(..., since_block)`` reads, in their order:
    every round from ``since_block`` on and, of the earlier ones, each feed's first round in force
    (where its history starts) and last (the answer in force at ``since_block``), and each phase
    aggregator's last round before its switch (the answer the switch takes). A daily build prices
    from a day of rounds and these, not from a year of rounds."""
    numbered = oracle_rounds.with_row_index("_row")
    earlier = numbered.filter(pl.col("block_number") < since_block).sort(
        "block_number", "log_index"
    )
    in_force = earlier.filter(pl.col("in_force"))
    phase = ["feed", "aggregator", "phase_id"]
    before_switch = earlier.join(
        feeds.select(*phase, pl.col("first_block").alias("_switch")), on=phase
    ).filter(pl.col("block_number") < pl.col("_switch"))
    kept = pl.concat(
        [
            in_force.group_by("feed", maintain_order=True).first().select("_row"),
            in_force.group_by("feed", maintain_order=True).last().select("_row"),
            before_switch.group_by(phase, maintain_order=True).last().select("_row"),
        ]
    )["_row"]
    return numbered.filter(
        (pl.col("block_number") >= since_block) | pl.col("_row").is_in(kept.implode())
    ).drop("_row")


def round_ends(oracle_rounds: pl.DataFrame) -> pl.DataFrame:
    """Of rounds with their ``date``, each day's rounds that a build from a later day may carry in
    (``rounds_read_since``): each feed's first and last round in force, and each phase aggregator's
    last round. They do not depend on the feeds table, so each day's are kept; the day of a switch
    is read whole (the switch takes its aggregator's last round before it, within the day)."""
    numbered = oracle_rounds.with_row_index("_row").sort("date", "block_number", "log_index")
    in_force = numbered.filter(pl.col("in_force")).group_by("date", "feed", maintain_order=True)
    phase = numbered.group_by("date", "feed", "aggregator", "phase_id", maintain_order=True)
    kept = pl.concat(
        [
            in_force.first().select("_row"),
            in_force.last().select("_row"),
            phase.last().select("_row"),
        ]
    )["_row"]
    return numbered.filter(pl.col("_row").is_in(kept.implode())).drop("_row")


def changes_since(changes: Sequence[T], since_block: int, block: Callable[[T], int]) -> list[T]:
    """Of changes ordered by block, those from ``since_block`` on after the last one before it (the
    value in force when ``since_block`` starts)."""
    first = next((i for i, c in enumerate(changes) if block(c) >= since_block), len(changes))
    return list(changes[max(0, first - 1) :])


def check_phases(feeds: pl.DataFrame) -> list[str]:
    """Problems in a feeds table: phase ids not 1, 2, ... per feed, first blocks not increasing,
    feed attributes differing between a feed's rows."""
    problems = []
    for (feed,), rows in feeds.sort("phase_id").partition_by("feed", as_dict=True).items():
        ids = rows["phase_id"].to_list()
        blocks = rows["first_block"].to_list()
        if any(b > a + 1 or b <= a for a, b in itertools.pairwise(ids)):
            problems.append(f"feed {feed}: phase ids {ids} are not consecutive")
        if any(b < a for a, b in itertools.pairwise(blocks)):
            problems.append(f"feed {feed}: phases' first blocks {blocks} decrease")
        for column in ("description", "decimals", "heartbeat"):
            if rows[column].n_unique() > 1:
                problems.append(f"feed {feed}: {column} differs between its phases")
    return problems


def feeds_table(rows: Iterable[tuple[object, ...]]) -> pl.DataFrame:
    """A ``feeds`` frame from (chain_id, feed, description, decimals, heartbeat, phase_id,
    aggregator, first_block) tuples."""
    return pl.DataFrame(list(rows), schema=pl.Schema(FEEDS), orient="row").sort("feed", "phase_id")
