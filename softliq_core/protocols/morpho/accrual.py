"""Interest accrual (Morpho._accrueInterest, spec §1.7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from softliq_core.compiled import by_fields
from softliq_core.protocols.morpho.market import Market
from softliq_core.protocols.morpho.math import w_mul_down, w_taylor_compounded
from softliq_core.protocols.morpho.shares import to_shares_down


@dataclass(slots=True)
class Accrual:
    interest: Final[int]
    fee_shares: Final[int]

    # (written out, its fields Final: see Quote in replay/declines.py)
    def __init__(self, interest: int, fee_shares: int) -> None:
        self.interest = interest
        self.fee_shares = fee_shares

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)


def accrue_interest(market: Market, borrow_rate: int, now: int) -> Accrual:
    """Accrue ``borrow_rate`` (per second, WAD) from ``market.last_update`` to ``now``, in place.

    Fee shares are added to the supply totals; the caller credits them to the fee recipient.
    """
    elapsed = now - market.last_update
    if elapsed < 0:
        raise ValueError(f"accrual into the past: now={now} < last_update={market.last_update}")
    interest = w_mul_down(market.total_borrow_assets, w_taylor_compounded(borrow_rate, elapsed))
    market.total_borrow_assets += interest
    market.total_supply_assets += interest
    fee_shares = 0
    if market.fee != 0:
        fee_amount = w_mul_down(interest, market.fee)
        # Fee shares are priced as if the fee were supplied after the rest of the interest.
        fee_shares = to_shares_down(
            fee_amount, market.total_supply_assets - fee_amount, market.total_supply_shares
        )
        market.total_supply_shares += fee_shares
    market.last_update = now
    return Accrual(interest, fee_shares)


def expected_market(market: Market, borrow_rate: int, now: int) -> Market:
    """The totals the contract would hold after accruing at ``now`` (MorphoBalancesLib view)."""
    accrued = market.copy()
    if now > market.last_update:
        accrue_interest(accrued, borrow_rate, now)
    return accrued
