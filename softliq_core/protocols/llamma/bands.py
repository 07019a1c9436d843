"""LLAMMA's bands in exact integer math: edges, each band's invariant at the oracle price, and the
arbitrage trade that brings a band to a target price.

A band ``k`` covers the prices ``[price_down(k), price_up(k)]`` with geometric edges:
``price_up(k) = top x ((A - 1) / A)^k`` and ``price_down(k) = price_up(k + 1)``. It holds ``loan``
(LLAMMA's x, loan-asset base units) and ``collateral`` (y, collateral base units). Its invariant at
the oracle price ``p_o`` is LLAMMA's

    (x + f)(y + g) = I,   f = p_o^2 / p_up x A y0,   g = p_up / p_o x (A - 1) y0,   I = p_o A^2 y0^2

where ``y0`` solves that equation for the band's current ``(x, y)`` at ``p_o`` (the contract's
``get_y0``). Because ``f`` and ``g`` move with ``p_o`` (the band's AMM prices range over
``[p_o^3 / p_up^2, p_o^3 / p_down^2]``), a band is all collateral when ``p_o >= p_up``, all loan
asset when ``p_o <= p_down``, and a falling oracle makes the AMM quote collateral below the market:
arbitrageurs buy it and sell it outside, which is the soft liquidation.

Prices are 1e36-scaled like a Morpho oracle (loan base units per collateral base unit x 1e36).
Amounts are exact integers; every rounding favours the band (its holder, the borrower): the arbitrageur
pays rounded up and receives rounded down. The curve's own arithmetic runs in ``CURVE_UNIT``-ths of a
base unit, so that ``f`` and ``g`` of a band worth a few base units are not rounded to a different
curve (or to nothing); they are floored in those fine units, and the trade is computed on the curve
``(x + f)(y + g) = I`` through the band's current point, so rounding in ``y0`` never moves value, it
only shifts the curve by a fraction of a base unit. Amounts leave the curve rounded to whole base
units in the band's favour.

Simplifications of LLAMMA (also in the README): the oracle price is used as is (LLAMMA smooths it
with an EMA and raises its fee with the price's move: the dynamic fee is not modelled), the fee is
kept whole by the band (no admin share), and the band's loan asset earns nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import isqrt

from softliq_core.protocols.morpho.math import ORACLE_PRICE_SCALE, WAD

SCALE = ORACLE_PRICE_SCALE
# The curve's unit: 1e-18 of a base unit of either asset (a band worth 3 loan base units still has
# f, g exact to 18 digits, so a small band converts at its curve's price like a large one).
CURVE_UNIT = 10**18


def _div_up(x: int, d: int) -> int:
    return -(-x // d)


def _isqrt_up(x: int) -> int:
    root = isqrt(x)
    return root if root * root == x else root + 1


def value(collateral: int, price: int) -> int:
    """Collateral in loan-asset base units at a 1e36-scaled price, floored."""
    return collateral * price // SCALE


@dataclass(frozen=True, slots=True)
class BandRange:
    price_up: int  # 1e36-scaled
    price_down: int


def band_ranges(top: int, a: int, n: int) -> tuple[BandRange, ...]:
    """``n`` bands from ``top`` down, each edge ``top x (A - 1)^k / A^k`` floored (exact, not
    compounded rounding)."""
    edges = [top * (a - 1) ** k // a**k for k in range(n + 1)]
    return tuple(BandRange(edges[k], edges[k + 1]) for k in range(n))


@dataclass(frozen=True, slots=True)
class Band:
    loan: int  # x: loan-asset base units the band holds
    collateral: int  # y: collateral base units

    def value(self, price: int) -> int:
        return self.loan + value(self.collateral, price)


@dataclass(frozen=True, slots=True)
class Invariant:
    """``(x + f)(y + g) = product`` through the band's current point at one oracle price; ``f``,
    ``g`` and ``product`` in ``CURVE_UNIT``-ths of a base unit, amounts in and out in base units."""

    f: int
    g: int
    product: int

    def price(self, band: Band) -> int:
        """The band's marginal AMM price (x + f) / (y + g), 1e36-scaled."""
        return (band.loan * CURVE_UNIT + self.f) * SCALE // (band.collateral * CURVE_UNIT + self.g)

    def on_or_above(self, loan: int, collateral: int) -> bool:
        """Whether a band holding ``loan`` and ``collateral`` is on the curve or above it."""
        return (loan * CURVE_UNIT + self.f) * (collateral * CURVE_UNIT + self.g) >= self.product

    @property
    def most_collateral(self) -> int:
        """y at the curve's all-collateral end (x = 0), rounded up (the band's favour)."""
        return _div_up(_div_up(self.product, self.f) - self.g, CURVE_UNIT)

    def loan_at(self, collateral: int) -> int:
        """x on the curve for a given y, rounded up (the band's favour), never negative; exactly 0
        at the all-collateral end, so a band bought back whole holds no loan-asset dust."""
        if collateral >= self.most_collateral:
            return 0
        fine = _div_up(self.product, collateral * CURVE_UNIT + self.g) - self.f
        return max(0, _div_up(fine, CURVE_UNIT))


def invariant(band: Band, edges: BandRange, a: int, oracle: int) -> Invariant | None:
    """LLAMMA's invariant for the band at the oracle price (None for an empty band).

    With ``z = p_o A y0`` (loan units) the equation becomes ``z^2 - b z - A x y p_o = 0`` with
    ``b = x p_up (A - 1) / p_o + y A p_o^2 / p_up``, so ``z = (b + sqrt(b^2 + 4 A x y p_o)) / 2``;
    then ``f = z p_o / p_up`` and ``g = z (A - 1) p_up / (A p_o^2)``. All in curve units.
    """
    x, y, up = band.loan * CURVE_UNIT, band.collateral * CURVE_UNIT, edges.price_up
    if x == 0 and y == 0:
        return None
    b = x * up * (a - 1) // oracle + y * a * oracle * oracle // (up * SCALE)
    z = (b + isqrt(b * b + 4 * a * x * value(y, oracle))) // 2
    f = z * oracle // up
    g = z * (a - 1) * up * SCALE // (a * oracle * oracle)
    if f == 0 or g == 0:
        return None  # below a curve unit: the curve cannot quote a price
    return Invariant(f, g, (x + f) * (y + g))


def collateral_at_price(band: Band, curve: Invariant, price: int) -> int:
    """y where the band's AMM price equals ``price``, within what the curve allows (0 .. all y);
    rounded up, so a band bought back to its all-collateral end gets there exactly."""
    fine = _isqrt_up(_div_up(curve.product * SCALE, price)) - curve.g
    return max(0, min(_div_up(fine, CURVE_UNIT), curve.most_collateral))


@dataclass(frozen=True, slots=True)
class Trade:
    """An arbitrageur's trade against one band, signed from the band's side.

    ``collateral_out`` > 0: the band sold collateral (price falling) and received ``loan_in`` > 0;
    < 0: it bought collateral back with loan asset (``loan_in`` < 0). ``fee`` stays in the band, in
    the asset the band received (loan asset when selling, collateral when buying).
    """

    collateral_out: int
    loan_in: int
    fee: int
    gross_profit: int  # the arbitrageur's gain at the market price, before external slippage
    slippage_cost: int  # what trading the collateral outside costs (the liquidator model's curve)

    @property
    def net_profit(self) -> int:
        return self.gross_profit - self.slippage_cost


def trade_to(
    band: Band, curve: Invariant, collateral: int, fee: int, market_price: int
) -> tuple[Band, Trade]:
    """Move the band along its curve to ``collateral`` (y), the arbitrageur paying LLAMMA's fee on
    what it puts in (``fee`` WAD); the gross profit is valued at ``market_price``."""
    on_curve = curve.loan_at(collateral)
    if collateral < band.collateral:  # the band sells collateral for loan asset
        due = max(0, on_curve - band.loan)
        paid = _div_up(due * WAD, WAD - fee)
        sold = band.collateral - collateral
        after = Band(band.loan + paid, collateral)
        return after, Trade(sold, paid, paid - due, value(sold, market_price) - paid, 0)
    # the band buys collateral back: the arbitrageur brings it, grossed up by the fee
    wanted = collateral - band.collateral
    brought = _div_up(wanted * WAD, WAD - fee)
    paid_out = max(0, band.loan - on_curve)
    after = Band(band.loan - paid_out, band.collateral + brought)
    cost = _div_up(brought * market_price, SCALE)
    return after, Trade(-brought, -paid_out, brought - wanted, paid_out - cost, 0)


Impact = Callable[[int], int]  # collateral traded outside -> price impact (WAD)


def arbitrage(
    band: Band,
    edges: BandRange,
    a: int,
    oracle: int,
    market_price: int,
    fee: int,
    outside_fee: int,
    impact: Impact,
) -> tuple[Band, Trade | None]:
    """The arbitrageur's trade against one band when the oracle is ``oracle`` and collateral trades
    at ``market_price`` outside, or None when no trade pays.

    The arbitrageur moves the band's AMM price toward the market price, stopping where LLAMMA's fee
    and the outside pool's fee (``outside_fee``, WAD) eat the margin; the trade must pay net of the
    outside price impact (``impact`` of the size, as the liquidator model charges it). When the full
    move does not pay, it tries half of it, and so on: conversion lags the price.
    """
    curve = invariant(band, edges, a, oracle)
    if curve is None:
        return band, None
    amm = curve.price(band)
    if amm < market_price:  # collateral is cheap in the band: buy it there, sell it outside
        target = market_price * (WAD - fee) // WAD * (WAD - outside_fee) // WAD
        goal = min(band.collateral, collateral_at_price(band, curve, max(target, amm)))
        if oracle <= edges.price_down:  # below the band its equilibrium is all loan asset
            goal = 0
    else:  # collateral is dear in the band: buy it outside, sell it there
        target = _div_up(_div_up(market_price * (WAD + outside_fee), WAD) * WAD, WAD - fee)
        goal = max(band.collateral, collateral_at_price(band, curve, min(target, amm)))
        if oracle >= edges.price_up:  # above the band all collateral (no loan-asset dust left)
            goal = max(band.collateral, curve.most_collateral)
    while goal != band.collateral:
        after, trade = trade_to(band, curve, goal, fee, market_price)
        if trade.collateral_out != 0:
            traded = abs(trade.collateral_out)
            slippage = _div_up(value(traded, market_price) * impact(traded), WAD)
            trade = Trade(
                trade.collateral_out, trade.loan_in, trade.fee, trade.gross_profit, slippage
            )
            if trade.net_profit > 0:
                return after, trade
        goal = (goal + band.collateral) // 2 if abs(goal - band.collateral) > 1 else band.collateral
    return band, None


def remaining_conversion_price(edges: BandRange, oracle: int) -> int:
    """The price at which a band's remaining collateral is counted for health: the geometric mean
    of what is left of its range below the oracle, never above the oracle (LLAMMA's ``get_x_down``
    computes it on the invariant; this is the conversion of a slowly falling price, without loss)."""
    top = min(oracle, edges.price_up)
    return min(oracle, isqrt(top * edges.price_down))
