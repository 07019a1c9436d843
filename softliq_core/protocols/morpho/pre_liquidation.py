"""Morpho pre-liquidation (morpho-org/pre-liquidation PreLiquidation.sol, spec §4).

``pre_liquidate`` follows the contract step by step: the window under the pre-liquidation oracle,
linear preLCF/preLIF in the LTV, the repayable-shares cap, the conversions of Morpho's liquidate with
preLIF, then Morpho's repay and withdrawCollateral, whose health check uses the *market* oracle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from softliq_core.compiled import by_fields
from softliq_core.protocols.morpho import errors
from softliq_core.protocols.morpho.errors import MorphoRevert
from softliq_core.protocols.morpho.health import borrowed_assets, collateral_value, is_healthy
from softliq_core.protocols.morpho.liquidation import (
    repaid_shares_for_seized,
    seized_for_repaid_shares,
)
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.math import WAD, w_div_down, w_div_up, w_mul_down, zero_floor_sub
from softliq_core.protocols.morpho.shares import to_assets_up


@dataclass(frozen=True, slots=True)
class PreLiquidationParams:
    """WAD-scaled parameters; the ``1`` values apply at LTV = preLltv, the ``2`` values at LLTV."""

    pre_lltv: int
    pre_lcf1: int
    pre_lcf2: int
    pre_lif1: int
    pre_lif2: int

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)


@dataclass(frozen=True, slots=True)
class ParameterViolation:
    field: str
    rule: str
    error: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule} ({self.error})"


def parameter_violations(params: PreLiquidationParams, lltv: int) -> list[ParameterViolation]:
    """Every constructor rule of PreLiquidation the parameters break, in the contract's order."""
    rules = [
        (params.pre_lltv < lltv, "pre_lltv", "preLltv < LLTV", errors.PRE_LLTV_TOO_HIGH),
        (
            params.pre_lcf1 <= params.pre_lcf2,
            "pre_lcf1",
            "preLCF1 <= preLCF2",
            errors.PRE_LCF_DECREASING,
        ),
        (params.pre_lcf1 <= WAD, "pre_lcf1", "preLCF1 <= 1 (WAD)", errors.PRE_LCF_TOO_HIGH),
        (params.pre_lif1 >= WAD, "pre_lif1", "preLIF1 >= 1 (WAD)", errors.PRE_LIF_TOO_LOW),
        (
            params.pre_lif1 <= params.pre_lif2,
            "pre_lif2",
            "preLIF1 <= preLIF2",
            errors.PRE_LIF_DECREASING,
        ),
        (
            params.pre_lif2 <= w_div_down(WAD, lltv),
            "pre_lif2",
            "preLIF2 <= 1/LLTV (wDivDown(WAD, LLTV))",
            errors.PRE_LIF_TOO_HIGH,
        ),
    ]
    return [ParameterViolation(field, rule, error) for ok, field, rule, error in rules if not ok]


@dataclass(slots=True)
class PreLiquidationTerms:
    """What the contract derives from the position's LTV before any transfer."""

    ltv: Final[int]
    pre_lif: Final[int]
    pre_lcf: Final[int]
    repayable_shares: Final[int]

    # (written out, its fields Final: see Quote in replay/declines.py)
    def __init__(self, ltv: int, pre_lif: int, pre_lcf: int, repayable_shares: int) -> None:
        self.ltv = ltv
        self.pre_lif = pre_lif
        self.pre_lcf = pre_lcf
        self.repayable_shares = repayable_shares

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)


def pre_liquidation_terms(
    market: Market, position: Position, lltv: int, params: PreLiquidationParams, price: int
) -> PreLiquidationTerms:
    """Steps 3–5 and 7's cap: raises unless preLltv < LTV <= LLTV under ``price`` (floor math)."""
    return window_terms(
        borrowed_assets(position, market),
        collateral_value(position.collateral, price),
        position.borrow_shares,
        lltv,
        params,
    )


def window_terms(
    borrowed: int, quoted: int, borrow_shares: int, lltv: int, params: PreLiquidationParams
) -> PreLiquidationTerms:
    """``pre_liquidation_terms`` from the debt (rounded up) and the collateral value (floored) a
    caller has already derived from the same state and price."""
    if borrowed > w_mul_down(quoted, lltv):
        raise MorphoRevert(errors.LIQUIDATABLE_POSITION)
    if borrowed <= w_mul_down(quoted, params.pre_lltv):
        raise MorphoRevert(errors.NOT_PRE_LIQUIDATABLE_POSITION)
    ltv = w_div_up(borrowed, quoted)
    quotient = w_div_down(ltv - params.pre_lltv, lltv - params.pre_lltv)
    pre_lif = w_mul_down(quotient, params.pre_lif2 - params.pre_lif1) + params.pre_lif1
    pre_lcf = w_mul_down(quotient, params.pre_lcf2 - params.pre_lcf1) + params.pre_lcf1
    return PreLiquidationTerms(ltv, pre_lif, pre_lcf, w_mul_down(borrow_shares, pre_lcf))


@dataclass(slots=True)
class PreLiquidationResult:
    seized_assets: Final[int]
    repaid_shares: Final[int]
    repaid_assets: Final[int]
    ltv: Final[int]
    pre_lif: Final[int]
    pre_lcf: Final[int]

    # (written out, its fields Final: see Quote in replay/declines.py)
    def __init__(
        self,
        seized_assets: int,
        repaid_shares: int,
        repaid_assets: int,
        ltv: int,
        pre_lif: int,
        pre_lcf: int,
    ) -> None:
        self.seized_assets = seized_assets
        self.repaid_shares = repaid_shares
        self.repaid_assets = repaid_assets
        self.ltv = ltv
        self.pre_lif = pre_lif
        self.pre_lcf = pre_lcf

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)


def pre_liquidate(
    market: Market,
    position: Position,
    lltv: int,
    params: PreLiquidationParams,
    price: int,
    market_price: int,
    authorized: bool,
    seized_assets: int = 0,
    repaid_shares: int = 0,
    terms: PreLiquidationTerms | None = None,
) -> PreLiquidationResult:
    """Apply a pre-liquidation in place, or raise MorphoRevert leaving state untouched.

    ``price`` is the pre-liquidation oracle's, ``market_price`` the market oracle's (they are the
    same when the contract uses the market oracle). The market must already be accrued.
    ``terms``: ``pre_liquidation_terms`` of this very state and ``price``, when the caller has them
    (a liquidator sizing its call derives them first: not deriving them twice is a third of the
    call's cost in a sweep).
    """
    if (seized_assets == 0) == (repaid_shares == 0):
        raise MorphoRevert(errors.PRE_INCONSISTENT_INPUT)
    if terms is None:
        terms = pre_liquidation_terms(market, position, lltv, params, price)
    if seized_assets > 0:
        repaid_shares = repaid_shares_for_seized(seized_assets, price, terms.pre_lif, market)
    else:
        seized_assets = seized_for_repaid_shares(repaid_shares, price, terms.pre_lif, market)
    if repaid_shares > terms.repayable_shares:
        raise MorphoRevert(errors.PRE_LIQUIDATION_TOO_LARGE)

    # Morpho.repay(shares) on behalf of the borrower, then withdrawCollateral in its callback.
    repaid_assets = to_assets_up(
        repaid_shares, market.total_borrow_assets, market.total_borrow_shares
    )
    if repaid_shares > position.borrow_shares:
        raise MorphoRevert(errors.UNDERFLOW)
    after_market = market.copy()
    after_position = position.copy()
    after_position.borrow_shares -= repaid_shares
    after_market.total_borrow_shares -= repaid_shares
    after_market.total_borrow_assets = zero_floor_sub(
        after_market.total_borrow_assets, repaid_assets
    )
    if seized_assets == 0:
        raise MorphoRevert(errors.ZERO_ASSETS)
    if not authorized:
        raise MorphoRevert(errors.UNAUTHORIZED)
    if seized_assets > after_position.collateral:
        raise MorphoRevert(errors.UNDERFLOW)
    after_position.collateral -= seized_assets
    if not is_healthy(after_position, after_market, market_price, lltv):
        raise MorphoRevert(errors.INSUFFICIENT_COLLATERAL)

    market.total_borrow_shares = after_market.total_borrow_shares
    market.total_borrow_assets = after_market.total_borrow_assets
    position.borrow_shares = after_position.borrow_shares
    position.collateral = after_position.collateral
    return PreLiquidationResult(
        seized_assets, repaid_shares, repaid_assets, terms.ltv, terms.pre_lif, terms.pre_lcf
    )


# blue-sdk getDefaultPreLiquidationParams(lltv) (spec §4.5): preLIF1 = preLIF2 = the market's LIF.
DEFAULT_PRE_LIQUIDATION_PARAMS: dict[int, PreLiquidationParams] = {
    lltv: PreLiquidationParams(pre_lltv, lcf1, lcf2, lif, lif)
    for lltv, pre_lltv, lcf1, lcf2, lif in [
        (
            385 * WAD // 1000,
            301514568055515563,
            22637943984157107,
            349673199983645648,
            1150000000000000000,
        ),
        (
            625 * WAD // 1000,
            562591950487445723,
            7543182567291709,
            279542312587328718,
            1126760563380281690,
        ),
        (
            770 * WAD // 1000,
            727366070175296029,
            3706417131700377,
            256643181309902852,
            1074113856068743286,
        ),
        (
            860 * WAD // 1000,
            832603694978499652,
            2001493508968667,
            245311807032632372,
            1043841336116910229,
        ),
        (
            915 * WAD // 1000,
            897868776651447149,
            1135586186384195,
            239205538157954887,
            1026167265264238070,
        ),
        (
            945 * WAD // 1000,
            933746617913300027,
            709220796660800,
            236098907251355946,
            1016776817488561260,
        ),
        (
            965 * WAD // 1000,
            957768981497388846,
            441038514876104,
            234108264807531861,
            1010611419909044972,
        ),
        (
            980 * WAD // 1000,
            975838577830248552,
            247773050273784,
            232655340599010079,
            1006036217303822937,
        ),
    ]
}
