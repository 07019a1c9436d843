"""Baseline validation: the engine's liquidation rules, run in shadow over history (DESIGN §4).

For every historical ``Liquidate`` and ``PreLiquidate`` the question a reviewer asks is: would
softliq's engine have allowed it, since when, and does it compute the same amounts? A
pre-liquidation is allowed when the borrower has authorised the contract and the position is in its
window (preLltv < LTV <= LLTV), and is recomputed with the contract's parameters on the state before
its Repay. One pass per market folds the events
in log order and checks each borrower's health with Morpho's own rule (``_isHealthy`` on totals
accrued to that block, at the oracle price in force) at every oracle round and every event of the
borrower, so a position's "first liquidatable block" is the first such check it failed since it was
last healthy. Interest alone can also tip a position between two checks; that crossing is seen at
the next round or event (at most one heartbeat late).

The event does not say which input the liquidator gave (``seizedAssets`` or ``repaidShares``): both
are recomputed from the event's own amounts with the contract's math on the pre-liquidation state,
and the first that reproduces every amount of the event, to the wei, is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from softliq_core.protocols.morpho.errors import MorphoRevert
from softliq_core.protocols.morpho.health import is_healthy, ltv
from softliq_core.protocols.morpho.liquidation import LiquidationResult, liquidate
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.pre_liquidation import (
    PreLiquidationResult,
    pre_liquidate,
    pre_liquidation_terms,
)
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.ledger import (
    POSITION_EVENTS,
    Ledger,
    PreLiquidationContract,
    ReplayError,
    position_owner,
)

AMOUNTS = ("repaid_assets", "repaid_shares", "seized_assets", "bad_debt_assets", "bad_debt_shares")

BASELINE_VALIDATION_COLUMNS: dict[str, type[pl.DataType]] = {
    "kind": pl.String,
    "market_id": pl.String,
    "borrower": pl.String,
    "liquidator": pl.String,
    "block_number": pl.UInt32,
    "log_index": pl.UInt32,
    "transaction_hash": pl.String,
    "price": pl.String,
    "ltv": pl.Float64,
    "liquidatable": pl.Boolean,
    "first_liquidatable_block": pl.UInt32,
    "blocks_liquidatable_before": pl.UInt32,
    **{column: pl.String for column in AMOUNTS},
    "recomputed_from": pl.String,
    **{f"recomputed_{column}": pl.String for column in AMOUNTS},
    "amounts_match": pl.Boolean,
    "problem": pl.String,
}


Amounts = dict[str, int]
# The call under test on copies of the state before it: (seized_assets, repaid_shares) → amounts.
Call = Callable[[int, int], Amounts]


@dataclass(frozen=True, slots=True)
class _Recomputed:
    source: str | None  # the input that reproduced the event: seized_assets | repaid_shares
    amounts: Amounts | None
    problem: str | None


def _recompute(event: Mapping[str, Any], call: Call) -> _Recomputed:
    """Re-run the contract's call from each input the event could have had."""
    observed = {column: int(event.get(column) or 0) for column in AMOUNTS}
    tried: list[tuple[str, Amounts | str]] = []
    for source, seized, shares in (
        ("seized_assets", observed["seized_assets"], 0),
        ("repaid_shares", 0, observed["repaid_shares"]),
    ):
        if seized == 0 and shares == 0:
            continue
        try:
            amounts = call(seized, shares)
        except MorphoRevert as revert:
            tried.append((source, str(revert)))
            continue
        if amounts == observed:
            return _Recomputed(source, amounts, None)
        tried.append((source, amounts))
    problems = [
        f"from {source}: "
        + (
            outcome
            if isinstance(outcome, str)
            else ", ".join(
                f"{c} {outcome[c]} != {observed[c]}" for c in AMOUNTS if outcome[c] != observed[c]
            )
        )
        for source, outcome in tried
    ]
    computed = [outcome for _, outcome in tried if not isinstance(outcome, str)]
    return _Recomputed(None, computed[-1] if computed else None, "; ".join(problems))


def _amounts(result: LiquidationResult | PreLiquidationResult) -> Amounts:
    return {column: getattr(result, column, 0) for column in AMOUNTS}


class _ShadowLiquidator:
    def __init__(self, history: MarketHistory) -> None:
        self.history = history
        self.market_id = history.market.market_id
        self.lltv = history.market.lltv
        self.ledger = Ledger()
        self.price: int | None = None
        self.borrowers: set[str] = set()
        # first block of the current spell in which each rule allowed an action on the borrower
        self.unhealthy_since: dict[str, int] = {}
        self.pre_liquidatable_since: dict[tuple[str, str], int] = {}
        self.before_pre_liquidation: dict[str, tuple[Market, Position, int | None]] = {}
        self.rows: list[dict[str, Any]] = []

    def _contracts(self) -> list[PreLiquidationContract]:
        return [c for c in self.ledger.pre_liquidations.values() if c.market_id == self.market_id]

    def _check(self, borrower: str, market: Market, block: int) -> None:
        position = self.ledger.position(self.market_id, borrower)
        price = self.price
        if (
            price is None
            or position.borrow_shares == 0
            or is_healthy(position, market, price, self.lltv)
        ):
            self.unhealthy_since.pop(borrower, None)
        else:
            self.unhealthy_since.setdefault(borrower, block)
        for contract in self._contracts():
            key = (borrower, contract.address)
            try:
                if price is None or not self.ledger.authorizations.get(key, False):
                    raise MorphoRevert("not pre-liquidatable")
                pre_liquidation_terms(market, position, self.lltv, contract.params, price)
                self.pre_liquidatable_since.setdefault(key, block)
            except MorphoRevert:
                self.pre_liquidatable_since.pop(key, None)

    def on_price(self, block: int, price: int) -> None:
        self.price = price
        if self.market_id not in self.ledger.markets:
            return
        market = self.ledger.accrued_market(self.market_id, self.history.clock.timestamp(block))
        for borrower in self.borrowers:
            self._check(borrower, market, block)

    def on_event(self, event: Mapping[str, Any]) -> None:
        block, name = event["block_number"], event["event"]
        if name == "Liquidate":
            self._validate_liquidation(event)
        elif name == "PreLiquidate":
            self._validate_pre_liquidation(event)
        elif name == "Repay" and event["caller"] in self.ledger.pre_liquidations:
            # A pre-liquidation starts: its PreLiquidate, logged last, is checked on this state.
            borrower = event["on_behalf"]
            market = self.ledger.markets[self.market_id]
            self._check(borrower, market, block)
            self.before_pre_liquidation[borrower] = (
                market.copy(),
                self.ledger.position(self.market_id, borrower).copy(),
                self.pre_liquidatable_since.get((borrower, event["caller"])),
            )
        self.ledger.apply(event)
        if name in POSITION_EVENTS:
            borrower = position_owner(event)
            assert borrower is not None
            self.borrowers.add(borrower)
            self._check(borrower, self.ledger.markets[self.market_id], block)

    def _price_for(self, event: Mapping[str, Any]) -> int:
        if self.price is None:
            raise ReplayError(
                f"market {self.history.market.label}: {event['event']} at block "
                f"{event['block_number']} log {event['log_index']} has no oracle price before it"
            )
        return self.price

    def _validate_liquidation(self, event: Mapping[str, Any]) -> None:
        price = self._price_for(event)
        borrower = event["borrower"]
        # The ledger already holds this transaction's AccrueInterest: totals are as the call saw them.
        market = self.ledger.markets[self.market_id]
        position = self.ledger.position(self.market_id, borrower)
        self._check(borrower, market, event["block_number"])

        def call(seized: int, shares: int) -> Amounts:
            return _amounts(
                liquidate(market.copy(), position.copy(), self.lltv, price, seized, shares)
            )

        self._record(event, "liquidation", borrower, event.get("caller"), market, position,
                     self.unhealthy_since.get(borrower), _recompute(event, call))  # fmt: skip

    def _validate_pre_liquidation(self, event: Mapping[str, Any]) -> None:
        price = self._price_for(event)
        borrower = event["borrower"]
        contract = self.ledger.pre_liquidations.get(event["contract"])
        state = self.before_pre_liquidation.pop(borrower, None)
        if contract is None or state is None:
            raise ReplayError(
                f"PreLiquidate at block {event['block_number']} log {event['log_index']}: no "
                "PreLiquidation contract or no Repay by it before the event"
            )
        market, position, first = state
        authorized = self.ledger.authorizations.get((borrower, contract.address), False)

        # The contract prices with its own oracle; softliq has the market oracle's prices, which
        # is the same contract when pre_liquidation_oracle is the market's oracle.
        def call(seized: int, shares: int) -> Amounts:
            result = pre_liquidate(market.copy(), position.copy(), self.lltv, contract.params,
                                   price, price, authorized, seized, shares)  # fmt: skip
            return _amounts(result)

        self._record(event, "pre_liquidation", borrower, event.get("liquidator"), market, position,
                     first, _recompute(event, call))  # fmt: skip

    def _record(
        self,
        event: Mapping[str, Any],
        kind: str,
        borrower: str,
        liquidator: str | None,
        market: Market,
        position: Position,
        first: int | None,
        recomputed: _Recomputed,
    ) -> None:
        assert self.price is not None
        block = event["block_number"]
        current = ltv(position, market, self.price)
        self.rows.append(
            {
                "kind": kind,
                "market_id": self.market_id,
                "borrower": borrower,
                "liquidator": liquidator,
                "block_number": block,
                "log_index": event["log_index"],
                "transaction_hash": event.get("transaction_hash"),
                "price": str(self.price),
                "ltv": None if current is None else current / 10**18,
                "liquidatable": first is not None,
                "first_liquidatable_block": first,
                "blocks_liquidatable_before": None if first is None else block - first,
                **{column: str(event.get(column) or 0) for column in AMOUNTS},
                "recomputed_from": recomputed.source,
                **{
                    f"recomputed_{column}": (
                        None if recomputed.amounts is None else str(recomputed.amounts[column])
                    )
                    for column in AMOUNTS
                },
                "amounts_match": recomputed.source is not None,
                "problem": recomputed.problem,
            }
        )

    def run(self) -> list[dict[str, Any]]:
        for price, event in self.history.timeline():
            if price is not None:
                self.on_price(price[0], price[2])
            else:
                assert event is not None
                self.on_event(event)
        return self.rows


def baseline_validation(histories: Sequence[MarketHistory]) -> pl.DataFrame:
    """One row per historical ``Liquidate`` and ``PreLiquidate``: allowed by the engine's rule,
    since when, and the amounts recomputed from the event's input."""
    rows = [row for history in histories for row in _ShadowLiquidator(history).run()]
    return pl.DataFrame(rows, schema=BASELINE_VALIDATION_COLUMNS).sort("block_number", "log_index")
