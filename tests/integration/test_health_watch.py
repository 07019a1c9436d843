"""The Aave replay's health watch skips only looks that cannot change anything: a replay that looks
at every borrowing account at every price update of one of its assets gives the same outcome, row
for row and stat for stat (the replay as it was before the watch)."""

from __future__ import annotations

from typing import Any

import pytest

from softliq_core.replay import aave_engine
from softliq_core.replay.aave_history import AaveHistory
from softliq_core.replay.run import HISTORY
from softliq_core.replay.scenario import Scenario, parse_scenarios

SCENARIOS = [
    HISTORY,
    *parse_scenarios(
        {
            "scenario": [
                {"name": "hard", "mechanism": "aave_liquidation"},
                {
                    "name": "soft", "mechanism": "aave_pre_liquidation", "pre_hf": "1.08",
                    "pre_lcf1": "0.10", "pre_lcf2": "0.40", "pre_lif1": "1.01",
                    "pre_lif2": "1.04", "opt_in": {"mode": "fraction", "fraction": 0.5, "seed": 1},
                    "liquidator": {"latency_blocks": 2, "gas_pre_liquidation": 0},
                },
                {
                    "name": "wide", "mechanism": "aave_pre_liquidation", "pre_hf": "1.25",
                    "pre_lcf1": "0.02", "pre_lcf2": "0.30", "pre_lif1": "1.005",
                    "pre_lif2": "1.03", "liquidator": {"pre_liquidation_calls": "single"},
                },
            ]
        }
    ),
]  # fmt: skip


class _EveryLook(aave_engine._AaveReplay):
    """The replay without the watch: every account looked at whenever one of its assets moves."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.watch.quiet = lambda *_: False  # type: ignore[method-assign]


def _counting(replay: aave_engine._AaveReplay) -> list[int]:
    """Count the looks the replay skips (the one-element list fills as it runs)."""
    skipped = [0]
    quiet = replay.watch.quiet

    def counted(*args: Any) -> bool:
        result = quiet(*args)
        skipped[0] += result
        return result

    replay.watch.quiet = counted  # type: ignore[method-assign]
    return skipped


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_the_watch_changes_no_outcome(aave_pool_history: AaveHistory, scenario: Scenario) -> None:
    history = aave_pool_history
    mechanism = None if scenario.is_history else scenario.aave_mechanism_for(history.market)
    watched = aave_engine._AaveReplay(history, scenario, mechanism)
    skipped = _counting(watched)
    outcome = watched.run()
    every = _EveryLook(history, scenario, mechanism).run()
    assert outcome == every
    assert skipped[0] > 0  # not vacuous: the watch skipped looks
    if not scenario.is_history:
        assert any(row["kind"] for row in outcome.actions)  # and the scenario acted
