"""The report's Aave section: the pool's scenarios side by side, and a recommendation by the same
rule as Morpho's markets (bad debt not above the Pool's own liquidation, liquidators still profit,
then the lowest borrower penalty). Amounts are the pool's base currency (USD, 8 decimals)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from softliq_core.protocols.aave.math import WAD
from softliq_core.replay.scenario import AAVE_PRE_LIQUIDATION_FIELDS, AAVE_V3, Scenario

SUMMARY_SQL = f"""
SELECT scenario_id, market_id, pre_liquidations, liquidations, borrower_penalty, bad_debt_realised,
       bad_debt_unrealised, liquidator_profit, clipped_actions, soft_zone_blocks
FROM scenario_market_summary
WHERE protocol = '{AAVE_V3}' AND scenario_id IN (SELECT unnest($ids))
"""
BASE_UNIT = 10**8  # AaveOracle's base currency: USD with 8 decimals
HEADER = (
    "| role | scenario | preHF / preLCF1 / preLCF2 / preLIF1 / preLIF2 | pre-liquidations | "
    "hard liquidations | borrower penalty | bad debt | liquidator profit | clipped |\n"
    "|---|---|---|---:|---:|---:|---:|---:|---:|"
)


@dataclass(frozen=True)
class AaveResult:
    scenario: Scenario
    pre_liquidations: int
    liquidations: int
    penalty: int
    bad_debt: int
    profit: int
    clipped: int

    def row(self, role: str) -> str:
        params = self.scenario.aave_pre_liquidation
        shown = (
            " / ".join(f"{getattr(params, f) / WAD:g}" for f in AAVE_PRE_LIQUIDATION_FIELDS)
            if params
            else "—"
        )
        usd = [f"{v / BASE_UNIT:,.2f}" for v in (self.penalty, self.bad_debt, self.profit)]
        return (
            f"| {role} | `{self.scenario.name}` | {shown} | {self.pre_liquidations} | "
            f"{self.liquidations} | {' | '.join(usd)} | {self.clipped} |"
        )


def aave_results(summary: pl.DataFrame, scenarios: Sequence[Scenario]) -> list[AaveResult]:
    by_id = {s.scenario_id: s for s in scenarios}
    order = {"history": 0, "aave_liquidation": 1}
    results = [
        AaveResult(
            by_id[row["scenario_id"]],
            int(row["pre_liquidations"]),
            int(row["liquidations"]),
            int(row["borrower_penalty"]),
            int(row["bad_debt_realised"]) + int(row["bad_debt_unrealised"]),
            int(row["liquidator_profit"]),
            int(row["clipped_actions"]),
        )
        for row in summary.iter_rows(named=True)
        if row["scenario_id"] in by_id
    ]
    return sorted(results, key=lambda r: (order.get(r.scenario.mechanism, 2), r.scenario.name))


def recommended(results: Sequence[AaveResult]) -> AaveResult | None:
    baseline = next((r for r in results if r.scenario.mechanism == "aave_liquidation"), None)
    feasible = [
        r
        for r in results
        if r.scenario.mechanism == "aave_pre_liquidation"
        and (baseline is None or r.bad_debt <= baseline.bad_debt)
        and r.profit > 0
    ]
    return min(feasible, key=lambda r: (r.penalty, r.liquidations, r.scenario.name), default=None)


def aave_section(summary: pl.DataFrame, scenarios: Sequence[Scenario]) -> list[str]:
    """Markdown lines of the section (none when the set replayed no Aave pool)."""
    results = aave_results(summary, scenarios)
    if not results:
        return []
    best = recommended(results)
    roles = {"history": "history", "aave_liquidation": "baseline"}
    lines = [
        "## Aave V3 pool",
        "",
        "Each account across the pool's reserves is one position; a pre-liquidation acts on an "
        "opted-in account whose health factor is in [1, preHF), repaying at most preLCF of one debt "
        "reserve for collateral at preLIF (both linear in the health factor), never lowering its "
        "health; below HF 1 the Pool's liquidation of the version in force applies. Amounts in USD "
        "(the AaveOracle's base currency).",
        "",
        "Recommended: "
        + (f"`{best.scenario.name}`." if best else "none of the settings passes the rule."),
        "",
        HEADER,
    ]
    for result in results:
        role = roles.get(result.scenario.mechanism, "pre-liquidation")
        lines.append(result.row("**recommended**" if result is best else role))
    return lines
