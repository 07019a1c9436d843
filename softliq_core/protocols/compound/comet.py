"""Compound III's liquidation (Comet ``absorbInternal``, ``quoteCollateral``), exact in integers.

Factors are WAD (Comet's FACTOR_SCALE is 1e18; ``mulFactor`` floors). Values are in the base
(loan) asset's units, prices 1e36-scaled like a Morpho oracle (collateral units -> loan units).

* liquidatable: collateral value x liquidateCollateralFactor < debt
* absorb: the protocol takes all the collateral and credits the account with its value x
  liquidationFactor; debt beyond that is absorbed by reserves (the balance is floored at 0), a
  surplus becomes the account's base balance. Reserves (= base held - supplied + borrowed) fall by
  max(debt, credited value).
* partial absorb (the variant of compound-finance/comet PR #1099, unmerged, read from its
  description): seize only the collateral value ``x`` that brings the health factor
  (value x borrowCollateralFactor / debt) to ``targetHealthFactor``, clearing x x liquidationFactor
  of debt: (V - x) b / (D - x LF) = t  gives  x = (t D - V b) / (t LF - b); a full absorb when that
  is impossible (t LF <= b, or x would take all the collateral or clear all the debt).
* buyCollateral, while reserves < targetReserves: collateral sells at the oracle price less
  ``storeFrontPriceFactor x (1 - liquidationFactor)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from softliq_core.protocols.morpho.math import ORACLE_PRICE_SCALE, WAD, w_mul_down


def is_liquidatable(collateral_value: int, debt: int, liquidate_collateral_factor: int) -> bool:
    return w_mul_down(collateral_value, liquidate_collateral_factor) < debt


@dataclass(frozen=True, slots=True)
class Absorb:
    credited_value: int  # collateral value x liquidationFactor
    bad_debt: int  # debt the credited value does not cover (reserves absorb it)
    surplus: int  # credited value beyond the debt: the account's new base balance
    reserves_change: int  # < 0


def absorb(collateral_value: int, debt: int, liquidation_factor: int) -> Absorb:
    credited = w_mul_down(collateral_value, liquidation_factor)
    return Absorb(credited, max(0, debt - credited), max(0, credited - debt), -max(debt, credited))


def partial_absorb_value(
    collateral_value: int,
    debt: int,
    borrow_collateral_factor: int,
    liquidation_factor: int,
    target_health_factor: int,
) -> int | None:
    """The collateral value a partial absorb seizes (rounded up: health reaches the target), or
    None when only a full absorb restores health."""
    gain = w_mul_down(target_health_factor, liquidation_factor) - borrow_collateral_factor
    if gain <= 0:
        return None
    shortfall = target_health_factor * debt - collateral_value * borrow_collateral_factor
    seized = -(-shortfall // gain)
    if seized >= collateral_value or w_mul_down(seized, liquidation_factor) >= debt:
        return None
    return seized


def discounted_price(price: int, liquidation_factor: int, store_front_price_factor: int) -> int:
    """assetPriceDiscounted = price x (1 - storeFrontPriceFactor x (1 - liquidationFactor))."""
    discount = w_mul_down(store_front_price_factor, WAD - liquidation_factor)
    return w_mul_down(price, WAD - discount)


def quote_collateral(base_amount: int, price_discounted: int) -> int:
    """Collateral units ``base_amount`` buys (quoteCollateral: base value / discounted price)."""
    return base_amount * ORACLE_PRICE_SCALE // price_discounted


def cost_of_collateral(collateral: int, price_discounted: int) -> int:
    """The largest base amount whose quote does not exceed ``collateral`` (a buyer taking the whole
    lot asks for no more than the protocol holds, else InsufficientReserves)."""
    return collateral * price_discounted // ORACLE_PRICE_SCALE
