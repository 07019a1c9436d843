"""Sampling event-less oracle inputs: exact for steps with the bisection, bounded error without."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softliq_core.protocols.morpho.oracle import ChainlinkOracleRecipe, vault_input
from softliq_core.rate_samples import (
    ADAPTER_CALL,
    FINALITY_BLOCKS,
    VAULT_CALL,
    RateInput,
    change_points,
    rate_inputs,
    rate_samples_table,
    rate_updates,
    sample_series,
)

# A Lido-like rate: a step every 7,200 blocks (a day), starting before block 1,000.
STEPS = [(0, 1_170_000), (3_600, 1_170_096), (10_800, 1_170_192), (18_000, 1_170_288)]


def step_rate(block: int) -> int:
    return STEPS[bisect.bisect_right([b for b, _ in STEPS], block) - 1][1]


class Reader:
    def __init__(self, f) -> None:  # type: ignore[no-untyped-def]
        self.f, self.reads = f, 0

    def __call__(self, blocks: Sequence[int]) -> list[int]:
        self.reads += len(blocks)
        return [self.f(b) for b in blocks]


def in_force(series: list[tuple[int, int]], block: int) -> int:
    """The sampled value in force during ``block`` (read at b ⇒ in force from b + 1)."""
    reads = [b for b, _ in series]
    return series[bisect.bisect_right(reads, block - 1) - 1][1]


def test_steps_are_found_to_the_block_with_few_reads() -> None:
    reader = Reader(step_rate)
    series = sample_series(reader, 1_000, 20_000, cadence=300)
    assert all(in_force(series, b) == step_rate(b - 1) for b in range(1_000, 20_001))
    assert {b for b, _ in series} >= {3_600, 10_800, 18_000}  # the change blocks were read
    assert reader.reads < 20_000 // 300 + 2 + 3 * 10  # grid + ~log2(300) per step


def test_without_bisection_a_step_is_seen_up_to_cadence_blocks_late() -> None:
    series = sample_series(Reader(step_rate), 1_000, 20_000, cadence=300, refine_budget=0)
    wrong = [b for b in range(1_000, 20_001) if in_force(series, b) != step_rate(b - 1)]
    # each step is late by (next grid block − step block): 3,600 → grid 3,899 etc.
    assert len(wrong) == sum((s - 999) % 300 and 300 - (s - 999) % 300 for s, _ in STEPS[1:])
    errors = {step_rate(b - 1) - in_force(series, b) for b in wrong}
    assert errors == {96}  # one step, never more


def test_continuous_accrual_is_stale_by_at_most_one_cadence() -> None:
    def accruing(block: int) -> int:  # 5 % a year, per 12 s block, on 1e18
        return 10**18 + block * 10**18 * 5 // 100 // 2_628_000

    reader = Reader(accruing)
    series = sample_series(reader, 1_000, 10_000, cadence=300, refine_budget=8)
    assert reader.reads <= (10_000 // 300 + 2) * (1 + 8)  # the budget caps the bisection
    worst = max(accruing(b - 1) - in_force(series, b) for b in range(1_000, 10_001))
    assert 0 < worst <= accruing(300) - accruing(0)  # ≤ one cadence of accrual: 5.7e-6
    assert worst / 10**18 < 6e-6


def test_change_points_bisects_only_differing_ranges() -> None:
    reads: list[int] = []

    def read(block: int) -> int:
        reads.append(block)
        return step_rate(block)

    assert change_points(read, 0, 20_000, step_rate(0), step_rate(20_000)) == {
        3_600: 1_170_096, 10_800: 1_170_192, 18_000: 1_170_288
    }  # fmt: skip
    assert len(reads) < 3 * 16
    assert change_points(read, 4_000, 10_000, 1, 1) == {}


def test_rate_inputs_are_vaults_and_feeds_that_are_not_proxies() -> None:
    vault, adapter, proxy = "0x" + "01" * 20, "0x" + "02" * 20, "0x" + "03" * 20
    recipe = ChainlinkOracleRecipe(
        "0x" + "0a" * 20, 1, base_feed_1=adapter, base_feed_2=proxy, base_vault=vault,
        base_vault_conversion_sample=10**18,
    )  # fmt: skip
    inputs = rate_inputs(recipe, {proxy})
    assert inputs == [RateInput(vault, VAULT_CALL, 10**18), RateInput(adapter, ADAPTER_CALL)]
    assert [i.key for i in inputs] == [vault_input(vault, 10**18), adapter]
    table = rate_samples_table(1, {inputs[0]: [(9, 5), (10, 5), (11, 7)], inputs[1]: [(9, 1)]})
    assert rate_updates(table, inputs[0]) == [(10, 5), (12, 7)]  # changes only, from next block
    assert rate_updates(table, inputs[1]) == [(10, 1)]
    with pytest.raises(ValueError, match="cadence"):
        sample_series(Reader(step_rate), 0, 10, cadence=0)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(0, 30_000), st.integers(1, 50)), max_size=12),
    accrual=st.sampled_from([0, 0, 3]),  # per block: some inputs change at every block
    first_block=st.integers(1, 3_000),
    cadence=st.integers(1, 700),
    refine_budget=st.sampled_from([0, 2, 64]),
    lengths=st.lists(st.integers(1, 12_000), min_size=1, max_size=4),
)
def test_extending_a_build_equals_a_build_from_scratch(
    steps: list[tuple[int, int]],
    accrual: int,
    first_block: int,
    cadence: int,
    refine_budget: int,
    lengths: list[int],
) -> None:
    """Builds over longer and longer ranges, each from the one before (a daily job), give the
    samples of one build over the last range, and read the kept blocks only once."""

    def rate(block: int) -> int:
        return 10**18 + accrual * block + sum(size for at, size in steps if at <= block)

    last_block = first_block
    series: list[tuple[int, int]] = []
    extending, reads = Reader(rate), []
    for length in lengths:
        last_block += length
        before = extending.reads
        series = sample_series(extending, first_block, last_block, cadence, refine_budget, series)
        reads.append(extending.reads - before)
    scratch = Reader(rate)
    assert series == sample_series(scratch, first_block, last_block, cadence, refine_budget)
    if len(lengths) > 1 and lengths[-1] * 10 < last_block - first_block:
        assert reads[-1] < scratch.reads  # the last extension read less than a build does


def test_a_daily_extension_reads_about_a_day() -> None:
    """Ten days sampled, then an eleventh: the extension reads the day's grid and its steps, and
    the blocks near the earlier end that were not final then, not the ten days again."""
    day = 7_200
    ten_days = sample_series(Reader(step_rate), 1_000, 1_000 + 10 * day, cadence=300)
    reader = Reader(step_rate)
    eleven = sample_series(reader, 1_000, 1_000 + 11 * day, 300, earlier=ten_days)
    assert eleven == sample_series(Reader(step_rate), 1_000, 1_000 + 11 * day, cadence=300)
    assert day // 300 < reader.reads <= day // 300 + 3 + FINALITY_BLOCKS // 300 + 1


@pytest.mark.parametrize("depth", [1, 17, FINALITY_BLOCKS])
def test_blocks_not_final_at_the_earlier_build_are_read_again(depth: int) -> None:
    """A reorg replaced the last ``depth`` blocks the earlier build read (a vault harvested in
    the new branch): the extension sees the new branch, as a build from scratch does."""
    first, end = 1_000, 1_000 + 10 * 7_200
    earlier = sample_series(Reader(step_rate), first, end, cadence=300)

    def after_reorg(block: int) -> int:
        return step_rate(block) + (5 if block >= end - depth else 0)

    extended = sample_series(Reader(after_reorg), first, end + 7_200, 300, earlier=earlier)
    assert extended == sample_series(Reader(after_reorg), first, end + 7_200, cadence=300)
