"""A position's highest LTV over the oracle rounds between two of its own changes, without a check
at every round.

A position's LTV record (``max_ltv``, an outcome and the divergence test of DESIGN §4 rule 4) is the
highest exact LTV it shows at any oracle round while it has debt. Between two changes of the position
(its own events, the engine's actions) its shares and collateral are fixed, so at round ``r``

    ltv_r = ceil(debt_r * WAD / value_r),  debt_r = ceil(borrow_shares * (A_r + 1) / (S_r + 10**6)),
                                           value_r = floor(collateral * p_r / 1e36)

depends only on the round's totals and price. The replay logs every round (``RoundLog``); when the
position next changes, its record over the rounds since the last change is found by bounds: floats
give, per round, a lower and an upper bound of the quotient ``debt_r * WAD / value_r`` (the real
quotients widened by 1e-12 on either side before the ceilings and floors, then widened again:
float64's error is ~1e-16 per operation, so the true quotient lies inside). The LTV is that
quotient's ceiling, which keeps its order, so the record is at least the ceiling of the largest
lower bound and a round whose upper bound is below that, or below an exact LTV already found,
cannot hold it. The other rounds are computed exactly from the logged integers, highest upper bound
first, until the next upper bound cannot beat the exact maximum found. When the debt and the
collateral value stay above 10**6 base units a cheaper test gives the candidates: the LTV watch's
bound (replay/ltv_watch.py), rounds whose ``q`` is within 1e-5 of the segment's largest. Typically one or two exact LTVs per segment instead of
one check at every round in which the LTV rose; a round whose collateral value may floor to 0 is
always computed exactly (its LTV may be undefined). Short segments are computed exactly outright.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from typing import Final

import numpy as np

from softliq_core.protocols.morpho.health import ltv
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.math import ORACLE_PRICE_SCALE, WAD
from softliq_core.protocols.morpho.shares import VIRTUAL_ASSETS, VIRTUAL_SHARES

# The fast path: the LTV watch's bound (replay/ltv_watch.py), ltv <= k q (1 + 2.1e-6) + 1 when
# debt and collateral value are at least 10**6 base units, so a round whose q is MARGIN below the
# segment's largest has a lower LTV than that round (once its LTV exceeds SMALLEST_LTV wei).
MARGIN: Final = 1e-5
SMALLEST_BOUNDED: Final = 1.000001e6  # base units (10**6, with room for float error)
SMALLEST_LTV: Final = 10**6
WIDEN: Final = 1e-12  # relative widening of each float quotient: ~10,000x float64's error
SHORT_SEGMENT: Final = 6  # rounds: fewer are cheaper computed exactly than bounded with numpy


class RoundLog:
    """The oracle rounds a replay has seen since its last ``clear``: exact totals and price for
    the exact LTVs, and floats for locating the few rounds worth computing."""

    def __init__(self) -> None:
        self.borrow_assets: list[int] = []
        self.borrow_shares: list[int] = []
        self.prices: list[int] = []
        self.share_price = array("d")  # (A + 1) / (S + 10**6)
        self.price_float = array("d")
        self.ratio = array("d")  # share price / price: the watch's q (inf at a price of 0)

    def __len__(self) -> int:
        return len(self.prices)

    def append(self, market: Market, price: int) -> None:
        assets, shares = market.total_borrow_assets, market.total_borrow_shares
        self.borrow_assets.append(assets)
        self.borrow_shares.append(shares)
        self.prices.append(price)
        share_price = (assets + VIRTUAL_ASSETS) / (shares + VIRTUAL_SHARES)
        self.share_price.append(share_price)
        self.price_float.append(float(price))
        self.ratio.append(share_price / price if price > 0 else math.inf)

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]

    def _exact_ltv(self, position: Position, index: int) -> int | None:
        market = Market(
            total_borrow_assets=self.borrow_assets[index],
            total_borrow_shares=self.borrow_shares[index],
        )
        return ltv(position, market, self.prices[index])

    def highest_ltv(self, position: Position, start: int, end: int) -> int | None:
        """The highest exact LTV of ``position`` over rounds ``start`` .. ``end - 1`` (None: no
        round, or the collateral worth nothing at every round)."""
        if end <= start or position.borrow_shares == 0:
            return None
        if end - start <= SHORT_SEGMENT:
            return _highest(self._exact_ltv(position, i) for i in range(start, end))
        share_price = np.frombuffer(self.share_price)[start:end]
        price = np.frombuffer(self.price_float)[start:end]
        ratio = np.frombuffer(self.ratio)[start:end]
        highest_ratio = float(ratio.max())
        if (
            math.isfinite(highest_ratio)
            and position.borrow_shares * float(share_price.min()) >= SMALLEST_BOUNDED
            and position.collateral * float(price.min()) / ORACLE_PRICE_SCALE >= SMALLEST_BOUNDED
        ):
            k = position.borrow_shares * WAD * ORACLE_PRICE_SCALE / position.collateral
            if k * highest_ratio >= SMALLEST_LTV:  # the watch's margin holds: few candidates
                near = np.flatnonzero(ratio >= highest_ratio * (1 - MARGIN)) + start
                return _highest(self._exact_ltv(position, int(i)) for i in near)
        debt = position.borrow_shares * share_price
        value = position.collateral * price / ORACLE_PRICE_SCALE
        with np.errstate(divide="ignore", invalid="ignore"):
            value_low = np.floor(value * (1 - WIDEN))
            upper = np.where(
                value_low >= 1,
                np.ceil(debt * (1 + WIDEN)) * WAD / value_low * (1 + WIDEN),
                np.inf,  # the value may floor to 0: computed exactly
            )
            value_high = np.floor(value * (1 + WIDEN))
            lower = np.where(  # only where the LTV is surely defined
                value_low >= 1, np.ceil(debt * (1 - WIDEN)) * WAD / value_high * (1 - WIDEN), 0
            )
        floor = float(lower.max())
        candidates = np.flatnonzero(upper >= floor)
        best: int | None = None
        seen: set[tuple[int, int, int]] = set()
        for index in candidates[np.argsort(-upper[candidates], kind="stable")]:
            if best is not None and upper[index] <= best:
                break  # no later round can beat the exact maximum
            i = start + int(index)
            key = (self.borrow_assets[i], self.borrow_shares[i], self.prices[i])
            if key in seen:
                continue
            seen.add(key)
            best = _highest([best, self._exact_ltv(position, i)])
        return best


def _highest(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None
