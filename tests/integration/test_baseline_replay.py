"""Baseline replay of the decoded logs reproduces the chain's state after every transaction."""

from __future__ import annotations

from collections import defaultdict

import polars as pl
import pytest

from softliq_core.decode import DecodedLogs
from softliq_core.protocols.morpho.market import Position
from softliq_core.replay.ledger import Ledger, ReplayError
from softliq_core.replay.validation import conservation_problems, replay_history
from softliq_core.sources.synthetic import SyntheticChain


def test_baseline_equals_chain_state_after_every_transaction(
    chain: SyntheticChain, decoded: DecodedLogs
) -> None:
    markets_at: dict[tuple[int, int], list[dict]] = defaultdict(list)  # type: ignore[type-arg]
    positions_at: dict[tuple[int, int], list[dict]] = defaultdict(list)  # type: ignore[type-arg]
    for row in chain.truth_markets.iter_rows(named=True):
        markets_at[(row["block_number"], row["log_index"])].append(row)
    for row in chain.truth_positions.iter_rows(named=True):
        positions_at[(row["block_number"], row["log_index"])].append(row)

    ledger = Ledger()
    checked_markets = checked_positions = 0
    for event in decoded.morpho_events.iter_rows(named=True):
        ledger.apply(event)
        key = (event["block_number"], event["log_index"])
        for truth in markets_at.get(key, []):
            market = ledger.markets[truth["market_id"]]
            assert (
                str(market.total_supply_assets),
                str(market.total_supply_shares),
                str(market.total_borrow_assets),
                str(market.total_borrow_shares),
                market.last_update,
                str(market.fee),
            ) == (
                truth["total_supply_assets"],
                truth["total_supply_shares"],
                truth["total_borrow_assets"],
                truth["total_borrow_shares"],
                truth["last_update"],
                truth["fee"],
            ), key
            checked_markets += 1
        for truth in positions_at.get(key, []):
            position = ledger.positions.get((truth["market_id"], truth["user"]), Position())
            assert (
                str(position.supply_shares),
                str(position.borrow_shares),
                str(position.collateral),
            ) == (truth["supply_shares"], truth["borrow_shares"], truth["collateral"]), key
            checked_positions += 1
    assert checked_markets == chain.truth_markets.height
    assert checked_positions == chain.truth_positions.height
    # and at the end, every position the contract holds
    for key, position in chain.morpho.positions.items():
        assert ledger.positions.get(key, Position()) == position, key
    assert ledger.rate_at_target == chain.morpho.rate_at_target


def test_history_contains_liquidations_and_is_conserved(decoded: DecodedLogs) -> None:
    events = decoded.morpho_events
    assert events.filter(pl.col("event") == "Liquidate").height > 0
    assert conservation_problems(replay_history(events)) == []


def test_impossible_history_is_refused_naming_the_log(decoded: DecodedLogs) -> None:
    events = decoded.morpho_events
    repay = events.filter(pl.col("event") == "Repay").row(0, named=True)
    doubled = {**repay, "shares": str(int(repay["shares"]) * 10**9)}
    ledger = Ledger()
    with pytest.raises(
        ReplayError, match=rf"Repay at block {repay['block_number']} log {repay['log_index']}"
    ):
        for event in events.iter_rows(named=True):
            ledger.apply(doubled if event == repay else event)


def test_owner_events_are_folded(decoded: DecodedLogs, chain: SyntheticChain) -> None:
    ledger = replay_history(decoded.morpho_events)
    assert ledger.enabled_irms == chain.morpho.enabled_irms
    assert ledger.enabled_lltvs == chain.morpho.enabled_lltvs
    assert ledger.fee_recipient == chain.morpho.fee_recipient
    assert {c.market_id for c in ledger.pre_liquidations.values()} == {
        m.params.id for m in chain.markets if m.params.lltv == 86 * 10**16
    }
