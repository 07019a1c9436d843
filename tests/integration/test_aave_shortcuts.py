"""The Aave replay's shortcuts change nothing: the health watch (which skips looks a price update
cannot change, and parks accounts in a pre-liquidation window: their looks only schedule the call),
the declined-offer screen (a pre-liquidation whose best offer cannot pay is declined without asking
the Pool) and the parked calls' screen (a parked account's due call declined on the watch's bounds
alone). A replay that looks at every borrowing account at every price update of one of its assets
and tries every call gives the same outcome, row for row and stat for stat (the replay as it was
before them)."""

from __future__ import annotations

from typing import Any

import numpy as np
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
    """The replay without shortcuts: every account looked at whenever one of its assets moves,
    every call tried on the Pool."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.watch._quiet = lambda pool, timestamp, rows: np.zeros(len(rows), bool)  # type: ignore[method-assign]

    def _best_offer_cannot_pay(self, *_: Any) -> bool:
        return False

    def _surely_declined(self, *_: Any) -> set[str]:
        return set()


def _counting(replay: aave_engine._AaveReplay) -> list[int]:
    """Count the looks the replay skips, the calls it declines unasked and the parked calls it
    declines on the bounds (the list fills as it runs)."""
    counts = [0, 0, 0]
    quiet, screen = replay.watch._quiet, replay._best_offer_cannot_pay
    parked = replay._surely_declined

    def counted_quiet(*args: Any) -> np.ndarray:
        result = quiet(*args)
        counts[0] += int(result.sum())
        return result

    def counted_screen(*args: Any) -> bool:
        result = screen(*args)
        counts[1] += result
        return result

    def counted_parked(*args: Any) -> set[str]:
        result = parked(*args)
        counts[2] += len(result)
        return result

    replay.watch._quiet = counted_quiet  # type: ignore[method-assign]
    replay._best_offer_cannot_pay = counted_screen  # type: ignore[method-assign]
    replay._surely_declined = counted_parked  # type: ignore[method-assign]
    return counts


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_the_shortcuts_change_no_outcome(
    aave_pool_history: AaveHistory, scenario: Scenario
) -> None:
    history = aave_pool_history
    mechanism = None if scenario.is_history else scenario.aave_mechanism_for(history.market)
    watched = aave_engine._AaveReplay(history, scenario, mechanism)
    counts = _counting(watched)
    outcome = watched.run()
    every = _EveryLook(history, scenario, mechanism).run()
    assert outcome == every
    assert counts[0] > 0  # not vacuous: the watch skipped looks
    if not scenario.is_history:
        assert any(row["kind"] for row in outcome.actions)  # and the scenario acted
    if scenario.name == "wide":  # a pre-liquidation paying gas: declines settled unasked
        assert counts[1] > 0 and counts[2] > 0
