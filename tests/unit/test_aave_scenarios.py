"""Aave scenarios: their own mechanism kinds and parameters, scope by protocol, and refusal of bad
parameters before any work, each problem naming the scenario, the field and the rule."""

from __future__ import annotations

from typing import Any

import pytest

from softliq_core.mechanisms import AaveLiquidation, AavePreLiquidation
from softliq_core.replay.scenario import (
    AAVE_V3,
    MarketRef,
    ScenarioError,
    parse_scenarios,
    validate_scenarios,
)

WAD = 10**18
POOL = MarketRef("0x8787", "Aave V3 pool", 93 * WAD // 100, protocol=AAVE_V3)  # eMode LT 93 %
MORPHO = MarketRef("0xaa", "WETH/USDC", 86 * WAD // 100)
PRE = {
    "mechanism": "aave_pre_liquidation", "pre_hf": "1.05", "pre_lcf1": "0.05",
    "pre_lcf2": "0.3", "pre_lif1": "1.01", "pre_lif2": "1.04",
}  # fmt: skip


def _problems(**table: Any) -> list[str]:
    with pytest.raises(ScenarioError) as error:
        parse_scenarios({"scenario": [{"name": "s", **table}]})
    return error.value.problems


def test_aave_mechanisms_apply_to_the_pool_only() -> None:
    baseline, pre, history, morpho = parse_scenarios(
        {
            "scenario": [
                {"name": "b", "mechanism": "aave_liquidation"},
                {"name": "p", **PRE},
                {"name": "h", "mechanism": "history"},
                {"name": "m", "mechanism": "morpho_liquidation"},
            ]
        }
    )
    assert [s.applies_to(POOL) for s in (baseline, pre, history, morpho)] == [
        True,
        True,
        True,
        False,
    ]
    assert [s.applies_to(MORPHO) for s in (baseline, pre, history, morpho)] == [
        False,
        False,
        True,
        True,
    ]
    assert isinstance(baseline.aave_mechanism_for(POOL), AaveLiquidation)
    mechanism = pre.aave_mechanism_for(POOL)
    assert isinstance(mechanism, AavePreLiquidation)
    assert (
        mechanism.params.pre_hf == 105 * WAD // 100 and mechanism.max_liquidation_threshold == 9300
    )
    assert history.aave_mechanism_for(POOL) is None


def test_history_can_be_scoped_to_one_protocol() -> None:
    (only_morpho,) = parse_scenarios(
        {"scenario": [{"name": "h", "mechanism": "history", "scope": {"protocol": "morpho_blue"}}]}
    )
    assert only_morpho.applies_to(MORPHO) and not only_morpho.applies_to(POOL)
    assert (
        "scope.protocol: 'aave' is not one of"
        in _problems(mechanism="history", scope={"protocol": "aave"})[0]
    )
    assert (
        "scope.protocol: only for mechanism 'history'"
        in _problems(mechanism="aave_liquidation", scope={"protocol": "aave_v3"})[0]
    )


def test_morpho_scenario_ids_do_not_change_with_aave() -> None:
    (morpho,) = parse_scenarios({"scenario": [{"name": "m", "mechanism": "morpho_liquidation"}]})
    assert "aave_pre_liquidation" not in morpho.canonical()
    assert "scope_protocol" not in morpho.canonical()
    (a,), (b,) = (
        parse_scenarios({"scenario": [{"name": n, **PRE, "pre_hf": hf}]})
        for n, hf in (("a", "1.05"), ("b", "1.06"))
    )
    assert a.scenario_id != b.scenario_id


def test_bad_parameters_are_refused_naming_scenario_field_and_rule() -> None:
    (too_high,) = parse_scenarios({"scenario": [{"name": "greedy", **PRE, "pre_lif2": "1.08"}]})
    with pytest.raises(ScenarioError) as error:
        validate_scenarios([too_high], [POOL, MORPHO])
    (problem,) = error.value.problems
    assert problem.startswith(
        "scenario 'greedy', market Aave V3 pool (highest liquidation threshold 0.93)"
    )
    assert "pre_lif2" in problem and "preLIF2 <= 1/LT" in problem
    (low,) = parse_scenarios({"scenario": [{"name": "low", **PRE, "pre_hf": "0.99"}]})
    with pytest.raises(ScenarioError, match=r"scenario 'low'.*pre_hf.*preHF > 1"):
        validate_scenarios([low], [POOL])


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({k: v for k, v in PRE.items() if k != "pre_lcf2"}, "scenario 's': pre_lcf2: required"),
        ({**PRE, "pre_lltv": "0.8"}, "scenario 's': pre_lltv: not an Aave pre-liquidation field"),
        ({"mechanism": "aave_liquidation", "pre_hf": "1.1"}, "scenario 's': pre_hf: no parameters for mechanism 'aave_liquidation'"),
        ({"mechanism": "morpho_liquidation", "pre_hf": "1.1"}, "scenario 's': pre_hf: only for mechanism 'aave_pre_liquidation'"),
        ({**PRE, "opt_in": {"mode": "history"}}, "scenario 's': opt_in.mode: 'history' needs a pre-liquidation contract"),
        ({**PRE, "scope": {"lltv": "0.86"}}, "scenario 's': scope.lltv: Aave scenarios apply to a pool"),
        ({**PRE, "accrual": "irm"}, "scenario 's': accrual: Aave's indexes follow history"),
        ({**PRE, "pre_hf": "abc"}, "scenario 's': pre_hf: 'abc' is not a decimal number"),
    ],
)  # fmt: skip
def test_each_rule_is_named(table: dict[str, Any], expected: str) -> None:
    assert any(p.startswith(expected) for p in _problems(**table)), _problems(**table)
