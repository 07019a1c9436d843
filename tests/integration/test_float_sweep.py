"""The float sweep (replay/float_sweep.py) against the exact engine, position by position."""

from __future__ import annotations

import threading
import tomllib

import polars as pl
import pytest

from softliq_core.replay import float_sweep as sweep_module
from softliq_core.replay.engine import MarketOutcome, diverging_borrowers, replay_market
from softliq_core.replay.float_sweep import (
    AMOUNTS,
    COUNTS,
    MarketWork,
    PreparedMarket,
    float_sweep,
    prepare_market,
    prepared_in_turn,
)
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.run import HISTORY
from softliq_core.replay.scenario import Scenario, ScenarioError, parse_scenarios
from tests.integration.test_divergence import SCENARIOS as DIVERGENCE_SCENARIOS

# The divergence test's scenarios the float sweep runs (latency 2, blue-sdk presets without gas,
# an opt-in fraction), and a grid with single calls and a least profit.
SCENARIOS = [
    s for s in DIVERGENCE_SCENARIOS if s.name in ("history", "baseline", "sdk", "wide_half")
] + parse_scenarios(
    tomllib.loads(
        """
[[grid]]
name = "grid"
mechanism = "morpho_pre_liquidation"
scope = { lltv = "0.86" }
pre_lltv = ["0.78", "0.83"]
pre_lcf1 = ["0.05"]
pre_lcf2 = ["0.2", "0.8"]
pre_lif1 = ["1.01"]
pre_lif2 = ["1.05"]
liquidator = { pre_liquidation_calls = "single", min_profit_eth = "0.001" }
"""
    )
)


def _exact(history: MarketHistory, scenario: Scenario, past: MarketOutcome) -> pl.DataFrame:
    """The exact engine's divergence-driven replay, in the float sweep's columns."""
    mechanism = scenario.mechanism_for(history.market)
    assert mechanism is not None
    starts = diverging_borrowers(past, mechanism)
    outcome = replay_market(history, scenario, mechanism, frozenset(starts), starts=starts)
    actions = pl.DataFrame(outcome.actions, infer_schema_length=None)
    sums = {name: {} for name in AMOUNTS}
    columns = {
        "debt_repaid": "repaid_assets",
        "collateral_seized": "seized_assets",
        "seized_value": "seized_value",
        "slippage_cost": "slippage_cost",
        "gas_cost": "gas_cost",
        "liquidator_profit": "liquidator_profit",
        "bad_debt_assets": "bad_debt_assets",
    }
    for row in actions.iter_rows(named=True) if actions.height else ():
        for name, column in columns.items():
            sums[name][row["borrower"]] = sums[name].get(row["borrower"], 0) + int(row[column])
    return pl.DataFrame(
        [
            {
                "borrower": borrower,
                "pre_liquidations": stats.pre_liquidations,
                "liquidations": stats.liquidations,
                "clipped_actions": stats.clipped,
                "unprofitable_skips": stats.unprofitable,
                "soft_zone_blocks": stats.soft_zone_blocks,
                "first_action_block": stats.first_action_block,
                "max_ltv": stats.max_ltv / 10**18,
                "borrow_shares": float(outcome.positions[borrower].borrow_shares),
                "collateral": float(outcome.positions[borrower].collateral),
                **{name: float(sums[name].get(borrower, 0)) for name in AMOUNTS},
            }
            for borrower, stats in outcome.stats.items()
        ],
        schema_overrides={"first_action_block": pl.Int64},
    )


def test_float_sweep_agrees_with_the_exact_engine(histories: list[MarketHistory]) -> None:
    """Every simulated position of every scenario and market against the exact engine's
    divergence-driven replay. A position agrees when its counts, spells and first action are
    equal, its LTV record within 1e-9 (a unit of debt or value; the engine's TRIGGER_MARGIN) and
    its amounts within a base unit per call (a float product within 1e-16 of a whole unit may round
    the other way) or 1e-9. The float kernel cannot tell which way a comparison at the exact
    rounded boundary goes (a borrow clipped to exactly the LLTV, checked on other totals), so a
    few positions may part there; they must stay rare, and the scenario totals close."""
    swept: list[MarketWork] = []

    def progress(markets: list[MarketWork]) -> list[MarketWork]:
        swept.extend(markets)
        return markets

    sweep = float_sweep(histories, SCENARIOS, progress)
    compared = acted = parted = 0
    for history in histories:
        past = replay_market(history, HISTORY, None)
        # a unit of the loan asset in collateral at the lowest price, and in shares
        collateral_unit = 10**36 / min(price for _, _, price in history.prices if price)
        units = {"collateral_seized": collateral_unit, "collateral": collateral_unit}
        units["borrow_shares"] = 2e6
        for scenario in SCENARIOS[1:]:
            if not scenario.applies_to(history.market):
                continue
            exact = _exact(history, scenario, past).sort("borrower")
            fast = sweep.positions.filter(
                (pl.col("scenario_id") == scenario.scenario_id)
                & (pl.col("market_id") == history.market.market_id)
            ).sort("borrower")
            where = f"{scenario.name} on {history.market.label}"
            assert fast["borrower"].to_list() == exact["borrower"].to_list(), where
            calls = (exact["pre_liquidations"] + exact["liquidations"]).cast(pl.Float64)
            agree = (fast["max_ltv"] - exact["max_ltv"]).abs() <= 1e-9
            for name in (*COUNTS, "first_action_block"):
                agree &= fast[name].eq_missing(exact[name])
            for name in (*AMOUNTS, "borrow_shares", "collateral"):
                bound = exact[name].abs() * 1e-9 + 2 * units.get(name, 1.0) * calls + 1e-9
                agree &= (fast[name] - exact[name]).abs() <= bound
            for name in COUNTS:  # the scenario's totals
                total = exact[name].sum()
                assert abs(fast[name].sum() - total) <= 0.01 * total + 1, f"{where}: {name}"
            for name in AMOUNTS:
                total = exact[name].abs().sum()
                assert abs(fast[name].sum() - exact[name].sum()) <= 0.01 * total + 1, where
            compared += exact.height
            parted += exact.height - int(agree.sum())
            acted += int(calls.sum())
    assert compared > 100 and acted > 50  # not vacuous: positions simulated and acted on
    assert parted <= 0.01 * compared, f"{parted} of {compared} positions part from the engine"
    # the summary sums each (scenario, market)'s positions under the scenario's name; the
    # scenarios table holds every scenario swept
    names = {s.scenario_id: s.name for s in SCENARIOS if not s.is_history}
    assert dict(zip(sweep.scenarios["scenario_id"], sweep.scenarios["name"], strict=True)) == names
    sums = sweep.positions.group_by("scenario_id", "market_id").agg(
        pl.len().alias("simulated"), pl.col("pre_liquidations").sum().alias("pre")
    )
    summary = sweep.summary.join(sums, on=["scenario_id", "market_id"], how="full")
    assert summary.height == sweep.summary.height == sums.height
    assert summary["scenario_name"].to_list() == [names[i] for i in summary["scenario_id"]]
    assert (summary["positions_simulated"] == summary["simulated"]).all()
    assert (summary["pre_liquidations"] == summary["pre"]).all()
    # the progress hook was handed the markets swept, each with the scenarios in its scope
    in_scope = [
        (h.market.market_id, [s.name for s in SCENARIOS[1:] if s.applies_to(h.market)])
        for h in histories
    ]
    assert [(w.history.market.market_id, [s.name for s in w.scenarios]) for w in swept] == [
        (market, scoped) for market, scoped in in_scope if scoped
    ]
    assert set(sweep.summary["market_id"]) == {w.history.market.market_id for w in swept}


def test_scenarios_with_other_liquidators_do_not_change_a_scenarios_outcomes(
    histories: list[MarketHistory],
) -> None:
    """Scenarios swept together share each round's call bars per distinct liquidator: a scenario
    whose calls pay is swept as it is alone, beside one whose liquidator asks a whole ETH of
    profit (whose bars would screen the first one's paying calls out as declines)."""
    greedy, paying = parse_scenarios(
        tomllib.loads(
            """
[[scenario]]
name = "greedy"
mechanism = "morpho_pre_liquidation"
preset = "blue-sdk-default"
liquidator = { min_profit_eth = "1" }

[[scenario]]
name = "paying"
mechanism = "morpho_pre_liquidation"
preset = "blue-sdk-default"
"""
        )
    )
    alone = float_sweep(histories, [paying]).positions
    together = float_sweep(histories, [greedy, paying]).positions
    assert alone["pre_liquidations"].sum() > 0  # not vacuous: its calls pay
    assert together.filter(pl.col("scenario_id") == paying.scenario_id).equals(alone)


def test_markets_are_prepared_in_turn_on_a_thread_as_they_are_alone(
    histories: list[MarketHistory], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next market is prepared on the preparer thread while the caller has this one: every
    market once, in order, its inputs as prepared on their own; a failure reaches the caller."""
    work = [
        MarketWork(h, [s for s in SCENARIOS[1:] if s.applies_to(h.market)]) for h in histories
    ]  # (but history, which the sweep does not run)
    work = [w for w in work if w.scenarios]
    assert len(work) >= 2  # not vacuous: one is prepared while the caller holds another
    threads: list[str] = []

    def recorded(history: MarketHistory, scenarios: list[Scenario]) -> PreparedMarket:
        threads.append(threading.current_thread().name)
        return prepare_market(history, scenarios)

    monkeypatch.setattr(sweep_module, "prepare_market", recorded)
    taken = prepared_in_turn(work)
    first, market = next(taken)
    assert first == work[0] and len(threads) == 2  # the second, prepared meanwhile
    alone = prepare_market(*work[0])
    assert market.borrowers == alone.borrowers
    for name in ("starts", "group", "rows", "opted_in", "latency"):
        assert (getattr(market, name) == getattr(alone, name)).all(), name
    assert [w for w, _ in taken] == work[1:]
    assert all(name.startswith("prepare_market") for name in threads)

    def failing(history: MarketHistory, scenarios: list[Scenario]) -> PreparedMarket:
        raise ValueError(f"market {history.market.label}: no price")

    monkeypatch.setattr(sweep_module, "prepare_market", failing)
    with pytest.raises(ValueError, match=f"market {work[0].history.market.label}: no price"):
        list(prepared_in_turn(work))


@pytest.mark.parametrize(
    ("table", "rule"),
    [
        ('opt_in = { mode = "history" }', "opt_in 'history'"),
        ('accrual = "irm"', "accrual 'irm'"),
        ("market_impact = { window_blocks = 10 }", "market_impact"),
    ],
)
def test_unsupported_scenarios_are_refused_before_work(table: str, rule: str) -> None:
    scenario = parse_scenarios(
        tomllib.loads(
            f'[[scenario]]\nname = "odd"\nmechanism = "morpho_pre_liquidation"\n'
            f'preset = "blue-sdk-default"\n{table}\n'
        )
    )
    with pytest.raises(ScenarioError, match=f"scenario 'odd': {rule}"):
        float_sweep([], scenario)


def test_other_mechanisms_are_refused() -> None:
    scenario = parse_scenarios(
        tomllib.loads('[[scenario]]\nname = "auction"\nmechanism = "maker_clipper"\n')
    )
    with pytest.raises(ScenarioError, match="scenario 'auction': mechanism 'maker_clipper'"):
        float_sweep([], scenario)
