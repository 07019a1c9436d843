"""The deployed Aave V3 market (npm ``@aave/core-v3@1.19.3``'s own bytecode, in pyrevm) works, and
its numbers equal the spec's formulas (``reference.py``, written independently of softliq's
engine): supply, borrow, interest, health factor, a price crash and liquidationCall.
"""

from __future__ import annotations

import pytest

from . import reference as ref
from .market import (
    EMODE,
    LIQUIDATORS,
    MAX_UINT,
    RESERVES,
    TREASURY,
    USERS,
    AaveMarket,
)

WETH, WBTC, USDC, WSTETH = (r.symbol for r in RESERVES)
SPEC = {r.symbol: r for r in RESERVES}
BORROWER, LENDER, LIQUIDATOR = USERS[0], USERS[3], LIQUIDATORS[0]


@pytest.fixture
def market() -> AaveMarket:
    return AaveMarket()


def _book(m: AaveMarket) -> None:
    """The spec's vector (§4): 10 WETH of collateral, 16,000 USDC of debt."""
    assert m.supply(LENDER, USDC, 1_000_000 * 10**6).ok
    assert m.supply(BORROWER, WETH, 10 * 10**18).ok
    assert m.borrow(BORROWER, USDC, 16_000 * 10**6).ok


def test_deployment(market: AaveMarket) -> None:
    m = market
    assert m.artifacts["compiler"].startswith("0.8.10")
    (pool,) = m.provider.view("getPool")
    assert pool.lower() == m.pool.address
    assert m.pool.view("POOL_REVISION") == (1,)
    for spec in RESERVES:
        data = m.reserve_data(spec.symbol)
        config = data.configuration
        assert config & 0xFFFF == spec.ltv
        assert config >> 16 & 0xFFFF == spec.liquidation_threshold
        assert config >> 32 & 0xFFFF == spec.liquidation_bonus
        assert config >> 48 & 0xFF == spec.decimals
        assert config >> 56 & 1 == 1 and config >> 58 & 1 == 1  # active, borrowing enabled
        assert config >> 64 & 0xFFFF == spec.reserve_factor
        assert config >> 152 & 0xFFFF == spec.liquidation_protocol_fee
        assert config >> 168 & 0xFF == spec.emode
        assert data.liquidity_index == data.variable_borrow_index == ref.RAY
        assert m.price(spec.symbol) == spec.price
    category = m.pool.view("getEModeCategoryData", EMODE.category)[0]
    assert category[:3] == (EMODE.ltv, EMODE.liquidation_threshold, EMODE.liquidation_bonus)


def test_spec_worked_vector_liquidation(market: AaveMarket) -> None:
    """§4 and §5.2: HF 0.985625 at WETH $1,900, then the largest liquidation (50 % close factor)."""
    m = market
    _book(m)
    assert m.set_price(WETH, 1_900 * 10**8).ok
    data = m.account_data(BORROWER)
    assert data.total_collateral_base == 1_900_000_000_000
    assert data.total_debt_base == 1_600_000_000_000
    assert data.current_liquidation_threshold == 8_300
    assert data.health_factor == 985_625_000_000_000_000
    weth_before = m.underlying_balance(WETH, LIQUIDATOR)
    usdc_before = m.underlying_balance(USDC, LIQUIDATOR)

    out = m.liquidation_call(LIQUIDATOR, WETH, USDC, BORROWER, MAX_UINT, False)
    assert out.ok, out.reason
    (event,) = out.events("LiquidationCall")
    assert out.logs[-1] is event  # emitted last (§2.1)
    assert event["debtToCover"] == 8_000 * 10**6
    assert event["liquidatedCollateralAmount"] == 4_400_000_000_000_000_000
    assert event["user"] == BORROWER and event["liquidator"] == LIQUIDATOR
    assert event["receiveAToken"] is False
    assert m.underlying_balance(WETH, LIQUIDATOR) - weth_before == 4_400_000_000_000_000_000
    assert usdc_before - m.underlying_balance(USDC, LIQUIDATOR) == 8_000 * 10**6
    # The protocol fee: aWETH moved from the borrower to the treasury (index still 1 RAY).
    assert m.balance(WETH, TREASURY) == 21_052_631_578_947_368
    (fee_transfer,) = [e for e in out.events("BalanceTransfer", f"a{WETH}") if e["to"] == TREASURY]
    assert fee_transfer["value"] == 21_052_631_578_947_368
    assert m.balance(WETH, BORROWER) == 10 * 10**18 - 4_421_052_631_578_947_368
    assert m.debt(USDC, BORROWER) == 8_000 * 10**6
    assert m.account_data(BORROWER).health_factor == 1_099_750_000_000_000_000


def test_interest_then_crash_then_liquidations(market: AaveMarket) -> None:
    """A month of interest (indexes and balances from the spec's interest formulas), a 30 % WETH
    crash (HF < 0.95: 100 % close factor), a partial liquidation into aTokens, then the rest."""
    m = market
    _book(m)
    assert m.supply(BORROWER, WBTC, 10**7).ok  # 0.1 WBTC more collateral
    assert m.borrow(BORROWER, WETH, 10**18).ok
    before = {s: m.reserve_data(s) for s in (USDC, WETH)}
    elapsed = 30 * 86_400
    m.warp(elapsed)
    for s, data in before.items():
        income = ref.ray_mul(
            ref.linear_interest(data.current_liquidity_rate, elapsed), data.liquidity_index
        )
        debt_index = ref.ray_mul(
            ref.compound_interest(data.current_variable_borrow_rate, elapsed),
            data.variable_borrow_index,
        )
        assert m.normalized_income(s) == income > ref.RAY
        assert m.normalized_debt(s) == debt_index > ref.RAY
    debt = ref.ray_mul(m.scaled_debt(USDC, BORROWER), m.normalized_debt(USDC))
    assert m.debt(USDC, BORROWER) == debt > 16_000 * 10**6

    assert m.set_price(WETH, 1_400 * 10**8).ok  # -30 %
    collateral = []
    for s in (WETH, WBTC):
        balance = ref.ray_mul(m.scaled_balance(s, BORROWER), m.normalized_income(s))
        assert m.balance(s, BORROWER) == balance
        collateral.append(
            (
                ref.value_base(balance, m.price(s), SPEC[s].decimals),
                SPEC[s].liquidation_threshold,
            )
        )
    total_debt = sum(
        ref.value_base(m.debt(s, BORROWER), m.price(s), SPEC[s].decimals) for s in (USDC, WETH)
    )
    total, avg_lt, hf = ref.health_factor(collateral, total_debt)
    data = m.account_data(BORROWER)
    assert (data.total_collateral_base, data.total_debt_base) == (total, total_debt)
    assert (data.current_liquidation_threshold, data.health_factor) == (avg_lt, hf)
    assert hf < 95 * 10**16

    # Partial: 5,000 USDC against WETH, the liquidator takes aWETH.
    expected = ref.liquidation(
        user_debt=m.debt(USDC, BORROWER),
        debt_to_cover=5_000 * 10**6,
        health=hf,
        collateral_balance=m.balance(WETH, BORROWER),
        debt_price=m.price(USDC),
        debt_decimals=6,
        collateral_price=m.price(WETH),
        collateral_decimals=18,
        bonus=SPEC[WETH].liquidation_bonus,
        protocol_fee=SPEC[WETH].liquidation_protocol_fee,
    )
    treasury_scaled = m.scaled_balance(WETH, TREASURY)
    out = m.liquidation_call(LIQUIDATOR, WETH, USDC, BORROWER, 5_000 * 10**6, True)
    assert out.ok, out.reason
    (event,) = out.events("LiquidationCall")
    assert (event["debtToCover"], event["liquidatedCollateralAmount"]) == expected[:2]
    assert event["receiveAToken"] is True
    index = m.normalized_income(WETH)
    assert m.scaled_balance(WETH, TREASURY) - treasury_scaled == ref.ray_div(expected[2], index)
    assert m.scaled_balance(WETH, LIQUIDATOR) == ref.ray_div(expected[1], index)
    assert m.uses_as_collateral(LIQUIDATOR, WETH)  # aTokens received: enabled as collateral

    # The rest: max debtToCover against WBTC (more than the WBTC can pay for: all of it is seized).
    hf = m.account_data(BORROWER).health_factor
    assert hf < 10**18
    wbtc = m.balance(WBTC, BORROWER)
    expected = ref.liquidation(
        user_debt=m.debt(USDC, BORROWER),
        debt_to_cover=MAX_UINT,
        health=hf,
        collateral_balance=wbtc,
        debt_price=m.price(USDC),
        debt_decimals=6,
        collateral_price=m.price(WBTC),
        collateral_decimals=8,
        bonus=SPEC[WBTC].liquidation_bonus,
        protocol_fee=SPEC[WBTC].liquidation_protocol_fee,
    )
    assert expected[1] + expected[2] == wbtc  # the capped branch
    out = m.liquidation_call(LIQUIDATORS[1], WBTC, USDC, BORROWER, MAX_UINT, False)
    assert out.ok, out.reason
    (event,) = out.events("LiquidationCall")
    assert (event["debtToCover"], event["liquidatedCollateralAmount"]) == expected[:2]
    assert m.balance(WBTC, BORROWER) == 0
    assert not m.uses_as_collateral(BORROWER, WBTC)
    assert out.events("ReserveUsedAsCollateralDisabled")


def test_refusals(market: AaveMarket) -> None:
    m = market
    _book(m)
    assert m.borrow(BORROWER, USDC, 10**12).reason == "36"  # COLLATERAL_CANNOT_COVER_NEW_BORROW
    assert m.supply(BORROWER, USDC, 0).reason == "26"  # INVALID_AMOUNT
    assert m.withdraw(BORROWER, WETH, 11 * 10**18).reason == "32"  # more than the balance
    assert m.withdraw(BORROWER, WETH, 10**18).reason == "35"  # HF would fall below 1
    out = m.liquidation_call(LIQUIDATOR, WETH, USDC, BORROWER, MAX_UINT, False)
    assert out.reason == "45"  # HEALTH_FACTOR_NOT_BELOW_THRESHOLD
    assert m.repay(LENDER, USDC, MAX_UINT, BORROWER).reason == "40"  # max on behalf
    assert m.repay(LENDER, WETH, 1).reason == "39"  # NO_DEBT_OF_SELECTED_TYPE
    assert m.set_collateral(BORROWER, WETH, False).reason == "35"
    assert m.set_emode(BORROWER, 1).reason == "58"  # USDC debt is not in the ETH category
    assert m.set_price(WETH, 1_900 * 10**8).ok
    out = m.liquidation_call(LIQUIDATOR, WBTC, USDC, BORROWER, MAX_UINT, False)
    assert out.reason == "46"  # COLLATERAL_CANNOT_BE_LIQUIDATED (no WBTC)
    out = m.liquidation_call(LIQUIDATOR, WETH, WBTC, BORROWER, MAX_UINT, False)
    assert out.reason == "47"  # SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER


def test_emode_withdraw_max_repay_max_and_with_atokens(market: AaveMarket) -> None:
    m = market
    user = USERS[1]
    assert m.supply(LENDER, WETH, 1_000 * 10**18).ok
    assert m.supply(user, WSTETH, 10 * 10**18).ok
    assert m.set_emode(user, EMODE.category).ok
    assert m.user_emode(user) == EMODE.category
    data = m.account_data(user)
    assert (data.ltv, data.current_liquidation_threshold) == (
        EMODE.ltv,
        EMODE.liquidation_threshold,
    )
    # In eMode 90 % of $22,000 may be borrowed in WETH ($2,000): 9.9 WETH, not 6.9 · 1.1.
    assert m.borrow(user, WETH, 99 * 10**17).ok
    assert m.borrow(user, WETH, 10**16).reason == "36"
    assert m.set_emode(user, 0).reason == "35"  # leaving eMode would make HF < 1
    m.warp(7 * 86_400)
    # Supply WETH too, then repay part with aTokens, then repay the rest (max) in WETH.
    assert m.supply(user, WETH, 2 * 10**18).ok
    out = m.repay_with_atokens(user, WETH, 10**18)
    assert out.ok and out.returned == (10**18,)
    owed = m.debt(WETH, user)
    out = m.repay(user, WETH, MAX_UINT)
    assert out.ok and out.returned == (owed,)
    assert m.debt(WETH, user) == 0 and not m.is_borrowing(user, WETH)
    assert m.set_emode(user, 0).ok
    balance = m.balance(WSTETH, user)
    out = m.withdraw(user, WSTETH, MAX_UINT)
    assert out.ok and out.returned == (balance,)
    assert m.scaled_balance(WSTETH, user) == 0 and not m.uses_as_collateral(user, WSTETH)
