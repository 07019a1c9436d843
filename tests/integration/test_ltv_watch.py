"""The LTV watch skips only checks that cannot change anything: a replay that looks at every
position at every price gives the same outcome, action for action and stat for stat. (Maker's
auctions are rescheduled every block while they run, whatever the watch says; test_divergence
covers them.)"""

from __future__ import annotations

import tomllib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softliq_core.replay import engine
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.run import HISTORY
from softliq_core.replay.scenario import Scenario, parse_scenarios
from softliq_core.sources.synthetic import SyntheticChainConfig, generate_chain
from tests.support.pipeline import run_in_memory
from tests.support.replays import replay_outcome

SCENARIOS = [
    HISTORY,
    *parse_scenarios(
        tomllib.loads(
            """
[[scenario]]
name = "baseline"
mechanism = "morpho_liquidation"

[[scenario]]
name = "sdk"
mechanism = "morpho_pre_liquidation"
preset = "blue-sdk-default"
liquidator = { gas_pre_liquidation = 0 }

[[scenario]]
name = "wide"
mechanism = "morpho_pre_liquidation"
scope = { lltv = "0.86" }
pre_lltv = "0.70"
pre_lcf1 = "0.02"
pre_lcf2 = "0.4"
pre_lif1 = "1.01"
pre_lif2 = "1.05"

[[scenario]]
name = "own_rate"
mechanism = "morpho_pre_liquidation"
preset = "blue-sdk-default"
accrual = "irm"

[[scenario]]
name = "euler"
mechanism = "euler_liquidation"
cool_off = 60
"""
        )
    ),
]


def _compare(history: MarketHistory, scenario: Scenario) -> tuple[int, int]:
    """(actions, exact checks) of the scenario on the market without the engine's shortcuts (every
    position checked at every price, every decline derived), its outcome equal to the engine's."""
    mechanism = None if scenario.is_history else scenario.mechanism_for(history.market)
    if mechanism is None and not scenario.is_history:
        return 0, 0  # out of the scenario's scope
    watched = engine._MarketReplay(history, scenario, mechanism, None)
    every = engine._MarketReplay(history, scenario, mechanism, None, shortcuts=False)
    assert replay_outcome(watched) == replay_outcome(every), (history.market.label, scenario.name)
    return len(every.out.actions), every.out.exact_checks


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), crash_day=st.sampled_from([0, 1, 2]))
def test_the_watch_changes_no_outcome(seed: int, crash_day: int) -> None:
    chain = generate_chain(
        SyntheticChainConfig(seed=seed, days=3, borrowers_per_market=15, crash_day=crash_day)
    )
    actions = 0
    for history in run_in_memory(chain).histories:
        for scenario in SCENARIOS:
            acted, _ = _compare(history, scenario)
            actions += acted
    assert actions > 0  # not vacuous: the scenarios acted


def test_the_watch_skips_most_checks(histories: list[MarketHistory]) -> None:
    """On the shared chain (a crash), far fewer exact checks than positions × prices."""
    scenario = SCENARIOS[2]
    history = max(histories, key=lambda h: len(h.events))
    mechanism = scenario.mechanism_for(history.market)
    watched = engine._MarketReplay(history, scenario, mechanism, None)
    checks = watched.run().exact_checks
    _, every = _compare(history, scenario)
    assert 0 < checks < every / 2, (checks, every)
