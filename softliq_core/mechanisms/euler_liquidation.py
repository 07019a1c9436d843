"""Euler v2's liquidation on a Morpho market's positions: the discount grows as health falls
(discount = 1 - health score, capped at ``max_discount``), a position cannot be liquidated within
``cool_off`` seconds of its owner's last action (EVK ``liquidationCoolOffTime``), and debt left
without collateral is socialised.

The discount depends on the health score at each call, and a liquidation at a discount lowers the
health of a position past LTV = sqrt(liquidation LTV): a liquidator that splits one liquidation into
``slices`` smaller calls (one EVC batch, so one transaction's gas) is paid a growing discount and
seizes more collateral for the same repay (the small-repeated-liquidation caveat; see
``split_gain``). ``slices = 1`` is the one largest call.
"""

from __future__ import annotations

from dataclasses import dataclass

from softliq_core.mechanisms.base import ActionResult, Outstanding, PositionAt
from softliq_core.protocols.euler.liquidation import (
    MaxLiquidation,
    max_liquidation,
    partial_yield,
)
from softliq_core.protocols.morpho.health import borrowed_assets, collateral_value
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.math import WAD, mul_div_down, w_mul_down
from softliq_core.protocols.morpho.shares import to_shares_down


@dataclass(frozen=True)
class EulerParams:
    max_discount: int  # WAD: maxLiquidationDiscount
    cool_off: int = 1  # seconds: liquidationCoolOffTime
    slices: int = 1  # calls a liquidator splits each liquidation into


class EulerLiquidation:
    name = "euler_liquidation"

    def __init__(self, lltv: int, params: EulerParams):
        self.lltv = lltv
        self.params = params
        self.last_change: dict[str, int] = {}

    @property
    def lowest_trigger_ltv(self) -> int:
        return self.lltv

    def triggered(self, market: Market, position: Position, price: int, opted_in: bool) -> bool:
        return position.borrow_shares > 0 and (
            w_mul_down(collateral_value(position.collateral, price), self.lltv)
            < borrowed_assets(position, market)
        )

    def in_soft_zone(self, market: Market, position: Position, price: int) -> bool:
        return False

    def holds(self, borrower: str) -> bool:
        return False

    def outstanding(self) -> dict[str, Outstanding]:
        return {}

    def accept(self, borrower: str) -> None:
        """A liquidation does not restart the cool-off (the EVC forgives the violator's check)."""

    def position_changed(self, borrower: str, timestamp: int) -> None:
        self.last_change[borrower] = timestamp

    def act_on(self, at: PositionAt) -> ActionResult | None:
        changed = self.last_change.get(at.borrower)
        if changed is not None and at.timestamp - changed < self.params.cool_off:
            return None
        return self.act(at.market, at.position, at.price, at.opted_in)

    def act(
        self, market: Market, position: Position, price: int, opted_in: bool
    ) -> ActionResult | None:
        """``slices`` calls, each repaying an equal part of what is left of the first maximum."""
        repaid_shares = repaid = seized = 0
        first = self._maximum(market, position, price)
        if first is None:
            return None
        left = first.repay
        for remaining in range(self.params.slices, 0, -1):
            maximum = self._maximum(market, position, price)
            if maximum is None:
                break
            repay = min(maximum.repay, left if remaining == 1 else left // remaining)
            got = partial_yield(repay, maximum) if repay < maximum.repay else maximum.yield_balance
            shares = self._shares_for(repay, market, position)
            position.borrow_shares -= shares
            position.collateral -= got
            repaid_shares, repaid, seized, left = (
                repaid_shares + shares,
                repaid + repay,
                seized + got,
                left - repay,
            )
        bad_debt_shares = bad_debt = 0
        if position.collateral == 0 and position.borrow_shares > 0:  # socialised
            bad_debt_shares = position.borrow_shares
            bad_debt = borrowed_assets(position, market)
            position.borrow_shares = 0
        if repaid == seized == bad_debt == 0:
            return None
        value = collateral_value(seized, price)
        effective = mul_div_down(value, WAD, repaid) if repaid else 0
        return ActionResult(
            "liquidation", repaid_shares, repaid, seized, bad_debt_shares, bad_debt, effective
        )

    def _maximum(self, market: Market, position: Position, price: int) -> MaxLiquidation | None:
        if position.borrow_shares == 0:
            return None
        return max_liquidation(
            position.collateral,
            collateral_value(position.collateral, price),
            borrowed_assets(position, market),
            self.lltv,
            self.params.max_discount,
        )

    @staticmethod
    def _shares_for(repay: int, market: Market, position: Position) -> int:
        """Morpho's repay by assets burns ``toSharesDown``; all of them when the debt is repaid."""
        if repay >= borrowed_assets(position, market):
            return position.borrow_shares
        return min(
            position.borrow_shares,
            to_shares_down(repay, market.total_borrow_assets, market.total_borrow_shares),
        )


def split_gain(
    lltv: int, max_discount: int, slices: int, market: Market, position: Position, price: int
) -> int:
    """Collateral value a liquidator gains by ``slices`` calls over one, for the same repay
    (loan units at ``price``; > 0 when splitting pays)."""
    one = EulerLiquidation(lltv, EulerParams(max_discount)).act(
        market.copy(), position.copy(), price, True
    )
    split = EulerLiquidation(lltv, EulerParams(max_discount, slices=slices)).act(
        market.copy(), position.copy(), price, True
    )
    if one is None or split is None:
        return 0
    per_unit_split = mul_div_down(
        collateral_value(split.seized_assets, price), WAD, split.repaid_assets
    )
    return mul_div_down(one.repaid_assets, per_unit_split, WAD) - collateral_value(
        one.seized_assets, price
    )
