"""Standard Morpho Blue liquidation (Morpho.liquidate, spec §1.9), including bad-debt realisation."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from softliq_core.protocols.morpho import errors
from softliq_core.protocols.morpho.errors import MorphoRevert
from softliq_core.protocols.morpho.health import is_healthy, max_borrow
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.math import (
    ORACLE_PRICE_SCALE,
    UINT128_MAX,
    WAD,
    mul_div_down,
    mul_div_up,
    w_div_down,
    w_div_up,
    w_mul_down,
    zero_floor_sub,
)
from softliq_core.protocols.morpho.shares import to_assets_down, to_assets_up, to_shares_up

LIQUIDATION_CURSOR: Final = 3 * WAD // 10
MAX_LIQUIDATION_INCENTIVE_FACTOR: Final = 115 * WAD // 100


@lru_cache(maxsize=64)  # a handful of LLTVs, asked at every liquidation a sweep prices
def liquidation_incentive_factor(lltv: int) -> int:
    """LIF = min(1.15, 1 / (1 − 0.3·(1 − LLTV))) in WAD, floored as the contract does."""
    return min(
        MAX_LIQUIDATION_INCENTIVE_FACTOR,
        w_div_down(WAD, WAD - w_mul_down(LIQUIDATION_CURSOR, WAD - lltv)),
    )


def repaid_shares_for_seized(
    seized_assets: int, price: int, incentive_factor: int, market: Market
) -> int:
    """Shares to repay for ``seized_assets``: both steps round up, against the liquidator."""
    seized_quoted = mul_div_up(seized_assets, price, ORACLE_PRICE_SCALE)
    return to_shares_up(
        w_div_up(seized_quoted, incentive_factor),
        market.total_borrow_assets,
        market.total_borrow_shares,
    )


def seized_for_repaid_shares(
    repaid_shares: int, price: int, incentive_factor: int, market: Market
) -> int:
    """Collateral seized for ``repaid_shares``: every step rounds down, against the liquidator."""
    repaid_value = to_assets_down(
        repaid_shares, market.total_borrow_assets, market.total_borrow_shares
    )
    return mul_div_down(w_mul_down(repaid_value, incentive_factor), ORACLE_PRICE_SCALE, price)


@dataclass(frozen=True, slots=True)
class LiquidationResult:
    seized_assets: int
    repaid_shares: int
    repaid_assets: int
    bad_debt_shares: int
    bad_debt_assets: int


def liquidate(
    market: Market,
    position: Position,
    lltv: int,
    price: int,
    seized_assets: int = 0,
    repaid_shares: int = 0,
) -> LiquidationResult:
    """Apply a liquidation in place, or raise MorphoRevert leaving state untouched.

    The market must already be accrued to the current timestamp.
    """
    if (seized_assets == 0) == (repaid_shares == 0):
        raise MorphoRevert(errors.INCONSISTENT_INPUT)
    # Morpho.liquidate calls the 4-argument _isHealthy, which has no zero-debt shortcut: the
    # collateral's value is computed, and can overflow (Panic 0x11), even without debt.
    max_borrow(position.collateral, price, lltv)
    if is_healthy(position, market, price, lltv):
        raise MorphoRevert(errors.HEALTHY_POSITION)
    incentive_factor = liquidation_incentive_factor(lltv)
    if seized_assets > 0:
        repaid_shares = repaid_shares_for_seized(seized_assets, price, incentive_factor, market)
    else:
        seized_assets = seized_for_repaid_shares(repaid_shares, price, incentive_factor, market)
    repaid_assets = to_assets_up(
        repaid_shares, market.total_borrow_assets, market.total_borrow_shares
    )
    # Morpho.liquidate: borrowShares -= repaidShares.toUint128(), then collateral -=
    # seizedAssets.toUint128(); each cast reverts before its checked subtraction panics.
    if repaid_shares > UINT128_MAX:
        raise MorphoRevert(errors.MAX_UINT128_EXCEEDED)
    if repaid_shares > position.borrow_shares:
        raise MorphoRevert(errors.UNDERFLOW)
    if seized_assets > UINT128_MAX:
        raise MorphoRevert(errors.MAX_UINT128_EXCEEDED)
    if seized_assets > position.collateral:
        raise MorphoRevert(errors.UNDERFLOW)

    position.borrow_shares -= repaid_shares
    market.total_borrow_shares -= repaid_shares
    market.total_borrow_assets = zero_floor_sub(market.total_borrow_assets, repaid_assets)
    position.collateral -= seized_assets

    bad_debt_shares = bad_debt_assets = 0
    if position.collateral == 0:
        bad_debt_shares = position.borrow_shares
        bad_debt_assets = min(
            market.total_borrow_assets,
            to_assets_up(bad_debt_shares, market.total_borrow_assets, market.total_borrow_shares),
        )
        market.total_borrow_assets -= bad_debt_assets
        market.total_supply_assets -= bad_debt_assets
        market.total_borrow_shares -= bad_debt_shares
        position.borrow_shares = 0
    return LiquidationResult(
        seized_assets, repaid_shares, repaid_assets, bad_debt_shares, bad_debt_assets
    )


def max_liquidation_inputs(
    market: Market, position: Position, lltv: int, price: int
) -> tuple[int, int] | None:
    """(seized_assets, repaid_shares) of the largest liquidation the contract accepts, one zero.

    Repaying every share is preferred (no dust left); when that would seize more collateral than
    the position holds, seize all of it, the only way to realise bad debt (blue-sdk
    getSeizableCollateral, morpho-blue PR #322). None when nothing can be liquidated.
    """
    if position.borrow_shares == 0 or is_healthy(position, market, price, lltv):
        return None
    incentive_factor = liquidation_incentive_factor(lltv)
    seized_for_all = seized_for_repaid_shares(
        position.borrow_shares, price, incentive_factor, market
    )
    if seized_for_all <= position.collateral:
        return (0, position.borrow_shares)
    # Seize everything unless rounding makes that cost one share more than the position owes:
    # then the largest seizable amount is found by bisection (the cost rises with the amount).
    if repaid_shares_for_seized(position.collateral, price, incentive_factor, market) <= (
        position.borrow_shares
    ):
        return (position.collateral, 0)
    low, high = 0, position.collateral
    while low < high:
        mid = (low + high + 1) // 2
        if repaid_shares_for_seized(mid, price, incentive_factor, market) <= position.borrow_shares:
            low = mid
        else:
            high = mid - 1
    return (low, 0) if low > 0 else None
