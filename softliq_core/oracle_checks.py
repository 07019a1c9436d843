"""Checks on oracle prices and feed rounds, pure functions over lake tables (Dagster runs them as
asset checks on ``oracle_prices`` and ``oracle_rounds``).

* ``price_in_force``: the price each market's oracle returned at given logs: the last
  ``oracle_prices`` row at or before the log (rows "from the start of a block" carry log index 0
  and are in force for a log 0 of that block; a round's own log never carries an event).
* ``truth_mismatches``: against a source that knows the price its oracle returned (the synthetic
  chain, at every historical Liquidate and PreLiquidate): every row where ours differs or is missing.
* ``stale_intervals``: each feed's in-force answers aging past its heartbeat (plus a grace: a
  heartbeat round lands a block or two late), a switch counting as an update, including the last
  answer up to the end of the data.
* ``price_jumps``: consecutive prices of a market moving by more than a relative threshold.
* ``recipe_problems``: markets whose oracle shape is unknown or whose recipe reads an input with
  no history.
"""

from __future__ import annotations

import itertools

import polars as pl

from softliq_core.feeds import FeedError, feed_updates
from softliq_core.oracle_prices import input_changes, recipe_of
from softliq_core.protocols.morpho.oracle import OracleError

DEFAULT_STALE_GRACE = 120  # seconds past the heartbeat before an answer counts as stale
DEFAULT_JUMP_THRESHOLD = 0.05  # relative move between consecutive prices that is listed
_KEY = pl.col("block_number").cast(pl.Int64) * (1 << 32) + pl.col("log_index").cast(pl.Int64)


def price_in_force(prices: pl.DataFrame, at: pl.DataFrame) -> pl.DataFrame:
    """``at`` (market_id, block_number, log_index, ...) with ``price_in_force`` (null before the
    market's first price)."""
    ours = prices.select(
        "market_id", _KEY.alias("_key"), pl.col("price").alias("price_in_force")
    ).sort("market_id", "_key")
    return (
        at.with_columns(_KEY.alias("_key"))
        .sort("market_id", "_key")
        .join_asof(ours, on="_key", by="market_id", strategy="backward", check_sortedness=False)
        .drop("_key")
    )


def truth_mismatches(prices: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Rows of ``truth`` (market_id, block_number, log_index, price) whose price in force in
    ``prices`` differs from the ``price`` the oracle returned, or is missing."""
    joined = price_in_force(prices, truth)
    return joined.filter(
        pl.col("price_in_force").is_null() | (pl.col("price_in_force") != pl.col("price"))
    ).sort("block_number", "log_index")


def stale_intervals(
    oracle_rounds: pl.DataFrame,
    feeds: pl.DataFrame,
    blocks: pl.DataFrame,
    grace_seconds: int = DEFAULT_STALE_GRACE,
    since_block: int = 0,
) -> pl.DataFrame:
    """(feed, description, heartbeat, from_block, until_block, seconds) of every stretch in which
    a feed's answer in force aged past its heartbeat plus ``grace_seconds`` (a heartbeat round lands
    a block or two after the heartbeat elapses); feeds without a heartbeat are skipped.
    ``since_block``: the stretches that reach it or start after it."""
    end = int(blocks["block_number"].max()) if blocks.height else None  # type: ignore[arg-type]
    watched = []
    for feed, description, heartbeat in (
        feeds.filter(pl.col("heartbeat").is_not_null())
        .select("feed", "description", "heartbeat")
        .unique()
        .sort("feed")
        .iter_rows()
    ):
        try:
            updates = feed_updates(feed, oracle_rounds, feeds, since_block)
            watched.append((feed, description, heartbeat, updates))
        except FeedError:
            continue  # recipe_problems reports it
    # Only the blocks a switch takes effect at, and the last: a year has millions of blocks.
    starts = {u.block_number for *_, updates in watched for u in updates if u.timestamp is None}
    timestamps = dict(
        blocks.filter(pl.col("block_number").is_in(starts if end is None else starts | {end}))
        .select("block_number", "timestamp")
        .iter_rows()
    )
    rows = []
    for feed, description, heartbeat, updates in watched:
        times = [
            (u.block_number, u.timestamp if u.timestamp is not None else timestamps.get(u.block_number))
            for u in updates
        ]  # fmt: skip
        if end is not None and times:
            times.append((end, timestamps[end]))
        for (block, t0), (next_block, t1) in itertools.pairwise(times):
            if t0 is not None and t1 is not None and t1 - t0 > heartbeat + grace_seconds:
                rows.append((feed, description, heartbeat, block, next_block, t1 - t0))
    return pl.DataFrame(
        rows,
        schema={"feed": pl.String, "description": pl.String, "heartbeat": pl.UInt32,
                "from_block": pl.UInt32, "until_block": pl.UInt32, "seconds": pl.Int64},
        orient="row",
    )  # fmt: skip


def price_jumps(prices: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """Consecutive prices of a market whose relative change exceeds ``threshold`` (0.1 = 10 %)."""
    ordered = prices.sort("market_id", "block_number", "log_index").with_columns(
        pl.col("price_float").shift(1).over("market_id").alias("previous_float")
    )
    return (
        ordered.with_columns(
            ((pl.col("price_float") / pl.col("previous_float")) - 1).alias("change")
        )
        .filter(pl.col("change").abs() > threshold)
        .select(
            "market_id",
            "block_number",
            "log_index",
            "previous_float",
            "price_float",
            "change",
            "feed",
            "cause",
        )
    )


def recipe_problems(
    markets: pl.DataFrame,
    oracle_rounds: pl.DataFrame,
    feeds: pl.DataFrame,
    rate_samples: pl.DataFrame,
    since_block: int = 0,
) -> dict[str, str]:
    """{market id: problem} for each market whose recipe cannot be built (unknown oracle shape)
    or reads an input with no history (the message names the market and the input); the history
    from ``since_block`` on suffices to tell (``input_changes``)."""
    problems = {}
    for market in markets.iter_rows(named=True):
        try:
            input_changes(recipe_of(market), oracle_rounds, feeds, rate_samples, since_block)
        except OracleError as error:
            text = str(error)
            prefix = f"market {market['market_id']}: "
            problems[market["market_id"]] = text if text.startswith(prefix) else prefix + text
    return problems
