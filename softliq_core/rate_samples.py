"""Oracle inputs that emit no event, as sampled series: the ``rate_samples`` table.

Two kinds of input change without a log a decoder could follow:

* an ERC-4626 vault term of a Morpho oracle, ``vault.convertToAssets(sample)``;
* an adapter with the Chainlink feed interface that reads state, e.g. Morpho's
  ``WstEthStEthExchangeRateChainlinkAdapter`` (answer = ``stETH.getPooledEthByShares(1e18)``): any
  feed of a recipe that is not a Chainlink proxy in ``feeds``; its ``latestRoundData()`` answer.

Their history is read with historical ``eth_call`` (an archive node; the synthetic chain answers the
same question from its own state). A value read at block B is the state after B, so it is taken as
in force from the start of block B + 1. Sampling every ``cadence`` blocks from the block before the
lake's first block, then, where two consecutive samples differ, bisecting between them for the
blocks where the value changed (at most ``refine_budget`` extra reads per interval).

Sampling error, documented and tested (``tests/unit/test_rate_samples.py``):

* a step change (Lido's daily report moving the wstETH rate, a vault harvest) is found to the block
  by the bisection; without it (budget 0) it is seen up to ``cadence`` blocks late, and every event
  in between is priced with the old value: an error of one step (the wstETH rate grows ~3 %/yr, so
  a daily step is ~0.008 %);
* continuous accrual (a vault whose ``convertToAssets`` grows every second) changes at every block,
  so the bisection stops at its budget and the value is stale by at most ``cadence`` blocks of
  accrual: at 5 %/yr and 300 blocks (1 h), 5.7e-6 relative;
* inside a block: a change made by a transaction in block B is seen from B + 1, so events after it
  in B get the old value; for time-based accrual the events of B saw ``v(B)`` and get ``v(B − 1)``
  (one block of accrual, ~2e-9 at 5 %/yr);
* a change and its exact reversal between two samples is missed (both ends are equal).

Incremental: the grid is anchored at the lake's first block, and an interval's reads depend only on
its two ends, so a build over a longer range reads every interval a shorter build completed the
same way. ``sample_series`` given the earlier build's samples (same first block, cadence and
budget: ``RateSampling``) keeps its intervals up to a grid point at least ``FINALITY_BLOCKS`` before
its last read and reads only from there; the result equals a build from scratch. The daily job thus
reads about a day of samples per input instead of the whole history again.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from softliq_core.protocols.morpho.oracle import ChainlinkOracleRecipe, vault_input
from softliq_core.tables import RATE_SAMPLES

DEFAULT_CADENCE = 300  # blocks between samples (an hour at 12 s)
DEFAULT_REFINE_BUDGET = 64  # extra reads per interval to place a change to the block
# An incremental build reads again what an earlier one read within this many blocks of its end:
# those blocks were not final then (two epochs), a reorg may have changed their state since.
FINALITY_BLOCKS = 64
VAULT_CALL = "convertToAssets"
ADAPTER_CALL = "latestRoundData"


@dataclass(frozen=True, slots=True, order=True)
class RateInput:
    contract: str
    call: str  # convertToAssets | latestRoundData
    sample: int | None = None  # the shares converted (vaults only)

    @property
    def key(self) -> str:
        """The key of this input in ``ChainlinkOracleRecipe.inputs``."""
        if self.call == VAULT_CALL:
            assert self.sample is not None
            return vault_input(self.contract, self.sample)
        return self.contract


def rate_inputs(recipe: ChainlinkOracleRecipe, proxies: set[str]) -> list[RateInput]:
    """The inputs of a recipe that need sampling: its vaults, and its feeds that are not proxies."""
    inputs = [RateInput(vault, VAULT_CALL, sample) for vault, sample in recipe.vaults]
    inputs += [RateInput(feed, ADAPTER_CALL) for feed in recipe.feeds if feed not in proxies]
    return inputs


def change_points(
    read: Callable[[int], int], lo: int, hi: int, at_lo: int, at_hi: int, budget: int | None = None
) -> dict[int, int]:
    """{block: value} for each block in (lo, hi] whose value differs from the block before, found
    by bisecting only sub-ranges whose ends differ; ``budget`` caps the reads (None: no cap), after
    which a range is left as it is (its end's value from its end)."""
    found: dict[int, int] = {}
    left = [budget]

    def split(lo: int, hi: int, at_lo: int, at_hi: int) -> None:
        if at_lo == at_hi:
            return
        if hi - lo == 1:
            found[hi] = at_hi
            return
        if left[0] is not None:
            if left[0] <= 0:
                found[hi] = at_hi
                return
            left[0] -= 1
        mid = (lo + hi) // 2
        at_mid = read(mid)
        split(lo, mid, at_lo, at_mid)
        split(mid, hi, at_mid, at_hi)

    split(lo, hi, at_lo, at_hi)
    return dict(sorted(found.items()))


@dataclass(frozen=True, slots=True)
class RateSampling:
    """What a ``rate_samples`` build covered and how: the ``rate_sampling`` table's row."""

    first_block: int
    last_block: int
    cadence: int = DEFAULT_CADENCE
    refine_budget: int = DEFAULT_REFINE_BUDGET

    def extends(self, earlier: RateSampling) -> bool:
        """True when this build may keep ``earlier``'s samples (``sample_series``)."""
        return (self.first_block, self.cadence, self.refine_budget) == (
            earlier.first_block,
            earlier.cadence,
            earlier.refine_budget,
        ) and self.last_block >= earlier.last_block


def sample_series(
    read_many: Callable[[Sequence[int]], list[int]],
    first_block: int,
    last_block: int,
    cadence: int,
    refine_budget: int = DEFAULT_REFINE_BUDGET,
    earlier: Sequence[tuple[int, int]] = (),
) -> list[tuple[int, int]]:
    """(block read, value) covering [first_block, last_block]: reads at ``first_block − 1`` (the
    value at the first block's start), every ``cadence`` blocks, and ``last_block − 1``; then the
    change points between differing samples (see the module docstring). ``earlier``: this input's
    samples from a build with the same first block, cadence and budget over a shorter range; what
    it read up to a grid point ``FINALITY_BLOCKS`` before its end is kept, not read again."""
    if cadence < 1:
        raise ValueError("the sampling cadence must be at least one block")
    start = max(0, first_block - 1)
    grid = sorted(set(range(start, last_block, cadence)) | {max(start, last_block - 1)})
    final = max((block for block, _ in earlier), default=start) - FINALITY_BLOCKS
    kept = start + max(0, final - start) // cadence * cadence if earlier else start - 1
    samples = {block: value for block, value in earlier if block <= kept}
    reads = [block for block in grid if block not in samples]
    samples.update(zip(reads, read_many(reads), strict=True))
    for lo, hi in itertools.pairwise(grid):
        if lo < kept:
            continue  # refined by the earlier build
        if samples[lo] != samples[hi] and refine_budget > 0:
            samples.update(
                change_points(
                    lambda b: read_many([b])[0], lo, hi, samples[lo], samples[hi], refine_budget
                )
            )
    return sorted(samples.items())


def sample_rates(
    read: Callable[[RateInput, Sequence[int]], list[int]],
    recipes: Iterable[ChainlinkOracleRecipe],
    proxies: set[str],
    first_block: int,
    last_block: int,
    chain_id: int,
    cadence: int = DEFAULT_CADENCE,
    refine_budget: int = DEFAULT_REFINE_BUDGET,
    earlier: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The ``rate_samples`` table: every event-less input of the recipes, sampled over
    [first_block, last_block] with ``read`` (historical eth_call of one input at blocks).
    ``earlier``: the table of a build with the same first block, cadence and budget over a shorter
    range (``RateSampling.extends``), whose inputs' finalised intervals are kept."""
    inputs = sorted({r for recipe in recipes for r in rate_inputs(recipe, proxies)})
    kept = _series(earlier) if earlier is not None else {}
    series = {
        rate: sample_series(
            lambda blocks, rate=rate: read(rate, blocks),  # type: ignore[misc]
            first_block,
            last_block,
            cadence,
            refine_budget,
            kept.get(rate, ()),
        )
        for rate in inputs
    }
    return rate_samples_table(chain_id, series)


def _series(table: pl.DataFrame) -> dict[RateInput, list[tuple[int, int]]]:
    """A ``rate_samples`` table as each input's (block read, value) rows."""
    series: dict[RateInput, list[tuple[int, int]]] = {}
    for contract, call, sample, block, value in table.select(
        "contract", "call", "sample", "block_number", "value"
    ).iter_rows():
        rate = RateInput(contract, call, int(sample) if sample is not None else None)
        series.setdefault(rate, []).append((block, int(value)))
    return series


def rate_samples_table(
    chain_id: int, series: Mapping[RateInput, Sequence[tuple[int, int]]]
) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (chain_id, rate.contract, rate.call,
             str(rate.sample) if rate.sample is not None else None, block, str(value))
            for rate, rows in sorted(series.items())
            for block, value in rows
        ],
        schema=pl.Schema(RATE_SAMPLES),
        orient="row",
    )  # fmt: skip


def rate_updates(samples: pl.DataFrame, rate: RateInput) -> list[tuple[int, int]]:
    """(block from whose start the value is in force, value) at each change of one input."""
    rows = samples.filter(
        (pl.col("contract") == rate.contract)
        & (pl.col("call") == rate.call)
        & (
            pl.col("sample") == str(rate.sample)
            if rate.sample is not None
            else pl.col("sample").is_null()
        )
    ).sort("block_number")
    updates: list[tuple[int, int]] = []
    for block, value in rows.select("block_number", "value").iter_rows():
        if not updates or updates[-1][1] != int(value):
            updates.append((block + 1, int(value)))
    return updates
