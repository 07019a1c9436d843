"""Compound III's liquidation on a Morpho market's positions: an underwater position (collateral
value x ``liquidate_collateral_factor`` < debt) is absorbed by the protocol, and a buyer takes the
absorbed collateral at the store-front discount in the same transaction while the protocol's
reserves are below ``target_reserves``.

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

from softliq_core.mechanisms.base import ActionResult
from softliq_core.protocols.compound.comet import (
    absorb,
    cost_of_collateral,
    discounted_price,
    is_liquidatable,
    quote_collateral,
)
from softliq_core.protocols.morpho.health import borrowed_assets, collateral_value
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.math import WAD, mul_div_down


@dataclass(frozen=True)
class CometParams:
    liquidate_collateral_factor: int  # WAD
    liquidation_factor: int  # WAD
    store_front_price_factor: int  # WAD
    reserves: int = 0  # loan units at the start
    target_reserves: int | None = None  # loan units; None: collateral always for sale


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

    def position_changed(self, borrower: str, timestamp: int) -> None:
        """Absorb does not depend on the account's history."""

    def accept(self, borrower: str) -> None:
        assert self._proposal is not None and self._proposal[0] == borrower
        self.reserves = self._proposal[1]
        self._proposal = None

    def act_on(
        self,
        borrower: str,
        timestamp: int,
        market: Market,
        position: Position,
        price: int,
        opted_in: bool,
    ) -> ActionResult | None:
        result = self.act(market, position, price, opted_in)
        if result is not None:
            self._proposal = (borrower, self.reserves + result.reserves_change)
        return result

    def act(
        self, market: Market, position: Position, price: int, opted_in: bool
    ) -> ActionResult | None:
        """absorb, then buyCollateral of all of it if the store front is open."""
        p = self.params
        if not self.triggered(market, position, price, opted_in):
            return None
        debt = borrowed_assets(position, market)
        absorbed = absorb(collateral_value(position.collateral, price), debt, p.liquidation_factor)
        reserves = self.reserves + absorbed.reserves_change
        bought = paid = 0
        if p.target_reserves is None or reserves < p.target_reserves:
            discounted = discounted_price(price, p.liquidation_factor, p.store_front_price_factor)
            paid = cost_of_collateral(position.collateral, discounted)
            bought = quote_collateral(paid, discounted)
        repaid_shares = position.borrow_shares
        position.borrow_shares = position.collateral = 0
        return ActionResult(
            "liquidation",
            repaid_shares,
            absorbed.credited_value,
            bought,
            0,
            absorbed.bad_debt,
            mul_div_down(WAD, WAD, WAD - (WAD - p.liquidation_factor)),
            taker_paid=paid,
            reserves_change=absorbed.reserves_change + paid,
        )
