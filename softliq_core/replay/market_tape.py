"""One market's history as flat arrays, for the float sweep's compiled kernel (float_sweep.py).

The exact engine (engine.py) walks the history as Python objects. The kernel needs it as numbers:
* the oracle rounds (block, log index, price) and the market's totals in force at each;
* the totals after each of the market's events (a *segment*), with what the next accrual needs
  (supply, last update, the IRM's rate at target);
* each borrower's own events in log order, with the totals before and after, the price in force,
  and history's position before and after (a simulation adopts history's position where it starts,
  and takes history's balances while it has not diverged from them).

Amounts are floats: integers below 2**53 base units are held exactly, larger ones to 16 digits.
The tape is built once per market and shared by every scenario of a sweep.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.ledger import POSITION_EVENTS, ZERO_ADDRESS, Ledger, position_owner

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

# A borrower's event as the kernel applies it: an intent, or history's liquidation (not applied).
SUPPLY_COLLATERAL: Final = 0
REPAY: Final = 1
BORROW: Final = 2
WITHDRAW_COLLATERAL: Final = 3
NOT_AN_INTENT: Final = 4
INTENTS: Final = {
    "SupplyCollateral": SUPPLY_COLLATERAL,
    "Repay": REPAY,
    "Borrow": BORROW,
    "WithdrawCollateral": WITHDRAW_COLLATERAL,
}


class MarketTape(NamedTuple):
    """What the kernel reads (a named tuple: numba compiles attribute reads of it)."""

    # oracle rounds after the market's creation, and the segment in force at each
    round_block: Ints
    round_log: Ints
    round_price: Floats
    round_segment: Ints
    # segments: the totals after each of the market's events (0: before its creation)
    segment_block: Ints
    total_borrow_assets: Floats
    total_borrow_shares: Floats
    total_supply_assets: Floats
    last_update: Ints
    rate_at_target: Floats  # WAD per second, 0 before the IRM's first call
    accrues: bool  # an IRM is set (the zero address charges no interest)
    # borrowers' own events, grouped by borrower (``borrower_events``)
    event_block: Ints
    event_log: Ints
    event_kind: Ints
    event_assets: Floats
    event_shares: Floats
    event_segment_before: Ints
    event_segment_after: Ints
    event_round: Ints  # rounds before the event: the index of the next round
    event_price: Floats  # the price in force (0 before the first round)
    shares_before: Floats  # history's position before and after the event
    collateral_before: Floats
    shares_after: Floats
    collateral_after: Floats
    borrower_events: Ints  # (borrowers, 2): first event, end (exclusive), in ``borrowers`` order
    # the block clock and the ETH price in the loan asset (gas)
    first_block: int
    timestamps: Ints
    base_fees: Floats
    native_block: Ints
    native_price: Floats


def market_tape(history: MarketHistory) -> tuple[MarketTape, tuple[str, ...]]:
    """Fold the history once with the exact ledger, keeping what the kernel reads; and the
    borrowers, in the order of ``borrower_events``."""
    market_id = history.market.market_id
    ledger = Ledger()
    rounds: list[tuple[int, int, float, int]] = []
    segments: list[tuple[int, float, float, float, int, float]] = [(-1, 0.0, 0.0, 0.0, 0, 0.0)]
    own: dict[str, list[tuple[Any, ...]]] = {}
    price_now = 0.0
    for price, event in history.timeline():
        if price is not None:
            # the engine keeps a round's price even before the market exists, but checks nothing
            price_now = float(price[2])
            if market_id in ledger.markets:
                rounds.append((price[0], price[1], price_now, len(segments) - 1))
            continue
        assert event is not None
        name = event["event"]
        borrower = position_owner(event) if name in POSITION_EVENTS else None
        segment_before = len(segments) - 1
        if borrower is not None:
            before = ledger.position(market_id, borrower)
            shares_before, collateral_before = float(before.borrow_shares), float(before.collateral)
            kind = INTENTS.get(name, NOT_AN_INTENT)
            if event.get("caller") in ledger.pre_liquidations:
                kind = NOT_AN_INTENT  # a PreLiquidation contract's repay and withdrawal
        ledger.apply(event)
        if event["market_id"] == market_id:
            market = ledger.markets[market_id]
            segments.append(
                (
                    event["block_number"],
                    float(market.total_borrow_assets),
                    float(market.total_borrow_shares),
                    float(market.total_supply_assets),
                    market.last_update,
                    float(ledger.rate_at_target.get(market_id, 0)),
                )
            )
        if borrower is not None:
            after = ledger.position(market_id, borrower)
            own.setdefault(borrower, []).append(
                (
                    event["block_number"],
                    event["log_index"],
                    kind,
                    float(int(event["assets"] or 0)),
                    float(int(event["shares"] or 0)),
                    segment_before,
                    len(segments) - 1,
                    len(rounds),
                    price_now,
                    shares_before,
                    collateral_before,
                    float(after.borrow_shares),
                    float(after.collateral),
                )
            )
    events = [row for rows in own.values() for row in rows]
    ends = np.cumsum([len(rows) for rows in own.values()], dtype=np.int64)
    ranges = np.stack([ends - [len(rows) for rows in own.values()], ends], axis=1)

    def columns(table: list[tuple[Any, ...]], names: str) -> dict[str, Any]:
        """The table's columns, named in order; an int column's name ends with ``:int``. (One
        float array of the rows, then its columns: blocks, log indices and indices are below
        2**53, so their ints come back exact.)"""
        labels = names.split()
        rows = np.array(table, np.float64).reshape(len(table), len(labels))
        out = {}
        for i, label in enumerate(labels):
            name, _, kind = label.partition(":")
            out[name] = rows[:, i].astype(np.int64) if kind else rows[:, i].copy()
        return out

    native = history.native_price
    tape = MarketTape(
        **columns(rounds, "round_block:int round_log:int round_price round_segment:int"),
        **columns(
            segments,
            "segment_block:int total_borrow_assets total_borrow_shares total_supply_assets "
            "last_update:int rate_at_target",
        ),
        accrues=market_id in ledger.params and ledger.params[market_id].irm != ZERO_ADDRESS,
        **columns(
            events,
            "event_block:int event_log:int event_kind:int event_assets event_shares "
            "event_segment_before:int event_segment_after:int event_round:int event_price "
            "shares_before collateral_before shares_after collateral_after",
        ),
        borrower_events=ranges.reshape(-1, 2).astype(np.int64),
        first_block=history.clock.first_block,
        timestamps=history.clock.timestamps.astype(np.int64),
        base_fees=history.clock.base_fees.astype(np.float64),
        native_block=np.array([block for block, _ in native.keys], dtype=np.int64),
        native_price=np.array([float(price) for price in native.prices], dtype=np.float64),
    )
    return tape, tuple(own)
