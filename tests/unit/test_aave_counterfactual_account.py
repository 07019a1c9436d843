"""The Aave replay's counterfactual account opens at the borrower's first Borrow as a copy of its
history account then (replay/aave_engine.py): what an uninterrupted replay and one resumed from a
day's snapshot both give it."""

from __future__ import annotations

from softliq_core.protocols.aave.account import UserConfig
from softliq_core.replay.aave_engine import COUNTERFACTUAL, _copy_collateral
from tests.aave_fixtures import ALICE, BOB, CAROL, T0, USDC, WETH, WSTETH, make_pool


def test_a_counterfactual_account_opens_as_historys_collateral_without_its_debt() -> None:
    """At a first Borrow the counterfactual account starts as history's account then: aTokens the
    user received by transfer, its collateral switches and eMode, but none of the debt the Borrow
    just minted (its own intent borrows it again), and the aToken's total counts the copy."""
    pool = make_pool()
    pool.supply(USDC, 100_000 * 10**6, CAROL, T0)
    pool.supply(WETH, 6 * 10**18, ALICE, T0)
    pool.supply(WSTETH, 4 * 10**18, BOB, T0)
    pool.transfer_atokens(WSTETH, BOB, ALICE, 10**18, T0 + 60)
    pool.set_user_emode(ALICE, 1, T0 + 60)
    pool.borrow(WETH, 2 * 10**18, ALICE, T0 + 120)
    total = pool.reserves[WSTETH].a_token.total
    account = COUNTERFACTUAL + ALICE

    _copy_collateral(pool, ALICE, account)

    history, copy = (
        pool.user_account_data(ALICE, T0 + 120),
        pool.user_account_data(account, T0 + 120),
    )
    assert copy.total_collateral_base == history.total_collateral_base > 0
    assert (copy.total_debt_base, history.total_debt_base > 0) == (0, True)
    assert (
        pool.collateral_balance(WSTETH, account, T0 + 120)
        == pool.collateral_balance(WSTETH, ALICE, T0 + 120)
        > 0
    )
    assert pool.user_config(account) == UserConfig({WETH, WSTETH}, set(), 1)
    assert (
        pool.reserves[WSTETH].a_token.total == total + pool.reserves[WSTETH].a_token.balances[ALICE]
    )
