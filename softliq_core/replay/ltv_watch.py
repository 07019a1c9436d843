"""Which positions an oracle price must look at: an index that skips the provably quiet ones.

At every price the engine records each open position's LTV (its running maximum is an outcome) and
asks the mechanism whether it may act. Most positions sit far below both their LTV record and the
trigger, so checking all of them at every round costs most of a replay. Between two checks of a
position its shares and collateral are fixed, and its LTV is, up to rounding,

    ltv = k · q,   k = borrow_shares · WAD · ORACLE_PRICE_SCALE / collateral,
                   q = (total_borrow_assets + 1) / (total_borrow_shares + 10**6) / price

so it can reach a target LTV only once the market-wide ``q`` reaches ``target / k``. The index keeps
that threshold per position in a heap and returns, for the current ``q``, only the positions whose
threshold it reached, plus those it always watches. The engine then runs its exact integer checks on
them: a skipped check is one whose exact LTV is provably below the position's record and the trigger,
so the outcome is identical to checking everything (the equality is tested).

The bound. With B and Q the real debt and collateral value (loan-asset base units) now, the
contract's roundings (debt up, collateral value down, LTV up) give

    ltv ≤ (B + 1) / (Q − 1) · WAD + 1 = k · q · (1 + 1/B) / (1 − 1/Q) + 1,   and  k · q = WAD · B / Q.

A position not returned has k · q < T (its target), so Q > B · WAD / T: its collateral value cannot
be small unless its debt is, whatever the price did. Let B₀ be the debt at the last check and
t = max(1, T / WAD); as long as the borrow share price has not halved since (bad debt of half the
market), 1/B ≤ 2/B₀ and 1/Q ≤ 2t/B₀, so with B₀ ≥ 64 t the factor is at most 1 + (4 + 4t)/B₀. The
index adds that to a margin of 1e-5 for float error: 1 + 8e-6 for a debt of a million base units, a
few per cent for one of a hundred, whose LTV is then far below any trigger anyway. Those positions
must not be looked at every round: on the issue-size chain a dozen positions with cents of debt left
after their owners' repayments cost about a fifth of a scenario's replay of their market that way.
Positions outside the premises are always watched: a debt under 64 t base units, LTV at or above 1
(or no collateral value), and whatever the engine pins (open soft-zone spells, traced borrowers).
"""

from __future__ import annotations

import heapq
import math
from typing import Final

from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.math import ORACLE_PRICE_SCALE, WAD
from softliq_core.protocols.morpho.shares import VIRTUAL_ASSETS, VIRTUAL_SHARES

MARGIN: Final = 1e-5
SMALLEST_BOUNDED: Final = 64  # base units of debt, per unit of t, for the bound to hold


def market_ratio(market: Market, price: int) -> float:
    """The market-wide ``q`` of the module docstring: borrow share price over the oracle price."""
    if price <= 0:  # a worthless collateral: every position must be looked at
        return math.inf
    return (
        (market.total_borrow_assets + VIRTUAL_ASSETS)
        / (market.total_borrow_shares + VIRTUAL_SHARES)
        / price
    )


class LtvWatch:
    """Thresholds of ``q`` per position; see the module docstring for why skipping is exact."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str]] = []
        self._version: dict[str, int] = {}
        self._always: set[str] = set()
        self._counter = 0

    def pin(self, borrower: str) -> None:
        """Look at the position at every price until the next ``watch`` (no price or check yet)."""
        self._counter += 1
        self._version[borrower] = self._counter
        self._always.add(borrower)

    def forget(self, borrower: str) -> None:
        """The position has no debt: no price can move it until its own next event."""
        self._version.pop(borrower, None)
        self._always.discard(borrower)

    def watch(
        self,
        borrower: str,
        position: Position,
        market: Market,
        price: int,
        target_ltv: int,
    ) -> None:
        """After an exact check: look at the position again once its LTV may reach ``target_ltv``
        (the lower of its record and the trigger), or at every price when outside the bound's
        premises."""
        self._counter += 1
        self._version[borrower] = self._counter
        debt = (
            position.borrow_shares
            * (market.total_borrow_assets + VIRTUAL_ASSETS)
            // (market.total_borrow_shares + VIRTUAL_SHARES)
        )
        quoted = position.collateral * price // ORACLE_PRICE_SCALE
        t = max(1.0, target_ltv / WAD)
        if debt < SMALLEST_BOUNDED * t or debt >= quoted:
            self._always.add(borrower)
            return
        self._always.discard(borrower)
        k = position.borrow_shares * WAD * ORACLE_PRICE_SCALE / position.collateral
        threshold = (target_ltv - 1) / (k * (1 + MARGIN + (4 + 4 * t) / debt))
        heapq.heappush(self._heap, (threshold, self._counter, borrower))
        if len(self._heap) > 2 * len(self._version) + 64:
            self._compact()

    def _compact(self) -> None:
        """Drop the entries a later ``watch`` or ``forget`` replaced (they would be skipped when
        popped): left alone, a position re-watched at every check leaves one behind each time,
        which a long replay and its snapshots carry (twenty per live entry on a two-year market)."""
        self._heap = [e for e in self._heap if self._version.get(e[2]) == e[1]]
        heapq.heapify(self._heap)

    def due(self, ratio: float) -> list[str]:
        """Positions to check at a price whose market-wide ``q`` is ``ratio``. Each leaves the
        heap until the engine's check calls ``watch`` again."""
        found = set(self._always)
        heap = self._heap
        while heap and heap[0][0] <= ratio:
            _, version, borrower = heapq.heappop(heap)
            if self._version.get(borrower) == version:
                found.add(borrower)
                del self._version[borrower]
        return sorted(found)
