"""Aave V3's Pool as a state machine: the external calls with the contract's checks, Errors.sol
codes, state changes, rate updates and events, in the order of the Pool version in force.

The synthetic chain drives it to write history as the contract would, and tests/differential drives
it beside the real Pool bytecode. Amounts are token units, prices the AaveOracle's (USD, 8 decimals),
timestamps block timestamps. A reverted call leaves no trace (EVM atomicity).

Scope: variable-rate debt only (stable borrowing is never enabled on Ethereum), no isolation mode,
siloed borrowing, flash loans, bridges or price oracle sentinel; the eMode price source (never used
on Ethereum, removed in v3.2) is ignored; rates follow DefaultReserveInterestRateStrategy v3.0.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from softliq_core.protocols.aave.account import (
    HEALTH_FACTOR_LIQUIDATION_THRESHOLD,
    AccountData,
    UserConfig,
    account_data,
    in_emode_as_collateral,
    value_in_base,
)
from softliq_core.protocols.aave.errors import (
    NOT_A_RESERVE,
    PANIC_UNDERFLOW,
    SAFECAST_OVERFLOW,
    AaveRevert,
)
from softliq_core.protocols.aave.liquidation import (
    CloseFactorInputs,
    CollateralAmounts,
    collateral_to_liquidate,
    leaves_dust,
    max_liquidatable_debt,
)
from softliq_core.protocols.aave.math import UINT128_MAX, UINT256_MAX, percent_div, ray_div, ray_mul
from softliq_core.protocols.aave.rates import InterestRates, RateStrategy
from softliq_core.protocols.aave.reserve import (
    EModeCategory,
    Reserve,
    ReserveConfig,
    normalized_debt,
    normalized_income,
    update_state,
)
from softliq_core.protocols.aave.tokens import (
    ZERO,
    ScaledToken,
    a_balance,
    a_burn_scaled,
    a_mint_scaled,
    v_burn_scaled,
    v_mint_scaled,
)
from softliq_core.protocols.aave.version import V3_2, V3_4, V3_6, PoolVersion

MAX_UINT = UINT256_MAX
VARIABLE_RATE_MODE = 2
Event = dict[str, Any]
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class LiquidationOutcome:
    debt_repaid: int  # debt token units the liquidator paid (LiquidationCall.debtToCover)
    collateral_to_liquidator: int  # collateral units (LiquidationCall.liquidatedCollateralAmount)
    protocol_fee: int  # collateral units (aTokens) to the treasury
    deficit: int  # debt units of this reserve written off (v3.3+, no collateral left)


@dataclass(frozen=True, slots=True)
class LiquidationPlan:
    """A liquidationCall's amounts and the position they apply to, before any state changes."""

    amounts: CollateralAmounts
    user_debt: int  # the user's debt in the debt reserve
    user_collateral: int  # the user's aToken balance in the collateral reserve
    liquidation_bonus: int  # bps applied (eMode's when the collateral is in the user's eMode)
    health_factor: int
    no_collateral_left: bool  # v3.3+: the whole position's collateral is seized


def _atomic(call: Callable[P, R]) -> Callable[P, R]:
    """Undo every state change and event of a call that reverts, as the EVM does: the reserves'
    scalars are copied, the users' configurations and the tokens' holders journaled on write."""

    @functools.wraps(call)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        pool = args[0]
        assert isinstance(pool, AavePool)
        reserves = {a: _reserve_snapshot(r) for a, r in pool.reserves.items()}
        tokens = [t for r in pool.reserves.values() for t in (r.a_token, r.v_token)]
        outer_undo = [t.undo for t in tokens]
        for token in tokens:
            token.undo = {}
        n_events = len(pool.events)
        outer, pool._journal = pool._journal, {}
        reverted = False
        try:
            return call(*args, **kwargs)
        except AaveRevert:
            reverted = True
            for asset, snapshot in reserves.items():
                _restore(pool.reserves[asset], snapshot)
            for token in tokens:
                token.rollback()
            for user, before in pool._journal.items():
                if before is None:
                    pool.users.pop(user, None)
                else:
                    pool.users[user] = before
            del pool.events[n_events:]
            raise
        finally:
            inner, pool._journal = pool._journal, outer
            for token, undo in zip(tokens, outer_undo, strict=True):
                written, token.undo = token.undo, undo
                # An enclosing transaction must be able to undo this call's writes too.
                if undo is not None and not reverted:
                    assert written is not None
                    for holder, held in written.items():
                        undo.setdefault(holder, held)
            if not reverted:
                for user, before in inner.items():
                    outer.setdefault(user, before)

    return wrapper


def _reserve_snapshot(reserve: Reserve) -> tuple[dict[str, Any], tuple[int, int]]:
    scalars = {k: v for k, v in vars(reserve).items() if isinstance(v, int)}
    return scalars, (reserve.a_token.total, reserve.v_token.total)


def _restore(reserve: Reserve, snapshot: tuple[dict[str, Any], tuple[int, int]]) -> None:
    scalars, (a_total, v_total) = snapshot
    for key, value in scalars.items():
        setattr(reserve, key, value)
    reserve.a_token.total, reserve.v_token.total = a_total, v_total


@dataclass
class AavePool:
    """One Aave V3 Pool (with its tokens and oracle prices) under one ``version``."""

    address: str
    version: PoolVersion
    treasury: str
    reserves: dict[str, Reserve] = field(default_factory=dict)
    users: dict[str, UserConfig] = field(default_factory=dict)
    emode_categories: dict[int, EModeCategory] = field(default_factory=dict)
    prices: dict[str, int] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    _journal: dict[str, UserConfig | None] = field(default_factory=dict, repr=False)

    # -- configuration (PoolConfigurator / AaveOracle) -----------------------------------------

    def init_reserve(
        self,
        asset: str,
        config: ReserveConfig,
        strategy: RateStrategy | None,
        a_token: str,
        v_token: str,
        timestamp: int = 0,
    ) -> Reserve:
        if asset in self.reserves:
            raise ValueError(f"reserve {asset}: already initialised")
        reserve = Reserve(
            asset,
            len(self.reserves),
            config,
            ScaledToken(a_token, False, self.version, events=self.events),
            ScaledToken(v_token, True, self.version, events=self.events),
            strategy,
            last_update=timestamp,
        )
        self.reserves[asset] = reserve
        return reserve

    def upgrade(self, version: PoolVersion) -> None:
        """The proxy's implementation changes: the new version's rules apply from now on."""
        self.version = version
        for reserve in self.reserves.values():
            reserve.a_token.version = reserve.v_token.version = version

    def configure_reserve(self, asset: str, config: ReserveConfig) -> None:
        self._reserve(asset).config = config

    def set_emode_category(self, category_id: int, category: EModeCategory) -> None:
        if category_id == 0:
            raise ValueError("eMode category 0 is reserved (no eMode)")
        self.emode_categories[category_id] = category

    def set_price(self, asset: str, price: int) -> None:
        if price <= 0:
            raise ValueError(f"price of {asset}: must be > 0, got {price}")
        self.prices[asset] = price

    # -- views ---------------------------------------------------------------------------------

    def user_config(self, user: str) -> UserConfig:
        return self.users.get(user) or UserConfig()

    def user_account_data(self, user: str, timestamp: int) -> AccountData:
        """Pool.getUserAccountData: totals in base, available borrows, LT, LTV, health factor."""
        return account_data(
            self.version,
            self.reserves,
            self.emode_categories,
            self.prices,
            user,
            self.user_config(user),
            timestamp,
        )

    def collateral_balance(self, asset: str, user: str, timestamp: int) -> int:
        reserve = self._reserve(asset)
        return reserve.a_token.balance(user, normalized_income(reserve, timestamp))

    def debt_balance(self, asset: str, user: str, timestamp: int) -> int:
        reserve = self._reserve(asset)
        return reserve.v_token.balance(user, normalized_debt(reserve, timestamp, self.version))

    def atomically(self, call: Callable[[], R]) -> R:
        """Run several calls as one transaction: if any reverts, none leaves a trace."""
        return _atomic(lambda pool: call())(self)

    # -- helpers -------------------------------------------------------------------------------

    def _revert(self, name: str) -> AaveRevert:
        return AaveRevert(name, self.version)

    def _reserve(self, asset: str) -> Reserve:
        reserve = self.reserves.get(asset)
        if reserve is None:
            raise self._revert(NOT_A_RESERVE)
        return reserve

    def _config(self, user: str) -> UserConfig:
        """The user's configuration for writing: journaled so a revert restores it."""
        if user not in self._journal:
            existing = self.users.get(user)
            self._journal[user] = existing.copy() if existing else None
        return self.users.setdefault(user, UserConfig())

    def _emit(self, event: str, **fields: Any) -> None:
        self.events.append(
            {"event": event, "contract": self.address, "kind": "aave_pool", **fields}
        )

    def _require(self, condition: bool, name: str) -> None:
        if not condition:
            raise self._revert(name)

    def _require_active(self, reserve: Reserve, *, frozen_too: bool = False) -> None:
        self._require(reserve.config.active, "RESERVE_INACTIVE")
        self._require(not reserve.config.paused, "RESERVE_PAUSED")
        if frozen_too:
            self._require(not reserve.config.frozen, "RESERVE_FROZEN")

    def _update_rates(self, reserve: Reserve, added: int, taken: int) -> None:
        """ReserveLogic.updateInterestRates: the strategy's rates, then ReserveDataUpdated. A reserve
        rebuilt from events has no strategy: its rates stay the last emitted (exogenous)."""
        available = reserve.underlying_balance + added - taken
        if reserve.strategy is None:
            rates = InterestRates(
                reserve.liquidity_rate, reserve.stable_borrow_rate, reserve.variable_borrow_rate
            )
        elif available < 0:
            raise self._revert(PANIC_UNDERFLOW)
        else:
            rates = reserve.strategy.rates(
                available,
                ray_mul(reserve.v_token.total, reserve.variable_borrow_index),
                reserve.config.reserve_factor,
            )
        stable = rates.stable_borrow_rate if self.version < V3_2 else 0
        if max(rates.liquidity_rate, stable, rates.variable_borrow_rate) > UINT128_MAX:
            raise self._revert(SAFECAST_OVERFLOW)
        reserve.liquidity_rate = rates.liquidity_rate
        reserve.stable_borrow_rate = stable
        reserve.variable_borrow_rate = rates.variable_borrow_rate
        self._emit(
            "ReserveDataUpdated",
            reserve=reserve.asset,
            liquidity_rate=rates.liquidity_rate,
            stable_borrow_rate=stable,
            variable_borrow_rate=rates.variable_borrow_rate,
            liquidity_index=reserve.liquidity_index,
            variable_borrow_index=reserve.variable_borrow_index,
        )

    def _account(self, user: str, timestamp: int) -> AccountData:
        return self.user_account_data(user, timestamp)

    def _validate_health_factor(self, user: str, timestamp: int) -> AccountData:
        data = self._account(user, timestamp)
        self._require(
            data.health_factor >= HEALTH_FACTOR_LIQUIDATION_THRESHOLD,
            "HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD",
        )
        return data

    def _validate_hf_and_ltv(self, user: str, asset: str, timestamp: int) -> None:
        data = self._validate_health_factor(user, timestamp)
        self._require(
            not data.has_zero_ltv_collateral or self.reserves[asset].config.ltv == 0,
            "LTV_VALIDATION_FAILED",
        )

    @staticmethod
    def _can_use_as_collateral(reserve: Reserve) -> bool:
        """validateUseAsCollateral without isolation mode: the reserve's LTV must be non-zero."""
        return reserve.config.ltv != 0

    def _set_collateral(self, user: str, asset: str, enabled: bool) -> None:
        config = self._config(user)
        if enabled:
            config.collateral.add(asset)
            self._emit("ReserveUsedAsCollateralEnabled", reserve=asset, user=user)
        else:
            config.collateral.discard(asset)
            self._emit("ReserveUsedAsCollateralDisabled", reserve=asset, user=user)

    def _borrowable_in_emode(self, category_id: int, reserve: Reserve) -> bool:
        category = self.emode_categories.get(category_id)
        if self.version >= V3_2:
            return category is not None and reserve.asset in category.borrowable_assets
        return reserve.config.emode_category == category_id

    # -- user calls ----------------------------------------------------------------------------

    @_atomic
    def supply(
        self,
        asset: str,
        amount: int,
        on_behalf_of: str,
        timestamp: int,
        sender: str | None = None,
    ) -> None:
        """Pool.supply: ``sender`` (default ``on_behalf_of``) pays, ``on_behalf_of`` gets aTokens."""
        sender = sender or on_behalf_of
        reserve = self._reserve(asset)
        update_state(reserve, timestamp, self.version)
        self._require(amount != 0, "INVALID_AMOUNT")
        self._require_active(reserve, frozen_too=True)
        cap = reserve.config.supply_cap
        supplied = ray_mul(
            reserve.a_token.total + reserve.accrued_to_treasury, reserve.liquidity_index
        )
        self._require(
            cap == 0 or supplied + amount <= cap * reserve.config.unit, "SUPPLY_CAP_EXCEEDED"
        )
        self._update_rates(reserve, amount, 0)
        reserve.underlying_balance += amount
        index = reserve.liquidity_index
        first = reserve.a_token.mint(
            sender, on_behalf_of, amount, a_mint_scaled(amount, index, self.version), index
        )
        if first and self._can_use_as_collateral(reserve):
            self._set_collateral(on_behalf_of, asset, True)
        self._emit(
            "Supply",
            reserve=asset,
            user=sender,
            on_behalf_of=on_behalf_of,
            amount=amount,
            referral_code=0,
        )

    @_atomic
    def withdraw(
        self, asset: str, amount: int, user: str, timestamp: int, to: str | None = None
    ) -> int:
        """Pool.withdraw by ``user`` to ``to`` (default the user); 2**256 − 1 withdraws all."""
        to = to or user
        reserve = self._reserve(asset)
        update_state(reserve, timestamp, self.version)
        index = reserve.liquidity_index
        scaled = reserve.a_token.scaled_balance(user)
        balance = a_balance(scaled, index, self.version)
        amount = balance if amount == MAX_UINT else amount
        self._require(amount != 0, "INVALID_AMOUNT")
        self._require(amount <= balance, "NOT_ENOUGH_AVAILABLE_USER_BALANCE")
        self._require_active(reserve)
        self._update_rates(reserve, 0, amount)
        config = self.user_config(user)
        is_collateral = asset in config.collateral
        if is_collateral and amount == balance:
            self._set_collateral(user, asset, False)
        burn_scaled = (
            scaled
            if self.version.directional_rounding and amount == balance
            else a_burn_scaled(amount, index, self.version)
        )
        reserve.a_token.burn(user, to, amount, burn_scaled, index)
        reserve.underlying_balance -= amount
        if is_collateral and self.user_config(user).borrowing:
            self._validate_hf_and_ltv(user, asset, timestamp)
        self._emit("Withdraw", reserve=asset, user=user, to=to, amount=amount)
        return amount

    @_atomic
    def borrow(self, asset: str, amount: int, user: str, timestamp: int) -> None:
        """Pool.borrow at the variable rate, by ``user`` on its own behalf."""
        reserve = self._reserve(asset)
        update_state(reserve, timestamp, self.version)
        self._require(amount != 0, "INVALID_AMOUNT")
        self._require_active(reserve, frozen_too=True)
        self._require(reserve.config.borrowing_enabled, "BORROWING_NOT_ENABLED")
        unit = reserve.config.unit
        cap = reserve.config.borrow_cap
        if cap != 0:
            total = ray_mul(reserve.v_token.total, reserve.variable_borrow_index) + amount
            self._require(total <= cap * unit, "BORROW_CAP_EXCEEDED")
        config = self.user_config(user)
        if config.emode != 0:
            self._require(
                self._borrowable_in_emode(config.emode, reserve), "INCONSISTENT_EMODE_CATEGORY"
            )
        data = self._account(user, timestamp)
        self._require(data.total_collateral_base != 0, "COLLATERAL_BALANCE_IS_ZERO")
        self._require(data.ltv != 0, "LTV_VALIDATION_FAILED")
        self._require(
            data.health_factor > HEALTH_FACTOR_LIQUIDATION_THRESHOLD,
            "HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD",
        )
        # Solidity 0.8 checked arithmetic: price × amount, then debt + amount (Panic 0x11).
        value = self.prices[asset] * amount
        if value > UINT256_MAX or data.total_debt_base + value // unit > UINT256_MAX:
            raise self._revert(PANIC_UNDERFLOW)
        needed = percent_div(data.total_debt_base + value // unit, data.ltv)
        self._require(needed <= data.total_collateral_base, "COLLATERAL_CANNOT_COVER_NEW_BORROW")
        index = reserve.variable_borrow_index
        first = reserve.v_token.mint(
            user, user, amount, v_mint_scaled(amount, index, self.version), index
        )
        if first:
            self._config(user).borrowing.add(asset)
        self._update_rates(reserve, 0, amount)
        reserve.underlying_balance -= amount
        self._emit(
            "Borrow",
            reserve=asset,
            user=user,
            on_behalf_of=user,
            amount=amount,
            interest_rate_mode=VARIABLE_RATE_MODE,
            borrow_rate=reserve.variable_borrow_rate,
            referral_code=0,
        )

    @_atomic
    def repay(
        self,
        asset: str,
        amount: int,
        user: str,
        timestamp: int,
        with_atokens: bool = False,
        sender: str | None = None,
    ) -> int:
        """Pool.repay (or repayWithATokens) of ``user``'s variable debt; 2**256 − 1 repays all.
        ``sender`` (default the user) pays; with aTokens the sender is the user."""
        sender = user if with_atokens else (sender or user)
        reserve = self._reserve(asset)
        update_state(reserve, timestamp, self.version)
        debt_index = reserve.variable_borrow_index
        variable_debt = reserve.v_token.balance(user, debt_index)
        self._require(amount != 0, "INVALID_AMOUNT")
        self._require(amount != MAX_UINT or sender == user, "NO_EXPLICIT_AMOUNT_TO_REPAY_ON_BEHALF")
        self._require_active(reserve)
        self._require(variable_debt != 0, "NO_DEBT_OF_SELECTED_TYPE")
        liquidity_index = reserve.liquidity_index
        if with_atokens and amount == MAX_UINT:
            amount = reserve.a_token.balance(sender, liquidity_index)
        payback = min(amount, variable_debt)
        reserve.v_token.burn(
            user, ZERO, payback, v_burn_scaled(payback, debt_index, self.version), debt_index
        )
        self._update_rates(reserve, 0 if with_atokens else payback, 0)
        if variable_debt == payback:
            self._config(user).borrowing.discard(asset)
        if with_atokens:
            reserve.a_token.burn(
                sender,
                reserve.a_token.address,
                payback,
                a_burn_scaled(payback, liquidity_index, self.version),
                liquidity_index,
            )
        else:
            reserve.underlying_balance += payback
        self._emit(
            "Repay",
            reserve=asset,
            user=user,
            repayer=sender,
            amount=payback,
            use_a_tokens=with_atokens,
        )
        return payback

    @_atomic
    def set_use_reserve_as_collateral(
        self, user: str, asset: str, use: bool, timestamp: int
    ) -> None:
        """Pool.setUserUseReserveAsCollateral by ``user``."""
        reserve = self._reserve(asset)
        balance = reserve.a_token.balance(user, normalized_income(reserve, timestamp))
        self._require(balance != 0, "UNDERLYING_BALANCE_ZERO")
        self._require_active(reserve)
        if use == (asset in self.user_config(user).collateral):
            return
        if use:
            self._require(
                self._can_use_as_collateral(reserve),
                "USER_IN_ISOLATION_MODE_OR_LTV_ZERO",
            )
            self._set_collateral(user, asset, True)
            return
        self._config(user).collateral.discard(asset)
        self._validate_hf_and_ltv(user, asset, timestamp)
        self._emit("ReserveUsedAsCollateralDisabled", reserve=asset, user=user)

    @_atomic
    def set_user_emode(self, user: str, category: int, timestamp: int) -> None:
        """Pool.setUserEMode by ``user``: every borrowed asset must be borrowable in the category."""
        self._require(
            category == 0
            or (
                category in self.emode_categories
                and self.emode_categories[category].liquidation_threshold != 0
            ),
            "INCONSISTENT_EMODE_CATEGORY",
        )
        config = self.user_config(user)
        if category != 0 and not config.is_empty():
            for asset in config.borrowing:
                self._require(
                    self._borrowable_in_emode(category, self.reserves[asset]),
                    "INCONSISTENT_EMODE_CATEGORY",
                )
        previous = config.emode
        self._config(user).emode = category
        if previous != 0:
            self._validate_health_factor(user, timestamp)
        self._emit("UserEModeSet", user=user, category_id=category)

    @_atomic
    def mint_to_treasury(self, assets: list[str], timestamp: int) -> None:
        """Pool.mintToTreasury: the treasury's accrued share becomes aTokens."""
        for asset in assets:
            reserve = self._reserve(asset)
            if not reserve.config.active or reserve.accrued_to_treasury == 0:
                continue
            accrued, reserve.accrued_to_treasury = reserve.accrued_to_treasury, 0
            index = normalized_income(reserve, timestamp)
            amount = ray_mul(accrued, index)
            reserve.a_token.mint(
                self.address,
                self.treasury,
                amount,
                a_mint_scaled(amount, index, self.version),
                index,
            )
            self._emit("MintedToTreasury", reserve=asset, amount_minted=amount)

    def plan_liquidation(
        self,
        collateral: str,
        debt: str,
        user: str,
        debt_to_cover: int,
        liquidator: str,
        timestamp: int,
    ) -> LiquidationPlan:
        """What liquidationCall would do at ``timestamp``, or the AaveRevert it would raise; a view
        (the debt reserve's updateState is its normalized debt at ``timestamp``)."""
        version = self.version
        collateral_reserve = self._reserve(collateral)
        debt_reserve = self._reserve(debt)
        data = self._account(user, timestamp)
        config = self.user_config(user)
        user_debt = debt_reserve.v_token.balance(
            user, normalized_debt(debt_reserve, timestamp, version)
        )
        income = normalized_income(collateral_reserve, timestamp)
        user_collateral = collateral_reserve.a_token.balance(user, income)
        collateral_price, debt_price = self.prices[collateral], self.prices[debt]
        max_debt = max_liquidatable_debt(
            version,
            CloseFactorInputs(
                health_factor=data.health_factor,
                user_reserve_debt=user_debt,
                debt_base=value_in_base(
                    user_debt, debt_price, debt_reserve, round_up=version.directional_rounding
                ),
                collateral_base=value_in_base(
                    user_collateral, collateral_price, collateral_reserve
                ),
                total_debt_base=data.total_debt_base,
                debt_price=debt_price,
                debt_unit=debt_reserve.config.unit,
            ),
        )
        self._require(
            collateral_reserve.config.active and debt_reserve.config.active, "RESERVE_INACTIVE"
        )
        self._require(
            not collateral_reserve.config.paused and not debt_reserve.config.paused,
            "RESERVE_PAUSED",
        )
        self._require(
            data.health_factor < HEALTH_FACTOR_LIQUIDATION_THRESHOLD,
            "HEALTH_FACTOR_NOT_BELOW_THRESHOLD",
        )
        lt_ok = collateral_reserve.config.liquidation_threshold != 0 or version >= V3_6
        self._require(lt_ok and collateral in config.collateral, "COLLATERAL_CANNOT_BE_LIQUIDATED")
        self._require(user_debt != 0, "SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER")
        if version >= V3_4:
            self._require(liquidator != user, "SELF_LIQUIDATION")
        category = self.emode_categories.get(config.emode)
        in_emode = in_emode_as_collateral(version, config.emode, category, collateral_reserve)
        bonus = (
            category.liquidation_bonus
            if category and in_emode
            else collateral_reserve.config.liquidation_bonus
        )
        amounts = collateral_to_liquidate(
            version,
            debt_to_cover=min(debt_to_cover, max_debt),
            user_collateral_balance=user_collateral,
            collateral_price=collateral_price,
            collateral_unit=collateral_reserve.config.unit,
            debt_price=debt_price,
            debt_unit=debt_reserve.config.unit,
            liquidation_bonus=bonus,
            protocol_fee_bps=collateral_reserve.config.liquidation_protocol_fee,
        )
        self._require(
            not leaves_dust(
                version,
                user_reserve_debt=user_debt,
                user_collateral_balance=user_collateral,
                amounts=amounts,
                debt_price=debt_price,
                debt_unit=debt_reserve.config.unit,
                collateral_price=collateral_price,
                collateral_unit=collateral_reserve.config.unit,
            ),
            "MUST_NOT_LEAVE_DUST",
        )
        no_collateral_left = version.position_close_factor and data.total_collateral_base == (
            value_in_base(amounts.collateral_seized, collateral_price, collateral_reserve)
        )
        return LiquidationPlan(
            amounts, user_debt, user_collateral, bonus, data.health_factor, no_collateral_left
        )

    @_atomic
    def liquidation_call(
        self,
        collateral: str,
        debt: str,
        user: str,
        debt_to_cover: int,
        receive_atoken: bool,
        liquidator: str,
        timestamp: int,
    ) -> LiquidationOutcome:
        """Pool.liquidationCall by ``liquidator`` (LiquidationLogic.executeLiquidationCall)."""
        version = self.version
        collateral_reserve = self._reserve(collateral)
        debt_reserve = self._reserve(debt)
        update_state(debt_reserve, timestamp, version)
        plan = self.plan_liquidation(collateral, debt, user, debt_to_cover, liquidator, timestamp)
        amounts = plan.amounts
        actual_debt = amounts.debt_repaid
        if actual_debt == plan.user_debt or plan.no_collateral_left:
            self._config(user).borrowing.discard(debt)
        if amounts.collateral_seized == plan.user_collateral:
            self._set_collateral(user, collateral, False)
        burnt = plan.user_debt if plan.no_collateral_left else actual_debt
        debt_index = debt_reserve.variable_borrow_index
        debt_reserve.v_token.burn(
            user, ZERO, burnt, v_burn_scaled(burnt, debt_index, version), debt_index
        )
        deficit = burnt - actual_debt
        debt_reserve.deficit += deficit
        self._update_rates(debt_reserve, actual_debt, 0)
        to_liquidator = amounts.collateral_to_liquidator
        if receive_atoken:
            self._liquidate_atokens(collateral_reserve, user, liquidator, to_liquidator, timestamp)
        else:
            update_state(collateral_reserve, timestamp, version)
            self._update_rates(collateral_reserve, 0, to_liquidator)
            index = collateral_reserve.liquidity_index
            collateral_reserve.a_token.burn(
                user, liquidator, to_liquidator, a_burn_scaled(to_liquidator, index, version), index
            )
            collateral_reserve.underlying_balance -= to_liquidator
        fee = amounts.protocol_fee
        if fee != 0:
            index = normalized_income(collateral_reserve, timestamp)
            remaining = collateral_reserve.a_token.scaled_balance(user)
            if ray_div(fee, index) > remaining:
                fee = ray_mul(remaining, index)
            collateral_reserve.a_token.transfer(
                self.address, user, self.treasury, fee, a_burn_scaled(fee, index, version), index
            )
        if deficit:
            self._emit("DeficitCreated", user=user, debt_asset=debt, amount_created=deficit)
        if plan.no_collateral_left:
            self._burn_bad_debt(user, timestamp)
        debt_reserve.underlying_balance += actual_debt
        self._emit(
            "LiquidationCall",
            collateral_asset=collateral,
            debt_asset=debt,
            user=user,
            debt_to_cover=actual_debt,
            liquidated_collateral_amount=to_liquidator,
            liquidator=liquidator,
            receive_a_token=receive_atoken,
        )
        return LiquidationOutcome(actual_debt, to_liquidator, fee, deficit)

    @_atomic
    def transfer_atokens(
        self, asset: str, sender: str, recipient: str, amount: int, timestamp: int
    ) -> None:
        """AToken.transfer: IncentivizedERC20.transfer casts the amount to uint128 before anything
        else; the aToken moves it, calls Pool.finalizeTransfer (paused, the sender's health, the
        collateral bits; before v3.6 a recipient's first balance becomes collateral), and only
        then emits BalanceTransfer."""
        if amount > UINT128_MAX:
            raise self._revert(SAFECAST_OVERFLOW)
        reserve = self._reserve(asset)
        index = normalized_income(reserve, timestamp)
        sender_before = reserve.a_token.balance(sender, index)
        recipient_before = reserve.a_token.balance(recipient, index)

        def finalize_transfer() -> None:
            self._require(not reserve.config.paused, "RESERVE_PAUSED")
            if sender == recipient or amount == 0:
                return
            if asset in self.user_config(sender).collateral:
                if self.user_config(sender).borrowing:
                    self._validate_hf_and_ltv(sender, asset, timestamp)
                if sender_before == amount:
                    self._set_collateral(sender, asset, False)
            if (
                recipient_before == 0
                and self.version < V3_6
                and self._can_use_as_collateral(reserve)
            ):
                self._set_collateral(recipient, asset, True)

        reserve.a_token.transfer(
            sender,
            sender,
            recipient,
            amount,
            a_burn_scaled(amount, index, self.version),
            index,
            finalize_transfer,
        )

    def _liquidate_atokens(
        self, reserve: Reserve, user: str, liquidator: str, amount: int, timestamp: int
    ) -> None:
        """receiveAToken: the liquidator gets aTokens; before v3.6 a first balance is collateral."""
        index = normalized_income(reserve, timestamp)
        had_none = reserve.a_token.balance(liquidator, index) == 0
        reserve.a_token.transfer(
            self.address,
            user,
            liquidator,
            amount,
            a_burn_scaled(amount, index, self.version),
            index,
        )
        if had_none and self.version < V3_6 and self._can_use_as_collateral(reserve):
            self._set_collateral(liquidator, reserve.asset, True)

    def _burn_bad_debt(self, user: str, timestamp: int) -> None:
        """v3.3+: with no collateral left, every other debt of the user becomes a deficit."""
        config = self._config(user)
        for asset in sorted(config.borrowing, key=lambda a: self.reserves[a].id):
            reserve = self.reserves[asset]
            update_state(reserve, timestamp, self.version)
            index = reserve.variable_borrow_index
            amount = reserve.v_token.balance(user, index)
            reserve.v_token.burn(
                user, ZERO, amount, v_burn_scaled(amount, index, self.version), index
            )
            reserve.deficit += amount
            self._update_rates(reserve, 0, 0)
            config.borrowing.discard(asset)
            self._emit("DeficitCreated", user=user, debt_asset=asset, amount_created=amount)
