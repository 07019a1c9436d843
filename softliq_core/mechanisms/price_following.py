"""The optional hook of a mechanism that keeps per-position state and reacts to every oracle price
(LLAMMA's bands convert collateral as the price moves, whether or not a liquidator calls).

The engine keeps each position's state (``None``: the mechanism holds nothing for it), calls
``follow_price`` at every oracle price for the positions it simulates, and asks ``bound(state)`` for
the plain ``Mechanism`` (trigger, soft zone, hard action) of a position in that state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from softliq_core.mechanisms.base import Mechanism
from softliq_core.protocols.morpho.market import Market, Position


@dataclass(frozen=True, slots=True)
class PriceStep:
    """What one oracle price did to a position the mechanism holds; amounts in loan base units."""

    collateral_sold: int = 0  # collateral the position's bands sold (negative: bought back)
    loss_vs_holding_change: int = 0  # change of the borrower's loss versus holding the collateral
    fees: int = 0  # fees the trades paid into the position (valued at the oracle price)
    other_side_gross: int = 0  # what the other side gained at the oracle price: the borrower's loss
    other_side_profit: int = 0  # the same net of outside slippage


@runtime_checkable
class PriceFollowing(Protocol):
    def follow_price(
        self,
        state: Any,
        market: Market,
        position: Position,
        price: int,
        impact: Callable[[int], int],
    ) -> tuple[Any, PriceStep]:
        """The position's new state (None: released) after the price; may change
        ``position.collateral``. ``impact``: price impact (WAD) of selling that much collateral."""
        ...

    def bound(self, state: Any) -> Mechanism: ...

    def loan_assets(self, state: Any) -> int:
        """Loan asset the mechanism holds for the position (counted against its debt)."""
        ...
