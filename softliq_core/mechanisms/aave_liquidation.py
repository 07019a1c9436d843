"""Aave V3's standard liquidation under the rules of the Pool version in force: anyone may repay an
unhealthy position (HF < 1) — up to the close factor (v3.0–3.2: 50 %, 100 % at HF ≤ 0.95; v3.3+:
100 % unless both sides exceed $2,000, the dust rule, deficit) — for collateral at the liquidation
bonus, a protocol fee taken on the bonus. The liquidator takes the most profitable (collateral,
debt) pair and the largest amount the Pool accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

from softliq_core.protocols.aave.account import HEALTH_FACTOR_LIQUIDATION_THRESHOLD, value_in_base
from softliq_core.protocols.aave.errors import AaveRevert
from softliq_core.protocols.aave.liquidation import MIN_LEFTOVER_BASE
from softliq_core.protocols.aave.pool import MAX_UINT, AavePool, LiquidationPlan

DEFAULT_LIQUIDATOR = "0x" + "11" * 20


@dataclass(frozen=True, slots=True)
class AaveActionResult:
    kind: str  # "liquidation" or "pre_liquidation"
    collateral_asset: str
    debt_asset: str
    debt_repaid: int  # debt token units
    collateral_to_liquidator: int  # collateral token units
    protocol_fee: int  # collateral token units to the treasury
    deficit: int  # debt token units written off (v3.3+)
    incentive: int  # WAD: the collateral paid per unit of debt value (bonus or preLIF)
    health_before: int
    health_after: int


@dataclass(frozen=True, slots=True)
class LiquidationChoice:
    collateral: str
    debt: str
    debt_to_cover: int
    plan: LiquidationPlan
    profit_base: int  # the liquidator's collateral minus the debt it repays, in base currency


def liquidation_choices(pool: AavePool, user: str, timestamp: int) -> list[LiquidationChoice]:
    """Every (collateral, debt) pair the Pool would liquidate now with the largest amount it
    accepts (all it allows, else the most that leaves v3.3's $1,000 of debt, else of the
    collateral), most profitable first."""
    config = pool.user_config(user)
    choices = []
    for collateral in sorted(config.collateral):
        for debt in sorted(config.borrowing):
            choice = _largest_liquidation(pool, user, collateral, debt, timestamp)
            if choice is not None:
                choices.append(choice)
    choices.sort(key=lambda c: (-c.profit_base, c.collateral, c.debt))
    return choices


def _largest_liquidation(
    pool: AavePool, user: str, collateral: str, debt: str, timestamp: int
) -> LiquidationChoice | None:
    debt_reserve = pool.reserves[debt]
    price = pool.prices[debt]
    user_debt = pool.debt_balance(debt, user, timestamp)
    # The most that leaves exactly the minimum leftover of debt (v3.3+ dust rule).
    below_leftover = user_debt - -(-MIN_LEFTOVER_BASE * debt_reserve.config.unit // price)

    def plan(amount: int) -> LiquidationPlan | None:
        """The Pool's plan for ``amount``; None when it would leave dust (other reverts raise)."""
        try:
            return pool.plan_liquidation(
                collateral, debt, user, amount, DEFAULT_LIQUIDATOR, timestamp
            )
        except AaveRevert as revert:
            if revert.name == "MUST_NOT_LEAVE_DUST":
                return None
            raise

    try:
        found = next(
            ((a, p) for a in (MAX_UINT, below_leftover) if a > 0 and (p := plan(a)) is not None),
            None,
        )
        if found is None and below_leftover > 1:
            # Both leave under $1,000 of this collateral. Up to ``below_leftover`` the debt left
            # is enough and the more is repaid the less collateral is left, so the largest amount
            # the Pool accepts is where that crosses $1,000: bisect for it.
            accepted, refused = 0, below_leftover
            while refused - accepted > 1:
                middle = (accepted + refused) // 2
                accepted, refused = (
                    (accepted, middle) if plan(middle) is None else (middle, refused)
                )
            largest = plan(accepted) if accepted else None
            found = (accepted, largest) if largest is not None else None
    except AaveRevert:
        return None
    if found is None:
        return None
    amount, accepted_plan = found
    if accepted_plan.amounts.debt_repaid == 0:
        return None
    gain = value_in_base(
        accepted_plan.amounts.collateral_to_liquidator,
        pool.prices[collateral],
        pool.reserves[collateral],
    )
    cost = value_in_base(accepted_plan.amounts.debt_repaid, price, debt_reserve, round_up=True)
    return LiquidationChoice(collateral, debt, amount, accepted_plan, gain - cost)


@dataclass(frozen=True)
class AaveLiquidation:
    liquidator: str = DEFAULT_LIQUIDATOR
    receive_atoken: bool = False
    name: str = "aave_liquidation"

    @property
    def lowest_trigger_health_factor(self) -> int:
        """WAD health factor at or above which the mechanism never acts."""
        return HEALTH_FACTOR_LIQUIDATION_THRESHOLD

    def triggered(self, health_factor: int, opted_in: bool) -> bool:
        """May act on an account at ``health_factor`` (WAD, the Pool's account data)."""
        return health_factor < HEALTH_FACTOR_LIQUIDATION_THRESHOLD

    def in_soft_zone(self, health_factor: int) -> bool:
        return False  # no soft zone: only the hard liquidation

    def act(
        self, pool: AavePool, user: str, timestamp: int, opted_in: bool
    ) -> AaveActionResult | None:
        """The most profitable liquidation the Pool accepts, applied to ``pool``."""
        before = pool.user_account_data(user, timestamp).health_factor
        for choice in liquidation_choices(pool, user, timestamp):
            try:
                outcome = pool.liquidation_call(
                    choice.collateral,
                    choice.debt,
                    user,
                    choice.debt_to_cover,
                    self.receive_atoken,
                    self.liquidator,
                    timestamp,
                )
            except AaveRevert:
                continue
            return AaveActionResult(
                "liquidation",
                choice.collateral,
                choice.debt,
                outcome.debt_repaid,
                outcome.collateral_to_liquidator,
                outcome.protocol_fee,
                outcome.deficit,
                choice.plan.liquidation_bonus * 10**14,
                before,
                pool.user_account_data(user, timestamp).health_factor,
            )
        return None
