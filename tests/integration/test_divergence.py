"""Divergence-driven replay (DESIGN §4 rule 4) gives exactly the tables of simulating every position."""

from __future__ import annotations

import tomllib
from dataclasses import replace

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softliq_core.protocols.morpho.shares import to_shares_up
from softliq_core.replay.engine import diverging_borrowers, replay_market
from softliq_core.replay.inputs import Event
from softliq_core.replay.run import HISTORY, Outcomes, run_scenarios
from softliq_core.replay.scenario import parse_scenarios
from softliq_core.sources.synthetic import SyntheticChainConfig, generate_chain
from tests.support.pipeline import run_in_memory

SCENARIOS = parse_scenarios(
    tomllib.loads(
        """
[[scenario]]
name = "history"
mechanism = "history"

[[scenario]]
name = "baseline"
mechanism = "morpho_liquidation"
liquidator = { latency_blocks = 2 }

[[scenario]]
name = "sdk"
mechanism = "morpho_pre_liquidation"
preset = "blue-sdk-default"
liquidator = { gas_pre_liquidation = 0 }

[[scenario]]
name = "wide_half"
mechanism = "morpho_pre_liquidation"
scope = { lltv = "0.86" }
pre_lltv = "0.75"
pre_lcf1 = "0.02"
pre_lcf2 = "0.4"
pre_lif1 = "1.01"
pre_lif2 = "1.05"
opt_in = { mode = "fraction", fraction = 0.5, seed = 3 }

[[scenario]]
name = "history_opt_in"
mechanism = "morpho_pre_liquidation"
preset = "blue-sdk-default"
opt_in = { mode = "history" }

[[scenario]]
name = "maker"                  # stateful: auctions over blocks, a limit on the debt in auction
mechanism = "maker_clipper"
chop = "1.05"
ilk_hole = "20000"

[[scenario]]
name = "euler"                  # stateful: a cool-off after the owner's last action
mechanism = "euler_liquidation"
cool_off = 60
"""
    )
)


def _sorted(outcomes: Outcomes) -> dict[str, pl.DataFrame]:
    return {
        name: frame.sort(frame.columns)
        for name in ("liquidation_actions", "clipped_actions", "position_outcomes")
        for frame in [getattr(outcomes, name)]
    } | {"scenario_market_summary": outcomes.scenario_market_summary}


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), crash_day=st.sampled_from([0, 1]))
def test_divergence_driven_replay_equals_the_full_replay(seed: int, crash_day: int) -> None:
    config = SyntheticChainConfig(seed=seed, days=2, borrowers_per_market=12, crash_day=crash_day)
    chain = generate_chain(config)
    histories = run_in_memory(chain).histories
    fast = _sorted(run_scenarios(histories, SCENARIOS, divergence_driven=True))
    full = _sorted(run_scenarios(histories, SCENARIOS, divergence_driven=False))
    for name, frame in full.items():
        assert fast[name].equals(frame), name
    # the shortcut is not vacuous: positions were acted on, and others were not simulated
    assert full["liquidation_actions"].height > 0
    baseline = next(s for s in SCENARIOS if s.name == "baseline")
    skipped = later = 0
    for history in histories:
        past = replay_market(history, HISTORY, None)
        for scenario in (baseline, next(s for s in SCENARIOS if s.name == "wide_half")):
            mechanism = scenario.mechanism_for(history.market)
            if mechanism is None:
                continue
            starts = diverging_borrowers(past, mechanism)
            skipped += len(past.positions) - len(starts)
            later += sum(1 for block in starts.values() if block > 0)
    assert skipped > 0
    assert later > 0  # and positions simulated from the stretch in which they reach a trigger


def test_a_position_owing_on_worthless_collateral_is_simulated() -> None:
    """A dust position (10 base units of collateral value, 1 or 2 of debt) whose collateral is
    worth nothing (floors to 0) at one round of a crash: no LTV there, so its record stays low,
    but every scenario's liquidator may act on it. Divergence-driven, it is simulated from the
    stretch of that round and the tables equal a replay of every position. (Opened after the
    history's last event, at the share price then, so no later event meets other totals.)"""
    chain = generate_chain(
        SyntheticChainConfig(seed=5, days=2, borrowers_per_market=12, crash_day=1)
    )
    history = next(h for h in run_in_memory(chain).histories if h.market.label == "WETH/USDC")
    totals = replay_market(history, HISTORY, None).final_market
    dust = "0x" + "d5" * 20
    opened = history.events[-1]["block_number"] + 5
    price = max(p for b, _, p in history.prices if b < opened)
    collateral = 10 * 10**36 // price + 1  # worth 10 base units at this price
    shares = to_shares_up(1, totals.total_borrow_assets, totals.total_borrow_shares)
    template = {
        e["event"]: e for e in history.events if e["event"] in ("SupplyCollateral", "Borrow")
    }
    events = [
        Event({**template["SupplyCollateral"], "block_number": opened, "log_index": 0,
               "caller": dust, "on_behalf": dust, "assets": str(collateral)}),
        Event({**template["Borrow"], "block_number": opened, "log_index": 1, "caller": dust,
               "on_behalf": dust, "receiver": dust, "assets": "1", "shares": str(shares)}),
    ]  # fmt: skip
    crash = [(opened + 2, 0, price // 12), (opened + 4, 0, price)]  # a twelfth, once
    assert opened + 6 < history.clock.last_block
    dusty = replace(history, events=[*history.events, *events], prices=[*history.prices, *crash])
    past = replay_market(dusty, HISTORY, None)
    assert past.stats[dust].max_ltv < 3 * 10**17 and dust in past.worthless_since
    scenarios = [s for s in SCENARIOS if s.name in ("history", "baseline", "sdk")]
    fast = _sorted(run_scenarios([dusty], scenarios, divergence_driven=True))
    full = _sorted(run_scenarios([dusty], scenarios, divergence_driven=False))
    for name, frame in full.items():
        assert fast[name].equals(frame), name
    rows = full["position_outcomes"].filter(pl.col("borrower") == dust)
    assert (rows["unprofitable_skips"] + rows["liquidations"]).max() > 0  # the case is not vacuous
