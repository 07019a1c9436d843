"""The flagging checks on oracle prices: stale feeds, price jumps, unpriced markets."""

from __future__ import annotations

import polars as pl

from softliq_core.feeds import feeds_table, map_rounds
from softliq_core.oracle_checks import price_in_force, price_jumps, recipe_problems, stale_intervals
from softliq_core.tables import MARKETS, ORACLE_PRICES, RATE_SAMPLES

PROXY = "0x" + "aa" * 20
AGG = "0x" + "01" * 20
FEEDS = feeds_table([(1, PROXY, "ETH / USD", 8, 3600, 1, AGG, 0)])
BLOCKS = pl.DataFrame(
    {"block_number": range(0, 2_001), "timestamp": [b * 12 for b in range(2_001)]}
)


def rounds(blocks: list[int]) -> pl.DataFrame:
    updates = pl.DataFrame(
        [(1, b, b * 12, "0x", 0, 0, AGG, "AnswerUpdated", "3000", str(i + 1), str(b * 12))
         for i, b in enumerate(blocks)],
        schema=["chain_id", "block_number", "timestamp", "transaction_hash", "transaction_index",
                "log_index", "contract", "event", "current", "round_id", "updated_at"],
        orient="row",
    )  # fmt: skip
    return map_rounds(updates, FEEDS)[0]


def test_stale_intervals_past_the_heartbeat_and_its_grace() -> None:
    # rounds every 300 blocks (1 h) but one gap of 310 blocks (62 min) and one of 600 (2 h)
    oracle_rounds = rounds([0, 300, 610, 1_210, 1_500, 1_800])
    stale = stale_intervals(oracle_rounds, FEEDS, BLOCKS, grace_seconds=60)
    assert stale.select("from_block", "until_block", "seconds").rows() == [
        (300, 610, 3_720), (610, 1_210, 7_200)
    ]  # fmt: skip
    # with the default 2-minute grace the 62-minute gap is a late heartbeat, not stale
    assert stale_intervals(oracle_rounds, FEEDS, BLOCKS)["from_block"].to_list() == [610]
    # the last answer ages until the end of the data too
    assert stale_intervals(rounds([0, 300]), FEEDS, BLOCKS)["until_block"].to_list() == [2_000]
    # a feed without a configured heartbeat is not judged
    unknown = FEEDS.with_columns(pl.lit(None, pl.UInt32).alias("heartbeat"))
    assert stale_intervals(oracle_rounds, unknown, BLOCKS).is_empty()


def test_price_jumps_are_listed_above_the_threshold() -> None:
    prices = pl.DataFrame(
        [(1, "m", b, 0, b * 12, "1", p, PROXY, "1", "round")
         for b, p in [(1, 100.0), (2, 104.0), (3, 92.0), (4, 93.0)]],
        schema=pl.Schema(ORACLE_PRICES), orient="row",
    )  # fmt: skip
    jumps = price_jumps(prices, 0.05)
    assert jumps["block_number"].to_list() == [3]
    assert round(jumps["change"][0], 4) == -0.1154
    assert price_jumps(prices, 0.03)["block_number"].to_list() == [2, 3]


def test_price_in_force_takes_the_last_row_at_or_before_the_log() -> None:
    prices = pl.DataFrame(
        [(1, "m", 10, 0, 0, "100", 1.0, PROXY, None, "phase_switch"),
         (1, "m", 10, 5, 0, "200", 2.0, PROXY, "7", "round")],
        schema=pl.Schema(ORACLE_PRICES), orient="row",
    )  # fmt: skip
    at = pl.DataFrame({"market_id": ["m"] * 4, "block_number": [9, 10, 10, 10],
                       "log_index": [99, 0, 4, 6]}).cast({"block_number": pl.UInt32, "log_index": pl.UInt32})  # fmt: skip
    assert price_in_force(prices, at)["price_in_force"].to_list() == [None, "100", "100", "200"]


def test_unpriced_markets_are_named_with_the_input() -> None:
    market = {c: None for c in MARKETS.names} | {
        "market_id": "0xm1", "oracle": "0x" + "0a" * 20, "oracle_kind": "MorphoChainlinkOracleV2",
        "base_feed_1": "0x" + "bb" * 20, "scale_factor": "1", "base_vault_conversion_sample": "1",
        "quote_vault_conversion_sample": "1",
    }  # fmt: skip
    odd = market | {"market_id": "0xm2", "oracle_kind": "unknown: BASE_VAULT() reverts"}
    markets = pl.DataFrame([market, odd], schema=pl.Schema(MARKETS))
    problems = recipe_problems(
        markets, rounds([0]), FEEDS, pl.DataFrame(schema=pl.Schema(RATE_SAMPLES))
    )
    assert problems == {
        "0xm1": f"market 0xm1: oracle {'0x' + '0a' * 20} reads feed {'0x' + 'bb' * 20}: not a "
        "Chainlink proxy in feeds, and no latestRoundData samples in rate_samples",
        "0xm2": "market 0xm2: oracle 0x0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a: unknown oracle "
        "shape 'unknown: BASE_VAULT() reverts'",
    }
