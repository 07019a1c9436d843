"""LiquidationLogic's amounts, per version (spec §5): the close factor, the collateral a repayment
buys at the liquidation bonus, the protocol fee on the bonus, and v3.3's dust rule.

Pure functions of prices, balances and parameters; ``AavePool.liquidation_call`` applies them to
state and the liquidation mechanisms ask them what a liquidator may do.
"""

from __future__ import annotations

from dataclasses import dataclass

from softliq_core.protocols.aave.math import (
    percent_div,
    percent_div_ceil,
    percent_div_floor,
    percent_mul,
    percent_mul_ceil,
    percent_mul_floor,
)
from softliq_core.protocols.aave.version import V3_5, V3_7, PoolVersion

DEFAULT_LIQUIDATION_CLOSE_FACTOR = 5_000
MAX_LIQUIDATION_CLOSE_FACTOR = 10_000
CLOSE_FACTOR_HF_THRESHOLD = 950_000_000_000_000_000
MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD = 2_000 * 10**8  # $2,000 (v3.3+)
MIN_LEFTOVER_BASE = MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD // 2  # $1,000 (v3.3+)


@dataclass(frozen=True, slots=True)
class CloseFactorInputs:
    """What the close factor depends on (base amounts in the oracle's 8-decimal USD)."""

    health_factor: int
    user_reserve_debt: int  # debt token units
    debt_base: int  # this reserve's debt in base
    collateral_base: int  # this collateral reserve's balance in base
    total_debt_base: int  # the whole position's debt in base
    debt_price: int
    debt_unit: int


def max_liquidatable_debt(version: PoolVersion, inputs: CloseFactorInputs) -> int:
    """The most debt (token units) one call may repay before the collateral cap."""
    if not version.position_close_factor:
        close_factor = (
            DEFAULT_LIQUIDATION_CLOSE_FACTOR
            if inputs.health_factor > CLOSE_FACTOR_HF_THRESHOLD
            else MAX_LIQUIDATION_CLOSE_FACTOR
        )
        return percent_mul(inputs.user_reserve_debt, close_factor)
    if (
        inputs.collateral_base >= MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD
        and inputs.debt_base >= MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD
        and inputs.health_factor > CLOSE_FACTOR_HF_THRESHOLD
    ):
        half = percent_mul(inputs.total_debt_base, DEFAULT_LIQUIDATION_CLOSE_FACTOR)
        if inputs.debt_base > half:
            return half * inputs.debt_unit // inputs.debt_price
    return inputs.user_reserve_debt


@dataclass(frozen=True, slots=True)
class CollateralAmounts:
    debt_repaid: int  # debt token units the liquidator pays
    collateral_to_liquidator: int  # collateral token units, protocol fee excluded
    protocol_fee: int  # collateral token units to the treasury

    @property
    def collateral_seized(self) -> int:
        return self.collateral_to_liquidator + self.protocol_fee


def collateral_to_liquidate(
    version: PoolVersion,
    *,
    debt_to_cover: int,
    user_collateral_balance: int,
    collateral_price: int,
    collateral_unit: int,
    debt_price: int,
    debt_unit: int,
    liquidation_bonus: int,
    protocol_fee_bps: int,
) -> CollateralAmounts:
    """_calculateAvailableCollateralToLiquidate: capped at the user's collateral balance."""
    base_collateral = (debt_price * debt_to_cover * collateral_unit) // (
        collateral_price * debt_unit
    )
    if version >= V3_7:
        max_collateral = percent_mul_floor(base_collateral, liquidation_bonus)
    else:
        max_collateral = percent_mul(base_collateral, liquidation_bonus)
    if max_collateral > user_collateral_balance:
        collateral = user_collateral_balance
        quoted = (collateral_price * collateral * debt_unit) // (debt_price * collateral_unit)
        if version >= V3_5:
            debt_needed = percent_div_ceil(quoted, liquidation_bonus)
        else:
            debt_needed = percent_div(quoted, liquidation_bonus)
    else:
        collateral = max_collateral
        debt_needed = debt_to_cover
    if protocol_fee_bps == 0:
        return CollateralAmounts(debt_needed, collateral, 0)
    if version >= V3_7:
        bonus = collateral - percent_div_floor(collateral, liquidation_bonus)
        fee = percent_mul_ceil(bonus, protocol_fee_bps)
    else:
        bonus = collateral - percent_div(collateral, liquidation_bonus)
        fee = percent_mul(bonus, protocol_fee_bps)
    return CollateralAmounts(debt_needed, collateral - fee, fee)


def leaves_dust(
    version: PoolVersion,
    *,
    user_reserve_debt: int,
    user_collateral_balance: int,
    amounts: CollateralAmounts,
    debt_price: int,
    debt_unit: int,
    collateral_price: int,
    collateral_unit: int,
) -> bool:
    """v3.3+ MUST_NOT_LEAVE_DUST: a partial liquidation must leave ≥ $1,000 of debt and of collateral."""
    if not version.position_close_factor:
        return False
    if (
        amounts.debt_repaid >= user_reserve_debt
        or amounts.collateral_seized >= user_collateral_balance
    ):
        return False
    debt_left = user_reserve_debt - amounts.debt_repaid
    if version >= V3_5:
        debt_left_base = -(-(debt_left * debt_price) // debt_unit)
    else:
        debt_left_base = debt_left * debt_price // debt_unit
    collateral_left_base = (
        (user_collateral_balance - amounts.collateral_seized) * collateral_price // collateral_unit
    )
    return debt_left_base < MIN_LEFTOVER_BASE or collateral_left_base < MIN_LEFTOVER_BASE
