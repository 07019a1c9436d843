"""WadRayMath, PercentageMath and MathUtils of Aave V3, with each version's rounding (spec §3.1).

Half-up helpers revert (``revert(0, 0)``) where the contract's overflow guard does; the floor and ceil
variants are v3.5+'s TokenMath / v3.7's liquidation rounding.
"""

from __future__ import annotations

from softliq_core.protocols.aave.errors import MATH_OVERFLOW, AaveRevert
from softliq_core.protocols.aave.version import PoolVersion

WAD = 10**18
RAY = 10**27
HALF_WAD = WAD // 2
HALF_RAY = RAY // 2
PERCENTAGE_FACTOR = 10**4
HALF_PERCENTAGE_FACTOR = PERCENTAGE_FACTOR // 2
UINT256_MAX = 2**256 - 1
UINT128_MAX = 2**128 - 1
SECONDS_PER_YEAR = 365 * 24 * 3600


def _guard(numerator: int, divisor: int) -> None:
    # The assembly guards are exactly "the rounded numerator overflows uint256" or "divisor is 0".
    if divisor == 0 or numerator > UINT256_MAX:
        raise AaveRevert(MATH_OVERFLOW)


def _half_up_mul(a: int, b: int, unit: int) -> int:
    numerator = a * b + unit // 2
    _guard(numerator, 1)
    return numerator // unit


def _half_up_div(a: int, b: int, unit: int) -> int:
    _guard(1, b)
    numerator = a * unit + b // 2
    _guard(numerator, b)
    return numerator // b


def ray_mul(a: int, b: int) -> int:
    return _half_up_mul(a, b, RAY)


def ray_div(a: int, b: int) -> int:
    return _half_up_div(a, b, RAY)


def wad_mul(a: int, b: int) -> int:
    return _half_up_mul(a, b, WAD)


def wad_div(a: int, b: int) -> int:
    return _half_up_div(a, b, WAD)


def percent_mul(value: int, percentage: int) -> int:
    return _half_up_mul(value, percentage, PERCENTAGE_FACTOR)


def percent_div(value: int, percentage: int) -> int:
    return _half_up_div(value, percentage, PERCENTAGE_FACTOR)


def mul_div_floor(a: int, b: int, c: int) -> int:
    _guard(a * b, c)
    return a * b // c


def mul_div_ceil(a: int, b: int, c: int) -> int:
    _guard(a * b, c)
    return -(-(a * b) // c)


def ray_mul_floor(a: int, b: int) -> int:
    return mul_div_floor(a, b, RAY)


def ray_mul_ceil(a: int, b: int) -> int:
    return mul_div_ceil(a, b, RAY)


def ray_div_floor(a: int, b: int) -> int:
    return mul_div_floor(a, RAY, b)


def ray_div_ceil(a: int, b: int) -> int:
    return mul_div_ceil(a, RAY, b)


def percent_mul_floor(value: int, percentage: int) -> int:
    return mul_div_floor(value, percentage, PERCENTAGE_FACTOR)


def percent_mul_ceil(value: int, percentage: int) -> int:
    return mul_div_ceil(value, percentage, PERCENTAGE_FACTOR)


def percent_div_floor(value: int, percentage: int) -> int:
    return mul_div_floor(value, PERCENTAGE_FACTOR, percentage)


def percent_div_ceil(value: int, percentage: int) -> int:
    return mul_div_ceil(value, PERCENTAGE_FACTOR, percentage)


def linear_interest(rate: int, elapsed: int) -> int:
    """MathUtils.calculateLinearInterest: RAY + rate·Δt / SECONDS_PER_YEAR (floored)."""
    return RAY + rate * elapsed // SECONDS_PER_YEAR


def compounded_interest(rate: int, elapsed: int, version: PoolVersion) -> int:
    """MathUtils.calculateCompoundedInterest as the version computes it (three-term binomial)."""
    if elapsed == 0:
        return RAY
    if version.accurate_compounding:
        x = rate * elapsed // SECONDS_PER_YEAR
        return RAY + x + ray_mul(x, x // 2 + ray_mul(x, x // 6))
    exp_minus_one = elapsed - 1
    exp_minus_two = elapsed - 2 if elapsed > 2 else 0
    base_power_two = ray_mul(rate, rate) // (SECONDS_PER_YEAR * SECONDS_PER_YEAR)
    base_power_three = ray_mul(base_power_two, rate) // SECONDS_PER_YEAR
    second_term = elapsed * exp_minus_one * base_power_two // 2
    third_term = elapsed * exp_minus_one * exp_minus_two * base_power_three // 6
    return RAY + rate * elapsed // SECONDS_PER_YEAR + second_term + third_term
