"""The liquidator model: profit arithmetic by hand, parameter refusal, and its use in the replay."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from decimal import Decimal

import polars as pl
import pytest

from softliq_core.replay.engine import replay_market
from softliq_core.replay.inputs import MarketHistory, NativePrice
from softliq_core.replay.ledger import ReplayError
from softliq_core.replay.liquidator import LiquidatorModel, SlippageCurve, parse_liquidator
from softliq_core.replay.run import run_scenarios
from softliq_core.replay.scenario import Scenario, ScenarioError, parse_scenarios

GWEI = 10**9
# WETH/USDC oracle price at 3,000 USDC per WETH: 3000e6 base units per 1e18, scaled by 1e36.
PRICE_3000 = 3000 * 10**6 * 10**36 // 10**18


def test_profit_by_hand() -> None:
    model = LiquidatorModel()
    economics = model.economics(
        "liquidation",
        seized_assets=10**18,  # 1 WETH
        repaid_assets=2_870 * 10**6,
        price=PRICE_3000,
        base_fee=20 * GWEI,
        native_price=PRICE_3000,  # gas is priced through the same WETH/USDC oracle
        collateral_symbol="WETH",
        collateral_decimals=18,
    )
    assert economics.seized_value == 3_000_000_000
    # impact = 0.05 % fee + 1 % x 1 / 8000 = 0.0005 + 0.00000125 = 0.00050125
    # slippage = 3000e6 x 0.00050125 = 1_503_750 (rounded up, against the liquidator)
    assert economics.slippage_cost == 1_503_750
    # gas = 300k x (20 + 1) gwei = 0.0063 ETH = 18.9 USDC
    assert economics.gas_used == 300_000
    assert economics.gas_cost == 18_900_000
    assert economics.profit == 3_000_000_000 - 1_503_750 - 2_870_000_000 - 18_900_000
    assert model.profitable(economics, PRICE_3000)
    demanding = replace(model, min_profit=40 * 10**15)  # 0.04 ETH = 120 USDC > 109.6 USDC
    assert not demanding.profitable(economics, PRICE_3000)


def test_price_impact_is_capped_and_unknown_collateral_pays_the_flat_default() -> None:
    curve = SlippageCurve(fee=0, depth_1pct=Decimal(10))
    assert curve.impact(10 * 10**18, 18) == 10**16  # 10 tokens at a depth of 10: 1 %
    assert curve.impact(10**9 * 10**18, 18) == 10**18 // 2  # never more than half
    assert LiquidatorModel().curve("PEPE").impact(10**30, 18) == 3 * 10**15


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ({"gas_limit": 1}, "liquidator.gas_limit: unknown field"),
        ({"latency_blocks": 0}, "liquidator.latency_blocks"),
        ({"gas_liquidation": -5}, "liquidator.gas_liquidation"),
        ({"priority_fee_gwei": "fast"}, "liquidator.priority_fee_gwei"),
        ({"min_profit_eth": "-1"}, "liquidator.min_profit_eth"),
        ({"pre_liquidation_calls": "all"}, "liquidator.pre_liquidation_calls"),
        ({"slippage": {"WETH": {"fee": "1.5"}}}, "liquidator.slippage.WETH.fee"),
        ({"slippage": {"WETH": {"depth": "5"}}}, "liquidator.slippage.WETH"),
    ],
)
def test_bad_liquidator_parameters_are_named(table: dict[str, object], needle: str) -> None:
    _, problems = parse_liquidator(table)
    assert any(needle in p for p in problems), problems


def test_the_liquidator_is_part_of_the_scenario_id() -> None:
    def scenario(liquidator: str) -> Scenario:
        text = f'[[scenario]]\nname = "b"\nmechanism = "morpho_liquidation"\n{liquidator}'
        return parse_scenarios(tomllib.loads(text))[0]

    default = scenario("")
    assert default.scenario_id == scenario("liquidator = { latency_blocks = 1 }").scenario_id
    assert default.scenario_id != scenario("liquidator = { priority_fee_gwei = 2 }").scenario_id
    with pytest.raises(ScenarioError, match=r"scenario 'b': liquidator\.max_calls_per_block"):
        scenario("liquidator = { max_calls_per_block = 0 }")


def _scenarios(text: str) -> dict[str, Scenario]:
    return {s.name: s for s in parse_scenarios(tomllib.loads(text))}


SPLIT = """
[[scenario]]
name = "{name}"
mechanism = "morpho_pre_liquidation"
scope = {{ lltv = "0.86" }}
pre_lltv = "0.80"
pre_lcf1 = "0.01"
pre_lcf2 = "0.01"
pre_lif1 = "1.02"
pre_lif2 = "1.02"
liquidator = {{ gas_pre_liquidation = 0, gas_liquidation = 0, pre_liquidation_calls = "{calls}" }}
"""


def test_a_liquidator_splits_pre_liquidations_within_a_block(
    histories: list[MarketHistory],
) -> None:
    scenarios = _scenarios(
        SPLIT.format(name="greedy", calls="greedy") + SPLIT.format(name="single", calls="single")
    )
    outcomes = run_scenarios(histories, list(scenarios.values()))
    actions = outcomes.liquidation_actions.filter(pl.col("kind") == "pre_liquidation")

    def of(name: str) -> pl.DataFrame:
        return actions.filter(pl.col("scenario_id") == scenarios[name].scenario_id)

    assert of("single")["call_index"].max() == 0
    greedy = of("greedy")
    per_block = greedy.group_by("market_id", "borrower", "block_number").agg(
        pl.len().alias("calls"),
        pl.col("call_index").sort().alias("order"),
        pl.col("ltv_after").sort_by("call_index").alias("ltv_after"),
        pl.col("repaid_shares").cast(pl.Int128).sum().alias("repaid"),
    )
    split = per_block.filter(pl.col("calls") > 1)
    assert split.height > 0
    for row in split.iter_rows(named=True):
        assert row["order"] == list(range(row["calls"]))
        # each slice lowers the LTV further: repeated calls exceed one call's 1 % close factor
        assert row["ltv_after"] == sorted(row["ltv_after"], reverse=True)


def test_gas_the_incentive_cannot_pay_stops_every_action(histories: list[MarketHistory]) -> None:
    text = """
[[scenario]]
name = "expensive"
mechanism = "morpho_liquidation"
liquidator = { priority_fee_gwei = "10000000" }
"""
    outcomes = run_scenarios(histories, list(_scenarios(text).values()))
    assert outcomes.liquidation_actions.height == 0
    assert outcomes.position_outcomes["unprofitable_skips"].sum() > 0


def test_history_liquidations_are_costed_with_the_same_model(
    histories: list[MarketHistory],
) -> None:
    text = '[[scenario]]\nname = "history"\nmechanism = "history"\n'
    actions = run_scenarios(histories, list(_scenarios(text).values())).liquidation_actions
    assert actions.height > 0
    assert (actions["gas_cost"].cast(pl.Int128) > 0).all()
    profit = (
        actions["seized_value"].cast(pl.Int128)
        - actions["slippage_cost"].cast(pl.Int128)
        - actions["repaid_assets"].cast(pl.Int128)
        - actions["gas_cost"].cast(pl.Int128)
    )
    assert (profit == actions["liquidator_profit"].cast(pl.Int128)).all()


def test_gas_without_an_eth_price_in_the_loan_asset_is_refused(
    histories: list[MarketHistory],
) -> None:
    usdc = next(h for h in histories if h.market.label == "WETH/USDC")
    orphan = replace(usdc, native_price=NativePrice(None))
    scenario = _scenarios('[[scenario]]\nname = "b"\nmechanism = "morpho_liquidation"\n')["b"]
    with pytest.raises(ReplayError, match="WETH/USDC: no ETH price in the loan asset"):
        replay_market(orphan, scenario, scenario.mechanism_for(orphan.market))
