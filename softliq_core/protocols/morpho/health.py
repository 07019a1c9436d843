"""Position health against an LLTV and an oracle price (Morpho._isHealthy, spec §1.8)."""

from __future__ import annotations

from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.math import (
    ORACLE_PRICE_SCALE,
    mul_div_down,
    w_div_up,
    w_mul_down,
)
from softliq_core.protocols.morpho.shares import to_assets_up


def borrowed_assets(position: Position, market: Market) -> int:
    """Debt rounded up, as every health check sees it."""
    return to_assets_up(
        position.borrow_shares, market.total_borrow_assets, market.total_borrow_shares
    )


def collateral_value(collateral: int, price: int) -> int:
    """Collateral quoted in loan-asset base units, floored."""
    return mul_div_down(collateral, price, ORACLE_PRICE_SCALE)


def max_borrow(collateral: int, price: int, lltv: int) -> int:
    return w_mul_down(collateral_value(collateral, price), lltv)


def is_healthy(position: Position, market: Market, price: int, lltv: int) -> bool:
    """Equality is healthy; a position without debt is healthy whatever the price."""
    if position.borrow_shares == 0:
        return True
    return max_borrow(position.collateral, price, lltv) >= borrowed_assets(position, market)


def ltv(position: Position, market: Market, price: int) -> int | None:
    """Loan-to-value in WAD, rounded up (blue-sdk getLtv); None when the collateral is worth 0."""
    quoted = collateral_value(position.collateral, price)
    borrowed = borrowed_assets(position, market)
    if quoted == 0:
        return None if borrowed > 0 else 0
    return w_div_up(borrowed, quoted)
