"""Pre-liquidation on Aave V3, in health-factor terms (a counterfactual mechanism mirroring Morpho's).

An opted-in position whose health factor is in [1, preHF) may be partly repaid — at most preLCF of
its debt in one reserve — for collateral at preLIF, both linear in the health factor from their
``1`` values at preHF to their ``2`` values at HF = 1. Repaying x of debt for x·b of collateral with
threshold t moves HF = S/D to (S − x·b·t)/(D − x), which is ≥ HF exactly when b·t ≤ HF; so preLIF2
is bounded by 1/LT, the applied incentive by HF/t, and a call that would still lower the contract's
rounded health factor is refused. Below HF = 1 the standard liquidation applies.

The footprint is what a pre-liquidation contract would do with the borrower's approval: Pool.repay
on the borrower's behalf, then an aToken transfer from the borrower to the pre-liquidator.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from softliq_core.mechanisms.aave_liquidation import (
    DEFAULT_LIQUIDATOR,
    AaveActionResult,
    AaveLiquidation,
)
from softliq_core.protocols.aave.account import (
    HEALTH_FACTOR_LIQUIDATION_THRESHOLD,
    in_emode_as_collateral,
    value_in_base,
)
from softliq_core.protocols.aave.errors import AaveRevert
from softliq_core.protocols.aave.math import PERCENTAGE_FACTOR, WAD
from softliq_core.protocols.aave.pool import AavePool
from softliq_core.protocols.morpho.pre_liquidation import ParameterViolation

PRE_LIQUIDATION_LOWERS_HEALTH = "PreLiquidationLowersHealth"


@dataclass(frozen=True, slots=True)
class AavePreLiquidationParams:
    """WAD-scaled; the ``1`` values apply at HF = pre_hf, the ``2`` values at HF = 1."""

    pre_hf: int
    pre_lcf1: int
    pre_lcf2: int
    pre_lif1: int
    pre_lif2: int


def parameter_violations(
    params: AavePreLiquidationParams, max_liquidation_threshold: int
) -> list[ParameterViolation]:
    """Every rule the parameters break. ``max_liquidation_threshold`` (bps) is the highest LT of a
    collateral they may apply to (an eMode's included)."""
    rules = [
        (params.pre_hf > WAD, "pre_hf", "preHF > 1 (WAD)", "PreHFTooLow"),
        (
            params.pre_lcf1 <= params.pre_lcf2,
            "pre_lcf1",
            "preLCF1 <= preLCF2",
            "PreLCFDecreasing",
        ),
        (params.pre_lcf2 <= WAD, "pre_lcf2", "preLCF2 <= 1 (WAD)", "PreLCFTooHigh"),
        (params.pre_lif1 >= WAD, "pre_lif1", "preLIF1 >= 1 (WAD)", "PreLIFTooLow"),
        (
            params.pre_lif1 <= params.pre_lif2,
            "pre_lif2",
            "preLIF1 <= preLIF2",
            "PreLIFDecreasing",
        ),
        (
            params.pre_lif2 * max_liquidation_threshold <= WAD * PERCENTAGE_FACTOR,
            "pre_lif2",
            "preLIF2 <= 1/LT (the highest liquidation threshold)",
            "PreLIFTooHigh",
        ),
    ]
    return [ParameterViolation(field, rule, error) for ok, field, rule, error in rules if not ok]


@dataclass(frozen=True, slots=True)
class PreLiquidationTerms:
    health_factor: int
    pre_lcf: int
    pre_lif: int


def pre_liquidation_terms(
    params: AavePreLiquidationParams, health_factor: int
) -> PreLiquidationTerms:
    """preLCF and preLIF at ``health_factor`` in [1, preHF): linear, floored like Morpho's."""
    quotient = (params.pre_hf - health_factor) * WAD // (params.pre_hf - WAD)
    return PreLiquidationTerms(
        health_factor,
        params.pre_lcf1 + quotient * (params.pre_lcf2 - params.pre_lcf1) // WAD,
        params.pre_lif1 + quotient * (params.pre_lif2 - params.pre_lif1) // WAD,
    )


@dataclass(frozen=True, slots=True)
class PreLiquidationOffer:
    collateral: str
    debt: str
    repaid: int  # debt units
    seized: int  # collateral units
    incentive: int  # WAD, ≤ preLIF
    profit_base: int


@dataclass(frozen=True)
class AavePreLiquidation:
    params: AavePreLiquidationParams
    max_liquidation_threshold: int = 9_500  # bps: covers Ethereum's eModes (LT ≤ 95 %)
    pre_liquidator: str = DEFAULT_LIQUIDATOR
    name: str = "aave_pre_liquidation"

    def __post_init__(self) -> None:
        violations = parameter_violations(self.params, self.max_liquidation_threshold)
        if violations:
            raise ValueError("; ".join(str(v) for v in violations))

    @property
    def _liquidation(self) -> AaveLiquidation:
        return AaveLiquidation(self.pre_liquidator)

    @property
    def lowest_trigger_health_factor(self) -> int:
        return self.params.pre_hf

    def in_soft_zone(self, health_factor: int) -> bool:
        """In the pre-liquidation window: health in [1, preHF)."""
        return HEALTH_FACTOR_LIQUIDATION_THRESHOLD <= health_factor < self.params.pre_hf

    def triggered(self, health_factor: int, opted_in: bool) -> bool:
        """May act on an account at ``health_factor`` (WAD, the Pool's account data)."""
        if health_factor < HEALTH_FACTOR_LIQUIDATION_THRESHOLD:
            return True
        return opted_in and self.in_soft_zone(health_factor)

    def most_profit(self, health: np.ndarray, largest_debt: np.ndarray) -> np.ndarray:
        """Above any offer's profit (base units, before slippage and gas, up to the seizure's
        rounding: a collateral unit, or a debt unit when capped at the balance; the caller's
        slack) for accounts in the window at a health factor of at least
        ``health`` (floats) whose debt in any one reserve is worth at most ``largest_debt``: an
        offer repays at most preLCF of one reserve's debt for collateral worth at most preLIF
        times it, and both fall as health rises (the contract's terms are floored)."""
        pre_hf = self.params.pre_hf / WAD
        below = (pre_hf - np.clip(health, 1.0, pre_hf)) / (pre_hf - 1.0)
        lcf1, lcf2 = self.params.pre_lcf1 / WAD, self.params.pre_lcf2 / WAD
        lif1, lif2 = self.params.pre_lif1 / WAD, self.params.pre_lif2 / WAD
        bound: np.ndarray = (
            largest_debt * (lcf1 + below * (lcf2 - lcf1)) * (lif1 - 1.0 + below * (lif2 - lif1))
        )
        return bound

    def offers(
        self, pool: AavePool, user: str, timestamp: int, health: int
    ) -> list[PreLiquidationOffer]:
        """Each (collateral, debt) pair's largest pre-liquidation at the account's ``health``
        factor (the Pool's, now), most profitable first."""
        if not self.in_soft_zone(health):
            return []
        terms = pre_liquidation_terms(self.params, health)
        config = pool.user_config(user)
        category = pool.emode_categories.get(config.emode)
        offers = []
        for collateral in sorted(config.collateral):
            reserve = pool.reserves[collateral]
            in_emode = in_emode_as_collateral(pool.version, config.emode, category, reserve)
            threshold = (
                category.liquidation_threshold
                if category and in_emode
                else reserve.config.liquidation_threshold
            )
            if threshold == 0:
                continue
            # b·t ≤ HF keeps health from falling: the incentive is at most HF/t.
            incentive = min(terms.pre_lif, health * PERCENTAGE_FACTOR // threshold)
            balance = pool.collateral_balance(collateral, user, timestamp)
            for debt in sorted(config.borrowing):
                offer = self._offer(
                    pool, user, collateral, debt, balance, terms, incentive, timestamp
                )
                if offer is not None:
                    offers.append(offer)
        offers.sort(key=lambda o: (-o.profit_base, o.collateral, o.debt))
        return offers

    def _offer(
        self,
        pool: AavePool,
        user: str,
        collateral: str,
        debt: str,
        balance: int,
        terms: PreLiquidationTerms,
        incentive: int,
        timestamp: int,
    ) -> PreLiquidationOffer | None:
        col, dbt = pool.reserves[collateral], pool.reserves[debt]
        col_price, debt_price = pool.prices[collateral], pool.prices[debt]
        repaid = pool.debt_balance(debt, user, timestamp) * terms.pre_lcf // WAD
        # Collateral for the repaid debt's value at the incentive, rounded against the borrower.
        denominator = col_price * dbt.config.unit * WAD
        seized = -(-repaid * debt_price * col.config.unit * incentive // denominator)
        if seized > balance:
            seized = balance
            repaid = seized * denominator // (debt_price * col.config.unit * incentive)
        if repaid == 0 or seized == 0:
            return None
        profit = value_in_base(seized, col_price, col) - value_in_base(
            repaid, debt_price, dbt, round_up=True
        )
        return PreLiquidationOffer(collateral, debt, repaid, seized, incentive, profit)

    def act(
        self, pool: AavePool, user: str, timestamp: int, opted_in: bool
    ) -> AaveActionResult | None:
        health = pool.user_account_data(user, timestamp).health_factor
        if health < HEALTH_FACTOR_LIQUIDATION_THRESHOLD:
            return self._liquidation.act(pool, user, timestamp, opted_in)
        if not opted_in:
            return None
        for offer in self.offers(pool, user, timestamp, health):
            try:
                after = pool.atomically(
                    functools.partial(self._execute, pool, user, offer, health, timestamp)
                )
            except AaveRevert:
                continue
            return AaveActionResult(
                "pre_liquidation",
                offer.collateral,
                offer.debt,
                offer.repaid,
                offer.seized,
                0,
                0,
                offer.incentive,
                health,
                after,
            )
        return None

    def _execute(
        self, pool: AavePool, user: str, offer: PreLiquidationOffer, health: int, timestamp: int
    ) -> int:
        pool.repay(offer.debt, offer.repaid, user, timestamp, sender=self.pre_liquidator)
        pool.transfer_atokens(offer.collateral, user, self.pre_liquidator, offer.seized, timestamp)
        after = pool.user_account_data(user, timestamp).health_factor
        if after < health:
            raise AaveRevert(PRE_LIQUIDATION_LOWERS_HEALTH, pool.version)
        return after
