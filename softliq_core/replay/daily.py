"""Incremental daily replay (DESIGN §6): one day of events for every scenario, resumed from the
previous day's snapshot (the first day from genesis), with the same rows as one uninterrupted replay
of all the days (tests/integration/test_daily_replay.py).

Per market, the history replay resumes and runs the day; then each scenario's replay does. Divergence
driven (DESIGN §4 rule 4) across days: a scenario simulates the positions history has brought to its
trigger so far; a position that gets there on a later day joins that day, from history's state at the
start of the day, which is the state an uninterrupted replay would have simulated it to.

The day's rows: its liquidation actions and clipped actions, and every position as of the day's end
(``position_outcomes``, from which the store recomputes the summary when the day is the newest).

The Aave pool resumes the same way, each scenario's replay of it from the previous day's snapshot:
a borrower's counterfactual account opens at its first Borrow from history's account then
(replay/aave_engine.py), which needs nothing from later days.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from softliq_core.mechanisms import Mechanism
from softliq_core.replay.aave_engine import AaveOutcome, _AaveReplay
from softliq_core.replay.aave_history import AaveHistory
from softliq_core.replay.engine import MarketOutcome, _MarketReplay, diverging_borrowers
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.run import HISTORY, Outcomes, add_rows, outcomes_table, with_history
from softliq_core.replay.scenario import Scenario, validate_scenarios
from softliq_core.replay.snapshot import DaySnapshot, replay_version


def replay_day(
    histories: Sequence[MarketHistory],
    scenarios: Sequence[Scenario],
    previous: DaySnapshot | None,
    day: date,
    last_block: int,
    aave: AaveHistory | None = None,
) -> tuple[Outcomes, DaySnapshot]:
    """Replay one day (``histories`` hold that day's events, prices and blocks, ending at
    ``last_block``; or those of consecutive days ending with it, a catch-up in one stretch) from
    ``previous`` (None: genesis); returns the rows of the stretch and the day's snapshot.

    A market missing from ``previous`` starts from genesis: its history must then hold every oracle
    price before the day too (the full replay sees them before the market's first event).
    ``aave``: the Aave pool's history of the stretch (``load_aave_history`` with ``previous``): its
    events and blocks, its price inputs after the snapshot's block; from genesis when ``previous``
    holds no replay of the pool."""
    validate_scenarios(
        scenarios, [h.market for h in histories] + ([aave.market] if aave is not None else [])
    )
    snapshot = DaySnapshot(replay_version(scenarios), day, last_block)
    actions: list[dict[str, Any]] = []
    clips: list[dict[str, Any]] = []
    positions: list[dict[str, Any]] = []
    for history in histories:
        market_id = history.market.market_id
        history = _with_native_price_carried(history, previous)
        snapshot.native_prices[market_id] = history.native_price.before_block(last_block + 1)
        in_scope = [s for s in scenarios if s.applies_to(history.market)]
        if not in_scope:
            continue
        start = previous.history.get(market_id) if previous else None
        past_replay = _resume(start, history, HISTORY, None, None)
        past_replay.advance()
        snapshot.history[market_id] = pickle.dumps(past_replay, protocol=5)
        past = past_replay.finish()
        past_at_start: list[MarketOutcome | None] = []  # unpickled once, when a position joins
        for scenario in in_scope:
            mechanism = scenario.mechanism_for(history.market)
            if scenario.is_history or mechanism is None:
                outcome = past
            else:
                key = (scenario.scenario_id, market_id)
                divergence_driven = scenario.accrual == "history"
                replay = _resume(
                    previous.scenarios.get(key) if previous else None,
                    history,
                    scenario,
                    mechanism,
                    frozenset() if divergence_driven else None,
                )
                if divergence_driven:
                    assert replay.borrowers is not None
                    joining = frozenset(diverging_borrowers(past, mechanism)) - replay.borrowers
                    if joining and not past_at_start:
                        past_at_start.append(pickle.loads(start).out if start else None)
                    if joining:
                        replay.add_borrowers(joining, past_at_start[0])
                replay.advance()
                snapshot.scenarios[key] = pickle.dumps(replay, protocol=5)
                outcome = replay.finish()
                if divergence_driven:
                    outcome = with_history(outcome, past)
            add_rows(scenario.scenario_id, market_id, outcome, actions, clips, positions)
    if aave is not None:
        pool_ref = aave.market
        snapshot.aave_lltv = pool_ref.lltv
        pool = AaveOutcome()
        for scenario in (s for s in scenarios if s.applies_to(pool_ref)):
            state = previous.aave.get(scenario.scenario_id) if previous else None
            if state is None:
                aave_replay = _AaveReplay(aave, scenario, scenario.aave_mechanism_for(pool_ref))
            else:
                aave_replay = pickle.loads(state)
                aave_replay.resume(aave)
            aave_replay.advance()
            snapshot.aave[scenario.scenario_id] = pickle.dumps(aave_replay, protocol=5)
            pool.add(scenario.scenario_id, aave_replay.finish())
        actions += pool.actions
        clips += pool.clips
        positions += pool.positions
    return outcomes_table(scenarios, actions, clips, positions, summarise=False), snapshot


def _resume(
    state: bytes | None,
    history: MarketHistory,
    scenario: Scenario,
    mechanism: Mechanism | None,
    borrowers: frozenset[str] | None,
) -> _MarketReplay:
    """The replay of a market where the previous day left it, or at genesis."""
    if state is None:
        return _MarketReplay(history, scenario, mechanism, borrowers)
    replay: _MarketReplay = pickle.loads(state)
    replay.resume(history)
    return replay


def _with_native_price_carried(
    history: MarketHistory, previous: DaySnapshot | None
) -> MarketHistory:
    """The day's history with the ETH price in force at its start, for gas before its first round."""
    carried = previous.native_prices.get(history.market.market_id) if previous else None
    native = history.native_price
    if carried is None or native.keys[:1] == ((0, 0),):
        return history
    return replace(
        history,
        native_price=replace(native, keys=((0, 0), *native.keys), prices=(carried, *native.prices)),
    )
