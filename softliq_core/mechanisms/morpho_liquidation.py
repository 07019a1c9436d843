"""Morpho Blue's standard liquidation: anyone may repay an unhealthy position's debt, up to all of it,
for its collateral at the LIF of the market's LLTV; bad debt is realised when collateral runs out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from softliq_core.compiled import by_fields
from softliq_core.mechanisms.base import ActionResult
from softliq_core.protocols.morpho.errors import MorphoRevert
from softliq_core.protocols.morpho.health import is_healthy
from softliq_core.protocols.morpho.liquidation import (
    liquidate,
    liquidation_incentive_factor,
    max_liquidation_inputs,
)
from softliq_core.protocols.morpho.market import Market, Position


@dataclass(frozen=True)
class MorphoLiquidation:
    lltv: int
    name: str = "morpho_liquidation"

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)

    def triggered(self, market: Market, position: Position, price: int, opted_in: bool) -> bool:
        return position.borrow_shares > 0 and not is_healthy(position, market, price, self.lltv)

    @property
    def lowest_trigger_ltv(self) -> int:
        return self.lltv

    def in_soft_zone(self, market: Market, position: Position, price: int) -> bool:
        return False  # no soft zone: only the hard liquidation

    def act(
        self, market: Market, position: Position, price: int, opted_in: bool
    ) -> ActionResult | None:
        """The largest liquidation the contract accepts (a liquidator takes all it can)."""
        inputs = max_liquidation_inputs(market, position, self.lltv, price)
        if inputs is None:
            return None
        try:
            result = liquidate(market, position, self.lltv, price, *inputs)
        except MorphoRevert:
            return None
        return ActionResult(
            "liquidation",
            result.repaid_shares,
            result.repaid_assets,
            result.seized_assets,
            result.bad_debt_shares,
            result.bad_debt_assets,
            liquidation_incentive_factor(self.lltv),
        )
