"""Run a scenario set over every market: the outcome tables analysts query (DESIGN §7)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import polars as pl

from softliq_core.mechanisms import Outstanding
from softliq_core.metrics.summary import scenario_market_summary
from softliq_core.protocols.morpho.health import borrowed_assets, collateral_value
from softliq_core.replay.aave_engine import run_aave_scenarios
from softliq_core.replay.aave_history import AaveHistory
from softliq_core.replay.engine import (
    MarketOutcome,
    PositionStats,
    diverging_borrowers,
    replay_market,
)
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.scenario import MORPHO_BLUE, Scenario, validate_scenarios

# Raise it when an engine change moves outcomes or the replay state: snapshots of another version
# are not resumed (replay/snapshot.py), the replay starts again from genesis.
# 0.2.1: the Aave health watch in the state; the dust-rule liquidation size. 0.2.2: the watch
# parks accounts in a pre-liquidation window; an account in it with no offer at all is declined.
# 0.2.3: replays pickle through their constructor and dataclasses by their fields (the compiled
# engine, softliq_core/compiled.py), with the engine's work counters.
ENGINE_VERSION = "0.2.4"

_ACTION_COLUMNS = {
    "scenario_id": pl.String, "market_id": pl.String, "borrower": pl.String,
    "block_number": pl.UInt32, "call_index": pl.UInt16, "timestamp": pl.UInt32, "kind": pl.String,
    "price": pl.String,
    "ltv_before": pl.Float64, "ltv_after": pl.Float64, "debt_before": pl.String,
    "collateral_before": pl.String, "repaid_shares": pl.String, "repaid_assets": pl.String,
    "seized_assets": pl.String, "seized_value": pl.String, "borrower_penalty": pl.String,
    "incentive_factor": pl.String, "bad_debt_shares": pl.String, "bad_debt_assets": pl.String,
    "gas_used": pl.UInt32, "gas_cost": pl.String, "slippage_cost": pl.String,
    "liquidator_profit": pl.String, "position_closed": pl.Boolean,
    "taker_paid": pl.String, "keeper_incentive": pl.String, "reserves_change": pl.String,
    # Aave rows: the reserve pair and its token amounts, the account's health (null for Morpho)
    "protocol": pl.String, "collateral_asset": pl.String, "debt_asset": pl.String,
    "repaid_tokens": pl.String, "seized_tokens": pl.String, "protocol_fee_tokens": pl.String,
    "health_factor_before": pl.Float64, "health_factor_after": pl.Float64,
    "band_loan_assets": pl.String, "impacted_price": pl.String,
}  # fmt: skip
_CLIP_COLUMNS = {
    "scenario_id": pl.String, "market_id": pl.String, "borrower": pl.String,
    "block_number": pl.UInt32, "log_index": pl.UInt32, "event": pl.String,
    "intended_assets": pl.String, "applied_assets": pl.String, "reason": pl.String,
    "protocol": pl.String, "asset": pl.String,
}  # fmt: skip
_POSITION_COLUMNS = {
    "scenario_id": pl.String, "market_id": pl.String, "borrower": pl.String,
    "borrow_shares": pl.String, "collateral": pl.String, "debt": pl.String,
    "collateral_value": pl.String, "unrealised_bad_debt": pl.String, "max_ltv": pl.Float64,
    "pre_liquidations": pl.UInt32, "liquidations": pl.UInt32, "clipped_actions": pl.UInt32,
    "first_action_block": pl.UInt32, "unprofitable_skips": pl.UInt32,
    "soft_zone_blocks": pl.UInt32, "protocol": pl.String, "min_health_factor": pl.Float64,
    "band_loan_assets": pl.String, "band_loss": pl.String,
    "band_loss_vs_holding": pl.String, "band_fees": pl.String, "arbitrage_profit": pl.String,
}  # fmt: skip


@dataclass(frozen=True)
class Outcomes:
    scenarios: pl.DataFrame
    liquidation_actions: pl.DataFrame
    clipped_actions: pl.DataFrame
    position_outcomes: pl.DataFrame
    scenario_market_summary: pl.DataFrame


def concat_outcomes(parts: Sequence[Outcomes]) -> Outcomes:
    """The outcomes of scenario chunks replayed apart, as one set (each table is per scenario)."""
    return Outcomes(*(pl.concat([getattr(p, f.name) for p in parts]) for f in fields(Outcomes)))


def scenarios_table(scenarios: Sequence[Scenario]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "scenario_id": s.scenario_id,
                "name": s.name,
                "mechanism": s.mechanism,
                "accrual": s.accrual,
                "definition": json.dumps(s.canonical(), sort_keys=True),
                "engine_version": ENGINE_VERSION,
            }
            for s in scenarios
        ],
        schema={
            c: pl.String
            for c in ("scenario_id", "name", "mechanism", "accrual", "definition", "engine_version")
        },
    )


HISTORY = Scenario(name="history", mechanism="history")


def run_scenarios(
    histories: Sequence[MarketHistory],
    scenarios: Sequence[Scenario],
    divergence_driven: bool = True,
    aave: AaveHistory | None = None,
) -> Outcomes:
    """Replay every market under every scenario in scope; invalid parameters fail before any work.

    Each market is replayed as history once; with ``divergence_driven`` a scenario then simulates
    only the positions that can diverge from history and takes the others from that replay, which
    gives the same tables as simulating every position (tests/integration/test_divergence.py).
    ``aave``: the Aave pool's history, replayed under the scenarios whose scope includes it.
    """
    validate_scenarios(
        scenarios, [h.market for h in histories] + ([aave.market] if aave is not None else [])
    )
    actions: list[dict[str, Any]] = []
    clips: list[dict[str, Any]] = []
    positions: list[dict[str, Any]] = []
    for history in histories:
        in_scope = [s for s in scenarios if s.applies_to(history.market)]
        if not in_scope:
            continue
        past = replay_market(history, HISTORY, None)
        for scenario in in_scope:
            mechanism = scenario.mechanism_for(history.market)
            if scenario.is_history or mechanism is None:
                outcome = past
            elif (
                divergence_driven
                and scenario.accrual == "history"
                and not scenario.market_impact.on
            ):
                # (with accrual = "irm" every debt depends on the scenario's utilisation, with
                # market-impact feedback every position on the moved price: no shortcut)
                starts = diverging_borrowers(past, mechanism)
                outcome = with_history(
                    replay_market(history, scenario, mechanism, frozenset(starts), starts=starts),
                    past,
                )
            else:
                outcome = replay_market(history, scenario, mechanism)
            add_rows(
                scenario.scenario_id, history.market.market_id, outcome, actions, clips, positions
            )
    if aave is not None:
        pool = run_aave_scenarios(aave, list(scenarios))
        actions, clips, positions = (
            actions + pool.actions,
            clips + pool.clips,
            positions + pool.positions,
        )
    return outcomes_table(scenarios, actions, clips, positions)


def with_history(outcome: MarketOutcome, past: MarketOutcome) -> MarketOutcome:
    """A divergence-driven outcome completed with the positions it did not simulate: history's,
    which the scenario leaves as they were (no action, no clip, no time in the soft zone)."""
    for borrower in sorted(past.positions.keys() - outcome.positions.keys()):
        outcome.positions[borrower] = past.positions[borrower]
        outcome.stats[borrower] = PositionStats(max_ltv=past.stats[borrower].max_ltv)
    return outcome


def add_rows(
    scenario_id: str,
    market_id: str,
    outcome: MarketOutcome,
    actions: list[dict[str, Any]],
    clips: list[dict[str, Any]],
    positions: list[dict[str, Any]],
) -> None:
    """Append one Morpho market's outcome under one scenario to the rows of the outcome tables."""
    tag = {"scenario_id": scenario_id, "protocol": MORPHO_BLUE}
    actions += [{**tag, **a} for a in outcome.actions]
    clips += [{**tag, **c} for c in outcome.clips]
    for borrower, position in outcome.positions.items():
        stats = outcome.stats[borrower]
        outside = outcome.outstanding.get(borrower, Outstanding(0, 0))
        debt = borrowed_assets(position, outcome.final_market) + outside.debt
        collateral = position.collateral + outside.collateral
        value = collateral_value(collateral, outcome.final_price)
        band_loan = outcome.band_loan_assets.get(borrower, 0)
        positions.append(
            {
                **tag,
                "market_id": market_id,
                "borrower": borrower,
                "borrow_shares": str(position.borrow_shares),
                "collateral": str(collateral),
                "debt": str(debt),
                "collateral_value": str(value),
                "unrealised_bad_debt": str(max(0, debt - value - band_loan)),
                "max_ltv": stats.max_ltv / 10**18,
                "pre_liquidations": stats.pre_liquidations,
                "liquidations": stats.liquidations,
                "clipped_actions": stats.clipped,
                "first_action_block": stats.first_action_block,
                "unprofitable_skips": stats.unprofitable,
                "soft_zone_blocks": stats.soft_zone_blocks,
                "band_loan_assets": str(band_loan),
                "band_loss": str(stats.band_loss),
                "band_loss_vs_holding": str(stats.band_loss_vs_holding),
                "band_fees": str(stats.band_fees),
                "arbitrage_profit": str(stats.arbitrage_profit),
            }
        )


def outcomes_table(
    scenarios: Sequence[Scenario],
    actions: list[dict[str, Any]],
    clips: list[dict[str, Any]],
    positions: list[dict[str, Any]],
    summarise: bool = True,
) -> Outcomes:
    """The outcome tables from their rows; the summary is computed from actions and positions
    (``summarise=False``: an empty frame, for one day's rows, whose summary the store computes
    over every day's actions)."""
    liquidation_actions = pl.DataFrame(actions, schema=_ACTION_COLUMNS)
    position_outcomes = pl.DataFrame(positions, schema=_POSITION_COLUMNS)
    scenarios_df = scenarios_table(scenarios)
    return Outcomes(
        scenarios=scenarios_df,
        liquidation_actions=liquidation_actions,
        clipped_actions=pl.DataFrame(clips, schema=_CLIP_COLUMNS),
        position_outcomes=position_outcomes,
        scenario_market_summary=scenario_market_summary(
            scenarios_df, liquidation_actions, position_outcomes
        )
        if summarise
        else pl.DataFrame(),
    )
