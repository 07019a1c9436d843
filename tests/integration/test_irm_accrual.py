"""accrual = "irm": a scenario's interest follows its own utilisation through the AdaptiveCurveIRM."""

from __future__ import annotations

import tomllib

import pytest

from softliq_core.replay.engine import replay_market
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.scenario import Scenario, ScenarioError, parse_scenarios


def _scenario(body: str) -> Scenario:
    return parse_scenarios(tomllib.loads(f'[[scenario]]\nname = "s"\n{body}'))[0]


IDLE = 'mechanism = "morpho_liquidation"\nliquidator = { latency_blocks = 100000000 }\n'
ACTIVE = 'mechanism = "morpho_pre_liquidation"\npreset = "blue-sdk-default"\n'


@pytest.mark.parametrize("body", [IDLE, ACTIVE])
def test_the_scenarios_own_totals_hold_exactly_its_positions_shares(
    histories: list[MarketHistory], body: str
) -> None:
    scenario = _scenario(body + 'accrual = "irm"')
    for history in histories:
        outcome = replay_market(history, scenario, scenario.mechanism_for(history.market))
        # every borrower is simulated, lenders never borrow: the totals are the positions' sum
        assert outcome.final_market.total_borrow_shares == sum(
            p.borrow_shares for p in outcome.positions.values()
        ), history.market.label
        assert outcome.final_market.total_borrow_assets >= 0


def test_keeping_liquidated_debt_open_raises_the_interest_paid(
    histories: list[MarketHistory],
) -> None:
    """Without liquidations more debt stays open: higher utilisation, a higher AdaptiveCurveIRM rate,
    so each borrow share is worth more than in history at the end."""
    market_history = _scenario(IDLE)
    own_rate = _scenario(IDLE + 'accrual = "irm"')
    higher = 0
    for history in histories:
        if not any(e["event"] == "Liquidate" for e in history.events):
            continue
        past = replay_market(history, market_history, market_history.mechanism_for(history.market))
        mine = replay_market(history, own_rate, own_rate.mechanism_for(history.market))
        # compare assets per 1e18 borrow shares, exactly as integers
        past_price = (
            past.final_market.total_borrow_assets * 10**18 // past.final_market.total_borrow_shares
        )
        my_price = (
            mine.final_market.total_borrow_assets * 10**18 // mine.final_market.total_borrow_shares
        )
        assert my_price >= past_price, history.market.label
        higher += my_price > past_price
    assert higher > 0


def test_the_accrual_is_part_of_the_scenario_and_is_checked() -> None:
    assert _scenario(IDLE).accrual == "history"
    assert _scenario(IDLE).scenario_id != _scenario(IDLE + 'accrual = "irm"').scenario_id
    assert _scenario(IDLE).scenario_id == _scenario(IDLE + 'accrual = "history"').scenario_id
    with pytest.raises(ScenarioError, match="scenario 's': accrual: 'fixed' is not one of"):
        _scenario(IDLE + 'accrual = "fixed"')
