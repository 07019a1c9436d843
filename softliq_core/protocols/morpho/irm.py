"""AdaptiveCurveIRM (morpho-blue-irm), spec §2. All signed divisions truncate toward zero."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from softliq_core.protocols.morpho.market import Market
from softliq_core.protocols.morpho.math import WAD, tdiv, w_div_down, w_div_to_zero, w_mul_to_zero

CURVE_STEEPNESS: Final = 4 * WAD
ADJUSTMENT_SPEED: Final = 50 * WAD // 31_536_000
TARGET_UTILIZATION: Final = 9 * WAD // 10
INITIAL_RATE_AT_TARGET: Final = 4 * WAD // 100 // 31_536_000
MIN_RATE_AT_TARGET: Final = WAD // 1000 // 31_536_000
MAX_RATE_AT_TARGET: Final = 2 * WAD // 31_536_000

LN_2: Final = 693147180559945309
LN_WEI: Final = -41446531673892822312
WEXP_UPPER_BOUND: Final = 93859467695000404319
WEXP_UPPER_VALUE: Final = 57716089161558943949701069502944508345128422502756744429568


def w_exp(x: int) -> int:
    """e^x in WAD, as ExpLib.wExp: 2^q · (1 + r + r²/2) with r in [−ln2/2, ln2/2]."""
    if x < LN_WEI:
        return 0
    if x >= WEXP_UPPER_BOUND:
        return WEXP_UPPER_VALUE
    rounding_adjustment = -(LN_2 // 2) if x < 0 else LN_2 // 2
    q = tdiv(x + rounding_adjustment, LN_2)
    r = x - q * LN_2
    exp_r = WAD + r + tdiv(tdiv(r * r, WAD), 2)
    return exp_r << q if q >= 0 else exp_r >> -q


def _curve(rate_at_target: int, err: int) -> int:
    coeff = WAD - w_div_to_zero(WAD, CURVE_STEEPNESS) if err < 0 else CURVE_STEEPNESS - WAD
    return w_mul_to_zero(w_mul_to_zero(coeff, err) + WAD, rate_at_target)


def _new_rate_at_target(start: int, linear_adaptation: int) -> int:
    rate = w_mul_to_zero(start, w_exp(linear_adaptation))
    return min(max(rate, MIN_RATE_AT_TARGET), MAX_RATE_AT_TARGET)


@dataclass(frozen=True, slots=True)
class IrmRate:
    avg_borrow_rate: int
    end_rate_at_target: int


def adaptive_curve_borrow_rate(market: Market, start_rate_at_target: int, now: int) -> IrmRate:
    """The rate Morpho uses for the accrual at ``now`` and the rate at target the IRM stores.

    ``market`` holds the pre-accrual totals and the old ``last_update``; ``start_rate_at_target`` is
    0 before the IRM's first call for the market.
    """
    utilization = (
        w_div_down(market.total_borrow_assets, market.total_supply_assets)
        if market.total_supply_assets > 0
        else 0
    )
    err_norm_factor = (
        WAD - TARGET_UTILIZATION if utilization > TARGET_UTILIZATION else TARGET_UTILIZATION
    )
    err = w_div_to_zero(utilization - TARGET_UTILIZATION, err_norm_factor)

    if start_rate_at_target == 0:
        avg_rate_at_target = end_rate_at_target = INITIAL_RATE_AT_TARGET
    else:
        speed = w_mul_to_zero(ADJUSTMENT_SPEED, err)
        elapsed = now - market.last_update
        linear_adaptation = speed * elapsed
        if linear_adaptation == 0:
            avg_rate_at_target = end_rate_at_target = start_rate_at_target
        else:
            end_rate_at_target = _new_rate_at_target(start_rate_at_target, linear_adaptation)
            mid_rate_at_target = _new_rate_at_target(
                start_rate_at_target, tdiv(linear_adaptation, 2)
            )
            avg_rate_at_target = tdiv(
                start_rate_at_target + end_rate_at_target + 2 * mid_rate_at_target, 4
            )
    return IrmRate(_curve(avg_rate_at_target, err), end_rate_at_target)
