"""What every liquidation mechanism answers: may it act on a position now, and what does it do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

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
    # What the liquidator paid for the seized collateral, when it is not ``repaid_assets`` (a Maker
    # taker pays the tab with its penalty; a Compound buyer pays the store-front price).
    taker_paid: int | None = None
    keeper_incentive: int = 0  # loan units the protocol pays the caller (Maker tip + chip)
    reserves_change: int = 0  # the protocol's own balance change, loan units (Compound, Maker)
    band_loan_assets: int = 0  # loan asset a band mechanism held for the position, used to repay


@dataclass(frozen=True, slots=True)
class Outstanding:
    """A position's debt and collateral that a mechanism holds outside it (a running auction's
    debt not yet recovered and its unsold lot): still the borrower's, still owed to the market."""

    debt: int  # loan base units
    collateral: int  # collateral base units


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


@dataclass(frozen=True, slots=True)
class PositionAt:
    """What a stateful mechanism is asked about: whose position, at what time and price."""

    borrower: str
    timestamp: int
    market: Market  # scratch totals
    position: Position  # a trial copy, mutated when the mechanism acts
    price: int
    opted_in: bool


@runtime_checkable
class StatefulMechanism(Mechanism, Protocol):
    """A mechanism that keeps per-position state across blocks (an auction that runs over time, a
    cool-off after the borrower's last action). The engine calls ``act_on`` instead of ``act``,
    ``accept`` when the liquidator model carries out the proposed action, ``position_changed`` after
    each of the borrower's own actions, and re-checks every block a position the mechanism ``holds``.
    """

    def act_on(self, at: PositionAt) -> ActionResult | None:
        """Like ``act``; the mechanism's own state changes only when the engine ``accept``s."""
        ...

    def accept(self, borrower: str) -> None: ...

    def position_changed(self, borrower: str, timestamp: int) -> None: ...

    def holds(self, borrower: str) -> bool:
        """The mechanism has something running on this position (checked again next block)."""
        ...

    def outstanding(self) -> dict[str, Outstanding]:
        """By borrower, what the mechanism holds outside the positions now (for the outcome at the
        end of the data)."""
        ...
