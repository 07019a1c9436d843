"""Hypothesis properties of the Aave engine: a pre-liquidation never lowers health, a liquidation
never seizes more than the collateral, v3.3's leftover rule holds, and rounding never favours the
borrower (v3.5+: exactly; ≤ v3.4's half-up conversions: by at most one wei)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from softliq_core.mechanisms.aave_liquidation import AaveLiquidation
from softliq_core.mechanisms.aave_pre_liquidation import (
    AavePreLiquidation,
    AavePreLiquidationParams,
)
from softliq_core.protocols.aave.account import value_in_base
from softliq_core.protocols.aave.errors import AaveRevert
from softliq_core.protocols.aave.liquidation import MIN_LEFTOVER_BASE
from softliq_core.protocols.aave.pool import AavePool
from tests.aave_fixtures import ALICE, CAROL, LIQUIDATOR, T0, USDC, WETH, WSTETH, make_pool

WAD = 10**18
VERSIONS = ("3.0", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7")
PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


@dataclass(frozen=True)
class Scenario:
    pool: AavePool
    timestamp: int


@st.composite
def positions(
    draw: st.DrawFn, versions: tuple[str, ...] = VERSIONS, target_pct: tuple[int, int] = (85, 99)
) -> Scenario:
    """A borrower with one or two collaterals and USDC debt (maybe WETH debt too), borrowed close to
    its limit; then time passes and collateral prices move to put its health near ``target``."""
    version = draw(st.sampled_from(versions))
    pool = make_pool(version)
    pool.supply(USDC, 50_000_000 * 10**6, CAROL, T0)
    pool.supply(WETH, 50_000 * 10**18, CAROL, T0)
    held = draw(st.sampled_from([(WETH,), (WSTETH,), (WETH, WSTETH)]))
    for asset in held:
        pool.supply(asset, draw(st.integers(10**15, 40 * 10**18)), ALICE, T0)
    available = pool.user_account_data(ALICE, T0).available_borrows_base
    share = draw(st.integers(50, 99))
    weth_share = draw(st.integers(0, 50)) if WSTETH in held else 0
    usdc = available * share * (100 - weth_share) // 10_000 * 10**6 // pool.prices[USDC]
    weth = available * share * weth_share // 10_000 * 10**18 // pool.prices[WETH]
    assume(usdc > 0)
    pool.borrow(USDC, usdc, ALICE, T0)
    if weth:
        pool.borrow(WETH, weth, ALICE, T0)
    later = T0 + draw(st.integers(0, 90 * 86_400))
    health = pool.user_account_data(ALICE, later).health_factor
    target = draw(st.integers(target_pct[0] * WAD // 100, target_pct[1] * WAD // 100))
    for asset in held:
        jitter = draw(st.integers(-300, 300))
        price = pool.prices[asset] * target // health * (10_000 + jitter) // 10_000
        pool.set_price(asset, max(price, 1))
    return Scenario(pool, later)


@st.composite
def pre_liquidation_params(draw: st.DrawFn) -> AavePreLiquidationParams:
    """Valid terms for the fixtures' collaterals: preHF 1.01-1.15, preLCF2 up to 1 (preLCF1 a
    quarter of it), preLIF2 up to 1.05 (≤ 1/95 %), preLIF1 between 1 and it."""
    lcf, lif, lif1_share = (draw(st.integers(0, 100)) for _ in range(3))
    return AavePreLiquidationParams(
        pre_hf=draw(st.integers(101, 115)) * WAD // 100,
        pre_lcf1=WAD * lcf // 400,
        pre_lcf2=WAD * lcf // 100,
        pre_lif1=WAD + WAD * 5 * lif * lif1_share // 1_000_000,
        pre_lif2=WAD + WAD * 5 * lif // 10_000,
    )


@PROPERTY
@given(positions(target_pct=(100, 112)), pre_liquidation_params())
def test_pre_liquidation_never_lowers_health(
    scenario: Scenario, params: AavePreLiquidationParams
) -> None:
    pool, t = scenario.pool, scenario.timestamp
    mechanism = AavePreLiquidation(params)
    before = pool.user_account_data(ALICE, t).health_factor
    assume(WAD <= before < params.pre_hf)
    result = mechanism.act(pool, ALICE, t, opted_in=True)
    after = pool.user_account_data(ALICE, t).health_factor
    assert after >= before
    note_event("acted" if result is not None else "declined")
    if result is not None:
        assert result.kind == "pre_liquidation" and result.health_after == after
        assert result.incentive <= params.pre_lif2


@PROPERTY
@given(positions(target_pct=(100, 112)), pre_liquidation_params())
def test_no_offer_profits_more_than_the_parked_bound(
    scenario: Scenario, params: AavePreLiquidationParams
) -> None:
    """The bound that declines a parked account's call unasked is above every offer's profit,
    given the account's health and its largest debt in one reserve, plus the seizure's rounding
    (a collateral unit, or a debt unit where the seizure is capped at the balance), as the
    watch's slack counts it."""
    pool, t = scenario.pool, scenario.timestamp
    mechanism = AavePreLiquidation(params)
    health = pool.user_account_data(ALICE, t).health_factor
    assume(mechanism.in_soft_zone(health))
    offers = mechanism.offers(pool, ALICE, t, health)
    assume(offers)
    largest_debt = max(
        pool.debt_balance(asset, ALICE, t) * pool.prices[asset] / reserve.config.unit
        for asset, reserve in pool.reserves.items()
    )
    bound = mechanism.most_profit(np.array([health / WAD]), np.array([largest_debt]))[0]
    slack = sum(pool.prices[a] // r.config.unit + 2 for a, r in pool.reserves.items())
    assert offers[0].profit_base <= bound * (1 + 1e-9) + slack
    note_event("tight" if offers[0].profit_base > bound * 0.99 else "loose")


@PROPERTY
@given(positions(), st.integers(1, 100))
def test_liquidation_never_seizes_more_than_the_collateral(scenario: Scenario, pct: int) -> None:
    pool, t = scenario.pool, scenario.timestamp
    assume(pool.user_account_data(ALICE, t).liquidatable)
    for collateral in sorted(pool.user_config(ALICE).collateral):
        balance = pool.collateral_balance(collateral, ALICE, t)
        debt = pool.debt_balance(USDC, ALICE, t)
        try:
            plan = pool.plan_liquidation(collateral, USDC, ALICE, debt * pct // 100, LIQUIDATOR, t)
        except AaveRevert:
            continue
        assert plan.amounts.collateral_seized <= balance
        assert plan.amounts.debt_repaid <= debt
    balances = {a: pool.collateral_balance(a, ALICE, t) for a in pool.user_config(ALICE).collateral}
    result = AaveLiquidation().act(pool, ALICE, t, opted_in=False)
    assert result is not None  # some pair is always liquidatable below HF 1
    note_event(f"liquidation v{pool.version}")
    seized = result.collateral_to_liquidator + result.protocol_fee
    assert seized <= balances[result.collateral_asset]


@PROPERTY
@given(positions(("3.3", "3.4", "3.5", "3.6", "3.7")), st.integers(1, 100))
def test_v33_leftover_rule(scenario: Scenario, pct: int) -> None:
    pool, t = scenario.pool, scenario.timestamp
    assume(pool.user_account_data(ALICE, t).liquidatable)
    collateral = sorted(pool.user_config(ALICE).collateral)[0]
    debt_before = pool.debt_balance(USDC, ALICE, t)
    try:
        outcome = pool.liquidation_call(
            collateral, USDC, ALICE, debt_before * pct // 100, False, LIQUIDATOR, t
        )
    except AaveRevert as revert:
        assume(False)
        raise AssertionError from revert
    debt_left = pool.debt_balance(USDC, ALICE, t)
    collateral_left = pool.collateral_balance(collateral, ALICE, t)
    debt_left_base = value_in_base(debt_left, pool.prices[USDC], pool.reserves[USDC])
    collateral_left_base = value_in_base(
        collateral_left, pool.prices[collateral], pool.reserves[collateral]
    )
    # Either a side is cleared (to the wei of a half-up conversion), or both keep ≥ $1,000
    # (less the base value of that wei).
    cleared = debt_left <= 1 or collateral_left <= 1
    kept = debt_left_base >= MIN_LEFTOVER_BASE - 1 and collateral_left_base >= MIN_LEFTOVER_BASE - 1
    assert cleared or kept, (outcome, debt_left_base, collateral_left_base)


@PROPERTY
@given(positions(), st.integers(1, 100), st.booleans())
def test_rounding_never_favours_the_borrower(scenario: Scenario, pct: int, receive: bool) -> None:
    pool, t = scenario.pool, scenario.timestamp
    assume(pool.user_account_data(ALICE, t).liquidatable)
    collateral = sorted(pool.user_config(ALICE).collateral)[0]
    debt_before = pool.debt_balance(USDC, ALICE, t)
    collateral_before = pool.collateral_balance(collateral, ALICE, t)
    try:
        outcome = pool.liquidation_call(
            collateral, USDC, ALICE, debt_before * pct // 100, receive, LIQUIDATOR, t
        )
    except AaveRevert:
        assume(False)
        return
    debt_relief = debt_before - pool.debt_balance(USDC, ALICE, t) - outcome.deficit
    collateral_taken = collateral_before - pool.collateral_balance(collateral, ALICE, t)
    seized = outcome.collateral_to_liquidator + outcome.protocol_fee
    slack = 0 if pool.version.directional_rounding else 1
    assert debt_relief <= outcome.debt_repaid + slack
    assert collateral_taken >= seized - slack
