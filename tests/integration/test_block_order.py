"""Order inside a block: an oracle round and a user action in one block are ordered by log index.

The replay merges oracle_prices and events by (block, log index): an event sees the price published
by a lower log index of its block, never one published after it; and the liquidator model acts on a
round only from blocks after the log that published it.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from softliq_core.oracle_checks import truth_mismatches
from softliq_core.replay.baseline_validation import baseline_validation
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.run import run_scenarios
from softliq_core.replay.scenario import parse_scenarios
from softliq_core.sources.synthetic import SyntheticChain
from tests.support.pipeline import InMemory


def _first_liquidation(histories: list[MarketHistory]) -> tuple[MarketHistory, dict]:  # type: ignore[type-arg]
    for history in histories:
        for event in history.events:
            if event["event"] == "Liquidate":
                return history, dict(event)
    raise AssertionError("no liquidation")


def _with_price(history: MarketHistory, block: int, log_index: int, price: int) -> MarketHistory:
    prices = sorted([*history.prices, (block, log_index, price)], key=lambda p: (p[0], p[1]))
    return replace(history, prices=prices)


def _row(validation: pl.DataFrame, event: dict) -> dict:  # type: ignore[type-arg]
    return validation.filter(
        (pl.col("block_number") == event["block_number"])
        & (pl.col("log_index") == event["log_index"])
    ).row(0, named=True)


def test_a_round_later_in_the_block_does_not_price_the_liquidation(
    histories: list[MarketHistory],
) -> None:
    history, liquidation = _first_liquidation(histories)
    block, log = liquidation["block_number"], liquidation["log_index"]
    before = _row(baseline_validation([history]), liquidation)
    assert before["amounts_match"] and before["liquidatable"]
    doubled = int(before["price"]) * 2
    after = _row(baseline_validation([_with_price(history, block, log + 1, doubled)]), liquidation)
    assert after["price"] == before["price"] and after["amounts_match"]
    # the same round one log earlier in the block prices it: the contract could not have
    # produced these amounts at that price
    earlier = _row(
        baseline_validation([_with_price(history, block, log - 1, doubled)]), liquidation
    )
    assert earlier["price"] == str(doubled)
    assert not (earlier["amounts_match"] and earlier["liquidatable"])


def test_rounds_and_oracle_reads_in_one_block_each_saw_the_price_of_its_own_log(
    chain: SyntheticChain, in_memory: InMemory
) -> None:
    """Feed rounds and users' transactions are shuffled inside the synthetic chain's blocks: every
    borrow, withdrawal and liquidation that shares a block with a round of its market read the
    price before the round (lower log index) or after it (higher), and oracle_prices agrees."""
    rounds = in_memory.prices.filter(pl.col("cause") == "round").select(
        "market_id", "block_number", pl.col("log_index").alias("round_log")
    )
    same_block = chain.truth_prices.join(rounds, on=["market_id", "block_number"])
    before = same_block.filter(pl.col("log_index") < pl.col("round_log"))
    after = same_block.filter(pl.col("log_index") > pl.col("round_log"))
    assert before.height > 5 and after.height > 5
    assert truth_mismatches(in_memory.prices, same_block.drop("round_log")).is_empty()
    # the truth is sensitive to the order: a round taken as published at the start of its block
    # misprices the reads before it, one taken as published at its end the reads after it
    keys = same_block.select("market_id", "block_number", "round_log").unique()
    rounds = in_memory.prices.join(
        keys, left_on=["market_id", "block_number", "log_index"],
        right_on=["market_id", "block_number", "round_log"], how="semi",
    )  # fmt: skip
    others = in_memory.prices.join(
        rounds, on=["market_id", "block_number", "log_index"], how="anti"
    )
    for moved_to, wrong in ((0, before), (2**31, after)):
        moved = pl.concat(
            [others, rounds.with_columns(pl.lit(moved_to, pl.UInt32).alias("log_index"))]
        )
        assert truth_mismatches(moved, wrong.drop("round_log")).height == wrong.height


SCENARIO = parse_scenarios(
    {"scenario": [{"name": "engine", "mechanism": "morpho_liquidation"}]}  # latency 1 block
)


def test_the_liquidator_sees_a_round_only_from_the_block_after_its_log(
    histories: list[MarketHistory],
) -> None:
    history = next(h for h in histories if h.market.label == "WETH/USDC")
    # a calm block with no engine action near it, in the second day
    baseline = run_scenarios([history], SCENARIO).liquidation_actions
    block = history.clock.first_block + 7_200 + 1_234
    assert baseline.filter(pl.col("block_number").is_between(block - 50, block + 50)).is_empty()
    # a crash round at the end of that block: 40 % lower
    price = next(p for b, _, p in reversed(history.prices) if b < block)
    crash = price * 6 // 10
    crashed = run_scenarios([_with_price(history, block, 10_000, crash)], SCENARIO)
    actions = crashed.liquidation_actions.filter(pl.col("block_number") >= block - 50)
    assert actions.height > 0
    assert actions["block_number"].min() == block + 1  # latency 1: never in the round's own block
    first = actions.filter(pl.col("block_number") == block + 1)
    assert set(first["price"]) == {str(crash)}
