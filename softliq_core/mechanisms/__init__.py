"""Liquidation mechanisms: small pure rules the replay engine applies to positions."""

from softliq_core.mechanisms.aave_liquidation import AaveActionResult, AaveLiquidation
from softliq_core.mechanisms.aave_pre_liquidation import AavePreLiquidation
from softliq_core.mechanisms.base import ActionResult, Mechanism
from softliq_core.mechanisms.morpho_liquidation import MorphoLiquidation
from softliq_core.mechanisms.morpho_pre_liquidation import MorphoPreLiquidation

__all__ = [
    "AaveActionResult",
    "AaveLiquidation",
    "AavePreLiquidation",
    "ActionResult",
    "Mechanism",
    "MorphoLiquidation",
    "MorphoPreLiquidation",
]
