"""Scenario parameters of the Maker, Compound III and Euler v2 designs: defaults, and bad values
refused before any work with the scenario, the field and the rule."""

from __future__ import annotations

import pytest

from softliq_core.mechanisms import CompoundAbsorb, EulerLiquidation, MakerClipper
from softliq_core.protocols.maker.abacus import RAY, LinearDecrease
from softliq_core.replay.scenario import (
    MarketRef,
    ScenarioError,
    load_scenarios,
    parse_scenarios,
)

WAD = 10**18
M86 = MarketRef("0xaa", "WETH/USDC", 86 * WAD // 100, 6)


def test_the_comparison_set_loads_with_every_design() -> None:
    scenarios = load_scenarios("data/scenarios/comparison.toml")
    mechanisms = {s.mechanism for s in scenarios}
    assert {"maker_clipper", "compound_absorb", "euler_liquidation"} <= mechanisms
    assert len({s.scenario_id for s in scenarios}) == len(scenarios)


def test_defaults_and_units() -> None:
    maker, comet, euler = parse_scenarios(
        {
            "scenario": [
                {"name": "m", "mechanism": "maker_clipper", "tip": "300", "calc": "linear"},
                {"name": "c", "mechanism": "compound_absorb", "reserves": "1.5"},
                {"name": "e", "mechanism": "euler_liquidation"},
            ]
        }
    )
    clipper = maker.mechanism_for(M86)
    assert isinstance(clipper, MakerClipper)
    assert clipper.params.tip == 300 * 10**6  # whole USDC
    assert clipper.params.buf == 12 * RAY // 10 and clipper.params.chop == 113 * WAD // 100
    assert clipper.params.calc == LinearDecrease(3600)
    absorb = comet.mechanism_for(M86)
    assert isinstance(absorb, CompoundAbsorb)
    assert absorb.params.liquidate_collateral_factor == M86.lltv  # the market's LLTV by default
    assert absorb.reserves == 1_500_000
    liquidation = euler.mechanism_for(M86)
    assert isinstance(liquidation, EulerLiquidation)
    assert liquidation.params.max_discount == 15 * WAD // 100
    assert "mechanism_params" in maker.canonical()
    assert (
        maker.scenario_id
        != parse_scenarios(
            {
                "scenario": [
                    {"name": "m", "mechanism": "maker_clipper", "tip": "301", "calc": "linear"}
                ]
            }
        )[0].scenario_id
    )


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"buf": "0.9"}, "scenario 'x': buf: '0.9' must be >= 1"),
        ({"cut": "1.2"}, "scenario 'x': cut: '1.2' must be within (0, 1)"),
        ({"calc": "exp"}, "scenario 'x': calc: 'exp' is not one of stairstep, linear"),
        ({"calc": "linear", "step": 60}, "scenario 'x': step: only for calc = 'stairstep'"),
        ({"tail": 0}, "scenario 'x': tail: 0 must be an integer >= 1"),
        ({"tail": "2h"}, "scenario 'x': tail: '2h' must be an integer"),
        ({"chop": "x"}, "scenario 'x': chop: 'x' is not a decimal number"),
        ({"hole": "-1"}, "scenario 'x': hole: '-1' must be >= 0"),
        ({"max_discount": "0.1"}, "scenario 'x': max_discount: unknown field"),
        ({"accrual": "irm"}, "scenario 'x': accrual: maker_clipper follows history's share price"),
    ],
)
def test_bad_maker_parameters_are_refused(table: dict[str, object], problem: str) -> None:
    with pytest.raises(ScenarioError) as error:
        parse_scenarios({"scenario": [{"name": "x", "mechanism": "maker_clipper", **table}]})
    assert any(p.startswith(problem) for p in error.value.problems), error.value.problems


@pytest.mark.parametrize(
    ("mechanism", "table", "problem"),
    [
        ("euler_liquidation", {"max_discount": "1"}, "max_discount: '1' must be within (0, 1)"),
        ("euler_liquidation", {"slices": 0}, "slices: 0 must be an integer >= 1"),
        ("euler_liquidation", {"cool_off": -1}, "cool_off: -1 must be an integer >= 0"),
        ("compound_absorb", {"liquidation_factor": "1.1"}, "liquidation_factor: '1.1' must be within (0, 1]"),
        ("compound_absorb", {"store_front_price_factor": "-0.1"}, "store_front_price_factor: '-0.1' must be within [0, 1]"),
        ("compound_absorb", {"liquidate_collateral_factor": "1"}, "liquidate_collateral_factor: '1' must be within (0, 1)"),
        ("compound_absorb", {"target_health_factor": "0.9"}, "target_health_factor: '0.9' must be > 1"),
    ],
)  # fmt: skip
def test_bad_euler_and_compound_parameters_are_refused(
    mechanism: str, table: dict[str, object], problem: str
) -> None:
    with pytest.raises(ScenarioError) as error:
        parse_scenarios({"scenario": [{"name": "y", "mechanism": mechanism, **table}]})
    assert error.value.problems == [f"scenario 'y': {problem}"]
