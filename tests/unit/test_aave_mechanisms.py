"""Aave liquidation and pre-liquidation mechanisms: the spec's worked example, the liquidator's
choice of pair, v3.3's dust rule in the choice, pre-liquidation terms and parameter rules."""

from __future__ import annotations

import pytest

from softliq_core.mechanisms.aave_liquidation import AaveLiquidation, liquidation_choices
from softliq_core.mechanisms.aave_pre_liquidation import (
    AavePreLiquidation,
    AavePreLiquidationParams,
    parameter_violations,
    pre_liquidation_terms,
)
from softliq_core.protocols.aave.errors import AaveRevert
from softliq_core.protocols.aave.pool import AavePool
from tests.aave_fixtures import (
    ALICE,
    CAROL,
    LIQUIDATOR,
    T0,
    USDC,
    WETH,
    WSTETH,
    make_pool,
    worked_example,
)

WAD = 10**18
PARAMS = AavePreLiquidationParams(
    pre_hf=105 * WAD // 100,
    pre_lcf1=WAD // 10,
    pre_lcf2=WAD // 2,
    pre_lif1=101 * WAD // 100,
    pre_lif2=104 * WAD // 100,
)


def test_worked_example_liquidation() -> None:
    pool = worked_example("3.0")
    result = AaveLiquidation().act(pool, ALICE, T0, opted_in=False)
    assert result is not None
    assert (result.collateral_asset, result.debt_asset) == (WETH, USDC)
    assert result.debt_repaid == 8_000 * 10**6
    assert result.collateral_to_liquidator == 4_400_000_000_000_000_000
    assert result.protocol_fee == 21_052_631_578_947_368
    assert result.health_before == 985_625_000_000_000_000
    assert result.health_after == 1_099_750_000_000_000_000
    assert AaveLiquidation().act(pool, ALICE, T0, opted_in=False) is None  # healthy now


def test_liquidator_takes_the_most_profitable_collateral() -> None:
    pool = make_pool("3.0")
    pool.supply(USDC, 100_000 * 10**6, CAROL, T0)
    pool.supply(WETH, 5 * 10**18, ALICE, T0)
    pool.supply(WSTETH, 5 * 10**18, ALICE, T0)
    pool.borrow(USDC, 17_000 * 10**6, ALICE, T0)
    pool.set_price(WETH, 1700 * 10**8)
    pool.set_price(WSTETH, 1955 * 10**8)
    choices = liquidation_choices(pool, ALICE, T0)
    assert {c.collateral for c in choices} == {WETH, WSTETH}
    assert choices[0].profit_base == max(c.profit_base for c in choices)
    assert choices[0].collateral == WSTETH  # 6 % bonus beats WETH's 5 %
    result = AaveLiquidation().act(pool, ALICE, T0, opted_in=False)
    assert result is not None and result.collateral_asset == WSTETH


def _two_debts(version: str) -> AavePool:
    """2 WETH against 2,100 USDC and 0.4 wstETH; at WETH = 1,800 USD, HF = 0.989."""
    pool = make_pool(version)
    pool.supply(USDC, 100_000 * 10**6, CAROL, T0)
    pool.supply(WSTETH, 10 * 10**18, CAROL, T0)
    pool.supply(WETH, 2 * 10**18, ALICE, T0)
    pool.borrow(USDC, 2_100 * 10**6, ALICE, T0)
    pool.borrow(WSTETH, 4 * 10**17, ALICE, T0)
    pool.set_price(WETH, 1800 * 10**8)
    return pool


def test_v33_choice_leaves_the_minimum_debt_when_the_close_factor_would_leave_dust() -> None:
    pool = _two_debts("3.3")
    assert 0.95 < pool.user_account_data(ALICE, T0).health_factor / WAD < 1
    result = AaveLiquidation().act(pool, ALICE, T0, opted_in=False)
    assert result is not None and result.debt_asset == USDC
    # 50 % of the $3,020 position would leave $590 of USDC debt: the liquidator repays $1,100.
    assert result.debt_repaid == 1_100 * 10**6
    assert pool.debt_balance(USDC, ALICE, T0) == 1_000 * 10**6
    # v3.0: 50 % of the USDC debt itself.
    old = AaveLiquidation().act(_two_debts("3.0"), ALICE, T0, opted_in=False)
    assert old is not None and old.debt_repaid == 1_050 * 10**6


def test_v33_choice_leaves_the_minimum_collateral_when_the_close_factor_would_leave_dust() -> None:
    """Two collaterals of $2,304 against $3,800 of USDC (HF 0.994): half the debt for either one
    would leave about $300 of it, and so would the most that leaves $1,000 of debt; the liquidator
    repays the largest amount that leaves $1,000 of the collateral, which the Pool accepts."""
    pool = make_pool("3.3")
    pool.supply(USDC, 100_000 * 10**6, CAROL, T0)
    pool.supply(WETH, 12 * 10**17, ALICE, T0)
    pool.supply(WSTETH, 10_435 * 10**14, ALICE, T0)
    pool.borrow(USDC, 3_800 * 10**6, ALICE, T0)
    for asset in (WETH, WSTETH):
        pool.set_price(asset, pool.prices[asset] * 96 // 100)
    assert 0.95 < pool.user_account_data(ALICE, T0).health_factor / WAD < 1
    choices = liquidation_choices(pool, ALICE, T0)
    assert {c.collateral for c in choices} == {WETH, WSTETH}
    for choice in choices:
        left = pool.collateral_balance(choice.collateral, ALICE, T0) - (
            choice.plan.amounts.collateral_seized
        )
        assert 1_000 * 10**8 <= left * pool.prices[choice.collateral] // 10**18 < 1_001 * 10**8
        with pytest.raises(AaveRevert, match="MUST_NOT_LEAVE_DUST"):  # one more is refused
            pool.plan_liquidation(
                choice.collateral, USDC, ALICE, choice.debt_to_cover + 1, LIQUIDATOR, T0
            )
    result = AaveLiquidation().act(pool, ALICE, T0, opted_in=False)
    assert result is not None and result.debt_repaid == choices[0].plan.amounts.debt_repaid


def test_pre_liquidation_terms_interpolate_between_pre_hf_and_one() -> None:
    at_pre_hf = pre_liquidation_terms(PARAMS, PARAMS.pre_hf)
    assert (at_pre_hf.pre_lcf, at_pre_hf.pre_lif) == (PARAMS.pre_lcf1, PARAMS.pre_lif1)
    at_one = pre_liquidation_terms(PARAMS, WAD)
    assert (at_one.pre_lcf, at_one.pre_lif) == (PARAMS.pre_lcf2, PARAMS.pre_lif2)
    middle = pre_liquidation_terms(PARAMS, (PARAMS.pre_hf + WAD) // 2)
    assert middle.pre_lcf == (PARAMS.pre_lcf1 + PARAMS.pre_lcf2) // 2
    assert middle.pre_lif == (PARAMS.pre_lif1 + PARAMS.pre_lif2) // 2


def test_pre_liquidation_acts_in_the_window_for_opted_in_positions() -> None:
    pool = worked_example("3.0")
    pool.set_price(WETH, 1960 * 10**8)  # HF = 19,600 × 0.83 / 16,000 = 1.016750
    mechanism = AavePreLiquidation(PARAMS)
    health = pool.user_account_data(ALICE, T0).health_factor
    assert mechanism.in_soft_zone(health)
    assert not mechanism.triggered(health, opted_in=False)
    assert mechanism.triggered(health, opted_in=True)
    assert mechanism.act(pool, ALICE, T0, opted_in=False) is None
    result = mechanism.act(pool, ALICE, T0, opted_in=True)
    assert result is not None and result.kind == "pre_liquidation"
    terms = pre_liquidation_terms(PARAMS, result.health_before)
    assert result.debt_repaid == 16_000 * 10**6 * terms.pre_lcf // WAD
    assert result.incentive == terms.pre_lif
    assert result.health_after >= result.health_before
    assert pool.debt_balance(USDC, ALICE, T0) == 16_000 * 10**6 - result.debt_repaid
    assert (
        pool.collateral_balance(WETH, mechanism.pre_liquidator, T0)
        == result.collateral_to_liquidator
    )


def test_pre_liquidation_defers_to_liquidation_below_one() -> None:
    pool = worked_example("3.0")
    result = AavePreLiquidation(PARAMS).act(pool, ALICE, T0, opted_in=True)
    assert result is not None and result.kind == "liquidation"


@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        ({"pre_hf": WAD}, "pre_hf", "PreHFTooLow"),
        ({"pre_lcf1": WAD * 6 // 10}, "pre_lcf1", "PreLCFDecreasing"),
        ({"pre_lcf2": 2 * WAD}, "pre_lcf2", "PreLCFTooHigh"),
        ({"pre_lif1": WAD - 1}, "pre_lif1", "PreLIFTooLow"),
        ({"pre_lif1": 105 * WAD // 100}, "pre_lif2", "PreLIFDecreasing"),
        ({"pre_lif2": 106 * WAD // 100}, "pre_lif2", "PreLIFTooHigh"),
    ],
)
def test_parameter_rules_name_field_and_rule(
    change: dict[str, int], field: str, error: str
) -> None:
    values = {
        "pre_hf": PARAMS.pre_hf,
        "pre_lcf1": PARAMS.pre_lcf1,
        "pre_lcf2": PARAMS.pre_lcf2,
        "pre_lif1": PARAMS.pre_lif1,
        "pre_lif2": PARAMS.pre_lif2,
    }
    params = AavePreLiquidationParams(**{**values, **change})
    violations = parameter_violations(params, 9_500)
    assert [(v.field, v.error) for v in violations] == [(field, error)]
    with pytest.raises(ValueError, match=field):
        AavePreLiquidation(params)
