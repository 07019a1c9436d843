"""Scenario sets: exact WAD parsing, stable ids, and refusal of bad parameters before any work."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from softliq_core.replay.scenario import (
    MarketRef,
    ScenarioError,
    load_scenarios,
    parse_scenarios,
    parse_wad,
    validate_scenarios,
)

WAD = 10**18
M86 = MarketRef("0xaa", "WETH/USDC", 86 * WAD // 100)
M945 = MarketRef("0xbb", "wstETH/WETH", 945 * WAD // 1000)
VALID = {
    "pre_lltv": "0.83",
    "pre_lcf1": "0.05",
    "pre_lcf2": "0.3",
    "pre_lif1": "1.01",
    "pre_lif2": "1.04",
}


def _one(**fields: object) -> str:
    body = "\n".join(
        f"{k} = {v!r}" if not isinstance(v, dict) else f"{k} = {_inline(v)}"
        for k, v in fields.items()
    )
    return "[[scenario]]\n" + body.replace("'", '"')


def _inline(table: dict) -> str:  # type: ignore[type-arg]
    return "{ " + ", ".join(f"{k} = {v!r}" for k, v in table.items()) + " }"


def test_parse_wad_is_exact() -> None:
    assert parse_wad("0.83", "x") == 830000000000000000
    assert parse_wad("1.043841336116910229", "x") == 1043841336116910229
    assert parse_wad(0.945, "x") == 945000000000000000
    with pytest.raises(ValueError, match="at most 18 decimals"):
        parse_wad("0.1234567890123456789", "pre_lltv")
    with pytest.raises(ValueError, match="not a decimal"):
        parse_wad("abc", "pre_lltv")


def test_scenario_id_is_stable_and_ignores_the_name() -> None:
    a = parse_scenarios(tomllib.loads(_one(name="a", mechanism="morpho_pre_liquidation", **VALID)))[
        0
    ]
    b = parse_scenarios(tomllib.loads(_one(name="b", mechanism="morpho_pre_liquidation", **VALID)))[
        0
    ]
    c = parse_scenarios(
        tomllib.loads(
            _one(name="a", mechanism="morpho_pre_liquidation", **{**VALID, "pre_lltv": "0.831"})
        )
    )[0]
    assert a.scenario_id == b.scenario_id != c.scenario_id
    assert len(a.scenario_id) == 16


@pytest.mark.parametrize(
    ("change", "market", "field", "rule"),
    [
        ({"pre_lltv": "0.86"}, M86, "pre_lltv", "preLltv < LLTV"),
        ({"pre_lcf1": "0.4"}, M86, "pre_lcf1", "preLCF1 <= preLCF2"),
        ({"pre_lcf1": "1.5", "pre_lcf2": "2"}, M86, "pre_lcf1", "preLCF1 <= 1"),
        ({"pre_lif1": "0.99"}, M86, "pre_lif1", "preLIF1 >= 1"),
        ({"pre_lif1": "1.05"}, M86, "pre_lif2", "preLIF1 <= preLIF2"),
        ({"pre_lif2": "1.2"}, M86, "pre_lif2", "preLIF2 <= 1/LLTV"),
        ({"pre_lif2": "1.06"}, M945, "pre_lif2", "preLIF2 <= 1/LLTV"),
    ],
)
def test_each_contract_rule_is_refused_naming_field_and_rule(
    change: dict,
    market: MarketRef,
    field: str,
    rule: str,  # type: ignore[type-arg]
) -> None:
    scenarios = parse_scenarios(
        tomllib.loads(_one(name="bad", mechanism="morpho_pre_liquidation", **{**VALID, **change}))
    )
    with pytest.raises(ScenarioError) as error:
        validate_scenarios(scenarios, [market])
    message = str(error.value)
    assert "scenario 'bad'" in message and market.label in message
    assert f"{field}: {rule}" in message


def test_scope_limits_validation_to_the_markets_it_names() -> None:
    # 1.06 > 1/0.945 is invalid on the 94.5 % market but fine on an 86 % one.
    scenarios = parse_scenarios(
        tomllib.loads(
            _one(
                name="s",
                mechanism="morpho_pre_liquidation",
                scope={"lltv": "0.86"},
                **{**VALID, "pre_lif2": "1.06"},
            )
        )
    )
    validate_scenarios(scenarios, [M86, M945])
    assert scenarios[0].applies_to(M86) and not scenarios[0].applies_to(M945)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (_one(name="x", mechanism="dutch_auction"), "mechanism: 'dutch_auction' is not one of"),
        (_one(name="x", mechanism="morpho_pre_liquidation", pre_lltv="0.8"), "pre_lcf1: required"),
        (
            _one(name="x", mechanism="morpho_liquidation", pre_lltv="0.8"),
            "pre-liquidation parameters given",
        ),
        (_one(name="x", mechanism="morpho_liquidation", colour="blue"), "colour: unknown field"),
        (_one(name="x", mechanism="morpho_pre_liquidation", preset="nope"), "preset: 'nope'"),
        (
            _one(name="x", mechanism="morpho_liquidation", liquidator={"latency_blocks": 0}),
            "latency_blocks",
        ),
        (
            _one(
                name="x",
                mechanism="morpho_pre_liquidation",
                preset="blue-sdk-default",
                opt_in={"mode": "fraction", "fraction": 2},
            ),
            "opt_in.fraction",
        ),
        (
            _one(name="x", mechanism="history") + "\n" + _one(name="x", mechanism="history"),
            "name: used more than once",
        ),
    ],
)
def test_malformed_scenarios_are_refused(text: str, needle: str) -> None:
    with pytest.raises(ScenarioError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        parse_scenarios(tomllib.loads(text))


def test_preset_without_parameters_for_an_lltv_is_refused() -> None:
    scenarios = parse_scenarios(
        tomllib.loads(_one(name="p", mechanism="morpho_pre_liquidation", preset="blue-sdk-default"))
    )
    odd = MarketRef("0xcc", "X/Y", 5 * WAD // 10)
    with pytest.raises(ScenarioError, match="no parameters for this LLTV"):
        validate_scenarios(scenarios, [odd])
    validate_scenarios(scenarios, [M86, M945])  # both have blue-sdk defaults


def test_the_default_scenario_set_is_valid() -> None:
    scenarios = load_scenarios(Path(__file__).parents[2] / "data" / "scenarios" / "default.toml")
    assert {s.mechanism for s in scenarios} == {
        "history",
        "morpho_liquidation",
        "morpho_pre_liquidation",
        "aave_liquidation",
        "aave_pre_liquidation",
    }
    pool = MarketRef("0x87", "Aave V3 pool", 93 * WAD // 100, protocol="aave_v3")  # eMode LT 93 %
    markets = [M86, M945, MarketRef("0xdd", "WETH/USDT", 915 * WAD // 1000), pool]
    validate_scenarios(scenarios, markets)


def test_opt_in_fraction_is_seeded_and_roughly_the_fraction() -> None:
    (s,) = parse_scenarios(
        tomllib.loads(
            _one(
                name="h",
                mechanism="morpho_pre_liquidation",
                preset="blue-sdk-default",
                opt_in={"mode": "fraction", "fraction": 0.5, "seed": 3},
            )
        )
    )
    borrowers = [f"0x{i:040x}" for i in range(2000)]
    chosen = [s.opted_in(b, False) for b in borrowers]
    assert chosen == [s.opted_in(b, False) for b in borrowers]  # deterministic
    assert 0.45 < sum(chosen) / len(chosen) < 0.55


GRID = """
[[grid]]
name = "sweep"
mechanism = "morpho_pre_liquidation"
scope = { markets = ["WETH/USDC", "WBTC/USDC"] }
pre_lltv = ["0.80", "0.83"]
pre_lcf1 = "0.05"
pre_lcf2 = ["0.2", "0.3", "0.5"]
pre_lif1 = "1.01"
pre_lif2 = "1.04"
liquidator = { latency_blocks = [1, 5] }
"""


def test_a_grid_expands_to_the_cartesian_product_of_its_list_fields() -> None:
    scenarios = parse_scenarios(tomllib.loads(GRID))
    assert len(scenarios) == 2 * 3 * 2
    first = scenarios[0]
    assert first.name == "sweep[pre_lltv=0.80,pre_lcf2=0.2,liquidator.latency_blocks=1]"
    assert first.scope_markets == ("WETH/USDC", "WBTC/USDC")  # a list-valued field, not an axis
    assert {s.pre_liquidation.pre_lcf2 for s in scenarios} == {  # type: ignore[union-attr]
        2 * 10**17, 3 * 10**17, 5 * 10**17,
    }  # fmt: skip
    assert {s.liquidator.latency_blocks for s in scenarios} == {1, 5}
    assert len({s.scenario_id for s in scenarios}) == 12
    # the id is the parameters' hash: the same point written as a plain scenario has the same id
    plain = parse_scenarios(
        tomllib.loads(
            '[[scenario]]\nname = "x"\nmechanism = "morpho_pre_liquidation"\n'
            'scope = { markets = ["WETH/USDC", "WBTC/USDC"] }\npre_lltv = "0.80"\n'
            'pre_lcf1 = "0.05"\npre_lcf2 = "0.2"\npre_lif1 = "1.01"\npre_lif2 = "1.04"\n'
        )
    )[0]
    assert plain.scenario_id == first.scenario_id


def test_invalid_grid_points_are_refused_by_name_before_any_work() -> None:
    text = GRID.replace('pre_lif2 = "1.04"', 'pre_lif2 = ["1.04", "1.2"]')
    scenarios = parse_scenarios(tomllib.loads(text))  # 1.2 > 1/0.86 is per market: checked there
    with pytest.raises(ScenarioError) as refused:
        validate_scenarios(scenarios, [MarketRef("0x01", "WETH/USDC", 86 * 10**16)])
    assert "scenario 'sweep[pre_lltv=0.80,pre_lcf2=0.2,pre_lif2=1.2," in str(refused.value)
    assert "pre_lif2" in str(refused.value)
    assert len(refused.value.problems) == 12  # every bad point, not only the first


def test_two_scenarios_with_one_definition_are_refused() -> None:
    text = GRID + GRID.replace('name = "sweep"', 'name = "again"')
    with pytest.raises(ScenarioError, match=r"scenario 'again\[.*same definition as 'sweep\["):
        parse_scenarios(tomllib.loads(text))


def test_the_example_sweep_is_valid() -> None:
    scenarios = load_scenarios(Path(__file__).parents[2] / "data" / "scenarios" / "sweep_86.toml")
    assert len(scenarios) == 2 + 4 * 3 * 2
    validate_scenarios(scenarios, [M86, M945])
