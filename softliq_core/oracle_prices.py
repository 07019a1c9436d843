"""``oracle_prices``: each market's IOracle.price() every time one of its inputs changed.

An input is the answer of one of the recipe's feeds as its proxy returns it (``feeds.feed_updates``:
each in-force round from its log, each aggregator switch from the start of its block). The price is
the recipe's exact integer ``mulDiv`` over the latest value of every input, in force from that
(block number, log index) until the next row. Several changes at one (block, log index) give one
row, the price after all of them.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from softliq_core.feeds import FeedError, FeedUpdate, feed_updates
from softliq_core.protocols.morpho.math import ORACLE_PRICE_SCALE
from softliq_core.protocols.morpho.oracle import ChainlinkOracleRecipe, OracleError
from softliq_core.tables import ORACLE_PRICES

_FEEDS = ("base_feed_1", "base_feed_2", "quote_feed_1", "quote_feed_2")


def recipe_of(market: Mapping[str, object]) -> ChainlinkOracleRecipe:
    return ChainlinkOracleRecipe(
        oracle=str(market["oracle"]),
        scale_factor=int(str(market["scale_factor"])),
        **{f: str(market[f] or "") for f in _FEEDS},
    )


def oracle_prices(
    oracle_rounds: pl.DataFrame,
    markets: pl.DataFrame,
    feeds: pl.DataFrame,
    blocks: pl.DataFrame,
) -> pl.DataFrame:
    timestamps = dict(blocks.select("block_number", "timestamp").iter_rows())
    cache: dict[str, list[FeedUpdate]] = {}
    rows: list[tuple[object, ...]] = []
    for market in markets.iter_rows(named=True):
        recipe = recipe_of(market)
        updates: list[FeedUpdate] = []
        for feed in recipe.feeds:
            if feed not in cache:
                try:
                    cache[feed] = feed_updates(feed, oracle_rounds, feeds)
                except FeedError as error:
                    raise OracleError(f"market {market['market_id']}: {error}") from None
            if not cache[feed]:
                raise OracleError(
                    f"market {market['market_id']}: oracle {recipe.oracle} reads feed {feed}, "
                    "which has no round in the lake"
                )
            updates.extend(cache[feed])
        updates.sort(key=lambda u: (u.block_number, u.log_index, u.cause != "phase_switch"))
        # Human price: loan tokens per collateral token.
        to_float = 10 ** (int(market["collateral_decimals"]) - int(market["loan_decimals"]))
        answers: dict[str, int] = {}
        market_rows: dict[tuple[int, int], tuple[object, ...]] = {}
        for u in updates:
            answers[u.feed] = u.answer
            if len(answers) < len(recipe.feeds):
                continue
            price = recipe.price(answers)
            timestamp = u.timestamp if u.timestamp is not None else timestamps.get(u.block_number)
            if timestamp is None:
                raise OracleError(
                    f"market {market['market_id']}: feed {u.feed} switched aggregator at block "
                    f"{u.block_number}, which is not in blocks"
                )
            market_rows[(u.block_number, u.log_index)] = (
                market["chain_id"], market["market_id"], u.block_number, u.log_index, timestamp,
                str(price), price * to_float / ORACLE_PRICE_SCALE, u.feed, str(u.round_id), u.cause,
            )  # fmt: skip
        rows.extend(market_rows.values())
    return pl.DataFrame(rows, schema=pl.Schema(ORACLE_PRICES), orient="row")
