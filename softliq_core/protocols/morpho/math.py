"""Fixed-point helpers of Morpho Blue's MathLib and the IRM's signed math (spec morpho.md §0).

Unsigned helpers floor or ceil exactly as the contracts do. The IRM's signed helpers truncate toward
zero like Solidity's int256 division, which Python's ``//`` does not (it floors).
"""

from __future__ import annotations

from typing import Final

from softliq_core.protocols.morpho.errors import UNDERFLOW, MorphoRevert

WAD: Final = 10**18
ORACLE_PRICE_SCALE: Final = 10**36
UINT128_MAX: Final = 2**128 - 1
UINT256_MAX: Final = 2**256 - 1


def _checked(value: int) -> int:
    """Solidity 0.8 checked uint256 arithmetic: past 2^256 − 1 the contract panics (0x11).

    MathLib's mulDivDown is ``(x * y) / d`` and mulDivUp ``(x * y + (d - 1)) / d``; a product
    that overflows (e.g. ~2^128 collateral times a 6e38 WBTC/USDT price in a health check) reverts
    the call (found by tests/differential).
    """
    if value > UINT256_MAX:
        raise MorphoRevert(UNDERFLOW)
    return value


# The helpers below inline ``_checked``'s test: they run millions of times in a sweep.


def mul_div_down(x: int, y: int, d: int) -> int:
    product = x * y
    if product > UINT256_MAX:
        raise MorphoRevert(UNDERFLOW)
    return product // d


def mul_div_up(x: int, y: int, d: int) -> int:
    product = x * y + d - 1
    if product > UINT256_MAX:
        raise MorphoRevert(UNDERFLOW)
    return product // d


def w_mul_down(x: int, y: int) -> int:
    product = x * y
    if product > UINT256_MAX:
        raise MorphoRevert(UNDERFLOW)
    return product // WAD


def w_div_down(x: int, y: int) -> int:
    return _checked(x * WAD) // y


def w_div_up(x: int, y: int) -> int:
    return _checked(x * WAD + y - 1) // y


def zero_floor_sub(x: int, y: int) -> int:
    return x - y if x > y else 0


def tdiv(a: int, b: int) -> int:
    """Signed division truncating toward zero (Solidity int256 ``/``)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def w_mul_to_zero(x: int, y: int) -> int:
    return tdiv(x * y, WAD)


def w_div_to_zero(x: int, y: int) -> int:
    return tdiv(x * WAD, y)


def w_taylor_compounded(x: int, n: int) -> int:
    """Three-term Taylor expansion of e^(x·n) − 1, all terms floored (MathLib.wTaylorCompounded)."""
    first = x * n
    second = mul_div_down(first, first, 2 * WAD)
    third = mul_div_down(second, first, 3 * WAD)
    return first + second + third
