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
always computed exactly (its LTV may be undefined). Short segments outside that test's premises are
computed exactly outright.

A segment's extremes for that test (largest ``q``, smallest share price and price) and its
candidates are read from per-block summaries of ``BLOCK`` rounds and the rounds at its ends, in
compiled loops (softliq_core/compiled.py): most segments are tens to hundreds of rounds, where
numpy's cost per call was most of a history replay. Very long ones use numpy.
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
BLOCK: Final = 64  # rounds per summary block
LONG_SEGMENT: Final = 4096  # rounds: more are bounded with numpy


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
        # the same as lists (compiled code reads them natively), and per BLOCK rounds their extremes
        self.ratios: list[float] = []
        self.share_prices: list[float] = []
        self.price_floats: list[float] = []
        self.block_highest_ratio: list[float] = []
        self.block_lowest_share_price: list[float] = []
        self.block_lowest_price: list[float] = []

    def __len__(self) -> int:
        return len(self.prices)

    def append(self, market: Market, price: int) -> None:
        assets, shares = market.total_borrow_assets, market.total_borrow_shares
        self.borrow_assets.append(assets)
        self.borrow_shares.append(shares)
        self.prices.append(price)
        share_price = (assets + VIRTUAL_ASSETS) / (shares + VIRTUAL_SHARES)
        price_float = float(price)
        ratio = share_price / price if price > 0 else math.inf
        self.share_price.append(share_price)
        self.price_float.append(price_float)
        self.ratio.append(ratio)
        if len(self.ratios) % BLOCK == 0:
            self.block_highest_ratio.append(ratio)
            self.block_lowest_share_price.append(share_price)
            self.block_lowest_price.append(price_float)
        else:
            last = len(self.block_highest_ratio) - 1
            self.block_highest_ratio[last] = max(self.block_highest_ratio[last], ratio)
            self.block_lowest_share_price[last] = min(
                self.block_lowest_share_price[last], share_price
            )
            self.block_lowest_price[last] = min(self.block_lowest_price[last], price_float)
        self.ratios.append(ratio)
        self.share_prices.append(share_price)
        self.price_floats.append(price_float)

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
        return self.fold(position, start, end)[0]

    def fold(self, position: Position, start: int, end: int) -> tuple[int | None, bool]:
        """``highest_ltv``, and whether at some of those rounds the position owed something on
        collateral worth nothing (its value floors to 0: no LTV, unhealthy whatever its debt)."""
        if end <= start or position.borrow_shares == 0:
            return None, False
        highest_ratio, lowest_share_price, lowest_price = self._extremes(start, end)
        if (
            math.isfinite(highest_ratio)
            and position.borrow_shares * lowest_share_price >= SMALLEST_BOUNDED
            and position.collateral * lowest_price / ORACLE_PRICE_SCALE >= SMALLEST_BOUNDED
        ):
            k = position.borrow_shares * WAD * ORACLE_PRICE_SCALE / position.collateral
            if k * highest_ratio >= SMALLEST_LTV:  # the watch's margin holds: few candidates
                near = self._at_least(highest_ratio * (1 - MARGIN), start, end)
                return _highest(self._exact_ltv(position, i) for i in near), False
        # worth nothing at a round: collateral x price < 1e36 (surely not when the smallest price,
        # a float within 1e-16 of the exact one, keeps the product above it with room)
        worthless = position.collateral * lowest_price < ORACLE_PRICE_SCALE * (1 + 1e-9) and any(
            position.collateral * self.prices[i] < ORACLE_PRICE_SCALE for i in range(start, end)
        )
        if end - start <= SHORT_SEGMENT:
            return _highest(self._exact_ltv(position, i) for i in range(start, end)), worthless
        return self._highest_ltv_bounded(position, start, end), worthless

    def _extremes(self, start: int, end: int) -> tuple[float, float, float]:
        """The largest ``q`` and the smallest share price and price of rounds ``start .. end - 1``
        (the whole blocks inside from their summaries)."""
        if end - start > LONG_SEGMENT:
            return (
                float(np.frombuffer(self.ratio)[start:end].max()),
                float(np.frombuffer(self.share_price)[start:end].min()),
                float(np.frombuffer(self.price_float)[start:end].min()),
            )
        highest_ratio, lowest_share_price, lowest_price = -math.inf, math.inf, math.inf
        first_block, last_block = -(-start // BLOCK), end // BLOCK
        if first_block >= last_block:
            ends = [(start, end)]
        else:
            ends = [(start, first_block * BLOCK), (last_block * BLOCK, end)]
            for b in range(first_block, last_block):
                highest_ratio = max(highest_ratio, self.block_highest_ratio[b])
                lowest_share_price = min(lowest_share_price, self.block_lowest_share_price[b])
                lowest_price = min(lowest_price, self.block_lowest_price[b])
        for low, high in ends:
            for i in range(low, high):
                highest_ratio = max(highest_ratio, self.ratios[i])
                lowest_share_price = min(lowest_share_price, self.share_prices[i])
                lowest_price = min(lowest_price, self.price_floats[i])
        return highest_ratio, lowest_share_price, lowest_price

    def _at_least(self, ratio: float, start: int, end: int) -> list[int]:
        """Rounds ``start .. end - 1`` whose ``q`` is at least ``ratio`` (whole blocks whose
        largest is below it skipped)."""
        if end - start > LONG_SEGMENT:
            near = np.flatnonzero(np.frombuffer(self.ratio)[start:end] >= ratio) + start
            return [int(i) for i in near]
        found: list[int] = []
        i = start
        while i < end:
            b = i // BLOCK
            if i % BLOCK == 0 and i + BLOCK <= end and self.block_highest_ratio[b] < ratio:
                i += BLOCK
                continue
            if self.ratios[i] >= ratio:
                found.append(i)
            i += 1
        return found

    def _highest_ltv_bounded(self, position: Position, start: int, end: int) -> int | None:
        """``highest_ltv`` from float bounds of every round's quotient (any size)."""
        share_price = np.frombuffer(self.share_price)[start:end]
        price = np.frombuffer(self.price_float)[start:end]
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
