"""Market-impact feedback (DESIGN §4.3), an option off by default: collateral the engine's
liquidations sell moves the price that later actions of the scenario see, for a window of blocks.

A sale of ``q`` collateral moves the price down by the depth part of the liquidator model's curve,
``1 % x q / depth_1pct`` (the pool fee is a cost, not a move), at once; the move decays linearly
back to the oracle price over ``window_blocks`` blocks (gone at the sale's block + window). Moves of
several sales add up, at most ``MAX_IMPACT`` (half the price). Within the window the engine checks
every position of the market at the moved price and acts at it, so a liquidation can push its
neighbours over their trigger: the cascade becomes measurable (``liquidation_actions.impacted_price``).

With ``window_blocks = 0`` (the default) nothing moves and results are those without the option.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from softliq_core.protocols.morpho.math import WAD, mul_div_down
from softliq_core.replay.liquidator import MAX_IMPACT, SlippageCurve

MARKET_IMPACT_FIELDS = ("window_blocks",)


@dataclass(frozen=True, slots=True)
class MarketImpact:
    window_blocks: int = 0  # 0: off

    @property
    def on(self) -> bool:
        return self.window_blocks > 0

    def canonical(self) -> dict[str, int]:
        return {"window_blocks": self.window_blocks}


def parse_market_impact(table: Any) -> tuple[MarketImpact, list[str]]:
    """A scenario's ``market_impact`` table → the option and every problem, named by field."""
    if not isinstance(table, Mapping):
        return MarketImpact(), ["market_impact: must be a table, e.g. { window_blocks = 10 }"]
    problems = [
        f"market_impact.{key}: unknown field" for key in table if key not in MARKET_IMPACT_FIELDS
    ]
    window = table.get("window_blocks", 0)
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        problems.append(f"market_impact.window_blocks: {window!r} must be an integer >= 0 (0: off)")
        window = 0
    return MarketImpact(window), problems


@dataclass
class ImpactedPrice:
    """The sales of one market's replay and the price they leave at a block."""

    window_blocks: int
    curve: SlippageCurve
    decimals: int
    sales: list[tuple[int, int]] = field(default_factory=list)  # (block, price move in WAD)

    def record_sale(self, block: int, collateral: int) -> None:
        move = self.curve.impact(collateral, self.decimals) - min(self.curve.fee, MAX_IMPACT)
        if move > 0:
            self.sales.append((block, move))

    def price(self, oracle: int, block: int) -> int:
        """The oracle price less the moves still in force at ``block``, each decayed linearly."""
        self.sales = [(b, m) for b, m in self.sales if block < b + self.window_blocks]
        move = sum(
            mul_div_down(m, self.window_blocks - (block - b), self.window_blocks)
            for b, m in self.sales
            if b <= block
        )
        return mul_div_down(oracle, WAD - min(move, MAX_IMPACT), WAD)
