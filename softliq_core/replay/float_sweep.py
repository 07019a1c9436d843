"""A governance sweep of Morpho liquidation and pre-liquidation scenarios in compiled float code.

The exact engine replays a scenario in about 15 s at two years and ten markets, so a 1,000-point
grid takes hours on two cores. This sweep runs the same rules (float_kernel.py) on the positions
each scenario can move (DESIGN §4 rule 4, ``diverging_borrowers``), every scenario of a market in
one compiled pass over numba threads, and gives one row per (scenario, market, simulated
position) and their sum per (scenario, market). Amounts are floats in base units; counts and
blocks are whole numbers. What it approximates, and by how much against the exact engine, is in
the README ("Sweeping a grid"): pick the scenarios with it, then replay those exactly
(``run_scenarios``) for the tables and the report.

Scenarios it runs: ``morpho_liquidation`` and ``morpho_pre_liquidation`` with history's interest
(``accrual = "history"``), no market-impact feedback and an opt-in of ``all`` or a ``fraction``.
Any other is refused before work starts, named with the rule it breaks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from itertools import islice
from typing import Final, NamedTuple

import numba
import numpy as np
import polars as pl

from softliq_core.mechanisms import Mechanism
from softliq_core.mechanisms.morpho_pre_liquidation import MorphoPreLiquidation
from softliq_core.protocols.morpho.liquidation import liquidation_incentive_factor
from softliq_core.replay import float_kernel as fk
from softliq_core.replay.engine import diverging_borrowers, replay_market
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.ledger import ReplayError
from softliq_core.replay.market_tape import MarketTape, market_tape
from softliq_core.replay.run import HISTORY, scenarios_table
from softliq_core.replay.scenario import Scenario, ScenarioError, validate_scenarios

WAD: Final = 10**18
MECHANISMS: Final = ("morpho_liquidation", "morpho_pre_liquidation")

# The kernel's outcome columns, by name (counts, then amounts in base units)
COUNTS: Final = {
    "pre_liquidations": fk.PRE_LIQUIDATIONS,
    "liquidations": fk.LIQUIDATIONS,
    "clipped_actions": fk.CLIPPED,
    "unprofitable_skips": fk.UNPROFITABLE,
    "soft_zone_blocks": fk.SOFT_ZONE_BLOCKS,
}
AMOUNTS: Final = {
    "debt_repaid": fk.REPAID_ASSETS,
    "collateral_seized": fk.SEIZED_ASSETS,
    "seized_value": fk.SEIZED_VALUE,
    "slippage_cost": fk.SLIPPAGE_COST,
    "gas_cost": fk.GAS_COST,
    "liquidator_profit": fk.LIQUIDATOR_PROFIT,
    "bad_debt_assets": fk.BAD_DEBT_ASSETS,
}


# A positions table's columns (one row per scenario x simulated position)
POSITIONS: Final = {
    "scenario_id": pl.String,
    "market_id": pl.String,
    "borrower": pl.String,
    **dict.fromkeys(COUNTS, pl.Int64),
    "first_action_block": pl.Int64,
    "max_ltv": pl.Float64,
    "borrow_shares": pl.Float64,
    "collateral": pl.Float64,
    **dict.fromkeys(AMOUNTS, pl.Float64),
}


@dataclass(frozen=True)
class FloatSweep:
    """``positions``: one row per (scenario, market, position the scenario simulates); the other
    positions keep history's path (no action, clip or time in the soft zone). ``summary``: their
    sums per (scenario, market), with the scenario's name and the number of positions simulated.
    ``scenarios``: the set's scenarios but history, as the outcome store keeps them
    (``scenarios_table``: id, name, mechanism, canonical definition), to read the grid's
    parameters next to the sums."""

    positions: pl.DataFrame
    summary: pl.DataFrame
    scenarios: pl.DataFrame


def concat_sweeps(parts: Sequence[FloatSweep]) -> FloatSweep:
    """One sweep from sweeps of disjoint chunks of a scenario set (each row is one scenario's)."""
    return FloatSweep(
        *(pl.concat([getattr(part, table.name) for part in parts]) for table in fields(FloatSweep))
    )


def unphysical_outcomes(positions: pl.DataFrame) -> pl.DataFrame:
    """The positions' outcomes no replay can give: a count, balance, amount or LTV that is
    negative, NaN or infinite (one row per position and column: scenario_id, market_id, borrower,
    column, value). Empty for a sound sweep; float error in the kernel, such as a seizure rounded
    past the collateral, would show here."""
    keys = ["scenario_id", "market_id", "borrower"]
    return (
        positions.select(*keys, pl.exclude(*keys, "first_action_block").cast(pl.Float64))
        .unpivot(index=keys, variable_name="column")
        .filter(~pl.col("value").is_finite() | (pl.col("value") < 0))
    )


def float_sweep_problems(scenarios: Sequence[Scenario]) -> list[str]:
    """Why each scenario the float sweep cannot run is refused (empty: all can)."""
    problems = []
    for s in scenarios:
        if s.is_history:
            continue
        where = f"scenario {s.name!r}"
        if s.mechanism not in MECHANISMS:
            problems.append(f"{where}: mechanism {s.mechanism!r} is not one of {MECHANISMS}")
        if s.accrual != "history":
            problems.append(f"{where}: accrual {s.accrual!r}: the float sweep follows history's")
        if s.market_impact.on:
            problems.append(f"{where}: market_impact: the float sweep has no price feedback")
        if s.opt_in == "history":
            problems.append(f"{where}: opt_in 'history': use 'all' or a fraction")
    return problems


def scenario_row(scenario: Scenario, mechanism: Mechanism, history: MarketHistory) -> np.ndarray:
    """The scenario's parameters on this market, in the kernel's layout (float_kernel.LLTV...)."""
    liquidator = scenario.liquidator
    curve = liquidator.curve(history.collateral_symbol)
    row = np.zeros(fk.N_SCENARIO)
    row[fk.LLTV] = history.market.lltv / WAD
    row[fk.LIF] = liquidation_incentive_factor(history.market.lltv) / WAD
    if isinstance(mechanism, MorphoPreLiquidation):
        params = mechanism.params
        row[fk.HAS_PRE] = 1.0
        row[fk.PRE_LLTV] = params.pre_lltv / WAD
        row[fk.PRE_LCF1], row[fk.PRE_LCF2] = params.pre_lcf1 / WAD, params.pre_lcf2 / WAD
        row[fk.PRE_LIF1], row[fk.PRE_LIF2] = params.pre_lif1 / WAD, params.pre_lif2 / WAD
    row[fk.GAS_LIQUIDATION] = liquidator.gas_liquidation
    row[fk.GAS_PRE_LIQUIDATION] = liquidator.gas_pre_liquidation
    row[fk.PRIORITY_FEE] = liquidator.priority_fee
    row[fk.MIN_PROFIT] = liquidator.min_profit
    row[fk.SLIPPAGE_FEE] = curve.fee / WAD
    row[fk.SLIPPAGE_DEPTH] = float(curve.depth_1pct * 10**history.collateral_decimals)
    row[fk.MAX_CALLS] = liquidator.max_calls_per_block
    row[fk.GREEDY] = 1.0 if liquidator.pre_liquidation_calls == "greedy" else 0.0
    row[fk.LATENCY] = liquidator.latency_blocks
    return row


def _first_events(
    tape: MarketTape, borrowers: tuple[str, ...], starts: dict[str, int]
) -> np.ndarray:
    """Each borrower's first event at or after its start block (-1: not simulated)."""
    first = np.full(len(borrowers), -1, dtype=np.int64)
    for b, borrower in enumerate(borrowers):
        start = starts.get(borrower)
        if start is None:
            continue
        begin, end = tape.borrower_events[b]
        at = begin + int(np.searchsorted(tape.event_block[begin:end], start))
        first[b] = at if at < end else -1
    return first


def _opted_in(scenarios: Sequence[Scenario], borrowers: tuple[str, ...]) -> np.ndarray:
    """Opt-in per scenario and borrower; a seeded fraction is hashed once per (fraction, seed)."""
    draws: dict[tuple[str, float, int], np.ndarray] = {}
    rows = []
    for s in scenarios:
        key = (s.opt_in, s.opt_in_fraction, s.opt_in_seed)
        if key not in draws:
            draws[key] = np.array([s.opted_in(b, False) for b in borrowers], dtype=np.bool_)
        rows.append(draws[key])
    return np.stack(rows) if rows else np.zeros((0, len(borrowers)), dtype=np.bool_)


class MarketWork(NamedTuple):
    """A market to sweep and the scenarios in its scope."""

    history: MarketHistory
    scenarios: list[Scenario]


@dataclass(frozen=True)
class PreparedMarket:
    """One market's kernel inputs, prepared from its history: the tape, its borrowers, each
    trigger group's first simulated events (``starts``, -1: not simulated), each scenario's group,
    parameter row, opt-ins and liquidator latency."""

    tape: MarketTape
    borrowers: tuple[str, ...]
    starts: np.ndarray
    group: np.ndarray
    rows: np.ndarray
    opted_in: np.ndarray
    latency: np.ndarray


def prepare_market(history: MarketHistory, scenarios: list[Scenario]) -> PreparedMarket:
    """History's exact replay (which positions each trigger makes diverge, and from where) and the
    tape: Python, on one core."""
    past = replay_market(history, HISTORY, None)
    tape, borrowers = market_tape(history)
    mechanisms: list[Mechanism] = []
    for scenario in scenarios:
        mechanism = scenario.mechanism_for(history.market)
        assert mechanism is not None  # (float_sweep keeps the scenarios with one)
        mechanisms.append(mechanism)
    triggers = sorted({m.lowest_trigger_ltv for m in mechanisms})
    starts = np.stack(
        [
            _first_events(
                tape,
                borrowers,
                diverging_borrowers(past, next(m for m in mechanisms if m.lowest_trigger_ltv == t)),
            )
            for t in triggers
        ]
    )
    return PreparedMarket(
        tape,
        borrowers,
        starts,
        group=np.array([triggers.index(m.lowest_trigger_ltv) for m in mechanisms], np.int64),
        rows=np.stack(
            [scenario_row(s, m, history) for s, m in zip(scenarios, mechanisms, strict=True)]
        ),
        opted_in=_opted_in(scenarios, borrowers),
        latency=np.array([s.liquidator.latency_blocks for s in scenarios], np.int64),
    )


def simulate_market(history: MarketHistory, market: PreparedMarket) -> np.ndarray:
    """The kernel over every scenario x borrower: the outcomes (float_kernel.N_OUTCOMES each)."""
    tape = market.tape
    tree, size = fk.ratio_tree(tape)
    out = np.zeros((len(market.rows), len(market.borrowers), fk.N_OUTCOMES))
    for latency in np.unique(market.latency):
        chosen = market.latency == latency
        part = np.zeros((int(chosen.sum()), len(market.borrowers), fk.N_OUTCOMES))
        with numba.parallel_chunksize(fk.CHUNK_BORROWERS):
            fk.simulate_all(
                market.rows[chosen], market.opted_in[chosen], tape, market.starts,
                market.group[chosen], tree, size, int(latency), part,
            )  # fmt: skip
        out[chosen] = part
    if np.isnan(out).any():
        raise ReplayError(
            f"market {history.market.label}: no ETH price in the loan asset before a liquidator "
            f"call, to convert gas ({history.native_price.source or 'no WETH market with this loan token'})"
        )
    return out


def prepared_in_turn(work: Iterable[MarketWork]) -> Iterator[tuple[MarketWork, PreparedMarket]]:
    """Each market with its prepared inputs, the next one prepared on a thread while the caller
    simulates this one: preparing is Python on one core (about 1.4 s a market at the benchmark's
    size) and the kernel lets go of the GIL, so the two share the cores where the second sat idle
    while the first prepared."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare_market") as preparer:
        taken = iter(work)

        def submitted() -> list[tuple[MarketWork, Future[PreparedMarket]]]:  # the next, if any
            return [(w, preparer.submit(prepare_market, *w)) for w in islice(taken, 1)]

        pending = submitted()
        while pending:
            current, preparing = pending.pop()
            pending = submitted()
            yield current, preparing.result()


def float_sweep(
    histories: Sequence[MarketHistory],
    scenarios: Sequence[Scenario],
    progress: Callable[[list[MarketWork]], Iterable[MarketWork]] = iter,
) -> FloatSweep:
    """Every scenario over every market in its scope; invalid or unsupported scenarios are refused
    before any work. ``progress`` wraps the list of markets to sweep (each with its scenarios) as
    they are taken in turn: a progress bar, in the CLI."""
    validate_scenarios(scenarios, [h.market for h in histories])
    problems = float_sweep_problems(scenarios)
    if problems:
        raise ScenarioError(problems)
    work = [
        MarketWork(history, in_scope)
        for history in histories
        if (
            in_scope := [
                s
                for s in scenarios
                if not s.is_history
                and s.applies_to(history.market)
                and s.mechanism_for(history.market) is not None
            ]
        )
    ]
    parts = []
    for (history, in_scope), market in prepared_in_turn(progress(work)):
        out = simulate_market(history, market)
        borrowers = market.borrowers
        scenario_index, borrower_index = np.nonzero(market.starts[market.group] >= 0)
        rows = out[scenario_index, borrower_index]
        parts.append(
            pl.DataFrame(
                {
                    "scenario_id": pl.Series([s.scenario_id for s in in_scope]).gather(
                        scenario_index
                    ),
                    "market_id": history.market.market_id,
                    "borrower": pl.Series(borrowers).gather(borrower_index),
                    **{name: rows[:, c].astype(np.int64) for name, c in COUNTS.items()},
                    "first_action_block": rows[:, fk.FIRST_ACTION_BLOCK].astype(np.int64),
                    "max_ltv": rows[:, fk.MAX_LTV],
                    "borrow_shares": rows[:, fk.BORROW_SHARES],
                    "collateral": rows[:, fk.COLLATERAL],
                    **{name: rows[:, c] for name, c in AMOUNTS.items()},
                }
            ).with_columns(  # -1: never acted on
                pl.when(pl.col("first_action_block") >= 0).then(pl.col("first_action_block"))
            )
        )
    swept = [s for s in scenarios if not s.is_history]
    names = {s.scenario_id: s.name for s in swept}
    # (typed when empty: a file with no columns would break every reader of the sweeps)
    positions = pl.concat(parts) if parts else pl.DataFrame(schema=POSITIONS)
    summary = (
        positions.group_by("scenario_id", "market_id", maintain_order=True)
        .agg(
            pl.len().alias("positions_simulated"),
            *(pl.col(name).sum() for name in (*COUNTS, *AMOUNTS)),
            (pl.col("pre_liquidations") > 0).sum().alias("positions_pre_liquidated"),
            (pl.col("liquidations") > 0).sum().alias("positions_liquidated"),
        )
        .select(
            "scenario_id",
            pl.col("scenario_id").replace_strict(names).alias("scenario_name"),
            pl.exclude("scenario_id"),
        )
    )
    return FloatSweep(positions, summary, scenarios_table(swept))
