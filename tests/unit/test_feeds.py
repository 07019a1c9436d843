"""Chainlink proxies: phases, proxy round ids, and the answer in force across an aggregator switch."""

from __future__ import annotations

import polars as pl
import pytest

from softliq_core.feeds import (
    FeedError,
    check_phases,
    feed_updates,
    feeds_table,
    map_rounds,
    proxy_round_id,
    split_round_id,
)

PROXY = "0x" + "aa" * 20
OLD = "0x" + "01" * 20
NEW = "0x" + "02" * 20
STRANGER = "0x" + "03" * 20
FEEDS = feeds_table(
    [(1, PROXY, "ETH / USD", 8, 3600, 1, OLD, 100), (1, PROXY, "ETH / USD", 8, 3600, 2, NEW, 200)]
)


def answer_updates(rows: list[tuple[int, int, str, int, int]]) -> pl.DataFrame:
    """(block, log index, aggregator, aggregator round, answer) → decoded AnswerUpdated rows."""
    return pl.DataFrame(
        [
            (1, block, block * 12, f"0x{block:064x}", 0, log, aggregator, "AnswerUpdated",
             str(answer), str(round_id), str(block * 12))
            for block, log, aggregator, round_id, answer in rows
        ],
        schema=["chain_id", "block_number", "timestamp", "transaction_hash", "transaction_index",
                "log_index", "contract", "event", "current", "round_id", "updated_at"],
        orient="row",
    )  # fmt: skip


def test_proxy_round_id_is_phase_shifted_64_bits() -> None:
    # spec aave_chainlink.md §6.3: ETH/USD round 129127208515966893596 = phase 7, round 32284
    assert proxy_round_id(7, 32284) == 129127208515966893596
    assert split_round_id(129127208515966893596) == (7, 32284)


def test_switch_in_force_from_its_block_with_the_new_aggregators_latest_answer() -> None:
    updates = answer_updates([
        (150, 3, OLD, 10, 3000_00000000),
        (180, 1, NEW, 1, 3010_00000000),  # the new aggregator reports before the switch
        (190, 2, OLD, 11, 3020_00000000),
        (195, 4, NEW, 2, 3025_00000000),
        (205, 0, OLD, 12, 2900_00000000),  # the old one goes on after it: not in force
        (210, 5, NEW, 3, 3030_00000000),
        (211, 0, STRANGER, 1, 1),
    ])  # fmt: skip
    rounds, unknown = map_rounds(updates, FEEDS)
    assert unknown["contract"].to_list() == [STRANGER]
    assert rounds["round_id"].n_unique() == rounds.height == 6
    assert rounds.filter(~pl.col("in_force"))["aggregator_round_id"].to_list() == [1, 2, 12]
    got = [(u.block_number, u.log_index, u.answer, split_round_id(u.round_id), u.cause)
           for u in feed_updates(PROXY, rounds, FEEDS)]  # fmt: skip
    assert got == [
        (150, 3, 3000_00000000, (1, 10), "round"),
        (190, 2, 3020_00000000, (1, 11), "round"),
        (200, 0, 3025_00000000, (2, 2), "phase_switch"),  # no gap, no old round after it
        (210, 5, 3030_00000000, (2, 3), "round"),
    ]


def test_switch_without_the_new_aggregators_rounds_is_an_error_naming_feed_and_phase() -> None:
    rounds, _ = map_rounds(answer_updates([(150, 0, OLD, 10, 1), (210, 0, NEW, 1, 2)]), FEEDS)
    with pytest.raises(FeedError, match=f"feed {PROXY}: phase 2 \\(aggregator {NEW}\\)"):
        feed_updates(PROXY, rounds, FEEDS)


def test_a_switch_before_the_lakes_history_needs_nothing_earlier() -> None:
    rounds, _ = map_rounds(answer_updates([(250, 0, NEW, 7, 5)]), FEEDS)
    assert [u.cause for u in feed_updates(PROXY, rounds, FEEDS)] == ["round"]


def test_unknown_feed_is_an_error() -> None:
    with pytest.raises(FeedError, match="not in the feeds table"):
        feed_updates("0x" + "bb" * 20, map_rounds(answer_updates([]), FEEDS)[0], FEEDS)


def test_check_phases() -> None:
    assert check_phases(FEEDS) == []
    bad = feeds_table(
        [(1, PROXY, "ETH / USD", 8, 3600, 1, OLD, 300), (1, PROXY, "ETH / USD", 8, 60, 3, NEW, 200)]
    )
    assert check_phases(bad) == [
        f"feed {PROXY}: phase ids [1, 3] are not consecutive",
        f"feed {PROXY}: phases' first blocks [300, 200] decrease",
        f"feed {PROXY}: heartbeat differs between its phases",
    ]
