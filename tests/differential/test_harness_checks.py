"""Fixed sequences on the real contract: the paths that matter most always run, and the harness is
shown to catch a wrong engine, a wrong ledger and a wrong revert reason (a check that cannot fail
proves nothing).
"""

from __future__ import annotations

import pytest

from softliq_core.protocols.morpho import blue as blue_module
from softliq_core.protocols.morpho import errors
from softliq_core.protocols.morpho.health import max_borrow
from softliq_core.protocols.morpho.math import WAD
from softliq_core.protocols.morpho.shares import to_shares_up
from softliq_core.replay import ledger as ledger_module

from .harness import OWNER, TREASURIES, USERS, Harness, Mismatch


def _open_and_crash(h: Harness) -> None:
    """Lender, fee and fee recipient, a borrower at 99 % of its limit, a day of interest, a crash."""
    params, lender, borrower = h.params[0], USERS[3], USERS[0]
    e = h.engine
    h.call(
        "setFeeRecipient",
        OWNER,
        (TREASURIES[1],),
        lambda: e.set_fee_recipient(OWNER, TREASURIES[1]),
    )
    h.call("setFee", OWNER, (params, WAD // 10), lambda: e.set_fee(OWNER, params, WAD // 10))
    supply = 10**6 * 10**6
    h.call(
        "supply",
        lender,
        (params, supply, 0, lender, b""),
        lambda: e.supply(lender, params, supply, 0, lender),
    )
    collateral = 10 * 10**18
    h.call(
        "supplyCollateral",
        borrower,
        (params, collateral, borrower, b""),
        lambda: e.supply_collateral(borrower, params, collateral, borrower),
    )
    assets = max_borrow(collateral, h.prices[params.oracle], params.lltv) * 99 // 100
    h.call(
        "borrow",
        borrower,
        (params, assets, 0, borrower, borrower),
        lambda: e.borrow(borrower, params, assets, 0, borrower, borrower),
    )
    h.warp(86_400)
    h.call("accrueInterest", lender, (params,), lambda: e.accrue_interest(params))
    oracle = h.oracles[0]
    h.set_price(oracle, h.prices[oracle.address] * 7 // 10)  # a 30 % crash


def test_bad_debt_liquidation_with_fees_replays_exactly() -> None:
    h = Harness()
    _open_and_crash(h)
    params, liquidator, borrower = h.params[0], USERS[1], USERS[0]
    e = h.engine
    collateral = e.position(params.id, borrower).collateral
    h.warp(12)
    seized, repaid = h.call(
        "liquidate",
        liquidator,
        (params, borrower, collateral, 0, b""),
        lambda: e.liquidate(liquidator, params, borrower, collateral, 0),
    )
    assert seized == collateral and repaid > 0
    liquidation = [ev for ev in e.events if ev["event"] == "Liquidate"][-1]
    assert liquidation["bad_debt_shares"] > 0 and liquidation["bad_debt_assets"] > 0
    assert e.position(params.id, borrower).borrow_shares == 0
    assert e.position(params.id, TREASURIES[1]).supply_shares > 0  # fee shares were minted
    assert h.check_replay() > 0


def test_a_wrong_engine_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """supply by assets rounding shares up instead of down: the first supply call must mismatch."""
    h = Harness()
    monkeypatch.setattr(blue_module, "to_shares_down", to_shares_up)
    params, user = h.params[0], USERS[0]
    shares = 10**6 + 2  # by shares first: totals whose ratio is not a whole number
    h.call(
        "supply",
        user,
        (params, 0, shares, user, b""),
        lambda: h.engine.supply(user, params, 0, shares, user),
    )
    with pytest.raises(Mismatch, match="supply"):
        h.call(
            "supply",
            user,
            (params, 7, 0, user, b""),
            lambda: h.engine.supply(user, params, 7, 0, user),
        )


def test_a_wrong_revert_reason_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness()
    monkeypatch.setattr(errors, "ZERO_ASSETS", "zero amount")
    monkeypatch.setattr(blue_module.errors, "ZERO_ASSETS", "zero amount")
    params, user = h.params[0], USERS[0]
    with pytest.raises(Mismatch, match="zero assets"):
        h.call(
            "supplyCollateral",
            user,
            (params, 0, user, b""),
            lambda: h.engine.supply_collateral(user, params, 0, user),
        )


def test_a_wrong_ledger_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ledger that forgets the fee recipient's fee shares must fail the replay check."""
    h = Harness()
    _open_and_crash(h)
    h.check_replay()

    def accrue_without_fee_shares(ledger: ledger_module.Ledger, e: dict[str, str]) -> None:
        market = ledger.markets[e["market_id"]]
        market.total_borrow_assets += int(e["interest"])
        market.total_supply_assets += int(e["interest"])
        market.total_supply_shares += int(e["fee_shares"])

    monkeypatch.setitem(ledger_module._HANDLERS, "AccrueInterest", accrue_without_fee_shares)
    with pytest.raises(Mismatch, match="position"):
        h.check_replay()
