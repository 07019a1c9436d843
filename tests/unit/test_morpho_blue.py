"""MorphoBlue (Morpho.sol as a state machine): every revert, atomicity, authorization, events."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from softliq_core.protocols.morpho import errors
from softliq_core.protocols.morpho.blue import MAX_FEE, ZERO_ADDRESS, MorphoBlue
from softliq_core.protocols.morpho.errors import MorphoRevert
from softliq_core.protocols.morpho.market import Market, MarketParams, Position

WAD = 10**18
LLTV = 860_000_000_000_000_000
MORPHO = "0x" + "bb" * 20
OWNER = "0x" + "01" * 20
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b0" * 20
CAROL = "0x" + "c0" * 20
LIQUIDATOR = "0x" + "1d" * 20
FEE_RECIPIENT = "0x" + "fe" * 20
IRM = "0x" + "12" * 20
ORACLE = "0x" + "0c" * 20
LOAN = "0x" + "10" * 20
COLLATERAL = "0x" + "20" * 20
PARAMS = MarketParams(LOAN, COLLATERAL, ORACLE, IRM, LLTV)
UNKNOWN = MarketParams(LOAN, COLLATERAL, ORACLE, IRM, 915 * 10**15)
PRICE = 2 * 10**36  # one collateral unit = two loan units
T0 = 1_700_000_000


def _morpho(prices: dict[str, int] | None = None) -> MorphoBlue:
    prices = prices if prices is not None else {ORACLE: PRICE}
    blue = MorphoBlue(MORPHO, OWNER, lambda oracle: prices[oracle], timestamp=T0)
    blue.enable_irm(OWNER, IRM)
    blue.enable_lltv(OWNER, LLTV)
    blue.create_market(ALICE, PARAMS)
    return blue


def _funded(prices: dict[str, int] | None = None) -> MorphoBlue:
    """Carol supplies 1_000_000; Alice posts 100_000 collateral (worth 200_000) and borrows 100_000."""
    blue = _morpho(prices)
    blue.supply(CAROL, PARAMS, 1_000_000, 0, CAROL)
    blue.supply_collateral(ALICE, PARAMS, 100_000, ALICE)
    blue.borrow(ALICE, PARAMS, 100_000, 0, ALICE, ALICE)
    return blue


def _reason(call: Callable[[], Any]) -> str:
    with pytest.raises(MorphoRevert) as info:
        call()
    return info.value.reason


def _snapshot(blue: MorphoBlue) -> dict[str, Any]:
    """All contract state; a position never written reads as zero (Solidity mapping default)."""
    return {
        "markets": {k: v.copy() for k, v in blue.markets.items()},
        "params": dict(blue.params),
        "positions": {k: v.copy() for k, v in blue.positions.items() if v != Position()},
        "rate_at_target": dict(blue.rate_at_target),
        "irms": set(blue.enabled_irms),
        "lltvs": set(blue.enabled_lltvs),
        "authorizations": {k: v for k, v in blue.authorizations.items() if v},
        "fee_recipient": blue.fee_recipient,
        "owner": blue.owner,
        "events": copy.deepcopy(blue.events),
    }


# -- owner functions -----------------------------------------------------------------------------


def test_owner_functions_revert_for_others() -> None:
    blue = _morpho()
    assert _reason(lambda: blue.enable_irm(ALICE, "0x" + "99" * 20)) == errors.NOT_OWNER
    assert _reason(lambda: blue.enable_lltv(ALICE, WAD // 2)) == errors.NOT_OWNER
    assert _reason(lambda: blue.set_fee(ALICE, PARAMS, WAD // 10)) == errors.NOT_OWNER
    assert _reason(lambda: blue.set_fee_recipient(ALICE, FEE_RECIPIENT)) == errors.NOT_OWNER


def test_already_set() -> None:
    blue = _morpho()
    assert _reason(lambda: blue.enable_irm(OWNER, IRM)) == errors.ALREADY_SET
    assert _reason(lambda: blue.enable_lltv(OWNER, LLTV)) == errors.ALREADY_SET
    assert _reason(lambda: blue.set_fee(OWNER, PARAMS, 0)) == errors.ALREADY_SET  # fee is 0
    assert _reason(lambda: blue.set_fee_recipient(OWNER, ZERO_ADDRESS)) == errors.ALREADY_SET
    blue.set_fee_recipient(OWNER, FEE_RECIPIENT)
    assert _reason(lambda: blue.set_fee_recipient(OWNER, FEE_RECIPIENT)) == errors.ALREADY_SET
    blue.set_fee(OWNER, PARAMS, WAD // 10)
    assert _reason(lambda: blue.set_fee(OWNER, PARAMS, WAD // 10)) == errors.ALREADY_SET
    # setAuthorization to the current value (false by default) reverts
    assert _reason(lambda: blue.set_authorization(ALICE, BOB, False)) == errors.ALREADY_SET
    blue.set_authorization(ALICE, BOB, True)
    assert _reason(lambda: blue.set_authorization(ALICE, BOB, True)) == errors.ALREADY_SET


def test_max_lltv_and_max_fee() -> None:
    blue = _morpho()
    assert _reason(lambda: blue.enable_lltv(OWNER, WAD)) == errors.MAX_LLTV_EXCEEDED
    blue.enable_lltv(OWNER, WAD - 1)
    assert MAX_FEE == 250_000_000_000_000_000  # spec §1.3: 0.25e18
    assert _reason(lambda: blue.set_fee(OWNER, PARAMS, MAX_FEE + 1)) == errors.MAX_FEE_EXCEEDED
    blue.set_fee(OWNER, PARAMS, MAX_FEE)
    assert blue.markets[PARAMS.id].fee == MAX_FEE


def test_create_market_reverts_and_events() -> None:
    blue = MorphoBlue(MORPHO, OWNER, lambda oracle: PRICE, timestamp=T0)
    assert _reason(lambda: blue.create_market(ALICE, PARAMS)) == errors.IRM_NOT_ENABLED
    blue.enable_irm(OWNER, IRM)
    assert _reason(lambda: blue.create_market(ALICE, PARAMS)) == errors.LLTV_NOT_ENABLED
    blue.enable_lltv(OWNER, LLTV)
    assert blue.create_market(ALICE, PARAMS) == PARAMS.id
    assert _reason(lambda: blue.create_market(BOB, PARAMS)) == errors.MARKET_ALREADY_CREATED
    assert blue.markets[PARAMS.id] == Market(last_update=T0)
    # CreateMarket then the IRM's first BorrowRateUpdate (spec §1.7, §2: 317097919)
    assert [e["event"] for e in blue.events] == [
        "EnableIrm",
        "EnableLltv",
        "CreateMarket",
        "BorrowRateUpdate",
    ]
    update = blue.events[-1]
    assert update["contract"] == IRM
    assert update["avg_borrow_rate"] == 317_097_919
    assert update["rate_at_target"] == 1_268_391_679
    assert blue.rate_at_target[PARAMS.id] == 1_268_391_679


# -- reverts of the lending functions ------------------------------------------------------------


def test_market_not_created() -> None:
    blue = _funded()
    calls: list[Callable[[], Any]] = [
        lambda: blue.supply(CAROL, UNKNOWN, 1, 0, CAROL),
        lambda: blue.withdraw(CAROL, UNKNOWN, 1, 0, CAROL, CAROL),
        lambda: blue.borrow(ALICE, UNKNOWN, 1, 0, ALICE, ALICE),
        lambda: blue.repay(ALICE, UNKNOWN, 1, 0, ALICE),
        lambda: blue.supply_collateral(ALICE, UNKNOWN, 1, ALICE),
        lambda: blue.withdraw_collateral(ALICE, UNKNOWN, 1, ALICE, ALICE),
        lambda: blue.liquidate(LIQUIDATOR, UNKNOWN, ALICE, 1, 0),
        lambda: blue.accrue_interest(UNKNOWN),
        lambda: blue.set_fee(OWNER, UNKNOWN, 1),
    ]
    for call in calls:
        assert _reason(call) == errors.MARKET_NOT_CREATED


@pytest.mark.parametrize(("assets", "shares"), [(0, 0), (1, 1)])
def test_inconsistent_input(assets: int, shares: int) -> None:
    blue = _funded()
    calls: list[Callable[[], Any]] = [
        lambda: blue.supply(CAROL, PARAMS, assets, shares, CAROL),
        lambda: blue.withdraw(CAROL, PARAMS, assets, shares, CAROL, CAROL),
        lambda: blue.borrow(ALICE, PARAMS, assets, shares, ALICE, ALICE),
        lambda: blue.repay(ALICE, PARAMS, assets, shares, ALICE),
        lambda: blue.liquidate(LIQUIDATOR, PARAMS, ALICE, assets, shares),
    ]
    for call in calls:
        assert _reason(call) == errors.INCONSISTENT_INPUT


def test_zero_address_and_zero_assets() -> None:
    blue = _funded()
    zero_address: list[Callable[[], Any]] = [
        lambda: blue.supply(CAROL, PARAMS, 1, 0, ZERO_ADDRESS),
        lambda: blue.repay(ALICE, PARAMS, 1, 0, ZERO_ADDRESS),
        lambda: blue.supply_collateral(ALICE, PARAMS, 1, ZERO_ADDRESS),
        lambda: blue.withdraw(CAROL, PARAMS, 1, 0, CAROL, ZERO_ADDRESS),
        lambda: blue.borrow(ALICE, PARAMS, 1, 0, ALICE, ZERO_ADDRESS),
        lambda: blue.withdraw_collateral(ALICE, PARAMS, 1, ALICE, ZERO_ADDRESS),
    ]
    for call in zero_address:
        assert _reason(call) == errors.ZERO_ADDRESS
    zero_assets: list[Callable[[], Any]] = [
        lambda: blue.supply_collateral(ALICE, PARAMS, 0, ALICE),
        lambda: blue.withdraw_collateral(ALICE, PARAMS, 0, ALICE, ALICE),
        lambda: blue.flash_loan(BOB, LOAN, 0),
    ]
    for call in zero_assets:
        assert _reason(call) == errors.ZERO_ASSETS


def test_unauthorized() -> None:
    blue = _funded()
    assert _reason(lambda: blue.withdraw(BOB, PARAMS, 1, 0, CAROL, BOB)) == errors.UNAUTHORIZED
    assert _reason(lambda: blue.borrow(BOB, PARAMS, 1, 0, ALICE, BOB)) == errors.UNAUTHORIZED
    assert (
        _reason(lambda: blue.withdraw_collateral(BOB, PARAMS, 1, ALICE, BOB)) == errors.UNAUTHORIZED
    )
    # authorisation is per (authorizer, authorized): Carol's grant to Bob does not cover Alice
    blue.set_authorization(CAROL, BOB, True)
    assert _reason(lambda: blue.borrow(BOB, PARAMS, 1, 0, ALICE, BOB)) == errors.UNAUTHORIZED


def test_insufficient_collateral() -> None:
    blue = _funded()
    # collateral 100_000 worth 200_000: max borrow floor(200_000 * 0.86) = 172_000; debt 100_000
    assert (
        _reason(lambda: blue.borrow(ALICE, PARAMS, 72_001, 0, ALICE, ALICE))
        == errors.INSUFFICIENT_COLLATERAL
    )
    blue.borrow(ALICE, PARAMS, 72_000, 0, ALICE, ALICE)  # exactly at the limit is healthy
    assert (
        _reason(lambda: blue.withdraw_collateral(ALICE, PARAMS, 1, ALICE, ALICE))
        == errors.INSUFFICIENT_COLLATERAL
    )
    # a borrower with no collateral cannot borrow one wei
    assert (
        _reason(lambda: blue.borrow(BOB, PARAMS, 1, 0, BOB, BOB)) == errors.INSUFFICIENT_COLLATERAL
    )


def test_insufficient_liquidity() -> None:
    blue = _funded()
    blue.supply_collateral(BOB, PARAMS, 10**9, BOB)
    # supply 1_000_000, borrowed 100_000: 900_001 more is one too many
    assert (
        _reason(lambda: blue.borrow(BOB, PARAMS, 900_001, 0, BOB, BOB))
        == errors.INSUFFICIENT_LIQUIDITY
    )
    assert (
        _reason(lambda: blue.withdraw(CAROL, PARAMS, 900_001, 0, CAROL, CAROL))
        == errors.INSUFFICIENT_LIQUIDITY
    )
    blue.withdraw(CAROL, PARAMS, 900_000, 0, CAROL, CAROL)
    market = blue.markets[PARAMS.id]
    assert market.total_supply_assets == market.total_borrow_assets == 100_000


def test_underflows_and_uint128() -> None:
    blue = _funded()
    alice = blue.position(PARAMS.id, ALICE)
    assert (
        _reason(lambda: blue.repay(ALICE, PARAMS, 0, alice.borrow_shares + 1, ALICE))
        == errors.UNDERFLOW
    )
    carol = blue.position(PARAMS.id, CAROL)
    assert (
        _reason(lambda: blue.withdraw(CAROL, PARAMS, 0, carol.supply_shares + 1, CAROL, CAROL))
        == errors.UNDERFLOW
    )
    assert _reason(lambda: blue.withdraw_collateral(BOB, PARAMS, 1, BOB, BOB)) == errors.UNDERFLOW
    assert (
        _reason(lambda: blue.supply_collateral(ALICE, PARAMS, 2**128, ALICE))
        == errors.MAX_UINT128_EXCEEDED
    )
    assert (
        _reason(lambda: blue.supply(CAROL, PARAMS, 2**128, 0, CAROL)) == errors.MAX_UINT128_EXCEEDED
    )


def test_liquidating_a_healthy_position_reverts() -> None:
    blue = _funded()
    assert (
        _reason(lambda: blue.liquidate(LIQUIDATOR, PARAMS, ALICE, 1, 0)) == errors.HEALTHY_POSITION
    )
    # a position with no debt is healthy at any price
    prices = {ORACLE: PRICE}
    blue = _funded(prices)
    prices[ORACLE] = 0
    blue.supply_collateral(BOB, PARAMS, 5, BOB)
    assert _reason(lambda: blue.liquidate(LIQUIDATOR, PARAMS, BOB, 1, 0)) == errors.HEALTHY_POSITION


# -- atomicity -----------------------------------------------------------------------------------


def _accruing_reverts(blue: MorphoBlue) -> list[tuple[Callable[[], Any], str]]:
    """Calls that revert only after Morpho has accrued interest (and minted fee shares)."""
    alice_shares = blue.position(PARAMS.id, ALICE).borrow_shares
    carol_shares = blue.position(PARAMS.id, CAROL).supply_shares
    return [
        (
            lambda: blue.borrow(ALICE, PARAMS, 10**6, 0, ALICE, ALICE),
            errors.INSUFFICIENT_COLLATERAL,
        ),
        (
            lambda: blue.withdraw_collateral(ALICE, PARAMS, 99_999, ALICE, ALICE),
            errors.INSUFFICIENT_COLLATERAL,
        ),
        (
            lambda: blue.withdraw(CAROL, PARAMS, 999_999, 0, CAROL, CAROL),
            errors.INSUFFICIENT_LIQUIDITY,
        ),
        (lambda: blue.repay(ALICE, PARAMS, 0, alice_shares + 1, ALICE), errors.UNDERFLOW),
        (
            lambda: blue.withdraw(CAROL, PARAMS, 0, carol_shares + 1, CAROL, CAROL),
            errors.UNDERFLOW,
        ),
        (lambda: blue.liquidate(LIQUIDATOR, PARAMS, ALICE, 1, 0), errors.HEALTHY_POSITION),
        (lambda: blue.withdraw_collateral(BOB, PARAMS, 1, BOB, BOB), errors.UNDERFLOW),
    ]


def test_reverted_calls_leave_state_and_events_unchanged() -> None:
    blue = _funded()
    blue.set_fee_recipient(OWNER, FEE_RECIPIENT)
    blue.set_fee(OWNER, PARAMS, WAD // 10)
    blue.timestamp += 30 * 86_400  # a month of interest and fee shares pending
    for index in range(len(_accruing_reverts(blue))):
        before = _snapshot(blue)
        call, reason = _accruing_reverts(blue)[index]
        assert _reason(call) == reason
        assert _snapshot(blue) == before, reason
    # and the same calls succeed in accruing once something accrues for real
    n_events = len(blue.events)
    blue.accrue_interest(PARAMS)
    assert [e["event"] for e in blue.events[n_events:]] == ["BorrowRateUpdate", "AccrueInterest"]
    accrual = blue.events[-1]
    assert accrual["interest"] > 0
    assert accrual["fee_shares"] > 0
    assert blue.position(PARAMS.id, FEE_RECIPIENT).supply_shares == accrual["fee_shares"]


def test_reverted_checks_before_accrual_leave_state_unchanged() -> None:
    blue = _funded()
    blue.timestamp += 86_400
    calls: list[Callable[[], Any]] = [
        lambda: blue.supply(CAROL, PARAMS, 0, 0, CAROL),
        lambda: blue.borrow(BOB, PARAMS, 1, 0, ALICE, BOB),
        lambda: blue.supply_collateral(ALICE, PARAMS, 0, ALICE),
        lambda: blue.set_fee(OWNER, PARAMS, MAX_FEE + 1),
        lambda: blue.set_authorization(ALICE, BOB, False),
        lambda: blue.enable_lltv(OWNER, WAD),
    ]
    for call in calls:
        before = _snapshot(blue)
        _reason(call)
        assert _snapshot(blue) == before


# -- authorization -------------------------------------------------------------------------------


def test_authorized_address_borrows_and_withdraws_on_behalf() -> None:
    blue = _funded()
    blue.supply(CAROL, PARAMS, 50_000, 0, ALICE)  # supply on behalf needs no authorisation
    blue.set_authorization(ALICE, BOB, True)
    assert blue.authorizations[(ALICE, BOB)] is True
    assert blue.events[-1] == {
        "event": "SetAuthorization",
        "contract": MORPHO,
        "caller": ALICE,
        "authorizer": ALICE,
        "authorized": BOB,
        "new_is_authorized": True,
    }
    alice_before = blue.position(PARAMS.id, ALICE).copy()

    assets, shares = blue.borrow(BOB, PARAMS, 10_000, 0, ALICE, BOB)
    assert assets == 10_000
    assert blue.events[-1]["caller"] == BOB
    assert blue.events[-1]["on_behalf"] == ALICE
    assert blue.events[-1]["receiver"] == BOB
    assert blue.position(PARAMS.id, ALICE).borrow_shares == alice_before.borrow_shares + shares
    assert blue.position(PARAMS.id, BOB) == Position()  # the debt is Alice's, not Bob's

    blue.withdraw_collateral(BOB, PARAMS, 1_000, ALICE, BOB)
    assert blue.position(PARAMS.id, ALICE).collateral == alice_before.collateral - 1_000
    _, withdrawn_shares = blue.withdraw(BOB, PARAMS, 20_000, 0, ALICE, BOB)
    assert (
        blue.position(PARAMS.id, ALICE).supply_shares
        == alice_before.supply_shares - withdrawn_shares
    )
    assert blue.position(PARAMS.id, BOB) == Position()

    # repay on behalf is permissionless; revocation takes the right away again
    blue.repay(CAROL, PARAMS, 0, shares, ALICE)
    assert blue.position(PARAMS.id, ALICE).borrow_shares == alice_before.borrow_shares
    blue.set_authorization(ALICE, BOB, False)
    assert _reason(lambda: blue.borrow(BOB, PARAMS, 1, 0, ALICE, BOB)) == errors.UNAUTHORIZED
    # the authorised address is only a delegate: Alice herself is not authorised for Bob
    assert _reason(lambda: blue.withdraw(ALICE, PARAMS, 1, 0, BOB, ALICE)) == errors.UNAUTHORIZED


# -- successful flows: amounts and events --------------------------------------------------------


def test_supply_borrow_repay_amounts_and_events() -> None:
    blue = _morpho()
    # empty market: 1_000_000 assets -> 1e12 shares
    assert blue.supply(CAROL, PARAMS, 1_000_000, 0, CAROL) == (1_000_000, 10**12)
    # by shares: assets = toAssetsUp(1, 1_000_000, 1e12) = ceil(1_000_001 / (1e12 + 1e6)) = 1
    assert blue.supply(CAROL, PARAMS, 0, 1, CAROL) == (1, 1)
    blue.supply_collateral(ALICE, PARAMS, 100_000, ALICE)
    assert blue.borrow(ALICE, PARAMS, 100_000, 0, ALICE, ALICE) == (100_000, 10**11)
    assert blue.repay(ALICE, PARAMS, 40_000, 0, ALICE) == (40_000, 4 * 10**10)
    assert [e["event"] for e in blue.events[-5:]] == [
        "Supply",
        "Supply",
        "SupplyCollateral",
        "Borrow",
        "Repay",
    ]
    assert blue.markets[PARAMS.id] == Market(
        total_supply_assets=1_000_001,
        total_supply_shares=10**12 + 1,
        total_borrow_assets=60_000,
        total_borrow_shares=6 * 10**10,
        last_update=T0,
    )


def test_supply_collateral_does_not_accrue_but_withdraw_collateral_does() -> None:
    blue = _funded()
    blue.timestamp += 3_600
    n_events = len(blue.events)
    blue.supply_collateral(ALICE, PARAMS, 1, ALICE)
    assert [e["event"] for e in blue.events[n_events:]] == ["SupplyCollateral"]
    assert blue.markets[PARAMS.id].last_update == T0
    blue.withdraw_collateral(ALICE, PARAMS, 1, ALICE, ALICE)
    assert [e["event"] for e in blue.events[n_events + 1 :]] == [
        "BorrowRateUpdate",
        "AccrueInterest",
        "WithdrawCollateral",
    ]
    assert blue.markets[PARAMS.id].last_update == T0 + 3_600


def test_accrue_interest_event_even_without_borrows() -> None:
    blue = _morpho()
    blue.timestamp += 60
    blue.accrue_interest(PARAMS)
    assert blue.events[-1] == {
        "event": "AccrueInterest",
        "contract": MORPHO,
        "market_id": PARAMS.id,
        # utilization 0 for 60 s: linear = -1585489599188 * 60 = -95129375951280
        # end = 1268391679 * wExp(linear) / WAD = 1268391679 * 999904875148847804 / WAD = 1268271023
        # mid = 1268391679 * 999952436443224131 / WAD = 1268331349
        # avg = tdiv(1268391679 + 1268271023 + 2 * 1268331349, 4) = 1268331350; rate = avg / 4
        "prev_borrow_rate": 317_082_837,
        "interest": 0,
        "fee_shares": 0,
    }
    n_events = len(blue.events)
    blue.accrue_interest(PARAMS)  # same timestamp: nothing
    assert len(blue.events) == n_events


def test_market_without_irm_accrues_silently() -> None:
    blue = _morpho()
    blue.enable_irm(OWNER, ZERO_ADDRESS)
    no_irm = MarketParams(LOAN, COLLATERAL, ORACLE, ZERO_ADDRESS, LLTV)
    blue.create_market(ALICE, no_irm)
    assert blue.events[-1]["event"] == "CreateMarket"
    blue.supply(CAROL, no_irm, 1_000, 0, CAROL)
    blue.timestamp += 1_000
    n_events = len(blue.events)
    blue.accrue_interest(no_irm)
    assert len(blue.events) == n_events
    assert blue.markets[no_irm.id].last_update == T0 + 1_000
    assert blue.markets[no_irm.id].total_supply_assets == 1_000


def test_liquidation_through_morpho_after_a_price_drop() -> None:
    prices = {ORACLE: PRICE}
    blue = _funded(prices)
    # debt 100_000 (1e11 shares); collateral 100_000 at 1.1: worth 110_000, max 94_600
    prices[ORACLE] = 11 * 10**35
    seized, repaid_assets = blue.liquidate(LIQUIDATOR, PARAMS, ALICE, 0, 5 * 10**10)
    # shares 5e10 -> toAssetsDown = floor(5e10 * 100_001 / (1e11 + 1e6)) = 50_000
    # wMulDown(50_000, 1043841336116910229) = 52_192; seized = floor(52_192 / 1.1) = 47_447
    assert seized == 47_447
    # repaidAssets = ceil(5e10 * 100_001 / 100_001_000_000) = 50_000
    assert repaid_assets == 50_000
    event = blue.events[-1]
    assert event["event"] == "Liquidate"
    assert (event["caller"], event["borrower"]) == (LIQUIDATOR, ALICE)
    assert (event["bad_debt_assets"], event["bad_debt_shares"]) == (0, 0)
    assert blue.position(PARAMS.id, ALICE) == Position(
        borrow_shares=5 * 10**10, collateral=100_000 - 47_447
    )
