"""AavePool (Aave V3's Pool as a state machine): the spec's vectors, reverts per version, atomicity,
interest, token events and the v3.3 liquidation rules."""

from __future__ import annotations

import copy

import pytest

from softliq_core.protocols.aave.errors import AaveRevert
from softliq_core.protocols.aave.math import (
    RAY,
    SECONDS_PER_YEAR,
    compounded_interest,
    percent_mul,
    ray_div,
)
from softliq_core.protocols.aave.pool import MAX_UINT
from softliq_core.protocols.aave.version import PoolVersion, VersionSchedule
from tests.aave_fixtures import (
    ALICE,
    BOB,
    CAROL,
    LIQUIDATOR,
    T0,
    TREASURY,
    USDC,
    WETH,
    WSTETH,
    make_pool,
    worked_example,
)


def _code(call: object) -> str:
    assert callable(call)
    with pytest.raises(AaveRevert) as info:
        call()
    return info.value.code


@pytest.mark.parametrize("version", ["3.0", "3.3", "3.5"])
def test_health_factor_test_vector(version: str) -> None:
    data = worked_example(version).user_account_data(ALICE, T0)
    assert data.total_collateral_base == 1_900_000_000_000
    assert data.total_debt_base == 1_600_000_000_000
    assert data.liquidation_threshold == 8300
    assert data.ltv == 8050
    assert data.health_factor == 985_625_000_000_000_000
    assert data.available_borrows_base == 0


def test_worked_liquidation_v30() -> None:
    pool = worked_example("3.0")
    outcome = pool.liquidation_call(WETH, USDC, ALICE, MAX_UINT, False, LIQUIDATOR, T0)
    assert outcome.debt_repaid == 8_000 * 10**6
    assert outcome.protocol_fee == 21_052_631_578_947_368
    assert outcome.collateral_to_liquidator == 4_400_000_000_000_000_000
    assert outcome.collateral_to_liquidator + outcome.protocol_fee == 4_421_052_631_578_947_368
    assert pool.user_account_data(ALICE, T0).health_factor == 1_099_750_000_000_000_000
    assert pool.collateral_balance(WETH, TREASURY, T0) == outcome.protocol_fee
    log = pool.events[-1]
    assert log["event"] == "LiquidationCall"
    assert log["debt_to_cover"] == 8_000 * 10**6
    assert log["liquidated_collateral_amount"] == 4_400_000_000_000_000_000


def test_close_factor_is_full_at_or_below_095() -> None:
    pool = worked_example("3.0")
    pool.set_price(WETH, 1800 * 10**8)  # HF = 18,000 × 0.83 / 16,000 = 0.93375
    outcome = pool.liquidation_call(WETH, USDC, ALICE, MAX_UINT, False, LIQUIDATOR, T0)
    assert outcome.debt_repaid == 16_000 * 10**6


def _small_position(version: str) -> object:
    """1 WETH against 1,600 USDC: below the $2,000 thresholds once WETH is at 1,900 USD."""
    pool = make_pool(version)
    pool.supply(USDC, 100_000 * 10**6, CAROL, T0)
    pool.supply(WETH, 10**18, ALICE, T0)
    pool.borrow(USDC, 1_600 * 10**6, ALICE, T0)
    pool.set_price(WETH, 1900 * 10**8)
    return pool


def test_v33_close_factor_is_full_below_2000_usd() -> None:
    old = _small_position("3.0")
    new = _small_position("3.3")
    assert old.liquidation_call(WETH, USDC, ALICE, MAX_UINT, False, LIQUIDATOR, T0).debt_repaid == (
        800 * 10**6
    )
    outcome = new.liquidation_call(WETH, USDC, ALICE, MAX_UINT, False, LIQUIDATOR, T0)
    assert outcome.debt_repaid == 1_600 * 10**6
    assert new.debt_balance(USDC, ALICE, T0) == 0
    assert USDC not in new.user_config(ALICE).borrowing


def test_v33_position_close_factor_above_2000_usd() -> None:
    outcome = worked_example("3.3").liquidation_call(
        WETH, USDC, ALICE, MAX_UINT, False, LIQUIDATOR, T0
    )
    assert outcome.debt_repaid == 8_000 * 10**6  # half of the whole position's $16,000


@pytest.mark.parametrize(("version", "code"), [("3.3", "103"), ("3.4", "MustNotLeaveDust")])
def test_v33_must_not_leave_dust(version: str, code: str) -> None:
    pool = _small_position(version)
    before = copy.deepcopy(pool)
    # Repaying 1,000 of 1,600 USDC would leave $600 of debt.
    assert (
        _code(
            lambda: pool.liquidation_call(WETH, USDC, ALICE, 1_000 * 10**6, False, LIQUIDATOR, T0)
        )
        == code
    )
    assert pool.reserves == before.reserves
    assert pool.users == before.users
    assert pool.events == before.events
    # Leaving more than $1,000 of each is allowed.
    assert (
        _small_position("3.0")
        .liquidation_call(WETH, USDC, ALICE, 500 * 10**6, False, LIQUIDATOR, T0)
        .debt_repaid
        == 500 * 10**6
    )


def test_v33_deficit_when_no_collateral_remains() -> None:
    for version in ("3.0", "3.3"):
        pool = _small_position(version)
        pool.set_price(WETH, 1500 * 10**8)
        outcome = pool.liquidation_call(WETH, USDC, ALICE, MAX_UINT, False, LIQUIDATOR, T0)
        assert outcome.collateral_to_liquidator + outcome.protocol_fee == 10**18
        # debtNeeded = percentDiv(1,500 USDC, 105 %)
        assert outcome.debt_repaid == 1_428_571_429
        left = pool.debt_balance(USDC, ALICE, T0)
        if version == "3.0":
            assert left == 1_600 * 10**6 - outcome.debt_repaid and outcome.deficit == 0
        else:
            assert left == 0 and outcome.deficit == 1_600 * 10**6 - outcome.debt_repaid
            assert pool.reserves[USDC].deficit == outcome.deficit
            assert any(e["event"] == "DeficitCreated" for e in pool.events)


@pytest.mark.parametrize(
    ("version", "code"), [("3.0", "45"), ("3.3", "45"), ("3.4", "HealthFactorNotBelowThreshold")]
)
def test_healthy_position_is_not_liquidatable(version: str, code: str) -> None:
    pool = worked_example(version)
    pool.set_price(WETH, 2000 * 10**8)
    assert (
        _code(lambda: pool.liquidation_call(WETH, USDC, ALICE, MAX_UINT, False, LIQUIDATOR, T0))
        == code
    )


def test_liquidation_reverts_by_rule() -> None:
    pool = worked_example("3.0")
    liquidate = pool.liquidation_call
    assert _code(lambda: liquidate(USDC, USDC, ALICE, MAX_UINT, False, LIQUIDATOR, T0)) == "46"
    assert _code(lambda: liquidate(WETH, WETH, ALICE, MAX_UINT, False, LIQUIDATOR, T0)) == "47"
    assert _code(lambda: liquidate(WETH, BOB, ALICE, MAX_UINT, False, LIQUIDATOR, T0)) == ""


def test_withdraw_breaking_health_reverts_atomically() -> None:
    pool = worked_example("3.0")
    pool.set_price(WETH, 2000 * 10**8)
    before = copy.deepcopy(pool)
    assert _code(lambda: pool.withdraw(WETH, 10**18, ALICE, T0 + 100)) == "35"
    assert pool.reserves == before.reserves
    assert pool.users == before.users
    assert pool.events == before.events


def test_a_transaction_that_reverts_undoes_its_calls_and_those_nested_in_it() -> None:
    """Holders first written inside the transaction disappear again, others get their balance and
    index back; a nested call that succeeded is undone with the transaction that reverts."""
    pool = worked_example("3.0")
    before = copy.deepcopy(pool)

    def supply_borrow_then_fail() -> None:
        pool.supply(WETH, 10**18, BOB, T0 + 50)  # BOB's first aWETH
        pool.atomically(lambda: pool.supply(USDC, 10**6, ALICE, T0 + 50))  # nested, succeeds
        pool.borrow(USDC, 10**6, BOB, T0 + 50)
        pool.withdraw(WETH, 10**30, ALICE, T0 + 50)  # reverts: more than ALICE holds

    with pytest.raises(AaveRevert):
        pool.atomically(supply_borrow_then_fail)
    assert pool.reserves == before.reserves
    for asset, reserve in pool.reserves.items():
        for token, old in ((reserve.a_token, before.reserves[asset].a_token),
                           (reserve.v_token, before.reserves[asset].v_token)):  # fmt: skip
            assert (token.balances, token.previous_index, token.total) == (
                old.balances, old.previous_index, old.total,
            )  # fmt: skip
            assert token.undo is None  # no transaction open
    assert pool.users == before.users
    assert pool.events == before.events
    # and one that succeeds keeps every write
    pool.atomically(lambda: pool.supply(WETH, 10**18, BOB, T0 + 50))
    assert pool.collateral_balance(WETH, BOB, T0 + 50) == 10**18


def test_call_reverts_with_errors_sol_codes() -> None:
    pool = worked_example("3.0")
    assert _code(lambda: pool.supply(WETH, 0, BOB, T0)) == "26"
    assert _code(lambda: pool.withdraw(WETH, 10**18, BOB, T0)) == "32"
    assert _code(lambda: pool.borrow(USDC, 10**6, BOB, T0)) == "34"
    assert _code(lambda: pool.borrow(USDC, 10**6, ALICE, T0)) == "35"
    assert _code(lambda: pool.repay(WETH, 1, ALICE, T0)) == "39"
    assert _code(lambda: pool.repay(USDC, MAX_UINT, ALICE, T0, sender=BOB)) == "40"
    assert _code(lambda: pool.set_use_reserve_as_collateral(BOB, WETH, True, T0)) == "43"
    assert _code(lambda: pool.set_use_reserve_as_collateral(ALICE, WETH, False, T0)) == "35"
    assert _code(lambda: pool.set_user_emode(ALICE, 7, T0)) == "58"
    # Alice borrows USDC, which is not in the ETH eMode.
    assert _code(lambda: pool.set_user_emode(ALICE, 1, T0)) == "58"
    pool.set_price(WETH, 2000 * 10**8)
    assert _code(lambda: pool.borrow(USDC, 200 * 10**6, ALICE, T0)) == "36"


def test_emode_raises_threshold_and_bonus() -> None:
    pool = make_pool("3.0")
    pool.supply(WETH, 100 * 10**18, CAROL, T0)
    pool.supply(WSTETH, 10 * 10**18, ALICE, T0)
    pool.set_user_emode(ALICE, 1, T0)
    # 90 % eMode LTV: 10 wstETH x 2,300 = $23,000 -> up to $20,700 = 10.35 WETH.
    pool.borrow(WETH, 10_350 * 10**15, ALICE, T0)
    data = pool.user_account_data(ALICE, T0)
    assert (data.ltv, data.liquidation_threshold) == (9000, 9300)
    assert _code(lambda: pool.set_user_emode(ALICE, 0, T0)) == "35"
    pool.set_price(WSTETH, 2200 * 10**8)
    assert pool.user_account_data(ALICE, T0).health_factor < 10**18
    outcome = pool.liquidation_call(WSTETH, WETH, ALICE, MAX_UINT, False, LIQUIDATOR, T0)
    # eMode bonus 1 % (not wstETH's 6 %): seized = percentMul(debt x 2,000 / 2,200, 101 %).
    seized = outcome.collateral_to_liquidator + outcome.protocol_fee
    assert seized == percent_mul(outcome.debt_repaid * 2000 // 2200, 10100)


def test_interest_accrues_and_token_events_invert_exactly() -> None:
    pool = make_pool("3.0")
    pool.supply(USDC, 100_000 * 10**6, CAROL, T0)
    pool.supply(WETH, 10 * 10**18, ALICE, T0)
    pool.borrow(USDC, 15_000 * 10**6, ALICE, T0)
    later = T0 + SECONDS_PER_YEAR // 2
    debt = pool.debt_balance(USDC, ALICE, later)
    assert debt > 15_000 * 10**6
    assert pool.collateral_balance(USDC, CAROL, later) > 100_000 * 10**6
    n = len(pool.events)
    repaid = pool.repay(USDC, 5_000 * 10**6, ALICE, later)
    assert repaid == 5_000 * 10**6
    burn = next(e for e in pool.events[n:] if e["event"] == "Burn")
    index = pool.reserves[USDC].variable_borrow_index
    # Spec §3.4: amount = value + balanceIncrease; the scaled change is rayDiv(amount, index).
    assert burn["value"] + burn["balance_increase"] == repaid
    assert burn["index"] == index
    scaled = pool.reserves[USDC].v_token.scaled_balance(ALICE)
    assert scaled == ray_div(15_000 * 10**6, RAY) - ray_div(repaid, index)
    assert pool.repay(USDC, MAX_UINT, ALICE, later) == debt - repaid
    assert USDC not in pool.user_config(ALICE).borrowing


def test_compounding_per_version() -> None:
    rate = RAY * 7 // 100
    old = compounded_interest(rate, 86_400 * 30, PoolVersion.parse("3.3"))
    new = compounded_interest(rate, 86_400 * 30, PoolVersion.parse("3.4"))
    # ≤3.3 floors r²/S² and r³/S³ per second (the cubic term keeps 10 of its 10.9 units), so it
    # lags; v3.4's x = r·e/S keeps the terms' precision.
    assert old < new and (new - old) * 10**8 < RAY
    assert compounded_interest(rate, 0, PoolVersion.parse("3.0")) == RAY


def test_version_schedule() -> None:
    schedule = VersionSchedule.parse({16_291_127: "3.0", 20_000_000: "v3.1.0", 21_800_000: "3.3"})
    assert str(schedule.at(16_291_127)) == "3.0"
    assert str(schedule.at(20_500_000)) == "3.1"
    assert str(schedule.at(30_000_000)) == "3.3"
    with pytest.raises(ValueError, match="before the first"):
        schedule.at(1)
    with pytest.raises(ValueError, match=r"3\.N"):
        PoolVersion.parse("2.0")


def test_withdraw_max_disables_collateral_and_receive_atoken() -> None:
    pool = worked_example("3.0")
    outcome = pool.liquidation_call(WETH, USDC, ALICE, MAX_UINT, True, LIQUIDATOR, T0)
    assert pool.collateral_balance(WETH, LIQUIDATOR, T0) == outcome.collateral_to_liquidator
    assert WETH in pool.user_config(LIQUIDATOR).collateral
    assert pool.withdraw(WETH, MAX_UINT, LIQUIDATOR, T0) == outcome.collateral_to_liquidator
    assert WETH not in pool.user_config(LIQUIDATOR).collateral


def test_checked_arithmetic_reverts_as_the_contract_does() -> None:
    """Found by tests/differential: Solidity 0.8's checks and SafeCast, in the contract's order."""
    pool = worked_example("3.0")
    pool.set_price(WETH, 2000 * 10**8)  # healthy, so the borrow reaches the amount's value
    # validateBorrow: price × amount overflows uint256 -> Panic(0x11), not '36'.
    assert _code(lambda: pool.borrow(USDC, 2**250, ALICE, T0)) == "Panic(0x11)"
    # _mintScaled: the scaled amount past uint128 -> SafeCast; a balance past it -> Panic(0x11).
    assert _code(lambda: pool.supply(WSTETH, 2**128, BOB, T0)).startswith("SafeCast")
    pool.supply(WSTETH, 2**127, BOB, T0)
    assert _code(lambda: pool.supply(WSTETH, 2**127, BOB, T0)) == "Panic(0x11)"
