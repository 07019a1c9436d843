"""Hypothesis properties of LLAMMA-like bands: an arbitrage trade never takes more than the band
holds, keeps the band on or above its curve, conserves value at the market price up to the fee the
band keeps, and a falling price never leaves more collateral in a band than a higher one."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from softliq_core.protocols.llamma.bands import (
    SCALE,
    Band,
    BandRange,
    arbitrage,
    band_ranges,
    invariant,
    trade_to,
    value,
)

WAD = 10**18
A = st.integers(min_value=2, max_value=1_000)
# 1e36-scaled prices: 1e27 is 1000 USDC per 1e18-unit token
TOP = st.integers(min_value=10**20, max_value=10**30)
AMOUNT = st.integers(min_value=0, max_value=10**24)
FEE = st.integers(min_value=0, max_value=WAD // 10 - 1)
IMPACT = st.integers(min_value=0, max_value=WAD // 50)


@st.composite
def band_case(draw: st.DrawFn) -> tuple[Band, BandRange, int, int, int]:
    a, top = draw(A), draw(TOP)
    (edges,) = band_ranges(top, a, 1)
    band = Band(draw(AMOUNT), draw(AMOUNT))
    # the oracle anywhere from well below the band to well above it
    oracle = draw(
        st.integers(min_value=max(1, edges.price_down // 2), max_value=edges.price_up * 2)
    )
    return band, edges, a, oracle, draw(FEE)


@settings(max_examples=300, deadline=None)
@given(band_case(), IMPACT)
def test_an_arbitrage_never_takes_more_than_the_band_holds(
    case: tuple[Band, BandRange, int, int, int], impact: int
) -> None:
    band, edges, a, oracle, fee = case
    after, trade = arbitrage(band, edges, a, oracle, oracle, fee, impact, lambda _: impact)
    assert after.loan >= 0 and after.collateral >= 0
    if trade is None:
        assert after == band
        return
    assert trade.collateral_out <= band.collateral and -trade.loan_in <= band.loan
    assert after == Band(band.loan + trade.loan_in, band.collateral - trade.collateral_out)
    assert trade.net_profit > 0  # the arbitrageur only trades when it pays, slippage included


@settings(max_examples=300, deadline=None)
@given(band_case())
def test_value_is_conserved_at_the_market_price_up_to_the_fee(
    case: tuple[Band, BandRange, int, int, int],
) -> None:
    band, edges, a, oracle, fee = case
    curve = invariant(band, edges, a, oracle)
    after, trade = arbitrage(band, edges, a, oracle, oracle, fee, 0, lambda _: 0)
    if trade is None or curve is None:
        return
    # what the band lost at the oracle price is what the arbitrageur gained (floors: 2 base units)
    assert abs(band.value(oracle) - after.value(oracle) - trade.gross_profit) <= 2
    # the band ends on its curve or above it (the fee it keeps, the roundings in its favour)
    assert curve.on_or_above(after.loan, after.collateral)
    fee_value = trade.fee if trade.collateral_out > 0 else value(trade.fee, oracle)
    assert fee_value >= 0
    # without the fee the band would sit on the curve: the fee is all it keeps beyond it
    if trade.collateral_out > 0:
        on_curve = after.loan - trade.fee
        assert curve.on_or_above(on_curve, after.collateral)
        assert not curve.on_or_above(on_curve - 1, after.collateral)


@settings(max_examples=300, deadline=None)
@given(A, TOP, st.integers(min_value=1, max_value=10**24), FEE, st.data())
def test_conversion_is_monotone_in_price(
    a: int, top: int, collateral: int, fee: int, data: st.DataObject
) -> None:
    """From the same all-collateral band, a lower price leaves no more collateral in it, except
    where whole base units decide that a trade does not pay: then taking the band at the lower
    price to where the higher price left it would have gained the arbitrageur 2 base units at
    most (its real-valued gain at the lower price is at least the one at the higher price)."""
    (edges,) = band_ranges(top, a, 1)
    low = data.draw(st.integers(min_value=edges.price_down // 2, max_value=edges.price_up))
    high = data.draw(st.integers(min_value=low, max_value=edges.price_up))
    fresh = Band(0, collateral)
    at_low, _ = arbitrage(fresh, edges, a, low, low, fee, 0, lambda _: 0)
    at_high, _ = arbitrage(fresh, edges, a, high, high, fee, 0, lambda _: 0)
    if at_low.collateral > at_high.collateral:
        curve = invariant(fresh, edges, a, low)
        assert curve is not None
        _, forgone = trade_to(fresh, curve, at_high.collateral, fee, low)
        assert forgone.gross_profit <= 2


@settings(max_examples=300, deadline=None)
@given(A, TOP, st.integers(min_value=1, max_value=10**24), st.data())
def test_a_band_below_its_range_converts_at_llammas_price(
    a: int, top: int, collateral: int, data: st.DataObject
) -> None:
    """An all-collateral band whose oracle jumps below its lower edge converts whole into LLAMMA's
    ``x = A p^3 y / ((A - 1) p_up^2)`` (from the invariant with x = 0 at one end and y = 0 at the
    other), to the base unit and never below it by more than the rounding of the exact value; with
    small bands too (a CI case once lost these to the rounding of f and g in base units)."""
    (edges,) = band_ranges(top, a, 1)
    price = data.draw(st.integers(min_value=edges.price_down // 2, max_value=edges.price_down))
    exact = Fraction(a * price**3 * collateral, (a - 1) * edges.price_up**2 * SCALE)
    after, trade = arbitrage(Band(0, collateral), edges, a, price, price, 0, 0, lambda _: 0)
    if trade is None:  # only when selling the band at its curve would not pay
        assert value(collateral, price) <= math.ceil(exact)
        return
    assert after.collateral == 0
    assert math.floor(exact) <= after.loan <= math.ceil(exact) + 1


def test_a2_band_of_a_few_base_units_converts_below_its_range() -> None:
    """The CI case: A = 2, a band worth 3.37 loan base units at 0.44 of its upper edge. LLAMMA's
    conversion is 2 (0.44)^2 x 3.37 = 1.33 units: the band gets 2 (rounded up, its favour), and at
    a lower price where it is worth 2.4 units it converts for 1 (before the fix the rounding of f
    to one base unit made the curve quote nothing there)."""
    top, collateral, price = (
        2_691_563_497_047_489_809_465,
        2_821_315_569_307_567,
        1_196_250_443_132_217_327_617,
    )
    (edges,) = band_ranges(top, 2, 1)
    after, _ = arbitrage(Band(0, collateral), edges, 2, price, price, 0, 0, lambda _: 0)
    assert after == Band(2, 0)
    lower = price * 7 // 10
    assert value(collateral, lower) == 2
    after, trade = arbitrage(Band(0, collateral), edges, 2, lower, lower, 0, 0, lambda _: 0)
    assert trade is not None and after == Band(1, 0)
