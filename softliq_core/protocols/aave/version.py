"""Which Aave V3 Pool version is in force: a version, and a schedule of versions by block.

The rules that change between versions (rounding, interest compounding, health factor, liquidation
close factor and dust, eMode membership) are asked of ``PoolVersion`` so every caller reads one rule.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass


@dataclass(frozen=True, order=True, slots=True)
class PoolVersion:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> PoolVersion:
        """``"3.3"`` or ``"v3.3.0"`` -> PoolVersion(3, 3)."""
        parts = text.strip().lstrip("v").split(".")
        if len(parts) < 2 or parts[0] != "3" or not all(p.isdigit() for p in parts):
            raise ValueError(f"pool version {text!r}: expected 3.N (Aave V3)")
        version = cls(int(parts[0]), int(parts[1]))
        if not V3_0 <= version <= V3_7:
            raise ValueError(f"pool version {text!r}: known versions are 3.0 to 3.7")
        return version

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def directional_rounding(self) -> bool:
        """v3.5+: floor/ceil conversions (TokenMath) instead of half-up."""
        return self >= V3_5

    @property
    def accurate_compounding(self) -> bool:
        """v3.4+: x = r·e/S; 1 + x + x²/2 + x³/6 by rayMul (more accurate than ≤3.3's)."""
        return self >= V3_4

    @property
    def position_close_factor(self) -> bool:
        """v3.3+: 100 % by default, 50 % only above $2,000; dust rule; deficit."""
        return self >= V3_3

    @property
    def emode_bitmaps(self) -> bool:
        """v3.2+: an asset belongs to an eMode by its collateral/borrowable bitmaps."""
        return self >= V3_2

    @property
    def counts_zero_lt_collateral(self) -> bool:
        """v3.6+: collateral counts whenever the user's bit is set, LT 0 included."""
        return self >= V3_6


V3_0 = PoolVersion(3, 0)
V3_1 = PoolVersion(3, 1)
V3_2 = PoolVersion(3, 2)
V3_3 = PoolVersion(3, 3)
V3_4 = PoolVersion(3, 4)
V3_5 = PoolVersion(3, 5)
V3_6 = PoolVersion(3, 6)
V3_7 = PoolVersion(3, 7)


@dataclass(frozen=True)
class VersionSchedule:
    """The version in force from each block on (from the proxy's ``Upgraded`` events, or config)."""

    starts: tuple[tuple[int, PoolVersion], ...]

    def __post_init__(self) -> None:
        if not self.starts:
            raise ValueError("version schedule: at least one (block, version) is needed")
        blocks = [block for block, _ in self.starts]
        if blocks != sorted(blocks) or len(set(blocks)) != len(blocks):
            raise ValueError(f"version schedule: blocks must increase strictly, got {blocks}")

    @classmethod
    def single(cls, version: PoolVersion) -> VersionSchedule:
        return cls(((0, version),))

    @classmethod
    def parse(cls, mapping: dict[int, str]) -> VersionSchedule:
        return cls(tuple(sorted((int(b), PoolVersion.parse(v)) for b, v in mapping.items())))

    def at(self, block: int) -> PoolVersion:
        i = bisect.bisect_right([b for b, _ in self.starts], block) - 1
        if i < 0:
            raise ValueError(f"block {block}: before the first scheduled pool version")
        return self.starts[i][1]
