"""Hypothesis properties of the Aave counterfactual replay on the synthetic chain's pool, over
pre-liquidation settings and liquidator models: a pre-liquidation never lowers an account's health,
no action takes more collateral than the account holds, and only opted-in accounts in the window
are pre-liquidated."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from softliq_core.replay.aave_engine import replay_aave
from softliq_core.replay.aave_history import AaveHistory
from softliq_core.replay.scenario import parse_scenarios

REPLAYS = settings(max_examples=6, deadline=None)


@st.composite
def pre_liquidation_tables(draw: st.DrawFn) -> dict[str, object]:
    pre_hf = draw(st.decimals(Decimal("1.01"), Decimal("1.25"), places=3))
    lcf1 = draw(st.decimals(Decimal("0.01"), Decimal("0.5"), places=2))
    lcf2 = draw(st.decimals(lcf1, Decimal("1"), places=2))
    lif1 = draw(st.decimals(Decimal("1"), Decimal("1.05"), places=3))
    lif2 = draw(st.decimals(lif1, Decimal("1.075"), places=3))  # <= 1 / 0.93 (the eMode LT)
    return {
        "name": "p", "mechanism": "aave_pre_liquidation", "pre_hf": str(pre_hf),
        "pre_lcf1": str(lcf1), "pre_lcf2": str(lcf2), "pre_lif1": str(lif1), "pre_lif2": str(lif2),
        "opt_in": {"mode": "fraction", "fraction": draw(st.sampled_from([0.5, 1.0])), "seed": 3},
        "liquidator": {
            "latency_blocks": draw(st.integers(1, 3)),
            "gas_pre_liquidation": draw(st.sampled_from([0, 350_000])),
            "pre_liquidation_calls": draw(st.sampled_from(["greedy", "single"])),
        },
    }  # fmt: skip


@REPLAYS
@given(table=pre_liquidation_tables())
def test_replayed_pre_liquidations_keep_health_and_collateral(
    aave_pool_history: AaveHistory, table: dict[str, object]
) -> None:
    (scenario,) = parse_scenarios({"scenario": [table]})
    mechanism = scenario.aave_mechanism_for(aave_pool_history.market)
    assert mechanism is not None
    outcome = replay_aave(aave_pool_history, scenario, mechanism)
    pre_hf = float(str(table["pre_hf"]))
    for action in outcome.actions:
        # what left the account (liquidator's collateral + protocol fee) is within what it held
        assert int(action["seized_assets"]) <= int(action["collateral_before"])
        before, after = action["health_factor_before"], action["health_factor_after"]
        assert before is not None
        if action["kind"] == "pre_liquidation":
            assert 1.0 <= before < pre_hf
            assert after is None or after >= before
            assert scenario.opted_in(str(action["borrower"]), False)
        else:
            assert before < 1.0
