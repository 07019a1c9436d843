"""Checks of the baseline replay that need no chain access."""

from __future__ import annotations

from collections import defaultdict

import polars as pl

from softliq_core.replay.ledger import Ledger


def replay_history(morpho_events: pl.DataFrame) -> Ledger:
    """Fold every event, in log order, into a ledger (raises ReplayError on impossible history)."""
    ledger = Ledger()
    for event in morpho_events.sort("block_number", "log_index").iter_rows(named=True):
        ledger.apply(event)
    return ledger


def conservation_problems(ledger: Ledger) -> list[str]:
    """Markets whose share totals differ from the sum over their positions."""
    borrow: dict[str, int] = defaultdict(int)
    supply: dict[str, int] = defaultdict(int)
    for (market_id, _), position in ledger.positions.items():
        borrow[market_id] += position.borrow_shares
        supply[market_id] += position.supply_shares
    problems = []
    for market_id, market in ledger.markets.items():
        if market.total_borrow_shares != borrow[market_id]:
            problems.append(
                f"market {market_id}: total_borrow_shares {market.total_borrow_shares} != "
                f"sum over positions {borrow[market_id]}"
            )
        if market.total_supply_shares != supply[market_id]:
            problems.append(
                f"market {market_id}: total_supply_shares {market.total_supply_shares} != "
                f"sum over positions {supply[market_id]}"
            )
    return problems
