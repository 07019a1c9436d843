"""Market-impact feedback (DESIGN §4.3): a liquidation's sale moves the price later actions see, so a
neighbour just below its trigger is liquidated too; without feedback it is not."""

from __future__ import annotations

import tomllib
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

from softliq_core.protocols.morpho.market import MarketParams
from softliq_core.replay.inputs import BlockClock, MarketHistory
from softliq_core.replay.liquidator import SlippageCurve
from softliq_core.replay.market_impact import ImpactedPrice
from softliq_core.replay.run import run_scenarios
from softliq_core.replay.scenario import MarketRef, Scenario, ScenarioError, parse_scenarios

WAD = 10**18
WETH = 10**18
USDC = 10**6
LLTV = 86 * WAD // 100
ZERO = "0x" + "00" * 20


def P(usdc_per_weth: int) -> int:
    return usdc_per_weth * USDC * 10**36 // WETH


def _history(ltv_a: str, ltv_b: str) -> MarketHistory:
    """A WETH/USDC market (no IRM: debt stays put); A and B each borrow against 100 WETH at 2000,
    at LTVs that become ``ltv_a`` and ``ltv_b`` when the oracle drops to 1900 at block 10."""
    params = MarketParams(
        "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, ZERO, LLTV
    )  # loan USDC, collateral WETH
    market = params.id
    base = {"market_id": market, "timestamp": 1_000}
    events = [
        {**base, "event": "CreateMarket", "block_number": 1, "log_index": 0,
         "loan_token": params.loan_token, "collateral_token": params.collateral_token,
         "oracle": params.oracle, "irm": ZERO, "lltv": str(LLTV)},
        {**base, "event": "Supply", "block_number": 2, "log_index": 0, "on_behalf": "0xsupplier",
         "assets": str(10**6 * USDC), "shares": str(10**6 * USDC * 10**6)},
    ]  # fmt: skip
    for index, (borrower, ltv) in enumerate((("0xa", ltv_a), ("0xb", ltv_b))):
        debt = int(100 * 1900 * USDC * float(ltv))
        events += [
            {**base, "event": "SupplyCollateral", "block_number": 3, "log_index": 2 * index,
             "on_behalf": borrower, "assets": str(100 * WETH)},
            {**base, "event": "Borrow", "block_number": 3, "log_index": 2 * index + 1,
             "on_behalf": borrower, "assets": str(debt), "shares": str(debt * 10**6)},
        ]  # fmt: skip
    blocks = 40
    clock = BlockClock(0, np.arange(blocks, dtype=np.int64) * 12 + 1_000, np.zeros(blocks))
    return MarketHistory(
        market=MarketRef(market, "WETH/USDC", LLTV),
        irm=ZERO,
        loan_decimals=6,
        collateral_decimals=18,
        collateral_symbol="WETH",
        events=events,
        prices=[(1, 5, P(2000)), (10, 0, P(1900))],
        clock=clock,
    )


SCENARIOS = """
[[scenario]]
name = "{name}"
mechanism = "morpho_liquidation"
market_impact = {{ window_blocks = {window} }}
# no gas (no ETH price needed); a thin WETH market: 100 WETH move the price by 1 %
liquidator = {{ gas_liquidation = 0, gas_pre_liquidation = 0, slippage.WETH = {{ fee = "0.0005", depth_1pct = "100" }} }}
"""


def _scenarios() -> list[Scenario]:
    text = SCENARIOS.format(name="off", window=0) + SCENARIOS.format(name="on", window=5)
    return parse_scenarios(tomllib.loads(text))


def test_feedback_turns_a_near_miss_into_a_cascade() -> None:
    off, on = _scenarios()
    outcomes = run_scenarios([_history("0.87", "0.856")], [off, on])
    actions = outcomes.liquidation_actions

    def liquidated(scenario: Scenario) -> list[str]:
        rows = actions.filter(pl.col("scenario_id") == scenario.scenario_id).sort("block_number")
        return rows["borrower"].to_list()

    assert liquidated(off) == ["0xa"]  # B's 0.856 stays under the 0.86 LLTV at the oracle price
    assert liquidated(on) == ["0xa", "0xb"]  # A's sale pushed B over it
    a, b = (
        actions.filter(pl.col("scenario_id") == on.scenario_id)
        .sort("block_number")
        .iter_rows(named=True)
    )
    assert a["impacted_price"] == a["price"] == str(P(1900))  # the first sale saw the oracle
    assert int(b["impacted_price"]) < int(b["price"]) == P(1900)
    assert b["block_number"] == a["block_number"] + 1  # the liquidator's latency after A's sale
    assert b["ltv_before"] > 0.86  # at the moved price
    plain = actions.filter(pl.col("scenario_id") == off.scenario_id)
    assert (plain["impacted_price"] == plain["price"]).all()


def test_the_move_decays_back_to_the_oracle_price_over_the_window() -> None:
    curve = SlippageCurve(fee=5 * 10**14, depth_1pct=Decimal(100))
    impact = ImpactedPrice(4, curve, 18)
    impact.record_sale(10, 50 * WETH)  # 50 WETH on a depth of 100: a 0.5 % move
    oracle = P(2000)
    moves = [oracle - impact.price(oracle, block) for block in range(10, 16)]
    # 0.5 % of 2000 USDC = 10 USDC, then 3/4, 2/4, 1/4 of it, then nothing
    assert moves == [P(10), P(10) * 3 // 4, P(10) // 2, P(10) // 4, 0, 0]


def test_feedback_off_is_the_default_and_keeps_scenario_ids() -> None:
    off, on = _scenarios()
    assert "market_impact" not in off.canonical() and on.canonical()["market_impact"] == {
        "window_blocks": 5
    }
    (default,) = parse_scenarios(
        tomllib.loads('[[scenario]]\nname = "off"\nmechanism = "morpho_liquidation"\n'
                      'liquidator = { gas_liquidation = 0, gas_pre_liquidation = 0, '
                      'slippage.WETH = { fee = "0.0005", depth_1pct = "100" } }')
    )  # fmt: skip
    assert default.scenario_id == off.scenario_id


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("{ window_blocks = -1 }", "market_impact.window_blocks: -1 must be an integer >= 0"),
        ('{ window_blocks = "10" }', "market_impact.window_blocks: '10' must be an integer"),
        ("{ window = 10 }", "market_impact.window: unknown field"),
        ("3", "market_impact: must be a table"),
    ],
)
def test_bad_market_impact_parameters_are_named(value: str, needle: str) -> None:
    text = f'[[scenario]]\nname = "m"\nmechanism = "morpho_liquidation"\nmarket_impact = {value}\n'
    with pytest.raises(ScenarioError) as refused:
        parse_scenarios(tomllib.loads(text))
    assert any(p.startswith("scenario 'm': ") and needle in p for p in refused.value.problems)
