"""A user's position across reserves and GenericLogic.calculateUserAccountData (spec §4): collateral
and debt in base currency, average LTV and liquidation threshold, and the health factor, per version
and eMode aware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from softliq_core.protocols.aave.math import (
    PERCENTAGE_FACTOR,
    UINT256_MAX,
    WAD,
    mul_div_ceil,
    percent_mul,
    wad_div,
)
from softliq_core.protocols.aave.reserve import (
    EModeCategory,
    Reserve,
    normalized_debt,
    normalized_income,
)
from softliq_core.protocols.aave.version import PoolVersion

HEALTH_FACTOR_LIQUIDATION_THRESHOLD = WAD
MAX_HEALTH_FACTOR = UINT256_MAX


@dataclass
class UserConfig:
    """UserConfiguration bits (collateral / borrowing per reserve) and the user's eMode category."""

    collateral: set[str] = field(default_factory=set)
    borrowing: set[str] = field(default_factory=set)
    emode: int = 0

    def is_empty(self) -> bool:
        return not self.collateral and not self.borrowing

    def copy(self) -> UserConfig:
        return UserConfig(set(self.collateral), set(self.borrowing), self.emode)


@dataclass(frozen=True, slots=True)
class AccountData:
    total_collateral_base: int
    total_debt_base: int
    ltv: int  # bps, collateral-weighted
    liquidation_threshold: int  # bps, collateral-weighted
    health_factor: int  # WAD; 2**256 - 1 without debt
    has_zero_ltv_collateral: bool

    @property
    def available_borrows_base(self) -> int:
        """GenericLogic.calculateAvailableBorrows."""
        allowed = percent_mul(self.total_collateral_base, self.ltv)
        return max(allowed - self.total_debt_base, 0)

    @property
    def liquidatable(self) -> bool:
        return self.health_factor < HEALTH_FACTOR_LIQUIDATION_THRESHOLD


def in_emode_as_collateral(
    version: PoolVersion, user_emode: int, category: EModeCategory | None, reserve: Reserve
) -> bool:
    """Does the asset count at the user's eMode LT/LTV/LB? (≤3.1 reserve field, 3.2+ bitmap)."""
    if user_emode == 0 or category is None:
        return False
    if version.emode_bitmaps:
        return reserve.asset in category.collateral_assets
    return reserve.config.emode_category == user_emode


def collateral_balance(reserve: Reserve, user: str, timestamp: int) -> int:
    """aToken.balanceOf(user) at ``timestamp``."""
    return reserve.a_token.balance(user, normalized_income(reserve, timestamp))


def debt_balance(reserve: Reserve, user: str, timestamp: int, version: PoolVersion) -> int:
    """variableDebtToken.balanceOf(user) at ``timestamp``."""
    return reserve.v_token.balance(user, normalized_debt(reserve, timestamp, version))


def value_in_base(amount: int, price: int, reserve: Reserve, round_up: bool = False) -> int:
    unit = reserve.config.unit
    return mul_div_ceil(amount, price, unit) if round_up else amount * price // unit


def account_data(
    version: PoolVersion,
    reserves: Mapping[str, Reserve],
    emode_categories: Mapping[int, EModeCategory],
    prices: Mapping[str, int],
    user: str,
    config: UserConfig,
    timestamp: int,
) -> AccountData:
    """calculateUserAccountData over ``reserves`` in reserve-id order."""
    if config.is_empty():
        return AccountData(0, 0, 0, 0, MAX_HEALTH_FACTOR, False)
    category = emode_categories.get(config.emode) if config.emode else None
    total_collateral = total_debt = weighted_ltv = weighted_lt = 0
    has_zero_ltv = False
    for reserve in sorted(reserves.values(), key=lambda r: r.id):
        asset = reserve.asset
        if asset not in config.collateral and asset not in config.borrowing:
            continue
        price = prices[asset]
        lt = reserve.config.liquidation_threshold
        counts = lt != 0 or version.counts_zero_lt_collateral
        if asset in config.collateral and counts:
            value = value_in_base(collateral_balance(reserve, user, timestamp), price, reserve)
            total_collateral += value
            in_emode = in_emode_as_collateral(version, config.emode, category, reserve)
            if reserve.config.ltv != 0:
                weighted_ltv += value * (
                    category.ltv if in_emode and category else reserve.config.ltv
                )
            else:
                has_zero_ltv = True
            weighted_lt += value * (category.liquidation_threshold if in_emode and category else lt)
        if asset in config.borrowing:
            debt = debt_balance(reserve, user, timestamp, version)
            total_debt += value_in_base(debt, price, reserve, round_up=version.directional_rounding)
    avg_ltv = weighted_ltv // total_collateral if total_collateral else 0
    avg_lt = weighted_lt // total_collateral if total_collateral else 0
    if total_debt == 0:
        health = MAX_HEALTH_FACTOR
    elif version.directional_rounding:
        health = wad_div(weighted_lt, total_debt) // PERCENTAGE_FACTOR
    else:
        health = wad_div(percent_mul(total_collateral, avg_lt), total_debt)
    return AccountData(total_collateral, total_debt, avg_ltv, avg_lt, health, has_zero_ltv)
