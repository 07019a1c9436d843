"""``oracle_prices``: each market's IOracle.price() every time one of its inputs changed.

A recipe's inputs (``protocols/morpho/oracle.py``) are of two kinds:

* a feed that is a Chainlink proxy in ``feeds``: its answer as the proxy returns it
  (``feeds.feed_updates``: each in-force round from its log, each aggregator switch from the start
  of its block);
* a vault term or an event-less adapter feed: its sampled series (``rate_samples``), each change in
  force from the start of the block after the one it was read at.

The price is the recipe's exact integer ``mulDiv`` over the latest value of every input, in force
from that (block number, log index) until the next row; changes "from the start of a block" carry
log index 0 and come before a log of that block. Several changes at one (block, log index) give one
row, the price after all of them. A market whose oracle has an unknown shape, or an input with no
history (not a proxy with rounds, not a sampled rate), is an error naming the market and the input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from softliq_core.feeds import START_OF_BLOCK, FeedError, changes_since, feed_updates
from softliq_core.protocols.morpho.math import ORACLE_PRICE_SCALE
from softliq_core.protocols.morpho.oracle import ChainlinkOracleRecipe, OracleError
from softliq_core.rate_samples import rate_inputs, rate_updates
from softliq_core.tables import ORACLE_PRICES

_FEEDS = ("base_feed_1", "base_feed_2", "quote_feed_1", "quote_feed_2")
# Raise it when a change moves the prices computed from the same inputs: every day is priced again.
PRICING_VERSION = 2  # 2: a market's prices start at its creation
_HASH_SEED = 20_261_127


def recipe_of(market: Mapping[str, object]) -> ChainlinkOracleRecipe:
    try:
        return ChainlinkOracleRecipe(
            oracle=str(market["oracle"]),
            scale_factor=int(str(market["scale_factor"])),
            **{f: str(market[f] or "") for f in _FEEDS},
            base_vault=str(market["base_vault"] or ""),
            base_vault_conversion_sample=int(str(market["base_vault_conversion_sample"] or 1)),
            quote_vault=str(market["quote_vault"] or ""),
            quote_vault_conversion_sample=int(str(market["quote_vault_conversion_sample"] or 1)),
            kind=str(market["oracle_kind"]),
        )
    except OracleError as error:
        raise OracleError(f"market {market['market_id']}: {error}") from None


@dataclass(frozen=True, slots=True)
class _Change:
    """One input's new value from (block_number, log_index) on."""

    key: str  # the recipe input
    block_number: int
    log_index: int
    timestamp: int | None  # None: from the start of the block (looked up in blocks)
    value: int
    round_id: int | None
    cause: str  # round | phase_switch | rate


def input_changes(
    recipe: ChainlinkOracleRecipe,
    oracle_rounds: pl.DataFrame,
    feeds: pl.DataFrame,
    rate_samples: pl.DataFrame,
    since_block: int = 0,
) -> dict[str, list[_Change]]:
    """Each input of the recipe and its changes, in order (``since_block``: from that block on,
    after the last change before it). Raises ``OracleError`` (without the market) for an input with
    no history."""
    proxies = set(feeds["feed"].to_list())
    changes: dict[str, list[_Change]] = {}
    for feed in recipe.feeds:
        if feed in proxies:
            try:
                updates = feed_updates(feed, oracle_rounds, feeds, since_block)
            except FeedError as error:
                raise OracleError(str(error)) from None
            changes[feed] = [
                _Change(feed, u.block_number, u.log_index, u.timestamp, u.answer, u.round_id,
                        u.cause)
                for u in updates
            ]  # fmt: skip
            if not changes[feed]:
                raise OracleError(f"oracle {recipe.oracle} reads feed {feed}: no round in the lake")
    for rate in rate_inputs(recipe, proxies):
        what = f"vault {rate.contract}" if rate.sample is not None else f"feed {rate.contract}"
        changes[rate.key] = [
            _Change(rate.key, block, START_OF_BLOCK, None, value, None, "rate")
            for block, value in changes_since(
                rate_updates(rate_samples, rate), since_block, lambda update: update[0]
            )
        ]
        if not changes[rate.key]:
            raise OracleError(
                f"oracle {recipe.oracle} reads {what}: not a Chainlink proxy in feeds, and no "
                f"{rate.call} samples in rate_samples"
            )
    return changes


def oracle_prices(
    oracle_rounds: pl.DataFrame,
    markets: pl.DataFrame,
    feeds: pl.DataFrame,
    blocks: pl.DataFrame,
    rate_samples: pl.DataFrame,
    since_block: int = 0,
) -> pl.DataFrame:
    """The rows of ``oracle_prices`` (``since_block``: those from that block on, each input's value
    in force at its start carried in: the same rows as the whole table's from there)."""
    inputs = []
    for market in markets.iter_rows(named=True):
        recipe = recipe_of(market)
        try:
            inputs.append(
                (
                    market,
                    recipe,
                    input_changes(recipe, oracle_rounds, feeds, rate_samples, since_block),
                )
            )
        except OracleError as error:
            raise OracleError(f"market {market['market_id']}: {error}") from None
    # Only the blocks whose start a change takes effect at, or a market is created at: a year has
    # millions of blocks.
    starts = {
        c.block_number
        for *_, per_input in inputs
        for cs in per_input.values()
        for c in cs
        if c.timestamp is None
    } | {int(market["created_block"]) for market, *_ in inputs}
    timestamps = dict(
        blocks.filter(pl.col("block_number").is_in(starts))
        .select("block_number", "timestamp")
        .iter_rows()
    )
    last_block = int(blocks["block_number"].max()) if blocks.height else -1  # type: ignore[arg-type]
    rows: list[tuple[object, ...]] = []
    for market, recipe, per_input in inputs:
        # A market's prices start at its creation: the price in force at its block's start (a
        # change at that start replaces it), then each change.
        created = int(market["created_block"])
        opened = (
            [_Change(recipe.oracle, created, START_OF_BLOCK, None, 0, None, "created")]
            if created >= since_block
            else []
        )
        changes = sorted(
            [*opened, *(c for cs in per_input.values() for c in cs)],
            key=lambda c: (c.block_number, c.log_index, c.timestamp is not None),
        )
        # Human price: loan tokens per collateral token.
        to_float = 10 ** (int(market["collateral_decimals"]) - int(market["loan_decimals"]))
        values: dict[str, int] = {}
        market_rows: dict[tuple[int, int], tuple[object, ...]] = {}
        start = max(since_block, created)
        for c in changes:
            if c.cause != "created":
                values[c.key] = c.value
            if len(values) < len(per_input) or c.block_number < start:
                continue
            timestamp = c.timestamp if c.timestamp is not None else timestamps.get(c.block_number)
            if timestamp is None:
                if c.block_number > last_block:
                    continue  # from a block past the lake's last: not in force within the data
                raise OracleError(
                    f"market {market['market_id']}: {c.cause} of {c.key} at block "
                    f"{c.block_number}, which is not in blocks"
                )
            try:
                price = recipe.price(values)
            except OracleError as error:
                raise OracleError(
                    f"market {market['market_id']}: at block {c.block_number}: {error}"
                ) from None
            market_rows[(c.block_number, c.log_index)] = (
                market["chain_id"], market["market_id"], c.block_number, c.log_index, timestamp,
                str(price), price * to_float / ORACLE_PRICE_SCALE, c.key.split("/")[0],
                str(c.round_id) if c.round_id is not None else None, c.cause,
            )  # fmt: skip
        rows.extend(market_rows.values())
    return pl.DataFrame(rows, schema=pl.Schema(ORACLE_PRICES), orient="row")


def round_digests(oracle_rounds: pl.DataFrame) -> pl.DataFrame:
    """(date, rounds): a digest of each day's rounds (``oracle_rounds`` with their ``date``)."""
    return _per_day(oracle_rounds, "rounds")


def input_digests(
    markets: pl.DataFrame,
    feeds: pl.DataFrame,
    rounds: pl.DataFrame,
    rate_samples: pl.DataFrame,
    partitions: pl.DataFrame,
) -> pl.DataFrame:
    """(date, inputs): for each day partition (``partitions``: the ``partition_blocks`` rows), a
    digest of what its prices depend on besides the days before it. Shared by every day: each
    feed's first phase (which inputs are proxies), ``PRICING_VERSION`` and polars' version (whose
    row hash it uses). The day's own: the markets created in it (a market's prices start at its
    creation, so a new market prices from its day on), its rounds (``rounds``:
    ``round_digests``), the rate samples and aggregator switches in force from one of its blocks (a switch
    discovered after the lake's last block is not in force: no day's), and its blocks' record (a
    re-ingested day has other hashes). Two builds whose digests agree up to a day priced those days
    alike (``steps.build_oracle_prices``)."""
    first_phase = pl.col("phase_id") == pl.col("phase_id").min().over("feed")
    shared = hashlib.sha256(
        "|".join(
            [str(PRICING_VERSION), pl.__version__,
             feeds.filter(first_phase).sort("feed").write_csv()]
        ).encode()
    ).hexdigest()[:16]  # fmt: skip
    days = partitions.filter(pl.col("first_block").is_not_null()).sort("first_block")
    lake_end = days["last_block"].max()
    switches = feeds.filter(~first_phase & (pl.col("first_block") <= lake_end))
    parts = [
        _per_day(frame, name)
        for name, frame in (
            ("markets", _in_force_on(days, markets, pl.col("created_block"))),
            ("rates", _in_force_on(days, rate_samples, pl.col("block_number") + 1)),
            ("switches", _in_force_on(days, switches, pl.col("first_block"))),
            ("blocks", partitions),
        )
    ]
    digests = partitions.select("date").unique()
    for part in [rounds, *parts]:
        digests = digests.join(part, on="date", how="left")
    return digests.sort("date").select(
        "date",
        pl.concat_str(
            [pl.lit(shared), *(pl.col(name).fill_null("-") for name in digests.columns[1:])],
            separator="|",
        ).alias("inputs"),
    )


def _in_force_on(days: pl.DataFrame, frame: pl.DataFrame, block: pl.Expr) -> pl.DataFrame:
    """``frame`` with the ``date`` of the day whose blocks include ``block`` (the first day for
    blocks before it, the last for blocks after it)."""
    return (
        frame.with_columns(block.cast(pl.Int64).alias("_in_force"))
        .sort("_in_force")
        .join_asof(
            days.select("date", pl.col("first_block").cast(pl.Int64).alias("_first")),
            left_on="_in_force",
            right_on="_first",
        )
        .drop("_in_force", "_first")
        .with_columns(pl.col("date").fill_null(days["date"].min()))
    )


def _per_day(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """(date, name): each day's rows as a count and two sums of their row hashes (a multiset:
    rows carry their block and log index, so their order does not matter)."""
    hashes = frame.drop("date").hash_rows(seed=_HASH_SEED)
    low, high = hashes % 2**32, hashes // 2**32
    return (
        frame.select("date")
        .with_columns(low=low, high=high)
        .group_by("date")
        .agg(pl.format("{}:{}:{}", pl.len(), pl.col("low").sum(), pl.col("high").sum()).alias(name))
    )
