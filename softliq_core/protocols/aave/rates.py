"""DefaultReserveInterestRateStrategy (aave-v3-core v1.19, Pool v3.0): the reserve's new rates after
each action, from its utilisation (spec §3.2).

Stable debt is never enabled on Ethereum, so its total is 0; the stable rate is still computed
because ``ReserveDataUpdated`` carries it.
"""

from __future__ import annotations

from dataclasses import dataclass

from softliq_core.protocols.aave.math import (
    PERCENTAGE_FACTOR,
    RAY,
    percent_mul,
    ray_div,
    ray_mul,
)

WAD_RAY_RATIO = 10**9


@dataclass(frozen=True, slots=True)
class InterestRates:
    liquidity_rate: int
    stable_borrow_rate: int
    variable_borrow_rate: int


@dataclass(frozen=True, slots=True)
class RateStrategy:
    """The strategy's immutables, all in RAY (per year)."""

    optimal_usage_ratio: int
    base_variable_borrow_rate: int
    variable_rate_slope1: int
    variable_rate_slope2: int
    stable_rate_slope1: int = 0
    stable_rate_slope2: int = 0
    base_stable_rate_offset: int = 0
    stable_rate_excess_offset: int = 0
    optimal_stable_to_total_debt_ratio: int = 0

    def __post_init__(self) -> None:
        for name in ("optimal_usage_ratio", "optimal_stable_to_total_debt_ratio"):
            if not 0 <= getattr(self, name) <= RAY:
                raise ValueError(f"rate strategy {name}: must be within [0, RAY]")
        if self.optimal_usage_ratio == 0:
            raise ValueError("rate strategy optimal_usage_ratio: must be > 0 (divides U)")

    def rates(
        self,
        available_liquidity: int,
        total_variable_debt: int,
        reserve_factor: int,
        unbacked: int = 0,
    ) -> InterestRates:
        """calculateInterestRates with no stable debt. ``available_liquidity`` is the aToken's
        underlying balance plus liquidityAdded minus liquidityTaken, as the Pool passes them."""
        total_debt = total_variable_debt
        variable_rate = self.base_variable_borrow_rate
        stable_rate = self.variable_rate_slope1 + self.base_stable_rate_offset
        borrow_usage = supply_usage = 0
        if total_debt != 0:
            plus_debt = available_liquidity + total_debt
            borrow_usage = ray_div(total_debt, plus_debt)
            supply_usage = ray_div(total_debt, plus_debt + unbacked)
        if borrow_usage > self.optimal_usage_ratio:
            excess = ray_div(
                borrow_usage - self.optimal_usage_ratio, RAY - self.optimal_usage_ratio
            )
            stable_rate += self.stable_rate_slope1 + ray_mul(self.stable_rate_slope2, excess)
            variable_rate += self.variable_rate_slope1 + ray_mul(self.variable_rate_slope2, excess)
        else:
            stable_rate += ray_div(
                ray_mul(self.stable_rate_slope1, borrow_usage), self.optimal_usage_ratio
            )
            variable_rate += ray_div(
                ray_mul(self.variable_rate_slope1, borrow_usage), self.optimal_usage_ratio
            )
        overall = 0
        if total_debt != 0:
            debt_ray = total_debt * WAD_RAY_RATIO
            overall = ray_div(ray_mul(debt_ray, variable_rate), debt_ray)
        liquidity_rate = percent_mul(
            ray_mul(overall, supply_usage), PERCENTAGE_FACTOR - reserve_factor
        )
        return InterestRates(liquidity_rate, stable_rate, variable_rate)
