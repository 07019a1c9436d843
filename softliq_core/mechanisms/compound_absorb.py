"""Compound III's liquidation on a Morpho market's positions: an underwater position (collateral
value x ``liquidate_collateral_factor`` < debt) is absorbed by the protocol, and a buyer takes the
absorbed collateral at the store-front discount in the same transaction while the protocol's
reserves are below ``target_reserves``. With ``target_health_factor`` the partial variant absorbs only
the collateral that brings the position back to that health (``protocols/compound/comet.py``).

The reserves start at ``reserves`` and move only with this mechanism's absorbs and sales (interest
income is not modelled). With reserves at or above target the collateral is not for sale: the absorb
alone pays the absorber nothing (Comet gives it points, not base), so under the liquidator model
nobody absorbs; the default target (none) keeps the store front open.

In the action rows ``repaid_assets`` is the value credited to the account (the debt cleared plus the
surplus credited to its base balance), so ``borrower_penalty`` is what the borrower lost
(value x (1 - liquidationFactor)); ``taker_paid`` is what the buyer paid; ``reserves_change`` is the
absorb's draw on reserves plus the sale's proceeds.
"""

from __future__ import annotations

from dataclasses import dataclass

from softliq_core.mechanisms.base import ActionResult, Outstanding, PositionAt
from softliq_core.protocols.compound.comet import (
    Absorb,
    absorb,
    cost_of_collateral,
    discounted_price,
    is_liquidatable,
    partial_absorb_value,
    quote_collateral,
)
from softliq_core.protocols.morpho.health import borrowed_assets, collateral_value
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.math import (
    ORACLE_PRICE_SCALE,
    WAD,
    mul_div_down,
    mul_div_up,
    w_mul_down,
)
from softliq_core.protocols.morpho.shares import to_shares_down


@dataclass(frozen=True)
class CometParams:
    liquidate_collateral_factor: int  # WAD
    liquidation_factor: int  # WAD
    store_front_price_factor: int  # WAD
    reserves: int = 0  # loan units at the start
    target_reserves: int | None = None  # loan units; None: collateral always for sale
    # The partial variant: absorb only enough to bring value x borrow CF / debt to this (WAD).
    target_health_factor: int | None = None
    borrow_collateral_factor: int | None = None  # WAD; None: the liquidate collateral factor


class CompoundAbsorb:
    name = "compound_absorb"

    def __init__(self, params: CometParams):
        self.params = params
        self.reserves = params.reserves
        self._proposal: tuple[str, int] | None = None

    @property
    def lowest_trigger_ltv(self) -> int:
        return self.params.liquidate_collateral_factor

    def triggered(self, market: Market, position: Position, price: int, opted_in: bool) -> bool:
        return position.borrow_shares > 0 and is_liquidatable(
            collateral_value(position.collateral, price),
            borrowed_assets(position, market),
            self.params.liquidate_collateral_factor,
        )

    def in_soft_zone(self, market: Market, position: Position, price: int) -> bool:
        return False

    def holds(self, borrower: str) -> bool:
        return False

    def outstanding(self) -> dict[str, Outstanding]:
        return {}

    def position_changed(self, borrower: str, timestamp: int) -> None:
        """Absorb does not depend on the account's history."""

    def accept(self, borrower: str) -> None:
        assert self._proposal is not None and self._proposal[0] == borrower
        self.reserves = self._proposal[1]
        self._proposal = None

    def act_on(self, at: PositionAt) -> ActionResult | None:
        result = self.act(at.market, at.position, at.price, at.opted_in)
        if result is not None:
            self._proposal = (at.borrower, self.reserves + result.reserves_change)
        return result

    def act(
        self, market: Market, position: Position, price: int, opted_in: bool
    ) -> ActionResult | None:
        """absorb (all, or the partial variant's part), then buyCollateral of what was absorbed if
        the store front is open."""
        p = self.params
        if not self.triggered(market, position, price, opted_in):
            return None
        debt = borrowed_assets(position, market)
        value = collateral_value(position.collateral, price)
        partial = None
        if p.target_health_factor is not None:
            partial = partial_absorb_value(
                value,
                debt,
                p.borrow_collateral_factor or p.liquidate_collateral_factor,
                p.liquidation_factor,
                p.target_health_factor,
            )
        if partial is None:
            seized, repaid_shares = position.collateral, position.borrow_shares
            absorbed = absorb(value, debt, p.liquidation_factor)
        else:  # the debt left stays the account's: no surplus, no bad debt
            seized = min(position.collateral, mul_div_up(partial, ORACLE_PRICE_SCALE, price))
            credited = w_mul_down(collateral_value(seized, price), p.liquidation_factor)
            absorbed = Absorb(credited, 0, 0, -credited)
            repaid_shares = to_shares_down(
                credited, market.total_borrow_assets, market.total_borrow_shares
            )
        reserves = self.reserves + absorbed.reserves_change
        bought = paid = 0
        if p.target_reserves is None or reserves < p.target_reserves:
            discounted = discounted_price(price, p.liquidation_factor, p.store_front_price_factor)
            paid = cost_of_collateral(seized, discounted)
            bought = quote_collateral(paid, discounted)
        position.borrow_shares -= repaid_shares
        position.collateral -= seized
        return ActionResult(
            "liquidation",
            repaid_shares,
            absorbed.credited_value,
            bought,
            0,
            absorbed.bad_debt,
            mul_div_down(WAD, WAD, p.liquidation_factor),
            taker_paid=paid,
            reserves_change=absorbed.reserves_change + paid,
        )
