"""Replay one market's history under a scenario (DESIGN §4).

One pass over the market's events and oracle prices in (block, log index) order:

* the ledger folds every event, so market totals and the borrow share price follow history
  (rule 1: exogenous prices, interest and other users);
* each borrower also has a counterfactual position: historical liquidations and pre-liquidations are
  not applied to it (rule 2), and the borrower's own actions are applied as intents, clipped when the
  counterfactual position cannot take them, every clip recorded (rule 3);
* the liquidator model acts ``latency_blocks`` after a price or an action makes a position
  actionable, at the top of that block, once per block per position, on totals accrued to that
  block's timestamp.

A ``history`` scenario applies every event to the positions and records the historical liquidations.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from softliq_core.mechanisms import (
    ActionResult,
    Mechanism,
    Outstanding,
    PositionAt,
    StatefulMechanism,
)
from softliq_core.mechanisms.price_following import PriceFollowing
from softliq_core.protocols.morpho.errors import MorphoRevert
from softliq_core.protocols.morpho.health import (
    borrowed_assets,
    collateral_value,
    is_healthy,
    ltv,
)
from softliq_core.protocols.morpho.liquidation import liquidation_incentive_factor
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.math import WAD, mul_div_down
from softliq_core.protocols.morpho.pre_liquidation import pre_liquidation_terms
from softliq_core.protocols.morpho.shares import to_assets_up, to_shares_up
from softliq_core.replay.counterfactual_market import CounterfactualMarket
from softliq_core.replay.declines import Parked, Quote, Regime, screen_for
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.ledger import (
    POSITION_EVENTS,
    Ledger,
    ReplayError,
    position_owner,
)
from softliq_core.replay.liquidator import ActionEconomics
from softliq_core.replay.ltv_record import RoundLog
from softliq_core.replay.ltv_watch import LtvWatch, market_ratio
from softliq_core.replay.market_impact import ImpactedPrice
from softliq_core.replay.scenario import Scenario

# LTVs are compared as WAD integers rounded differently by the triggers (floor products) and by
# ``ltv`` (rounded up): a position this close to a trigger gets the exact checks, to be safe.
TRIGGER_MARGIN: Final = 10**9


@dataclass
class PositionStats:
    max_ltv: int = 0
    first_action_block: int | None = None
    pre_liquidations: int = 0
    liquidations: int = 0
    clipped: int = 0
    soft_zone_blocks: int = 0  # blocks spent in the mechanism's soft zone (e.g. the pre-liq window)
    soft_zone_since: int | None = None
    unprofitable: int = 0  # times the liquidator found an action but it did not pay
    # a price-following mechanism's conversions (LLAMMA's bands), loan base units
    band_loss: int = 0  # value the borrower lost to the other side, at each trade's price
    band_loss_vs_holding: int = 0  # the borrower's loss versus holding the collateral
    band_fees: int = 0  # fees arbitrageurs paid into the position's bands
    arbitrage_profit: int = 0  # what arbitrageurs kept, net of outside slippage


@dataclass
class MarketOutcome:
    actions: list[dict[str, Any]] = field(default_factory=list)
    clips: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[str, Position] = field(default_factory=dict)
    stats: dict[str, PositionStats] = field(default_factory=dict)
    final_market: Market = field(default_factory=Market)
    final_price: int = 0
    # (block, WAD LTV) at every check and action, for the borrowers asked to be traced
    ltv_paths: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    band_loan_assets: dict[str, int] = field(default_factory=dict)  # held at the end, by borrower
    # debt and collateral a mechanism holds outside the positions at the end (running auctions)
    outstanding: dict[str, Outstanding] = field(default_factory=dict)
    # the engine's work: exact LTV checks, and declines the screen settled (replay/declines.py),
    # of them those of a position not parked yet
    exact_checks: int = 0
    screened_declines: int = 0
    screened_first_declines: int = 0
    # History's replay: each rise of a position's LTV record, with the block of the position's own
    # event that began the stretch it rose in (where a scenario's simulation of it may start)
    record_rises: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    # and positions that owed something on collateral worth nothing (its value floored to 0: no
    # LTV, unhealthy whatever the trigger), with the block that began the first such stretch
    worthless_since: dict[str, int] = field(default_factory=dict)


class _MarketReplay:
    def __init__(
        self,
        history: MarketHistory,
        scenario: Scenario,
        mechanism: Mechanism | None,
        borrowers: frozenset[str] | None,
        trace: frozenset[str] = frozenset(),
        shortcuts: bool = True,
        starts: Mapping[str, int] | None = None,
    ):
        """``shortcuts=False``: the reference the shortcuts are tested against, every position
        checked at every price (no LTV watch) and every decline derived exactly (no screen).
        ``starts``: the block of each simulated borrower's own event its simulation starts at
        (``diverging_borrowers``); before it the position is history's."""
        self.history = history
        self.shortcuts = shortcuts
        self.trace = trace
        self.borrowers = borrowers  # None: every position; else only these (divergence-driven)
        self.market_id = history.market.market_id
        self.lltv = history.market.lltv
        self.scenario = scenario
        self.mechanism = mechanism
        # A mechanism with per-position state across blocks (Maker auctions, Euler's cool-off).
        self.stateful = mechanism if isinstance(mechanism, StatefulMechanism) else None
        self.stretch_block: dict[str, int] = {}  # history's: each position's last own event
        self.liquidator = scenario.liquidator
        self.opted_in_once: dict[str, bool] = {}
        # Own totals when the scenario's interest follows its own utilisation (accrual = "irm").
        self.counterfactual_market = (
            CounterfactualMarket()
            if scenario.accrual == "irm" and not scenario.is_history
            else None
        )
        self.ledger = Ledger()
        self.price: int | None = None
        self.due: dict[int, set[str]] = {}
        self.due_blocks: list[int] = []
        self.watch = LtvWatch()
        # Without a mechanism (history) a round can only raise a position's LTV record: the rounds
        # are logged and folded into the record when the position changes (replay/ltv_record.py)
        # instead of waking it at every round its LTV may rise. A scenario's replay keeps those
        # checks: its positions in the soft zone are checked at every round anyway, and the log
        # cost more there than it saved (measured on the issue-size chain).
        self.rounds: RoundLog | None = None
        self.segment_start: dict[str, int] = {}
        self.out = MarketOutcome()
        # A mechanism that follows every price keeps per-position state here (None: holds nothing).
        self.following = _price_following(mechanism)
        # (such a mechanism, or one with state across blocks, sees each position from its start)
        self.starts = starts if self.stateful is None and self.following is None else None
        self.held: dict[str, Any] = {}
        # Market-impact feedback (DESIGN §4.3, off by default): liquidations move the price.
        self.impact = (
            ImpactedPrice(
                scenario.market_impact.window_blocks,
                self.liquidator.curve(history.collateral_symbol),
                history.collateral_decimals,
            )
            if scenario.market_impact.on and not scenario.is_history
            else None
        )
        if mechanism is None:
            self.rounds = RoundLog()
        # Positions the liquidator declined, screened in floats until it might not decline them
        # (replay/declines.py); only where positions do not interact through totals or prices.
        independent = (
            self.counterfactual_market is None
            and self.impact is None
            and self.stateful is None
            and self.following is None
        )
        self.screen = (
            screen_for(
                mechanism,
                self.liquidator.curve(history.collateral_symbol),
                history.collateral_decimals,
            )
            if independent and shortcuts
            else None
        )
        self.parked: dict[str, Parked] = {}

    # -- helpers -------------------------------------------------------------------------------

    @property
    def market(self) -> Market:
        """The totals positions are valued with: history's, or the scenario's own."""
        if self.counterfactual_market is not None:
            return self.counterfactual_market.market
        return self.ledger.markets[self.market_id]

    def _price_at(self, block: int) -> int:
        """The price actions at ``block`` see: the oracle's, moved by recent sales if feedback is on."""
        assert self.price is not None
        return self.price if self.impact is None else self.impact.price(self.price, block)

    def _recheck_after_sale(self, block: int, seller: str) -> None:
        """Feedback: a sale moved the price, so every other position is checked at it."""
        for borrower in self.out.positions:
            if borrower != seller:
                self._track(borrower, self.market, block)

    def _mechanism_on(self, borrower: str) -> Mechanism:
        """The mechanism judging this position: a price-following one bound to its state."""
        assert self.mechanism is not None
        if self.following is None:
            return self.mechanism
        return self.following.bound(self.held.get(borrower))

    def _follow_price(self, market: Market) -> None:
        """Let a price-following mechanism react to the new price on every simulated position."""
        if self.following is None or self.price is None:
            return
        curve = self.liquidator.curve(self.history.collateral_symbol)
        decimals = self.history.collateral_decimals

        def impact(collateral: int) -> int:
            return curve.impact(collateral, decimals)

        for borrower, position in self.out.positions.items():
            state, step = self.following.follow_price(
                self.held.get(borrower), market, position, self.price, impact
            )
            if state is None:
                self.held.pop(borrower, None)
            else:
                self.held[borrower] = state
            stats = self.out.stats[borrower]
            stats.band_loss += step.other_side_gross
            stats.band_loss_vs_holding += step.loss_vs_holding_change
            stats.band_fees += step.fees
            stats.arbitrage_profit += step.other_side_profit

    def _position(self, borrower: str) -> Position:
        if borrower not in self.out.positions:
            self.out.positions[borrower] = Position()
            self.out.stats[borrower] = PositionStats()
            self.watch.pin(borrower)  # until its first check
            if self.rounds is not None:
                self.segment_start[borrower] = len(self.rounds)
        return self.out.positions[borrower]

    def _require_price(self, event: Mapping[str, Any]) -> int:
        if self.price is None:
            raise ReplayError(
                f"market {self.history.market.label}: no oracle price before {event['event']} at "
                f"block {event['block_number']} log {event['log_index']}; oracle_prices must cover it"
            )
        return self.price

    def _accrued(self, block: int) -> Market:
        """Totals as a transaction at the top of ``block`` would see them after accrual."""
        now = self.history.clock.timestamp(block)
        if self.counterfactual_market is not None:
            return self.counterfactual_market.accrued(now)
        return self.ledger.accrued_market(self.market_id, now)

    def _track(self, borrower: str, market: Market, block: int) -> None:
        """Record the position's LTV and, if the mechanism could act on it, schedule the liquidator;
        then tell the watch when a price must look at it again."""
        scheduled = self._check(borrower, market, block)
        self._rewatch(borrower, market)
        if (
            not scheduled
            and self.screen is not None
            and self.out.stats[borrower].soft_zone_since is not None
            and borrower not in self.trace
            and not self._opted_in(borrower)
        ):
            self._park(borrower, market, acting=False)  # in the window, nothing tried

    def _rewatch(self, borrower: str, market: Market) -> None:
        position = self.out.positions[borrower]
        if position.borrow_shares == 0:
            self.watch.forget(borrower)
            return
        stats = self.out.stats[borrower]
        if (
            self.price is None
            or borrower in self.trace
            or stats.soft_zone_since is not None
            or borrower in self.held
        ):
            # every check counts: a first price, a path, an open spell, bands whose state moves
            self.watch.pin(borrower)
            return
        if self.rounds is not None:
            self.watch.forget(borrower)  # rounds only raise the record: the log covers them
            return
        target = stats.max_ltv
        if self.mechanism is not None:
            target = min(target, self.mechanism.lowest_trigger_ltv - TRIGGER_MARGIN)
        self.watch.watch(borrower, position, market, self.price, target)

    def _settle(self, borrower: str) -> None:
        """Fold the rounds since the position last changed into its LTV record; called before its
        own events change it (history's replay: the engine does not act on positions)."""
        if self.rounds is None:
            return
        end = len(self.rounds)
        start = self.segment_start.get(borrower, end)
        highest, worthless = self.rounds.fold(self.out.positions[borrower], start, end)
        if highest is not None:
            self._raise_record(borrower, highest)
        if worthless:
            self._note_worthless(borrower)
        self.segment_start[borrower] = end

    def _raise_record(self, borrower: str, value: int) -> None:
        stats = self.out.stats[borrower]
        if value > stats.max_ltv:
            stats.max_ltv = value
            if self.rounds is not None:  # history's replay: where the rise's stretch began
                rise = (self.stretch_block.get(borrower, 0), value)
                self.out.record_rises.setdefault(borrower, []).append(rise)

    def _note_worthless(self, borrower: str) -> None:
        """History's replay: the position owed on collateral worth nothing in this stretch."""
        self.out.worthless_since.setdefault(borrower, self.stretch_block.get(borrower, 0))

    def _check(self, borrower: str, market: Market, block: int) -> bool:
        """Record the position's LTV and soft-zone spell; True when the liquidator is scheduled."""
        position = self.out.positions[borrower]
        self.out.exact_checks += 1
        if self.price is None or position.borrow_shares == 0:
            self._note_soft_zone(borrower, market, block, possible=False)
            return False
        price = self._price_at(block)
        current = ltv(position, market, price)
        if borrower in self.trace and current is not None:
            self.out.ltv_paths.setdefault(borrower, []).append((block, current))
        if current is not None:
            self._raise_record(borrower, current)
        elif self.rounds is not None:  # history's: owing on collateral worth nothing
            self._note_worthless(borrower)
        if self.mechanism is None:
            return False
        # Below the mechanism's lowest trigger nothing can happen: skip its exact checks.
        possible = current is None or current >= self.mechanism.lowest_trigger_ltv - TRIGGER_MARGIN
        self._note_soft_zone(borrower, market, block, possible)
        if possible and self._mechanism_on(borrower).triggered(
            market, position, price, self._opted_in(borrower)
        ):
            self._schedule(block + self.liquidator.latency_blocks, borrower)
            return True
        return False

    def _note_soft_zone(
        self, borrower: str, market: Market, block: int, possible: bool = True
    ) -> None:
        """Open or close the position's current spell in the soft zone, seen at this check."""
        if self.mechanism is None:
            return
        stats = self.out.stats[borrower]
        inside = (
            possible
            and self.price is not None
            and self._mechanism_on(borrower).in_soft_zone(
                market, self.out.positions[borrower], self.price
            )
        )
        if inside and stats.soft_zone_since is None:
            stats.soft_zone_since = block
        elif not inside and stats.soft_zone_since is not None:
            stats.soft_zone_blocks += block - stats.soft_zone_since
            stats.soft_zone_since = None

    def _opted_in(self, borrower: str) -> bool:
        if self.scenario.opt_in != "history":  # fixed per borrower: hash once
            if borrower not in self.opted_in_once:
                self.opted_in_once[borrower] = self.scenario.opted_in(borrower, False)
            return self.opted_in_once[borrower]
        authorized = any(
            self.ledger.authorizations.get((borrower, contract.address), False)
            for contract in self.ledger.pre_liquidations.values()
            if contract.market_id == self.market_id
        )
        return self.scenario.opted_in(borrower, authorized)

    def _schedule(self, block: int, borrower: str) -> None:
        if block not in self.due:
            self.due[block] = set()
            heapq.heappush(self.due_blocks, block)
        self.due[block].add(borrower)

    # -- the liquidator ------------------------------------------------------------------------

    def _run_due(self, before_block: int) -> None:
        while self.due_blocks and self.due_blocks[0] <= before_block:
            block = heapq.heappop(self.due_blocks)
            if block > self.history.clock.last_block:
                self.due_blocks.clear()
                return
            borrowers = sorted(self.due.pop(block))
            accrued = self._accrued(block)
            call_terms: tuple[Quote, int, int] | None = None  # screened calls': once a block
            for borrower in borrowers:
                if self.counterfactual_market is not None:
                    accrued = self._accrued(
                        block
                    )  # the previous action moved the scenario's totals
                if self.screen is not None and borrower not in self.trace:
                    if call_terms is None:
                        call_terms = self._call_terms(block, accrued)
                    if self._declined_screened(borrower, accrued, *call_terms):
                        continue
                self._act(block, borrower, accrued)

    def _call_terms(self, block: int, accrued: Market) -> tuple[Quote, int, int]:
        """What screening a call at ``block`` needs: the accrued totals and the price in floats,
        and the exact gas cost of each kind of call and the profit it must exceed."""
        assert self.price is not None
        native_price = self._native_price(block)
        base_fee = self.history.clock.base_fee(block)
        gas_pre = self.liquidator.gas("pre_liquidation", base_fee, native_price)[1]
        gas = self.liquidator.gas("liquidation", base_fee, native_price)[1]
        least = self.liquidator.least_profit(native_price)
        return Quote.of(accrued, self.price), least + gas_pre, least + gas

    def _declined_screened(
        self,
        borrower: str,
        accrued: Market,
        quote: Quote,
        pre_liquidation_bar: int,
        liquidation_bar: int,
    ) -> bool:
        """A due call, screened before the exact ``_act``: a parked position's (``_declined_again``),
        or one not parked yet that is surely in a regime where the liquidator tries a call, with
        the soft-zone spell that regime implies. Its decline is what ``_act`` would count, and
        ``_act`` would then park it as here (``_park``): the spell, the record and the schedule
        stay as they are, the watch forgets it."""
        if borrower in self.parked:
            declined = self._declined_again(borrower, quote, pre_liquidation_bar, liquidation_bar)
            self.out.screened_declines += declined
            return declined
        assert self.screen is not None and self.price is not None
        parked = self.screen.park(
            self.out.positions[borrower], accrued, self.price, self._opted_in(borrower)
        )
        if parked is None or parked.regime is Regime.IDLE:
            return False
        spell_open = self.out.stats[borrower].soft_zone_since is not None
        if spell_open != (parked.regime is not Regime.UNDERWATER):
            return False
        self.parked[borrower] = parked
        if not self._declined_again(borrower, quote, pre_liquidation_bar, liquidation_bar):
            return False  # unparked: the exact call decides
        self.watch.forget(borrower)
        self.out.screened_declines += 1
        self.out.screened_first_declines += 1
        return True

    def _declined_again(
        self, borrower: str, quote: Quote, pre_liquidation_bar: int, liquidation_bar: int
    ) -> bool:
        """A parked position's due call, screened: True when it surely would not pay (its gain
        bound does not clear gas plus the least profit), counted as ``_act`` counts a decline, the
        spell and the regime unchanged; else the position is unparked and the exact call runs."""
        assert self.screen is not None
        parked = self.parked.pop(borrower)
        gain = self.screen.gain_bound(parked, quote, self._opted_in(borrower))
        window = parked.regime is Regime.WINDOW
        if gain is None or gain > (pre_liquidation_bar if window else liquidation_bar):
            return False
        self.out.stats[borrower].unprofitable += 1
        self.parked[borrower] = parked
        return True

    def _park(self, borrower: str, market: Market, acting: bool) -> None:
        """Park the position if it is surely in a regime the screen follows: after a decline, one
        where the liquidator acts; after a check that scheduled nothing, the idle window."""
        assert self.screen is not None
        if self.price is None:
            return
        parked = self.screen.park(
            self.out.positions[borrower], market, self.price, self._opted_in(borrower)
        )
        if parked is None or acting == (parked.regime is Regime.IDLE):
            return
        spell_open = self.out.stats[borrower].soft_zone_since is not None
        if spell_open == (parked.regime is not Regime.UNDERWATER):
            self.parked[borrower] = parked
            self.watch.forget(borrower)  # the screen looks at it at every round instead

    def _screen_parked(self, market: Market, block: int) -> None:
        """Each parked position at this round: surely still in its regime, the exact check would
        leave its spell as it is and schedule the liquidator (none in the idle window), so only
        that (and the LTV record, exactly, when the bound may reach it); otherwise it is unparked
        and gets the check."""
        assert self.screen is not None and self.price is not None
        quote = Quote.of(market, self.price)
        due = block + self.liquidator.latency_blocks
        for borrower, parked in list(self.parked.items()):
            if not self.screen.still(parked, quote, self._opted_in(borrower)):
                del self.parked[borrower]
                self._track(borrower, market, block)
                continue
            stats = self.out.stats[borrower]
            if self.screen.may_reach(parked, quote, stats.max_ltv):
                current = ltv(self.out.positions[borrower], market, self.price)
                if current is not None and current > stats.max_ltv:
                    stats.max_ltv = current
            if parked.regime is not Regime.IDLE:
                self._schedule(due, borrower)

    def _act(self, block: int, borrower: str, accrued: Market) -> None:
        """The liquidator's calls on one position in one block, each only if it pays."""
        assert self.price is not None
        mechanism = self._mechanism_on(borrower)
        position = self.out.positions[borrower]
        opted_in = self._opted_in(borrower)
        native_price = self._native_price(block)
        totals = accrued  # history's totals do not move with the engine's actions
        acted = declined = False
        sold = 0
        for call_index in range(self.liquidator.max_calls_per_block):
            trial = position.copy()
            scratch = totals.copy()
            price = self._price_at(block)
            result = self._propose(block, borrower, mechanism, scratch, trial, price, opted_in)
            if result is None:
                break
            economics = self._economics(block, result, native_price, price)
            if not self.liquidator.profitable(economics, native_price):
                # Not worth it now: the next price or borrower action reconsiders the position.
                self.out.stats[borrower].unprofitable += 1
                declined = True
                break
            before = position.copy()
            position.borrow_shares, position.collateral = trial.borrow_shares, trial.collateral
            acted = True
            if self.stateful is not None:
                self.stateful.accept(borrower)
            if self.counterfactual_market is not None:
                totals = scratch  # the scenario's own totals: repaid debt and bad debt leave them
            self._record_action(
                block, borrower, before, position, accrued, result, economics, call_index, price
            )
            if self.impact is not None:  # the sale moves the price the next call sees
                self.impact.record_sale(block, result.seized_assets)
                sold += result.seized_assets
            if (
                result.kind != "pre_liquidation"
                or self.liquidator.pre_liquidation_calls == "single"
            ):
                break
        if position.borrow_shares == 0:
            self.held.pop(borrower, None)  # a closed position leaves a price-following mechanism
        if acted and self.counterfactual_market is not None:
            self.counterfactual_market.accrue(self.history.clock.timestamp(block))
            self.counterfactual_market.market = totals
        self._note_soft_zone(borrower, accrued, block)
        if not declined and mechanism.triggered(accrued, position, self._price_at(block), opted_in):
            self._schedule(block + 1, borrower)
        elif self.stateful is not None and self.stateful.holds(borrower):
            self._schedule(block + 1, borrower)  # an auction's price moves with time, not prices
        self._rewatch(borrower, accrued)
        if declined and self.screen is not None and borrower not in self.trace:
            self._park(borrower, accrued, acting=True)
        if sold:
            self._recheck_after_sale(block, borrower)

    def _propose(
        self,
        block: int,
        borrower: str,
        mechanism: Mechanism,
        market: Market,
        position: Position,
        price: int,
        opted_in: bool,
    ) -> ActionResult | None:
        """The mechanism's next action on ``position`` (mutated as a trial), not yet carried out."""
        if self.stateful is None:
            return mechanism.act(market, position, price, opted_in)
        now = self.history.clock.timestamp(block)
        return self.stateful.act_on(PositionAt(borrower, now, market, position, price, opted_in))

    def _native_price(self, block: int) -> int:
        price = self.history.native_price.before_block(block)
        if price is None:
            if self.liquidator.charges_gas:
                raise ReplayError(
                    f"market {self.history.market.label}: no ETH price in the loan asset at block "
                    f"{block} to convert gas ({self.history.native_price.source or 'no WETH market with this loan token'})"
                )
            return 0
        return price

    def _economics(
        self, block: int, result: ActionResult, native_price: int, price: int | None = None
    ) -> ActionEconomics:
        assert self.price is not None
        return self.liquidator.economics(
            result.kind,
            result.seized_assets,
            result.repaid_assets if result.taker_paid is None else result.taker_paid,
            self.price if price is None else price,
            self.history.clock.base_fee(block),
            native_price,
            self.history.collateral_symbol,
            self.history.collateral_decimals,
            result.keeper_incentive,
        )

    def _record_action(
        self,
        block: int,
        borrower: str,
        before: Position,
        after: Position,
        market: Market,
        result: ActionResult,
        economics: ActionEconomics,
        call_index: int = 0,
        impacted_price: int | None = None,
    ) -> None:
        """``impacted_price``: the price the action saw when market-impact feedback moved it."""
        assert self.price is not None
        price = self.price if impacted_price is None else impacted_price
        stats = self.out.stats[borrower]
        if borrower in self.trace:
            after_ltv = ltv(after, market, price) if after.borrow_shares else 0
            self.out.ltv_paths.setdefault(borrower, []).append((block, after_ltv or 0))
        if stats.first_action_block is None:
            stats.first_action_block = block
        if result.kind == "pre_liquidation":
            stats.pre_liquidations += 1
        elif result.kind == "liquidation":  # not an auction's start or reset
            stats.liquidations += 1
        self.out.actions.append(
            {
                "market_id": self.market_id,
                "borrower": borrower,
                "block_number": block,
                "call_index": call_index,
                "timestamp": self.history.clock.timestamp(block),
                "kind": result.kind,
                "price": str(self.price),
                "ltv_before": _ratio(ltv(before, market, price)),
                "ltv_after": _ratio(ltv(after, market, price)) if after.borrow_shares else 0.0,
                "debt_before": str(borrowed_assets(before, market)),
                "collateral_before": str(before.collateral),
                "repaid_shares": str(result.repaid_shares),
                "repaid_assets": str(result.repaid_assets),
                "seized_assets": str(result.seized_assets),
                "seized_value": str(economics.seized_value),
                # What the borrower gave up beyond the debt repaid, in loan-asset base units.
                "borrower_penalty": str(economics.seized_value - result.repaid_assets),
                "incentive_factor": str(result.incentive_factor),
                "bad_debt_shares": str(result.bad_debt_shares),
                "bad_debt_assets": str(result.bad_debt_assets),
                "gas_used": economics.gas_used,
                "gas_cost": str(economics.gas_cost),
                "slippage_cost": str(economics.slippage_cost),
                "liquidator_profit": str(economics.profit),
                "position_closed": after.borrow_shares == 0,
                "taker_paid": str(
                    result.repaid_assets if result.taker_paid is None else result.taker_paid
                ),
                "keeper_incentive": str(result.keeper_incentive),
                "reserves_change": str(result.reserves_change),
                "band_loan_assets": str(result.band_loan_assets),
                "impacted_price": str(price),
            }
        )

    # -- history as intents --------------------------------------------------------------------

    def _clip(
        self, event: Mapping[str, Any], borrower: str, intended: int, applied: int, reason: str
    ) -> None:
        self.out.stats[borrower].clipped += 1
        self.out.clips.append(
            {
                "market_id": self.market_id,
                "borrower": borrower,
                "block_number": event["block_number"],
                "log_index": event["log_index"],
                "event": event["event"],
                "intended_assets": str(intended),
                "applied_assets": str(applied),
                "reason": reason,
            }
        )

    def _apply_intent(self, event: Mapping[str, Any], borrower: str) -> None:
        """Apply a borrower's historical action to the counterfactual position (before the ledger
        applies it, so totals are those the contract saw when executing it)."""
        name = event["event"]
        position = self._position(borrower)
        market = self.market
        if name == "Liquidate" or event.get("caller") in self.ledger.pre_liquidations:
            return  # liquidations are endogenous: the scenario's liquidator decides (rule 2)
        assets = int(event["assets"])
        if name == "SupplyCollateral":
            position.collateral += assets
        elif name == "Repay":
            shares = int(event["shares"])
            if shares > position.borrow_shares:
                applied = to_assets_up(
                    position.borrow_shares, market.total_borrow_assets, market.total_borrow_shares
                )
                self._clip(event, borrower, assets, applied, "repay exceeds the position's debt")
                shares = position.borrow_shares
            position.borrow_shares -= shares
        elif name == "Borrow":
            allowed = self._largest_healthy(
                event, assets, lambda a: self._after_borrow(position, market, a)
            )
            if allowed < assets:
                self._clip(
                    event, borrower, assets, allowed, "borrow would make the position unhealthy"
                )
            if allowed:
                position.borrow_shares += to_shares_up(
                    allowed, market.total_borrow_assets, market.total_borrow_shares
                )
        elif name == "WithdrawCollateral":
            held = min(assets, position.collateral)
            allowed = self._largest_healthy(
                event,
                held,
                lambda a: (Position(0, position.borrow_shares, position.collateral - a), market),
            )
            if allowed < assets:
                reason = (
                    "withdrawal exceeds the position's collateral"
                    if allowed == held < assets
                    else "withdrawal would make the position unhealthy"
                )
                self._clip(event, borrower, assets, allowed, reason)
            position.collateral -= allowed

    @staticmethod
    def _after_borrow(position: Position, market: Market, assets: int) -> tuple[Position, Market]:
        shares = to_shares_up(assets, market.total_borrow_assets, market.total_borrow_shares)
        after_market = market.copy()
        after_market.total_borrow_assets += assets
        after_market.total_borrow_shares += shares
        return Position(0, position.borrow_shares + shares, position.collateral), after_market

    def _largest_healthy(self, event: Mapping[str, Any], amount: int, state_after: Any) -> int:
        """The largest amount ≤ ``amount`` after which the position is healthy (health is monotone)."""
        price = self._require_price(event)

        def healthy(a: int) -> bool:
            position, market = state_after(a)
            return is_healthy(position, market, price, self.lltv)

        if healthy(amount):
            return amount
        low, high = 0, amount
        while low < high:
            mid = (low + high + 1) // 2
            if healthy(mid):
                low = mid
            else:
                high = mid - 1
        return low

    # -- the pass ------------------------------------------------------------------------------

    def run(self) -> MarketOutcome:
        self.advance()
        return self.finish()

    def advance(self) -> None:
        """Replay the history's timeline and the liquidator's calls due by its last block: where
        a day's replay stops, pickled as is (``__reduce__``), and the next day resumes."""
        for price, event in self.history.timeline():
            if price is not None:
                self._on_price(price)
            else:
                assert event is not None
                self._on_event(event)
        self._run_due(self.history.clock.last_block)
        if self.rounds is not None:  # a snapshot keeps records, not the day's rounds
            for borrower in self.out.positions:
                self._settle(borrower)
            self.rounds.clear()
            self.segment_start = dict.fromkeys(self.segment_start, 0)

    def __reduce__(self) -> tuple[Any, ...]:
        """What a day's snapshot keeps (replay/snapshot.py): everything but this day's input (its
        events, prices and blocks, replaced with the next day's on resume) and the rows already
        emitted. Unpickled through the constructor, then given the state: a compiled replay
        (softliq_core/compiled.py) cannot be made without its arguments."""
        # A compiled replay has no __dict__: mypyc names its attributes in __mypyc_attrs__.
        names = getattr(type(self), "__mypyc_attrs__", None) or vars(self)
        state = {name: getattr(self, name) for name in names if name not in ("history", "__dict__")}
        state["out"] = replace(self.out, actions=[], clips=[])
        arguments = (self.history.terms(), self.scenario, self.mechanism, self.borrowers)
        return type(self), arguments, state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def resume(self, history: MarketHistory) -> None:
        """Continue from a snapshot with the next stretch of history (e.g. the next day)."""
        self.history = history

    def add_borrowers(self, borrowers: frozenset[str], history: MarketOutcome | None) -> None:
        """Simulate more positions from here on (divergence-driven, a day at a time), each from its
        state in ``history`` now: one that has not reached a trigger is still identical to history
        (DESIGN §4 rule 4); one not opened yet starts with its first event."""
        assert self.borrowers is not None
        self.borrowers = self.borrowers | borrowers
        # (intersection, not &: a frozenset & dict keys is a set at run time)
        for borrower in borrowers.intersection(history.positions if history else ()):
            assert history is not None
            self._adopt(
                borrower, history.positions[borrower].copy(), history.stats[borrower].max_ltv
            )

    def _adopt(self, borrower: str, position: Position, max_ltv: int) -> None:
        """Simulate the position from here on, from history's state of it."""
        self.out.positions[borrower] = position
        self.out.stats[borrower] = PositionStats(max_ltv=max_ltv)
        self.watch.pin(borrower)  # until its next check sets its threshold

    def finish(self) -> MarketOutcome:
        """The outcome as of the history's last block (a snapshot is taken before this: it closes
        the soft-zone spells still open, which a resumed replay continues)."""
        for stats in self.out.stats.values():  # spells still open at the end of the data
            if stats.soft_zone_since is not None:
                stats.soft_zone_blocks += self.history.clock.last_block + 1 - stats.soft_zone_since
                stats.soft_zone_since = None
        self.out.final_market = (
            self.market.copy() if self.market_id in self.ledger.markets else Market()
        )
        self.out.final_price = self.price or 0
        if self.stateful is not None:
            self.out.outstanding = self.stateful.outstanding()
        if self.following is not None:
            self.out.band_loan_assets = {
                b: self.following.loan_assets(state) for b, state in self.held.items()
            }
        return self.out

    def _on_price(self, item: tuple[int, int, int]) -> None:
        block, _, price = item
        self._run_due(block)
        self.price = price
        if self.market_id not in self.ledger.markets:
            return
        market = self.market
        if self.rounds is not None:
            self.rounds.append(market, price)
        self._follow_price(market)
        if self.shortcuts:
            checked = self.watch.due(market_ratio(market, self._price_at(block)))
        else:
            checked = list(self.out.positions)
        for borrower in checked:
            self._track(borrower, market, block)
        if self.parked:
            self._screen_parked(market, block)

    def _on_event(self, event: Mapping[str, Any]) -> None:
        block = event["block_number"]
        self._run_due(block)
        name = event["event"]
        borrower = position_owner(event) if name in POSITION_EVENTS else None
        if self.borrowers is not None and borrower not in self.borrowers:
            borrower = None  # follows history exactly: not simulated
        elif borrower is not None and self.starts and borrower not in self.out.positions:
            start = self.starts.get(borrower, 0)
            if block < start:
                borrower = None  # history's until the stretch in which it reaches a trigger
            elif start:
                # Its LTV stayed below the trigger until now, so did its record (the simulation
                # sees the rise above it): no action, clip or soft zone so far, as in history.
                self._adopt(borrower, self.ledger.position(self.market_id, borrower).copy(), 0)
        if borrower is not None and borrower in self.out.positions:
            self.parked.pop(borrower, None)  # its own action: the exact engine looks again
            self._settle(borrower)
        if borrower is not None and not self.scenario.is_history:
            shares_before = self._position(borrower).borrow_shares
            self._apply_intent(event, borrower)
            if self.stateful is not None:
                self.stateful.position_changed(borrower, self.history.clock.timestamp(block))
            if self.counterfactual_market is not None:
                moved = self._position(borrower).borrow_shares - shares_before
                self.counterfactual_market.move_borrow_shares(moved)
        elif self.counterfactual_market is not None:
            self.counterfactual_market.apply_history(event)
        if name == "Liquidate" and self.scenario.is_history:
            self._record_history_liquidation(event)
        if name == "PreLiquidate" and self.scenario.is_history:
            self._record_history_pre_liquidation(event)
        self.ledger.apply(event)
        if borrower is not None:
            if self.rounds is not None:
                self.stretch_block[borrower] = block
            if self.scenario.is_history:
                self._position(borrower)
                self.out.positions[borrower] = self.ledger.position(self.market_id, borrower).copy()
            self._track(borrower, self.market, block)

    def _record_history_liquidation(self, event: Mapping[str, Any]) -> None:
        borrower = event["borrower"]
        before = self._position(borrower).copy()
        after = before.copy()
        after.borrow_shares -= int(event["repaid_shares"]) + int(event["bad_debt_shares"])
        after.collateral -= int(event["seized_assets"])
        result = ActionResult(
            "liquidation",
            int(event["repaid_shares"]),
            int(event["repaid_assets"]),
            int(event["seized_assets"]),
            int(event["bad_debt_shares"]),
            int(event["bad_debt_assets"]),
            liquidation_incentive_factor(self.lltv),
        )
        self._require_price(event)
        block = event["block_number"]
        economics = self._economics(block, result, self._native_price(block))
        self._record_action(block, borrower, before, after, self.market, result, economics)

    def _record_history_pre_liquidation(self, event: Mapping[str, Any]) -> None:
        """PreLiquidate comes after the contract's Repay and WithdrawCollateral (spec §4.3), which
        the ledger has applied: the state before is the state now plus what they moved."""
        borrower = event["borrower"]
        price = self._require_price(event)
        repaid_shares, repaid_assets = int(event["repaid_shares"]), int(event["repaid_assets"])
        seized = int(event["seized_assets"])
        after = self._position(borrower).copy()
        before = Position(0, after.borrow_shares + repaid_shares, after.collateral + seized)
        market = self.market.copy()
        market.total_borrow_shares += repaid_shares
        market.total_borrow_assets += repaid_assets
        contract = self.ledger.pre_liquidations[event["contract"]]
        try:
            pre_lif = pre_liquidation_terms(
                market, before, self.lltv, contract.params, price
            ).pre_lif
        except MorphoRevert:  # the contract's own oracle saw another price: report the factor paid
            pre_lif = mul_div_down(collateral_value(seized, price), WAD, max(repaid_assets, 1))
        result = ActionResult(
            "pre_liquidation", repaid_shares, repaid_assets, seized, 0, 0, pre_lif
        )
        block = event["block_number"]
        economics = self._economics(block, result, self._native_price(block))
        self._record_action(block, borrower, before, after, market, result, economics)


def _price_following(mechanism: Mechanism | None) -> PriceFollowing | None:
    # A function of its own: mypy narrows a Mechanism checked against this protocol to a type that
    # joins with None as None, which compiled code then enforces at run time.
    if isinstance(mechanism, PriceFollowing):
        return mechanism
    return None


def _ratio(value: int | None) -> float:
    # Python's correctly rounded int division: compiled, ``value / 10**18`` would round ``value``
    # to a float first, and the outcome's LTVs would differ in the last bit.
    return float("inf") if value is None else int.__truediv__(value, 10**18)


def replay_market(
    history: MarketHistory,
    scenario: Scenario,
    mechanism: Mechanism | None,
    borrowers: frozenset[str] | None = None,
    trace: frozenset[str] = frozenset(),
    starts: Mapping[str, int] | None = None,
) -> MarketOutcome:
    """Replay one market; ``borrowers`` limits the simulation to those positions (the others
    follow history and are left out of the outcome), each from its block in ``starts`` if given;
    ``trace`` records those borrowers' LTV paths."""
    return _MarketReplay(history, scenario, mechanism, borrowers, trace, starts=starts).run()


def diverging_borrowers(history: MarketOutcome, mechanism: Mechanism) -> dict[str, int]:
    """Positions a scenario may treat differently from history (DESIGN §4 rule 4), with the block
    their simulation starts at: those whose historical LTV reached the mechanism's lowest trigger,
    or that owed something on collateral worth nothing, from the own event that began the first
    such stretch, and those history liquidated or pre-liquidated (rule 2 removes those actions),
    from their first event (0). Every other position stays identical to history under the
    scenario: no action, no clip, no time in the soft zone; and so does each simulated one until
    its start."""
    threshold = mechanism.lowest_trigger_ltv - TRIGGER_MARGIN
    starts: dict[str, int] = {}
    for borrower, stats in history.stats.items():
        worthless = history.worthless_since.get(borrower)
        if stats.liquidations or stats.pre_liquidations:
            starts[borrower] = 0
        elif stats.max_ltv >= threshold or worthless is not None:
            rises = history.record_rises.get(borrower, [])
            rise = next((block for block, ltv in rises if ltv >= threshold), None)
            known = [block for block in (rise, worthless) if block is not None]
            starts[borrower] = min(known) if known else 0
    return starts
