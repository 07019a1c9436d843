"""Parking declined positions (``replay/declines.py``) changes no outcome: a replay that screens
them in floats equals the exact engine's, action for action and stat for stat, whatever the
liquidator's latency, minimum profit, gas, opt-in or call mode; and the screen does settle most of
the liquidator's re-pricings on a chain where positions sit in their windows."""

from __future__ import annotations

import tomllib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softliq_core.replay import engine
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.scenario import Scenario, parse_scenarios
from softliq_core.sources.synthetic import SyntheticChainConfig, generate_chain
from tests.support.pipeline import run_in_memory
from tests.support.replays import replay_outcome

SCENARIOS = parse_scenarios(
    tomllib.loads(
        """
[[scenario]]
name = "baseline"
mechanism = "morpho_liquidation"

[[scenario]]
name = "sdk"
mechanism = "morpho_pre_liquidation"
preset = "blue-sdk-default"

[[scenario]]
name = "wide_slow_choosy"
mechanism = "morpho_pre_liquidation"
scope = { lltv = "0.86" }
pre_lltv = "0.70"
pre_lcf1 = "0.02"
pre_lcf2 = "0.9"
pre_lif1 = "1.001"
pre_lif2 = "1.05"
liquidator = { latency_blocks = 3, min_profit_eth = "0.002" }

[[scenario]]
name = "half_opt_in"
mechanism = "morpho_pre_liquidation"
preset = "blue-sdk-default"
opt_in = { mode = "fraction", fraction = 0.5, seed = 3 }

[[scenario]]
name = "opted_in_as_in_history"
mechanism = "morpho_pre_liquidation"
preset = "blue-sdk-default"
opt_in = { mode = "history" }

[[scenario]]
name = "single_calls_no_gas"
mechanism = "morpho_pre_liquidation"
scope = { lltv = "0.86" }
pre_lltv = "0.80"
pre_lcf1 = "0.05"
pre_lcf2 = "0.5"
pre_lif1 = "1.0"
pre_lif2 = "1.02"
liquidator = { pre_liquidation_calls = "single", gas_pre_liquidation = 0, gas_liquidation = 0, slippage = { WETH = { fee = "0.01" } } }
"""
    )
)


def _compare(history: MarketHistory, scenario: Scenario) -> tuple[int, int, int, int]:
    """(actions, declines, declines the screen settled, those of them on a position not parked
    yet) of the scenario on the market; its outcome equal to the engine's without shortcuts."""
    mechanism = scenario.mechanism_for(history.market)
    if mechanism is None:
        return 0, 0, 0, 0
    screened = engine._MarketReplay(history, scenario, mechanism, None)
    assert screened.screen is not None
    outcome = replay_outcome(screened)
    exact = engine._MarketReplay(history, scenario, mechanism, None, shortcuts=False)
    assert outcome == replay_outcome(exact), (history.market.label, scenario.name)
    declines = sum(s.unprofitable for s in outcome["stats"].values())
    out = screened.out
    return len(outcome["actions"]), declines, out.screened_declines, out.screened_first_declines


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), crash_day=st.sampled_from([0, 1, 2]))
def test_the_screen_changes_no_outcome(seed: int, crash_day: int) -> None:
    chain = generate_chain(
        SyntheticChainConfig(seed=seed, days=3, borrowers_per_market=15, crash_day=crash_day)
    )
    totals = [0, 0, 0, 0]
    for history in run_in_memory(chain).histories:
        for scenario in SCENARIOS:
            for i, count in enumerate(_compare(history, scenario)):
                totals[i] += count
    assert totals[0] > 0 and totals[1] > 0  # not vacuous: the liquidator acted and declined


def test_the_screen_settles_most_declines(histories: list[MarketHistory]) -> None:
    """On the shared chain (a crash), most declines are settled by the screen, none wrongly, some
    of them a position's first decline (the call screened before it was ever parked)."""
    settled = declines = first = 0
    for history in histories:
        for scenario in SCENARIOS[1:4]:
            _, declined, screened, first_declines = _compare(history, scenario)
            declines += declined
            settled += screened
            first += first_declines
    assert declines > 0 and settled > declines / 2, (settled, declines)
    assert 0 < first < settled, (first, settled)
