"""Baseline validation for Aave: every historical ``LiquidationCall`` must be one the engine finds
liquidatable in its block (HF < 1 on the ledger's state just before the transaction) and whose
amounts ``AavePool.plan_liquidation`` reproduces to the wei, under the version in force."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from softliq_core.protocols.aave.errors import AaveRevert
from softliq_core.protocols.aave.pool import MAX_UINT, AavePool, LiquidationPlan
from softliq_core.replay.aave_ledger import AaveLedger, replay

AAVE_LIQUIDATION_CHECKS = {
    "block_number": pl.UInt32,
    "transaction_hash": pl.String,
    "pool_version": pl.String,
    "user": pl.String,
    "collateral_asset": pl.String,
    "debt_asset": pl.String,
    "health_factor": pl.String,
    "liquidatable": pl.Boolean,
    "debt_to_cover": pl.String,
    "engine_debt_to_cover": pl.String,
    "liquidated_collateral_amount": pl.String,
    "engine_liquidated_collateral_amount": pl.String,
    "equal": pl.Boolean,
    "reason": pl.String,
}


def validate_aave_liquidations(
    ledger: AaveLedger, aave_events: pl.DataFrame, prices: pl.DataFrame
) -> pl.DataFrame:
    """One row per historical LiquidationCall: the engine's verdict and amounts beside history's
    (``prices``: ``aave_ledger.price_updates``)."""
    calls = {
        row["transaction_hash"]: row
        for row in aave_events.filter(pl.col("event") == "LiquidationCall").iter_rows(named=True)
    }
    checks: list[dict[str, Any]] = []

    def check(state: AaveLedger, first: dict[str, Any]) -> None:
        call = calls.get(first["transaction_hash"])
        if call is not None:
            checks.append(_check(state, call))

    replay(ledger, aave_events, prices, before_transaction=check)
    return pl.DataFrame(checks, schema=AAVE_LIQUIDATION_CHECKS)


def reproduce_liquidation(
    pool: AavePool, call: Mapping[str, Any]
) -> tuple[LiquidationPlan | None, str]:
    """The plan of a historical LiquidationCall on the state just before its transaction: the one
    whose amounts equal the event's, else the last one tried (or None) and why not."""
    repaid, seized = int(call["debt_to_cover"]), int(call["liquidated_collateral_amount"])
    plan, reason = None, ""
    # The liquidator's request is not logged: its outcome is reproduced by asking for the amount
    # repaid (an uncapped call) or for everything (a call capped by the close factor or collateral).
    for request in (repaid, MAX_UINT):
        try:
            plan = pool.plan_liquidation(
                call["collateral_asset"],
                call["debt_asset"],
                call["user"],
                request,
                call["liquidator"],
                call["timestamp"],
            )
        except AaveRevert as revert:
            reason = f"reverts {revert.name} ({revert.code})"
            continue
        if (plan.amounts.debt_repaid, plan.amounts.collateral_to_liquidator) == (repaid, seized):
            return plan, ""
        reason = "amounts differ"
    return plan, reason


def _check(ledger: AaveLedger, call: dict[str, Any]) -> dict[str, Any]:
    pool, user = ledger.pool, call["user"]
    repaid, seized = int(call["debt_to_cover"]), int(call["liquidated_collateral_amount"])
    health = pool.user_account_data(user, call["timestamp"]).health_factor
    plan, reason = reproduce_liquidation(pool, call)
    engine = (
        None if plan is None else (plan.amounts.debt_repaid, plan.amounts.collateral_to_liquidator)
    )
    return {
        "block_number": call["block_number"],
        "transaction_hash": call["transaction_hash"],
        "pool_version": str(pool.version),
        "user": user,
        "collateral_asset": call["collateral_asset"],
        "debt_asset": call["debt_asset"],
        "health_factor": str(health),
        "liquidatable": health < 10**18,
        "debt_to_cover": str(repaid),
        "engine_debt_to_cover": None if engine is None else str(engine[0]),
        "liquidated_collateral_amount": str(seized),
        "engine_liquidated_collateral_amount": None if engine is None else str(engine[1]),
        "equal": engine == (repaid, seized),
        "reason": reason,
    }
