"""Liquidation mechanisms: small pure rules the replay engine applies to positions."""

from softliq_core.mechanisms.aave_liquidation import AaveActionResult, AaveLiquidation
from softliq_core.mechanisms.aave_pre_liquidation import AavePreLiquidation
from softliq_core.mechanisms.base import (
    ActionResult,
    Mechanism,
    Outstanding,
    PositionAt,
    StatefulMechanism,
)
from softliq_core.mechanisms.compound_absorb import CompoundAbsorb
from softliq_core.mechanisms.euler_liquidation import EulerLiquidation
from softliq_core.mechanisms.maker_clipper import MakerClipper
from softliq_core.mechanisms.morpho_liquidation import MorphoLiquidation
from softliq_core.mechanisms.morpho_pre_liquidation import MorphoPreLiquidation

__all__ = [
    "AaveActionResult",
    "AaveLiquidation",
    "AavePreLiquidation",
    "ActionResult",
    "CompoundAbsorb",
    "EulerLiquidation",
    "MakerClipper",
    "Mechanism",
    "MorphoLiquidation",
    "MorphoPreLiquidation",
    "Outstanding",
    "PositionAt",
    "StatefulMechanism",
]
