"""Baseline validation: the engine's liquidation rule, run in shadow over history (DESIGN §4).

For every historical ``Liquidate`` the question a reviewer asks is: would softliq's engine have
allowed it, since when, and does it compute the same amounts? One pass per market folds the events
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from softliq_core.protocols.morpho.errors import MorphoRevert
from softliq_core.protocols.morpho.health import is_healthy, ltv
from softliq_core.protocols.morpho.liquidation import LiquidationResult, liquidate
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.ledger import POSITION_EVENTS, Ledger, ReplayError, position_owner

AMOUNTS = ("repaid_assets", "repaid_shares", "seized_assets", "bad_debt_assets", "bad_debt_shares")

BASELINE_VALIDATION_COLUMNS: dict[str, type[pl.DataType]] = {
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


@dataclass(frozen=True, slots=True)
class _Recomputed:
    source: str | None  # the input that reproduced the event: seized_assets | repaid_shares
    result: LiquidationResult | None
    problem: str | None


def _recompute(
    event: Mapping[str, Any], market: Market, position: Position, lltv: int, price: int
) -> _Recomputed:
    """Re-run Morpho's liquidate on copies, from each input the event could have had."""
    observed = tuple(int(event[column]) for column in AMOUNTS)
    tried: list[tuple[str, LiquidationResult | str]] = []
    for source, seized, shares in (
        ("seized_assets", int(event["seized_assets"]), 0),
        ("repaid_shares", 0, int(event["repaid_shares"])),
    ):
        if seized == 0 and shares == 0:
            continue
        try:
            result = liquidate(market.copy(), position.copy(), lltv, price, seized, shares)
        except MorphoRevert as revert:
            tried.append((source, str(revert)))
            continue
        if tuple(getattr(result, column) for column in AMOUNTS) == observed:
            return _Recomputed(source, result, None)
        tried.append((source, result))
    results = [r for _, r in tried if isinstance(r, LiquidationResult)]
    reasons = [f"from {source}: {r}" for source, r in tried if isinstance(r, str)]
    differs = [
        f"from {source}: "
        + ", ".join(
            f"{c} {getattr(r, c)} != {event[c]}" for c in AMOUNTS if getattr(r, c) != int(event[c])
        )
        for source, r in tried
        if isinstance(r, LiquidationResult)
    ]
    return _Recomputed(None, results[-1] if results else None, "; ".join(reasons + differs))


class _ShadowLiquidator:
    def __init__(self, history: MarketHistory) -> None:
        self.history = history
        self.market_id = history.market.market_id
        self.lltv = history.market.lltv
        self.ledger = Ledger()
        self.price: int | None = None
        self.borrowers: set[str] = set()
        self.unhealthy_since: dict[str, int] = {}
        self.rows: list[dict[str, Any]] = []

    def _check(self, borrower: str, market: Market, block: int) -> None:
        position = self.ledger.position(self.market_id, borrower)
        if (
            self.price is None
            or position.borrow_shares == 0
            or is_healthy(position, market, self.price, self.lltv)
        ):
            self.unhealthy_since.pop(borrower, None)
        else:
            self.unhealthy_since.setdefault(borrower, block)

    def on_price(self, block: int, price: int) -> None:
        self.price = price
        if self.market_id not in self.ledger.markets:
            return
        market = self.ledger.accrued_market(self.market_id, self.history.clock.timestamp(block))
        for borrower in self.borrowers:
            self._check(borrower, market, block)

    def on_event(self, event: Mapping[str, Any]) -> None:
        block = event["block_number"]
        if event["event"] == "Liquidate":
            self._validate(event)
        self.ledger.apply(event)
        if event["event"] in POSITION_EVENTS:
            borrower = position_owner(event)
            assert borrower is not None
            self.borrowers.add(borrower)
            self._check(borrower, self.ledger.markets[self.market_id], block)

    def _validate(self, event: Mapping[str, Any]) -> None:
        if self.price is None:
            raise ReplayError(
                f"market {self.history.market.label}: Liquidate at block {event['block_number']} "
                f"log {event['log_index']} has no oracle price before it"
            )
        borrower, block = event["borrower"], event["block_number"]
        # The ledger already holds this transaction's AccrueInterest: totals are as the call saw them.
        market = self.ledger.markets[self.market_id]
        position = self.ledger.position(self.market_id, borrower)
        self._check(borrower, market, block)
        first = self.unhealthy_since.get(borrower)
        recomputed = _recompute(event, market, position, self.lltv, self.price)
        current = ltv(position, market, self.price)
        self.rows.append(
            {
                "market_id": self.market_id,
                "borrower": borrower,
                "liquidator": event.get("caller"),
                "block_number": block,
                "log_index": event["log_index"],
                "transaction_hash": event.get("transaction_hash"),
                "price": str(self.price),
                "ltv": None if current is None else current / 10**18,
                "liquidatable": first is not None,
                "first_liquidatable_block": first,
                "blocks_liquidatable_before": None if first is None else block - first,
                **{column: str(event[column]) for column in AMOUNTS},
                "recomputed_from": recomputed.source,
                **{
                    f"recomputed_{column}": (
                        None
                        if recomputed.result is None
                        else str(getattr(recomputed.result, column))
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
    """One row per historical ``Liquidate``: found by the engine's rule, and amounts recomputed."""
    rows = [row for history in histories for row in _ShadowLiquidator(history).run()]
    return pl.DataFrame(rows, schema=BASELINE_VALIDATION_COLUMNS).sort("block_number", "log_index")
