"""``oracle_prices``: each market's IOracle.price() after every round of one of its feeds.

The price is the recipe's exact integer ``mulDiv`` over the latest answer of each feed, in force
from the log that published the round (block number, log index) until the next one.
"""

from __future__ import annotations

import polars as pl

from softliq_core.protocols.morpho.math import ORACLE_PRICE_SCALE
from softliq_core.protocols.morpho.oracle import ChainlinkOracleRecipe, OracleError
from softliq_core.tables import ORACLE_PRICES

_FEEDS = ("base_feed_1", "base_feed_2", "quote_feed_1", "quote_feed_2")


def recipe_of(market: dict[str, object]) -> ChainlinkOracleRecipe:
    return ChainlinkOracleRecipe(
        oracle=str(market["oracle"]),
        scale_factor=int(str(market["scale_factor"])),
        **{f: str(market[f] or "") for f in _FEEDS},
    )


def oracle_prices(oracle_rounds: pl.DataFrame, markets: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for market in markets.iter_rows(named=True):
        recipe = recipe_of(market)
        rounds = oracle_rounds.filter(pl.col("feed").is_in(recipe.feeds)).sort(
            "block_number", "log_index"
        )
        missing = set(recipe.feeds) - set(rounds["feed"].unique())
        if missing:
            raise OracleError(
                f"market {market['market_id']}: no rounds from feed(s) {', '.join(sorted(missing))}"
            )
        # Human price: loan tokens per collateral token.
        to_float = 10 ** (int(market["collateral_decimals"]) - int(market["loan_decimals"]))
        answers: dict[str, int] = {}
        for block, log_index, timestamp, feed, answer in rounds.select(
            "block_number", "log_index", "timestamp", "feed", "answer"
        ).iter_rows():
            answers[feed] = int(answer)
            if len(answers) < len(recipe.feeds):
                continue
            price = recipe.price(answers)
            rows.append(
                (market["chain_id"], market["market_id"], block, log_index, timestamp, str(price),
                 price * to_float / ORACLE_PRICE_SCALE)
            )  # fmt: skip
    return pl.DataFrame(rows, schema=pl.Schema(ORACLE_PRICES), orient="row")
