"""The watch's bound: a position it does not return at a price cannot have reached its target LTV
there, whatever the totals and the price did since it was last checked (ltv_watch.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from softliq_core.protocols.morpho.health import ltv
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.replay.ltv_watch import LtvWatch, market_ratio

amounts = st.integers(1, 10**30)
# shares of a debt of one to a million base units, the dust the bound now covers
dust_shares = st.integers(10**6, 10**12)
prices = st.integers(1, 10**42)
ltvs = st.integers(0, 2 * 10**18)


@settings(max_examples=2000, deadline=None)
@given(
    borrow_shares=st.one_of(amounts, dust_shares),
    collateral=amounts,
    total_borrow_assets=amounts,
    share_growth=st.floats(0.5, 4),
    price_then=prices,
    price_now=prices,
    target=ltvs,
)
def test_a_skipped_position_is_below_its_target(
    borrow_shares: int,
    collateral: int,
    total_borrow_assets: int,
    share_growth: float,
    price_then: int,
    price_now: int,
    target: int,
) -> None:
    total_borrow_shares = max(borrow_shares, total_borrow_assets * 10**6)
    then = Market(total_borrow_assets=total_borrow_assets, total_borrow_shares=total_borrow_shares)
    now = Market(
        total_borrow_assets=int(total_borrow_assets * share_growth),
        total_borrow_shares=total_borrow_shares,
    )
    position = Position(0, borrow_shares, collateral)
    watch = LtvWatch()
    watch.watch("borrower", position, then, price_then, target)
    if "borrower" not in watch.due(market_ratio(now, price_now)):
        value = ltv(position, now, price_now)
        assert value is not None and value < target


def test_pin_and_forget() -> None:
    watch = LtvWatch()
    watch.pin("a")
    assert watch.due(0.0) == ["a"] == watch.due(0.0)  # pinned: at every price
    watch.forget("a")
    assert watch.due(float("inf")) == []
    position = Position(0, 10**24, 10**18)
    market = Market(total_borrow_assets=10**18, total_borrow_shares=10**24)
    watch.watch("b", position, market, 2 * 10**36, 10**18 // 2)  # ltv 0.5 at price 2
    assert watch.due(market_ratio(market, 3 * 10**36)) == []  # ltv 1/3
    assert watch.due(market_ratio(market, 2 * 10**36)) == ["b"]  # back at its target
    assert watch.due(market_ratio(market, 10**36)) == []  # checked once, until watched again


def test_dust_debt_is_watched_not_checked_at_every_price() -> None:
    """Cents of debt against a large collateral (left after a repayment) are far below any trigger:
    the watch returns the position only once the price has fallen to where its LTV may reach it."""
    market = Market(total_borrow_assets=10**12, total_borrow_shares=10**18)
    position = Position(0, 100 * 10**6, 10**18)  # 100 base units of debt, 1 unit of collateral
    watch = LtvWatch()
    at_3000 = 3000 * 10**24  # oracle price of an 18-decimal collateral in a 6-decimal loan asset
    watch.watch("dust", position, market, at_3000, 86 * 10**16)
    assert watch.due(market_ratio(market, at_3000)) == []
    assert watch.due(market_ratio(market, at_3000 // 10**6)) == []  # LTV still about 0.03
    assert watch.due(market_ratio(market, at_3000 // 10**8)) == ["dust"]  # LTV about 3
    crashed = ltv(position, market, at_3000 // 10**8)
    assert crashed is not None and crashed >= 86 * 10**16
