"""A market history holds each event with only its own fields (``inputs.Event``): the fields it
lacks read as None, as the null columns of ``morpho_events`` did, so every scenario's replay equals
the replay of the full table rows."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

from softliq_core.replay import engine
from softliq_core.replay.inputs import Event, MarketHistory
from softliq_core.replay.scenario import load_scenarios
from tests.support.pipeline import InMemory
from tests.support.replays import replay_outcome

SCENARIOS = Path(__file__).parents[2] / "data" / "scenarios" / "default.toml"


def test_an_event_keeps_its_own_fields_and_reads_the_others_as_none() -> None:
    row = {"event": "Borrow", "block_number": 7, "borrower": None, "on_behalf": "0xab", "assets": 5}
    event = Event.of(row)
    assert "borrower" not in event and len(event) == 4
    assert event["borrower"] is None and event.get("borrower") is None
    assert event["on_behalf"] == "0xab" and event["assets"] == 5
    again = pickle.loads(pickle.dumps(event))
    assert type(again) is Event and again == event and again["receiver"] is None
    # one string object per distinct address however many events name it
    twin = Event.of({"on_behalf": "".join(["0x", "ab"])})
    assert twin["on_behalf"] is event["on_behalf"]


def test_every_scenario_replays_lean_events_as_the_full_rows(in_memory: InMemory) -> None:
    full_rows = in_memory.decoded.morpho_events.sort("block_number", "log_index")
    rows_by_log = {(r["block_number"], r["log_index"]): r for r in full_rows.iter_rows(named=True)}
    compared = 0
    for history in in_memory.histories:
        assert all(type(e) is Event for e in history.events)
        wide: MarketHistory = replace(
            history,
            events=[rows_by_log[e["block_number"], e["log_index"]] for e in history.events],
        )
        assert any(len(w) > len(e) for w, e in zip(wide.events, history.events, strict=True))
        for scenario in load_scenarios(SCENARIOS):
            if not scenario.applies_to(history.market):
                continue
            mechanism = scenario.mechanism_for(history.market)
            lean = replay_outcome(engine._MarketReplay(history, scenario, mechanism, None))
            full = replay_outcome(engine._MarketReplay(wide, scenario, mechanism, None))
            assert lean == full, (history.market.label, scenario.name)
            compared += bool(lean["actions"])
    assert compared > 0  # not vacuous: some replays acted
