"""Euler v2's liquidation (EVK ``Liquidation.sol``, ``calculateMaxLiquidation``), exact in integers.

Values are in the unit of account (here the loan asset's base units, the liability's own unit):

    health score   = collateral value x liquidation LTV / liability value
    discountFactor = health score, floored at 1 - maxLiquidationDiscount   (discount = 1 - HS)
    maxRepayValue  = liability value; maxYieldValue = maxRepayValue / discountFactor
    if collateral value < maxYieldValue:  maxRepay = collateral value x discountFactor,
                                          maxYield = all the collateral
    a smaller repay yields collateral pro rata: yield = repay x maxYield / maxRepay

Debt left on an account without collateral is socialised (written off) at the end of the call.
"""

from __future__ import annotations

from dataclasses import dataclass

from softliq_core.protocols.morpho.math import WAD, mul_div_down, w_mul_down


@dataclass(frozen=True, slots=True)
class MaxLiquidation:
    discount_factor: int  # WAD: collateral per unit of repaid value is 1 / discount_factor
    repay: int  # liability units
    yield_balance: int  # collateral units


def discount_factor(collateral_adjusted_value: int, liability_value: int, max_discount: int) -> int:
    """The health score (WAD), floored at ``1 - max_discount``."""
    factor = collateral_adjusted_value * WAD // liability_value
    return max(factor, WAD - max_discount)


def max_liquidation(
    collateral_balance: int,
    collateral_value: int,
    liability_value: int,
    liquidation_ltv: int,
    max_discount: int,
) -> MaxLiquidation | None:
    """What a liquidator may repay and receive at most; None when the account is healthy."""
    adjusted = w_mul_down(collateral_value, liquidation_ltv)
    if liability_value == 0 or adjusted >= liability_value:
        return None
    factor = discount_factor(adjusted, liability_value, max_discount)
    if collateral_value == 0:
        return MaxLiquidation(factor, 0, collateral_balance)
    max_repay = liability_value
    max_yield = max_repay * WAD // factor
    if collateral_value < max_yield:
        max_repay = collateral_value * factor // WAD
        max_yield = collateral_value
    return MaxLiquidation(
        factor, max_repay, mul_div_down(max_yield, collateral_balance, collateral_value)
    )


def partial_yield(repay: int, maximum: MaxLiquidation) -> int:
    """Collateral for a repay smaller than the maximum (``desiredRepay * yieldBalance / maxRepay``)."""
    if maximum.repay == 0:
        return maximum.yield_balance
    return repay * maximum.yield_balance // maximum.repay
