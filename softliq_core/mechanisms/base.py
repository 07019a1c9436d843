"""What every liquidation mechanism answers: may it act on a position now, and what does it do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from softliq_core.protocols.morpho.market import Market, Position


@dataclass(frozen=True, slots=True)
class ActionResult:
    kind: str  # "liquidation" or "pre_liquidation"
    repaid_shares: int
    repaid_assets: int
    seized_assets: int
    bad_debt_shares: int
    bad_debt_assets: int
    incentive_factor: int  # WAD: LIF or preLIF applied
    band_loan_assets: int = 0  # loan asset a band mechanism held for the position, used to repay


class Mechanism(Protocol):
    """A pure rule: ``act`` mutates ``position`` (and the scratch ``market``) when it acts."""

    @property
    def name(self) -> str: ...

    @property
    def lowest_trigger_ltv(self) -> int:
        """WAD LTV below which the mechanism never acts nor counts soft-zone time (DESIGN §4 rule 4)."""
        ...

    def triggered(self, market: Market, position: Position, price: int, opted_in: bool) -> bool: ...

    def in_soft_zone(self, market: Market, position: Position, price: int) -> bool:
        """Between the soft trigger and the hard one (for pre-liquidation: preLltv < LTV <= LLTV)."""
        ...

    def act(
        self, market: Market, position: Position, price: int, opted_in: bool
    ) -> ActionResult | None: ...
