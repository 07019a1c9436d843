"""Morpho pre-liquidation layered on the standard liquidation.

Between preLLTV and LLTV, an opted-in position can be partly repaid (at most preLCF of its shares)
for collateral at preLIF, both linear in the LTV; above LLTV the standard liquidation applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from softliq_core.compiled import by_fields
from softliq_core.mechanisms.base import ActionResult
from softliq_core.mechanisms.morpho_liquidation import MorphoLiquidation
from softliq_core.protocols.morpho.errors import MorphoRevert
from softliq_core.protocols.morpho.health import borrowed_assets, collateral_value
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.math import w_mul_down
from softliq_core.protocols.morpho.pre_liquidation import (
    PreLiquidationParams,
    parameter_violations,
    pre_liquidate,
    window_terms,
)


@dataclass(frozen=True)
class MorphoPreLiquidation:
    lltv: int
    params: PreLiquidationParams
    name: str = "morpho_pre_liquidation"

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)

    def __post_init__(self) -> None:
        violations = parameter_violations(self.params, self.lltv)
        if violations:
            raise ValueError("; ".join(str(v) for v in violations))

    @cached_property
    def _liquidation(self) -> MorphoLiquidation:
        return MorphoLiquidation(self.lltv)

    def _in_window(self, market: Market, position: Position, price: int) -> bool:
        borrowed = borrowed_assets(position, market)
        quoted = collateral_value(position.collateral, price)
        return w_mul_down(quoted, self.params.pre_lltv) < borrowed <= w_mul_down(quoted, self.lltv)

    @property
    def lowest_trigger_ltv(self) -> int:
        return self.params.pre_lltv

    def in_soft_zone(self, market: Market, position: Position, price: int) -> bool:
        return position.borrow_shares > 0 and self._in_window(market, position, price)

    def triggered(self, market: Market, position: Position, price: int, opted_in: bool) -> bool:
        """Unhealthy (the standard liquidation) or, opted in, above preLLTV: one derivation of the
        debt and collateral value for both triggers."""
        if position.borrow_shares == 0:
            return False
        borrowed = borrowed_assets(position, market)
        quoted = collateral_value(position.collateral, price)
        if borrowed > w_mul_down(quoted, self.lltv):
            return True
        return opted_in and borrowed > w_mul_down(quoted, self.params.pre_lltv)

    def act(
        self, market: Market, position: Position, price: int, opted_in: bool
    ) -> ActionResult | None:
        # The debt and collateral value are derived once and shared by the triggers and the terms:
        # this call runs at every oracle round a position spends in the window.
        if position.borrow_shares == 0:
            return None
        borrowed = borrowed_assets(position, market)
        quoted = collateral_value(position.collateral, price)
        if borrowed > w_mul_down(quoted, self.lltv):  # unhealthy: the standard liquidation
            return self._liquidation.act(market, position, price, opted_in)
        if not opted_in or borrowed <= w_mul_down(quoted, self.params.pre_lltv):
            return None
        # The largest single call: repay every repayable share (blue-sdk seizableCollateral).
        # The pre-liquidation oracle is the market oracle here, so both prices are the same.
        terms = window_terms(borrowed, quoted, position.borrow_shares, self.lltv, self.params)
        if terms.repayable_shares == 0:
            return None
        try:
            result = pre_liquidate(
                market,
                position,
                self.lltv,
                self.params,
                price,
                price,
                authorized=True,
                repaid_shares=terms.repayable_shares,
                terms=terms,
            )
        except MorphoRevert:
            return None
        return ActionResult(
            "pre_liquidation",
            result.repaid_shares,
            result.repaid_assets,
            result.seized_assets,
            0,
            0,
            result.pre_lif,
        )
