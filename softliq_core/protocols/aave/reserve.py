"""A reserve: its configuration, its eMode categories, and its state — indexes, rates, last update,
tokens (spec §3.2). Normalized income and debt at a timestamp are the contract's view functions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from softliq_core.protocols.aave.math import (
    PERCENTAGE_FACTOR,
    RAY,
    compounded_interest,
    linear_interest,
    percent_mul,
    ray_div,
    ray_mul,
    ray_mul_floor,
)
from softliq_core.protocols.aave.rates import RateStrategy
from softliq_core.protocols.aave.tokens import ScaledToken
from softliq_core.protocols.aave.version import PoolVersion


@dataclass(frozen=True, slots=True)
class ReserveConfig:
    """The reserve's configuration bitmap, decoded. Percentages in bps; caps in whole tokens."""

    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    decimals: int
    reserve_factor: int = 0
    liquidation_protocol_fee: int = 0
    active: bool = True
    frozen: bool = False
    paused: bool = False
    borrowing_enabled: bool = True
    emode_category: int = 0  # ≤ v3.1 membership; v3.2+ uses the category's bitmaps
    supply_cap: int = 0
    borrow_cap: int = 0

    def __post_init__(self) -> None:
        # PoolConfigurator.configureReserveAsCollateral's rules (INVALID_RESERVE_PARAMS).
        if self.ltv > self.liquidation_threshold:
            raise ValueError(f"reserve ltv {self.ltv}: must not exceed the liquidation threshold")
        if self.liquidation_threshold != 0:
            if self.liquidation_bonus <= PERCENTAGE_FACTOR:
                raise ValueError(
                    f"reserve liquidation_bonus {self.liquidation_bonus}: must exceed 10000 bps"
                )
            if percent_mul(self.liquidation_threshold, self.liquidation_bonus) > PERCENTAGE_FACTOR:
                raise ValueError(
                    "reserve liquidation_threshold × liquidation_bonus: must not exceed 100 %"
                )
        for name in ("reserve_factor", "liquidation_protocol_fee"):
            if not 0 <= getattr(self, name) <= PERCENTAGE_FACTOR:
                raise ValueError(f"reserve {name}: must be within [0, 10000] bps")

    @property
    def unit(self) -> int:
        return int(10**self.decimals)


@dataclass(frozen=True, slots=True)
class EModeCategory:
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    label: str = ""
    # v3.2+: which assets count at the category's LT/LTV and which may be borrowed in it.
    collateral_assets: frozenset[str] = frozenset()
    borrowable_assets: frozenset[str] = frozenset()


@dataclass
class Reserve:
    """ReserveData: state as stored (indexes as of ``last_update``) plus the two scaled tokens."""

    asset: str
    id: int
    config: ReserveConfig
    a_token: ScaledToken
    v_token: ScaledToken
    strategy: RateStrategy | None = None
    liquidity_index: int = RAY
    variable_borrow_index: int = RAY
    liquidity_rate: int = 0
    stable_borrow_rate: int = 0
    variable_borrow_rate: int = 0
    last_update: int = 0
    accrued_to_treasury: int = 0
    # The aToken's underlying balance (the strategy's available liquidity).
    underlying_balance: int = 0
    deficit: int = 0  # v3.3+: debt burnt by liquidations that left no collateral

    def copy(self) -> Reserve:
        return copy.deepcopy(self)


def normalized_income(reserve: Reserve, timestamp: int) -> int:
    """getReserveNormalizedIncome: the liquidity index grown linearly to ``timestamp``."""
    if timestamp == reserve.last_update:
        return reserve.liquidity_index
    return ray_mul(
        linear_interest(reserve.liquidity_rate, timestamp - reserve.last_update),
        reserve.liquidity_index,
    )


def normalized_debt(reserve: Reserve, timestamp: int, version: PoolVersion) -> int:
    """getReserveNormalizedVariableDebt: the borrow index compounded to ``timestamp``."""
    if timestamp == reserve.last_update:
        return reserve.variable_borrow_index
    return ray_mul(
        compounded_interest(reserve.variable_borrow_rate, timestamp - reserve.last_update, version),
        reserve.variable_borrow_index,
    )


def update_state(reserve: Reserve, timestamp: int, version: PoolVersion) -> None:
    """ReserveLogic.updateState: grow the indexes once per timestamp, then accrue to the treasury."""
    if reserve.last_update == timestamp:
        return
    previous_vbi = reserve.variable_borrow_index
    if reserve.liquidity_rate != 0:
        reserve.liquidity_index = normalized_income(reserve, timestamp)
    scaled_debt = reserve.v_token.total
    if scaled_debt != 0:
        reserve.variable_borrow_index = normalized_debt(reserve, timestamp, version)
    rf = reserve.config.reserve_factor
    if rf != 0:
        if version.directional_rounding:
            accrued = ray_mul_floor(scaled_debt, reserve.variable_borrow_index - previous_vbi)
        else:
            accrued = ray_mul(scaled_debt, reserve.variable_borrow_index) - ray_mul(
                scaled_debt, previous_vbi
            )
        to_mint = percent_mul(accrued, rf)
        if to_mint != 0:
            reserve.accrued_to_treasury += ray_div(to_mint, reserve.liquidity_index)
    reserve.last_update = timestamp
