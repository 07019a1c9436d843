"""Replay the Aave V3 pool's history under a scenario (DESIGN §4, for Aave).

One pass over the pool's events and its price sources' inputs in (block, log index) order:

* the ledger folds every event into an ``AavePool`` (``aave_ledger``), so indexes, rates, prices,
  configuration and every other user follow history (rule 1);
* each borrower also has a counterfactual account in the same pool under another key
  (``counterfactual:<address>``), opened at the borrower's first ``Borrow`` as a copy of its
  history's account then (its collateral, collateral switches and eMode; no debt yet): nothing can
  liquidate an account without debt, so until then the counterfactual is history (rule 4), and
  opening it there needs nothing from later days (the daily replay resumes the pool from a
  snapshot). It accrues on history's indexes and is valued at history's prices, but the historical
  ``LiquidationCall``s are not applied to it (rule 2); the borrower's own Pool calls from that
  ``Borrow`` on — supply, withdraw, borrow, repay, eMode, collateral switches — are replayed on it as
  intents through the Pool's own checks, clipped to the largest amount the Pool accepts, every clip
  recorded (rule 3);
* the liquidator model acts ``latency_blocks`` after a price or an own action made an account
  actionable, at the top of that block, on the most profitable (collateral, debt) pair the
  mechanism offers (``aave_liquidation`` under the Pool version in force, or
  ``aave_pre_liquidation``), and only when it pays after gas and slippage.

A ``history`` scenario applies every event to the ledger's own accounts and records the historical
``LiquidationCall``s. The whole account is the position, so an Aave outcome row's ``market_id`` is the
pool, and its amounts are in the pool's base currency (USD, 8 decimals) so that reserves add up; the
reserve pair and the token amounts of each action sit in their own columns. Every borrower is
simulated (the pool's histories are small; there is no divergence shortcut as for Morpho).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from softliq_core.mechanisms import AaveActionResult, AaveLiquidation, AavePreLiquidation
from softliq_core.protocols.aave.account import (
    HEALTH_FACTOR_LIQUIDATION_THRESHOLD,
    AccountData,
    UserConfig,
    value_in_base,
)
from softliq_core.protocols.aave.errors import AaveRevert
from softliq_core.protocols.aave.pool import AavePool
from softliq_core.replay.aave_baseline_validation import reproduce_liquidation
from softliq_core.replay.aave_history import AaveHistory
from softliq_core.replay.aave_ledger import AaveLedger
from softliq_core.replay.aave_ledger import history as chain_order
from softliq_core.replay.agenda import Agenda
from softliq_core.replay.health_watch import HealthWatch
from softliq_core.replay.inputs import WRAPPED_NATIVE
from softliq_core.replay.ledger import ReplayError
from softliq_core.replay.liquidator import ActionEconomics
from softliq_core.replay.scenario import AAVE_V3, Scenario

AaveMechanism = AaveLiquidation | AavePreLiquidation
COUNTERFACTUAL = "counterfactual:"
# Pool calls that change an account; a collateral switch outside them is the user's own call.
POOL_ACTIONS = frozenset({"Supply", "Withdraw", "Borrow", "Repay", "LiquidationCall", "FlashLoan"})
TOKEN_MOVES = frozenset({"BalanceTransfer"})
# Columns naming the accounts a history log may change (token moves, calls on another's behalf).
ACCOUNT_COLUMNS = (
    "user",
    "on_behalf_of",
    "from",
    "to",
    "target",
    "caller",
    "liquidator",
    "repayer",
)


class _Declined(AaveRevert):
    """The liquidator model's refusal: undoes the trial call like a revert."""

    def __init__(self) -> None:
        super().__init__("LIQUIDATOR_DECLINED")


@dataclass
class AaveAccountStats:
    max_ltv: float = 0.0  # total debt / total collateral, in base currency
    min_health_factor: int | None = None
    first_action_block: int | None = None
    pre_liquidations: int = 0
    liquidations: int = 0
    clipped: int = 0
    soft_zone_blocks: int = 0
    soft_zone_since: int | None = None
    unprofitable: int = 0

    def count(self, kind: str, block: int) -> None:
        """One more action on the account (a liquidation or a pre-liquidation) in ``block``."""
        self.first_action_block = self.first_action_block or block
        self.pre_liquidations += kind == "pre_liquidation"
        self.liquidations += kind != "pre_liquidation"


@dataclass
class AaveOutcome:
    """Rows in the shared outcome layouts (without ``scenario_id``)."""

    actions: list[dict[str, Any]] = field(default_factory=list)
    clips: list[dict[str, Any]] = field(default_factory=list)
    positions: list[dict[str, Any]] = field(default_factory=list)

    def add(self, scenario_id: str, outcome: AaveOutcome) -> None:
        """Append a scenario's rows, each tagged with its ``scenario_id``."""
        tag = {"scenario_id": scenario_id}
        self.actions += [{**tag, **row} for row in outcome.actions]
        self.clips += [{**tag, **row} for row in outcome.clips]
        self.positions += [{**tag, **row} for row in outcome.positions]


def _ratio(data: AccountData) -> float:
    return data.total_debt_base / data.total_collateral_base if data.total_collateral_base else 0.0


def _health(data: AccountData) -> float | None:
    return data.health_factor / 10**18 if data.total_debt_base else None


class _AaveReplay:
    def __init__(
        self, history: AaveHistory, scenario: Scenario, mechanism: AaveMechanism | None
    ) -> None:
        self.history = history
        self.scenario = scenario
        self.mechanism = mechanism
        self.liquidator = scenario.liquidator
        self.ledger: AaveLedger = history.ledger()
        self.pool: AavePool = self.ledger.pool
        self.market_id = history.setup.pool
        self.borrowers: list[str] = []  # in the order of their first Borrow
        self.stats: dict[str, AaveAccountStats] = {}
        self.opted: dict[str, bool] = {}
        self.busy_transactions = _busy_transactions(history)
        self.agenda = Agenda(history.clock.last_block)
        self.before_call: dict[str, Any] = {}
        self.watch = HealthWatch()  # which accounts a price update can matter to
        events = history.events
        chain_id = int(events["chain_id"][0]) if events.height else 1
        self.weth = WRAPPED_NATIVE.get(chain_id, "")
        self.out = AaveOutcome()

    # -- accounts ------------------------------------------------------------------------------

    def account(self, user: str) -> str:
        """The key of the user's account this scenario acts on."""
        return user if self.scenario.is_history else COUNTERFACTUAL + user

    def _join(self, user: str) -> None:
        """The user's first Borrow: simulate its account from here on, the counterfactual one
        opened as a copy of history's (see the module docstring)."""
        self.borrowers.append(user)
        self.watch.add(self.account(user))  # its row: the borrower's place in this list
        self.stats[user] = AaveAccountStats()
        if not self.scenario.is_history:
            _copy_collateral(self.pool, user, self.account(user))

    def _opted_in(self, user: str) -> bool:
        if user not in self.opted:
            self.opted[user] = self.scenario.opted_in(user, False)
        return self.opted[user]

    def _track(self, user: str, block: int) -> None:
        """After a price or an own action: observe the account, schedule the liquidator if it
        could act."""
        data = self.pool.user_account_data(self.account(user), self.history.clock.timestamp(block))
        if not self._observe(user, block, data):
            return
        assert self.mechanism is not None
        if self.mechanism.triggered(data.health_factor, self._opted_in(user)):
            self.agenda.schedule(block + self.liquidator.latency_blocks, user)

    def _observe(self, user: str, block: int, data: AccountData, declined: bool = False) -> bool:
        """Record the account's LTV, health and soft-zone spell from its account ``data`` now
        (``declined``: just after the liquidator declined its call); True when the mechanism's
        trigger is within reach (health below its lowest trigger)."""
        stats = self.stats[user]
        if data.total_debt_base:
            stats.max_ltv = max(stats.max_ltv, _ratio(data))
            if stats.min_health_factor is None or data.health_factor < stats.min_health_factor:
                stats.min_health_factor = data.health_factor
        trigger = self.mechanism.lowest_trigger_health_factor if self.mechanism else 0
        near = bool(data.total_debt_base) and data.health_factor < trigger
        inside = (
            near and self.mechanism is not None and self.mechanism.in_soft_zone(data.health_factor)
        )
        record = stats.min_health_factor or 0
        band: tuple[int, int | None] | None = None  # in the mechanism's reach: look every time
        if not near:  # nothing to record or do until a new low or the trigger
            band = (max(record, trigger), None)
        elif inside and (declined or not self._opted_in(user)):
            # parked in the window: while it stays there above its record, a look would only
            # schedule the call again (tried when due) or do nothing (opted out)
            band = (max(record, HEALTH_FACTOR_LIQUIDATION_THRESHOLD), trigger)
        self.watch.observed(
            self.pool, self.account(user), data, self.history.clock.timestamp(block), band,
            stats.max_ltv, calls=inside and self._opted_in(user),
        )  # fmt: skip
        if self.mechanism is None:
            return False
        if inside and stats.soft_zone_since is None:
            stats.soft_zone_since = block
        elif not inside and stats.soft_zone_since is not None:
            stats.soft_zone_blocks += block - stats.soft_zone_since
            stats.soft_zone_since = None
        return near

    # -- the liquidator ------------------------------------------------------------------------

    def _run_due(self, up_to_block: int) -> None:
        for block, users in self.agenda.until(up_to_block):
            self.ledger.at_block(block, self.history.clock.timestamp(block))
            declined = self._surely_declined(block, users)
            for user in users:
                if user in declined:
                    self.stats[user].unprofitable += 1
                else:
                    self._act(block, user)

    def _surely_declined(self, block: int, users: list[str]) -> set[str]:
        """The due calls on accounts parked in the pre-liquidation window that the watch's bounds
        settle: a look now would change nothing (the account is still in the window above its
        record) and no offer's profit can exceed gas and the least profit, so ``_act`` would
        count a decline and nothing else. (Accounts acting first in the block move the reserves'
        rates, not these accounts' balances, prices or indexes at this timestamp.)"""
        if not isinstance(self.mechanism, AavePreLiquidation):
            return set()
        rows = np.array([self.watch.rows[self.account(user)] for user in users])
        if not (self.watch.calls[rows] & self.watch.watched[rows]).any():
            return set()
        timestamp = self.history.clock.timestamp(block)
        parked, health, largest_debt, slack = self.watch.parked_bounds(self.pool, timestamp, rows)
        bar = float(self._profit_bar(block))
        surely = parked & (self.mechanism.most_profit(health, largest_debt) + slack < bar)
        return {user for user, declined in zip(users, surely, strict=True) if declined}

    def _act(self, block: int, user: str) -> None:
        assert self.mechanism is not None
        timestamp = self.history.clock.timestamp(block)
        account = self.account(user)
        # The account's data as each call finds it: a declined or reverted call leaves no trace.
        data = self.pool.user_account_data(account, timestamp)
        declined = False
        for call_index in range(self.liquidator.max_calls_per_block):
            deficits = {asset: r.deficit for asset, r in self.pool.reserves.items()}
            try:
                if self._best_offer_cannot_pay(account, block, timestamp, data.health_factor):
                    raise _Declined()  # a view: no transaction to open and undo
                tried = self.pool.atomically(
                    functools.partial(self._attempt, account, block, timestamp)
                )
            except _Declined:
                # Not worth it now: the next price or own action reconsiders the account.
                self.stats[user].unprofitable += 1
                declined = True
                break
            if tried is None:
                break
            result, economics = tried
            deficit = sum(
                value_in_base(r.deficit - deficits[a], self.pool.prices[a], r, round_up=True)
                for a, r in self.pool.reserves.items()
                if r.deficit != deficits[a]
            )
            after = self.pool.user_account_data(account, timestamp)
            self._record(block, call_index, user, data, after, result, economics, deficit)
            data = after
            if (
                result.kind != "pre_liquidation"
                or self.liquidator.pre_liquidation_calls == "single"
            ):
                break
        del self.pool.events[:]  # the engine's calls emit logs nobody reads
        if not declined and self.mechanism.triggered(data.health_factor, self._opted_in(user)):
            self.agenda.schedule(block + 1, user)
        self._observe(user, block, data, declined)

    def _attempt(
        self, account: str, block: int, timestamp: int
    ) -> tuple[AaveActionResult, ActionEconomics] | None:
        assert self.mechanism is not None
        user = account.removeprefix(COUNTERFACTUAL)
        result = self.mechanism.act(self.pool, account, timestamp, self._opted_in(user))
        if result is None:
            return None
        economics = self._economics(block, result)
        if not self.liquidator.profitable(economics, self._native_price(block)):
            raise _Declined()
        return result, economics

    def _best_offer_cannot_pay(self, account: str, block: int, timestamp: int, health: int) -> bool:
        """A pre-liquidation's profit is its offer's collateral value less the debt it repays,
        less slippage (never negative) and gas: when the best offer's does not exceed the least
        profit after gas, none can, and the liquidator declines without asking the Pool (so an
        account whose every offer would revert is declined too, not retried next block). An
        account in the window with no offer at all (dust) is declined the same way."""
        user = account.removeprefix(COUNTERFACTUAL)
        if not isinstance(self.mechanism, AavePreLiquidation) or not self._opted_in(user):
            return False
        if not self.mechanism.in_soft_zone(health):
            return False  # below the window: the standard liquidation
        offers = self.mechanism.offers(self.pool, account, timestamp, health)
        return not offers or offers[0].profit_base <= self._profit_bar(block)

    def _profit_bar(self, block: int) -> int:
        """The offer profit (base units, before slippage) a pre-liquidation in ``block`` must
        exceed to be worth it: its gas and the liquidator's least profit."""
        native_price = self._native_price(block)
        base_fee = self.history.clock.base_fee(block)
        _, gas_cost = self.liquidator.gas("pre_liquidation", base_fee, native_price)
        return gas_cost + self.liquidator.least_profit(native_price)

    def _native_price(self, block: int) -> int:
        """Base currency units per wei of ETH, 1e36-scaled (the liquidator model's convention)."""
        price = self.pool.prices.get(self.weth)
        if price is None:
            if self.liquidator.charges_gas:
                raise ReplayError(
                    f"Aave pool {self.market_id}: no WETH price at block {block} to convert gas"
                )
            return 0
        return price * 10**18  # fmt: skip

    def _economics(self, block: int, result: AaveActionResult) -> ActionEconomics:
        collateral = self.pool.reserves[result.collateral_asset]
        debt = self.pool.reserves[result.debt_asset]
        decimals = collateral.config.decimals
        return self.liquidator.economics(
            result.kind,
            result.collateral_to_liquidator,
            value_in_base(
                result.debt_repaid, self.pool.prices[result.debt_asset], debt, round_up=True
            ),
            self.pool.prices[result.collateral_asset] * 10 ** (36 - decimals),
            self.history.clock.base_fee(block),
            self._native_price(block),
            self.history.symbol(result.collateral_asset),
            decimals,
        )

    def _record(
        self,
        block: int,
        call_index: int,
        user: str,
        before: AccountData,
        after: AccountData,
        result: AaveActionResult,
        economics: ActionEconomics,
        deficit: int,
    ) -> None:
        self.stats[user].count(result.kind, block)
        collateral = self.pool.reserves[result.collateral_asset]
        price = self.pool.prices[result.collateral_asset]
        repaid = value_in_base(
            result.debt_repaid,
            self.pool.prices[result.debt_asset],
            self.pool.reserves[result.debt_asset],
            round_up=True,
        )
        # What left the borrower: the liquidator's collateral and the protocol's fee on the bonus.
        seized = value_in_base(
            result.collateral_to_liquidator + result.protocol_fee, price, collateral
        )
        self.out.actions.append(
            {
                "market_id": self.market_id, "borrower": user, "block_number": block,
                "call_index": call_index, "timestamp": self.history.clock.timestamp(block),
                "kind": result.kind, "price": str(price),
                "ltv_before": _ratio(before), "ltv_after": _ratio(after),
                "debt_before": str(before.total_debt_base),
                "collateral_before": str(before.total_collateral_base),
                "repaid_shares": "0", "repaid_assets": str(repaid), "seized_assets": str(seized),
                "seized_value": str(economics.seized_value), "borrower_penalty": str(seized - repaid),
                "incentive_factor": str(result.incentive), "bad_debt_shares": "0",
                "bad_debt_assets": str(deficit), "gas_used": economics.gas_used,
                "gas_cost": str(economics.gas_cost), "slippage_cost": str(economics.slippage_cost),
                "liquidator_profit": str(economics.profit),
                "position_closed": after.total_debt_base == 0,
                # Aave pays no keeper; the treasury's fee share is protocol_fee_tokens
                "taker_paid": str(repaid), "keeper_incentive": "0", "reserves_change": None,
                "band_loan_assets": "0", "impacted_price": str(price),  # no bands, no feedback
                "protocol": AAVE_V3, "collateral_asset": result.collateral_asset,
                "debt_asset": result.debt_asset, "repaid_tokens": str(result.debt_repaid),
                "seized_tokens": str(result.collateral_to_liquidator),
                "protocol_fee_tokens": str(result.protocol_fee),
                "health_factor_before": _health(before), "health_factor_after": _health(after),
            }
        )  # fmt: skip

    # -- history -------------------------------------------------------------------------------

    def _before_history_liquidation(self, call: Mapping[str, Any]) -> None:
        """The state a historical LiquidationCall met, read before its transaction's first log."""
        plan, _ = reproduce_liquidation(self.pool, call)
        account = self.pool.user_account_data(call["user"], call["timestamp"])
        deficits = {asset: r.deficit for asset, r in self.pool.reserves.items()}
        self.before_call = {"plan": plan, "account": account, "deficits": deficits}

    def _record_history_liquidation(self, call: Mapping[str, Any]) -> None:
        user, block = call["user"], call["block_number"]
        if user not in self.stats:
            self.stats[user] = AaveAccountStats()
        plan, before = self.before_call["plan"], self.before_call["account"]
        deficits = self.before_call["deficits"]
        result = AaveActionResult(
            "liquidation",
            call["collateral_asset"],
            call["debt_asset"],
            int(call["debt_to_cover"]),
            int(call["liquidated_collateral_amount"]),
            plan.amounts.protocol_fee if plan is not None else 0,
            0,
            plan.liquidation_bonus * 10**14 if plan is not None else 0,
            before.health_factor,
            0,
        )
        deficit = sum(
            value_in_base(r.deficit - deficits[a], self.pool.prices[a], r, round_up=True)
            for a, r in self.pool.reserves.items()
            if r.deficit != deficits[a]
        )
        after = self.pool.user_account_data(user, call["timestamp"])
        self._record(block, 0, user, before, after, result, self._economics(block, result), deficit)

    # -- history as intents --------------------------------------------------------------------

    def _clip(
        self, row: Mapping[str, Any], user: str, intended: int, applied: int, reason: str
    ) -> None:
        self.stats[user].clipped += 1
        self.out.clips.append(
            {
                "market_id": self.market_id, "borrower": user, "block_number": row["block_number"],
                "log_index": row["log_index"], "event": row["event"],
                "intended_assets": str(intended), "applied_assets": str(applied), "reason": reason,
                "protocol": AAVE_V3, "asset": row["reserve"],
            }
        )  # fmt: skip

    def _largest_accepted(self, call: Any, amount: int) -> int:
        """The largest amount ≤ ``amount`` the Pool accepts (the checks are monotone in it)."""
        if self._accepted(call, amount):
            return amount
        low, high = 0, amount - 1
        while low < high:
            mid = (low + high + 1) // 2
            if self._accepted(call, mid):
                low = mid
            else:
                high = mid - 1
        return low

    def _accepted(self, call: Any, amount: int) -> bool:
        if amount == 0:
            return True
        try:
            self.pool.atomically(functools.partial(_undo_after, call, amount))
        except _Declined:
            return True
        except AaveRevert:
            return False
        raise AssertionError("unreachable: _undo_after always raises")

    def _apply_intent(self, row: Mapping[str, Any], user: str) -> None:
        event, t = row["event"], row["timestamp"]
        pool, account = self.pool, self.account(user)
        if event in (
            "UserEModeSet",
            "ReserveUsedAsCollateralEnabled",
            "ReserveUsedAsCollateralDisabled",
        ):
            self._apply_switch(row, user, account)
            return
        asset, amount = row["reserve"], int(row["amount"])
        if event in ("Supply", "Repay"):
            applied = amount
            if event == "Repay":
                applied = min(amount, pool.debt_balance(asset, account, t))
                if row["use_a_tokens"]:
                    applied = min(applied, pool.collateral_balance(asset, account, t))
            call = pool.supply if event == "Supply" else functools.partial(pool.repay, with_atokens=bool(row["use_a_tokens"]))  # fmt: skip
            try:
                if applied:
                    call(asset, applied, account, t)
            except AaveRevert as revert:
                applied, why = 0, f"refused by the Pool: {revert.name}"
            else:
                why = "repay exceeds the account's debt"
            if applied < amount:
                self._clip(row, user, amount, applied, why)
        else:
            held = (
                amount
                if event == "Borrow"
                else min(amount, pool.collateral_balance(asset, account, t))
            )
            call = functools.partial(pool.borrow if event == "Borrow" else pool.withdraw, asset, user=account, timestamp=t)  # fmt: skip
            allowed = self._largest_accepted(call, held)
            if allowed < amount:
                reason = (
                    "withdrawal exceeds the account's collateral"
                    if event == "Withdraw" and allowed == held < amount
                    else f"{event.lower()} refused by the Pool's checks (health, LTV)"
                )
                self._clip(row, user, amount, allowed, reason)
            if allowed:
                call(amount=allowed)

    def _apply_switch(self, row: Mapping[str, Any], user: str, account: str) -> None:
        event, t = row["event"], row["timestamp"]
        try:
            if event == "UserEModeSet":
                self.pool.set_user_emode(account, row["category_id"], t)
            else:
                enabled = event.endswith("Enabled")
                self.pool.set_use_reserve_as_collateral(account, row["reserve"], enabled, t)
        except AaveRevert as revert:
            wanted = (
                row["category_id"] if event == "UserEModeSet" else int(event.endswith("Enabled"))
            )
            current = (
                self.pool.user_config(account).emode
                if event == "UserEModeSet"
                else int(row["reserve"] in self.pool.user_config(account).collateral)
            )
            self._clip(row, user, wanted, current, f"refused by the Pool: {revert.name}")

    def _own_action(self, row: Mapping[str, Any]) -> str | None:
        """The simulated borrower whose own Pool call this log is, if any."""
        event = row["event"]
        if event in ("Supply", "Borrow"):
            user = row["on_behalf_of"]
        elif event in ("Withdraw", "Repay", "UserEModeSet"):
            user = row["user"]
        elif event in ("ReserveUsedAsCollateralEnabled", "ReserveUsedAsCollateralDisabled"):
            # a switch inside supply, withdraw or a liquidation is that call's side effect
            busy = row["transaction_hash"] in self.busy_transactions
            user = None if busy else row["user"]
        else:
            return None
        if event == "Borrow" and user not in self.stats:
            self._join(user)
        return user if user in self.stats else None

    # -- the pass ------------------------------------------------------------------------------

    def run(self) -> AaveOutcome:
        self.advance()
        return self.finish()

    def advance(self) -> None:
        """Replay the history's events and price inputs and the liquidator's calls due by its
        last block: where a day's replay stops, pickled as is (``__getstate__``), and the next day
        resumes (``resume``); calls due later stay on the agenda."""
        calls = {
            row["transaction_hash"]: row
            for row in self.history.events.filter(
                self.history.events["event"] == "LiquidationCall"
            ).iter_rows(named=True)
        }
        transaction = None
        for stream, row in chain_order(self.history.events, self.history.prices):
            block = row["block_number"]
            self._run_due(block)
            if stream == "price":
                self._on_price(row, block)
                continue
            self.ledger.at_block(block, row["timestamp"])
            if self.scenario.is_history and row["transaction_hash"] != transaction:
                transaction = row["transaction_hash"]
                if transaction in calls:
                    self._before_history_liquidation(calls[transaction])
            self.ledger.apply(row)
            user = self._own_action(row)
            if self.scenario.is_history:  # (counterfactual accounts change by their calls alone)
                self.watch.forget(row.get(column) for column in ACCOUNT_COLUMNS)
                if row["event"] == "LiquidationCall":
                    self._record_history_liquidation(row)
                    user = row["user"]
            elif user is not None:
                self._apply_intent(row, user)
                del self.pool.events[:]
            if user is not None:
                self._track(user, block)
        self._run_due(self.history.clock.last_block)

    def __getstate__(self) -> dict[str, Any]:
        """What a day's snapshot keeps: everything but the day's input and the rows emitted."""
        state = self.__dict__.copy()
        for transient in ("history", "busy_transactions"):
            del state[transient]
        state["out"] = AaveOutcome()
        state["before_call"] = {}
        return state

    def resume(self, history: AaveHistory) -> None:
        """Continue from a snapshot with the next stretch of history: its events, the price inputs
        after the snapshot's block, its blocks (``load_aave_history`` with the snapshot)."""
        self.history = history
        self.busy_transactions = _busy_transactions(history)
        self.agenda.last_block = history.clock.last_block

    def _on_price(self, row: Mapping[str, Any], block: int) -> None:
        """A price source's input moved: look again at the accounts holding an asset it repriced."""
        before = dict(self.pool.prices)
        self.ledger.at_block(block, self.history.clock.timestamp(block))
        self.ledger.apply_round(row["feed"], int(row["answer"]))
        repriced = {a for a, price in self.pool.prices.items() if before.get(a) != price}
        if not repriced:
            return
        self.watch.follow_terms(self.pool)
        timestamp = self.history.clock.timestamp(block)
        looks, calls = self.watch.to_look(self.pool, timestamp, repriced)
        for parked in calls:  # what their looks would do (the agenda orders a block's calls)
            self.agenda.schedule(block + self.liquidator.latency_blocks, self.borrowers[parked])
        for joined in looks:
            user = self.borrowers[joined]
            config = self.pool.user_config(self.account(user))
            if config.borrowing and not repriced.isdisjoint(config.collateral | config.borrowing):
                self._track(user, block)

    def finish(self) -> AaveOutcome:
        """The outcome as of the history's last block; every simulated account's row (a snapshot
        is taken before this: it closes the soft-zone spells still open, which a resumed replay
        continues)."""
        last_block = self.history.clock.last_block
        timestamp = self.history.clock.timestamp(last_block)
        for user, stats in self.stats.items():
            if stats.soft_zone_since is not None:  # spells still open at the end of the data
                stats.soft_zone_blocks += last_block + 1 - stats.soft_zone_since
                stats.soft_zone_since = None
            data = self.pool.user_account_data(self.account(user), timestamp)
            self.out.positions.append(
                {
                    "market_id": self.market_id, "borrower": user, "borrow_shares": "0",
                    "collateral": str(data.total_collateral_base),
                    "debt": str(data.total_debt_base),
                    "collateral_value": str(data.total_collateral_base),
                    "unrealised_bad_debt": str(max(0, data.total_debt_base - data.total_collateral_base)),
                    "max_ltv": stats.max_ltv, "pre_liquidations": stats.pre_liquidations,
                    "liquidations": stats.liquidations, "clipped_actions": stats.clipped,
                    "first_action_block": stats.first_action_block,
                    "unprofitable_skips": stats.unprofitable,
                    "soft_zone_blocks": stats.soft_zone_blocks, "protocol": AAVE_V3,
                    "min_health_factor": None if stats.min_health_factor is None else stats.min_health_factor / 10**18,
                    **dict.fromkeys(
                        ("band_loan_assets", "band_loss", "band_loss_vs_holding", "band_fees",
                         "arbitrage_profit"), "0"),  # no bands on Aave
                }
            )  # fmt: skip
        return self.out


def _busy_transactions(history: AaveHistory) -> set[str]:
    """Transactions with a Pool call: a collateral switch in them is that call's side effect."""
    events = history.events
    calls = events.filter(events["event"].is_in(list(POOL_ACTIONS | TOKEN_MOVES)))
    return set(calls["transaction_hash"])


def _copy_collateral(pool: AavePool, user: str, account: str) -> None:
    """Open ``account`` as ``user``'s history account holds it now, without its debt: the scaled
    aToken balances (each with the holder's last index, in the tokens' totals like any holder's),
    the collateral switches and the eMode category."""
    for reserve in pool.reserves.values():
        token = reserve.a_token
        scaled = token.balances.get(user, 0)
        if scaled:
            token.balances[account] = scaled
            token.previous_index[account] = token.previous_index[user]
            token.total += scaled
    config = pool.user_config(user)
    pool.users[account] = UserConfig(set(config.collateral), set(), config.emode)


def _undo_after(call: Any, amount: int) -> None:
    """Try ``call(amount=...)``, then undo it: an accepted amount raises ``_Declined``."""
    call(amount=amount)
    raise _Declined()


def replay_aave(
    history: AaveHistory, scenario: Scenario, mechanism: AaveMechanism | None
) -> AaveOutcome:
    """Replay the pool under ``scenario`` (``mechanism`` None: history as it happened)."""
    return _AaveReplay(history, scenario, mechanism).run()


def run_aave_scenarios(history: AaveHistory, scenarios: list[Scenario]) -> AaveOutcome:
    """Every scenario in scope of the pool, its rows tagged with its ``scenario_id``."""
    market = history.market
    whole = AaveOutcome()
    for scenario in (s for s in scenarios if s.applies_to(market)):
        whole.add(
            scenario.scenario_id,
            replay_aave(history, scenario, scenario.aave_mechanism_for(market)),
        )
    return whole
