"""Sampling event-less oracle inputs: exact for steps with the bisection, bounded error without."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import pytest

from softliq_core.protocols.morpho.oracle import ChainlinkOracleRecipe, vault_input
from softliq_core.rate_samples import (
    ADAPTER_CALL,
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
