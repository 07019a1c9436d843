"""Auction price curves of MakerDAO Liquidations 2.0 (dss ``abaci.sol``), exact in RAY.

A Clipper auction starts at ``top`` and its price after ``dur`` seconds is ``calc.price(top, dur)``.
Prices here are in any fixed-point unit (softliq passes 1e36-scaled oracle prices): the curves only
multiply ``top`` by a RAY factor with ``rmul`` (floor), as the contracts do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

RAY = 10**27


def wad_to_ray(value: int) -> int:
    return value * 10**9


def rmul(x: int, y: int) -> int:
    """``x * y / RAY``, floored (abaci.sol rmul)."""
    return x * y // RAY


def rdiv(x: int, y: int) -> int:
    """``x * RAY / y``, floored (Clipper rdiv)."""
    return x * RAY // y


def rpow(x: int, n: int, base: int = RAY) -> int:
    """``x ** n`` in ``base`` fixed point by squaring, each product rounded half up (abaci.sol rpow)."""
    if n == 0:
        return base
    if x == 0:
        return 0
    z = x if n % 2 else base
    half = base // 2
    n //= 2
    while n:
        x = (x * x + half) // base
        if n % 2:
            z = (z * x + half) // base
        n //= 2
    return z


class Abacus(Protocol):
    def price(self, top: int, dur: int) -> int: ...

    def canonical(self) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class LinearDecrease:
    """``top * (tau - dur) / tau``, 0 from ``tau`` seconds on."""

    tau: int  # seconds until the price reaches 0

    def price(self, top: int, dur: int) -> int:
        if dur >= self.tau:
            return 0
        return rmul(top, (self.tau - dur) * RAY // self.tau)

    def canonical(self) -> dict[str, str]:
        return {"calc": "linear", "tau": str(self.tau)}


@dataclass(frozen=True, slots=True)
class StairstepExponentialDecrease:
    """``top * cut ** (dur // step)``: the price drops by the factor ``cut`` every ``step`` seconds."""

    step: int  # seconds between drops
    cut: int  # RAY: the factor applied at each drop (e.g. 0.99 RAY)

    def price(self, top: int, dur: int) -> int:
        return rmul(top, rpow(self.cut, dur // self.step, RAY))

    def canonical(self) -> dict[str, str]:
        return {"calc": "stairstep", "step": str(self.step), "cut": str(self.cut)}
