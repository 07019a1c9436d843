"""The governance report: Markdown with PNG charts, every number from the outcome tables.

    softliq report --scenarios sweep_86        # data/scenarios/sweep_86.toml, replayed first

``build_report`` is pure (tables in, Markdown and PNG bytes out); ``store/reports.py`` reads its
inputs from DuckDB and writes the files. The report states the rule that picked its recommendation,
the evidence, the assumptions and how to reproduce it; the numbers are those of
``scenario_market_summary`` (tests check they agree).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from softliq_core.replay.engine import replay_market
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.run import ENGINE_VERSION
from softliq_core.replay.scenario import Scenario
from softliq_core.report import charts
from softliq_core.report.aave import aave_section
from softliq_core.report.comparison import comparison_markdown, has_comparison
from softliq_core.report.data import (
    ALTERNATIVES_RULE,
    RULE,
    MarketEvidence,
    ScenarioResult,
    market_evidence,
)

TRACED_POSITIONS = 3
COMPARISON_CHART = "mechanism_comparison.png"


class ReportError(ValueError):
    """The report cannot be written from what is stored (e.g. scenarios not replayed yet)."""


def _amount(result: ScenarioResult, value: int) -> str:
    return f"{result.tokens(value):,.2f}"


def _params(result: ScenarioResult) -> str:
    if result.params is None:
        return "—"
    return " / ".join(
        f"{result.param(n):g}" for n in ("pre_lltv", "pre_lcf1", "pre_lcf2", "pre_lif1", "pre_lif2")
    )


EVIDENCE_HEADER = (
    "| role | scenario | preLLTV / preLCF1 / preLCF2 / preLIF1 / preLIF2 | pre-liquidations | "
    "hard liquidations | borrower penalty | bad debt | liquidator profit | clipped |\n"
    "|---|---|---|---:|---:|---:|---:|---:|---:|"
)


def evidence_row(role: str, r: ScenarioResult) -> str:
    return (
        f"| {role} | `{r.name}` | {_params(r)} | {r.pre_liquidations} | {r.liquidations} | "
        f"{_amount(r, r.penalty)} | {_amount(r, r.bad_debt)} | {_amount(r, r.profit)} | {r.clipped} |"
    )


def _most_affected(penalties: pl.DataFrame, market: MarketEvidence) -> list[str]:
    """Borrowers whose penalty the recommendation cuts the most against the baseline."""
    if market.recommended is None or market.baseline is None:
        return []
    base, rec = market.baseline.scenario.scenario_id, market.recommended.scenario.scenario_id
    mine = penalties.filter(pl.col("market_id") == market.market_id)
    paid = mine.pivot(on="scenario_id", index="borrower", values="penalty")
    if base not in paid.columns:
        return []
    if rec not in paid.columns:
        paid = paid.with_columns(pl.lit(0).alias(rec))
    saved = paid.filter(pl.col(base).is_not_null()).with_columns(
        (pl.col(base).cast(pl.Float64) - pl.col(rec).cast(pl.Float64).fill_null(0)).alias("saved")
    )
    ranked = saved.sort(["saved", "borrower"], descending=[True, False]).head(TRACED_POSITIONS)
    return list(ranked["borrower"])


@dataclass(frozen=True)
class ReportInputs:
    """What the report is built from (``store/reports.py`` reads it from DuckDB)."""

    summary: pl.DataFrame  # rows of report.data.SUMMARY_SQL for the scenarios
    span: dict[str, Any]  # first, last (blocks), t0, t1 (timestamps) of the data
    penalties: pl.DataFrame  # scenario_id, market_id, borrower, penalty (loan base units)
    histories: Sequence[MarketHistory]
    scenarios: Sequence[Scenario]
    scenario_file: str
    aave_summary: pl.DataFrame = field(
        default_factory=pl.DataFrame
    )  # rows of report.aave.SUMMARY_SQL


@dataclass(frozen=True)
class Report:
    markdown: str
    charts: dict[str, bytes] = field(default_factory=dict)  # file name -> PNG


def _paths(
    history: MarketHistory, market: MarketEvidence, borrowers: list[str]
) -> dict[str, dict[str, list[tuple[float, float]]]]:
    start = history.clock.timestamp(history.clock.first_block)
    paths: dict[str, dict[str, list[tuple[float, float]]]] = {b: {} for b in borrowers}
    for role, result in (("baseline", market.baseline), ("recommended", market.recommended)):
        assert result is not None
        scenario = result.scenario
        outcome = replay_market(
            history, scenario, scenario.mechanism_for(history.market), trace=frozenset(borrowers)
        )
        for borrower in borrowers:
            paths[borrower][f"{role}: {scenario.name}"] = [
                ((history.clock.timestamp(block) - start) / 3600, value / 1e18)
                for block, value in outcome.ltv_paths.get(borrower, [])
            ]
    return paths


def _assumptions(scenarios: Sequence[Scenario], markets: Sequence[MarketEvidence]) -> list[str]:
    liquidators = {json.dumps(s.liquidator.canonical(), sort_keys=True) for s in scenarios}
    accruals = sorted({s.accrual for s in scenarios if not s.is_history})
    clipped = sum(r.clipped for m in markets for r in m.pre_liquidation)
    lines = [
        "* Prices are exogenous: every scenario sees the oracle prices history saw; selling seized "
        "collateral costs the liquidator slippage but does not move the price.",
        "* Interest: "
        + (
            "the borrow share price follows history (DESIGN §4 rule 1)."
            if accruals == ["history"]
            else f"accrual modes {', '.join(accruals)} (irm: the AdaptiveCurveIRM on each scenario's own utilisation)."
        ),
        "* Other users follow history; each borrower's own actions are replayed as intents, clipped "
        f"when the counterfactual position cannot take them ({clipped:,} clips across the "
        "pre-liquidation scenarios, every one in `clipped_actions`).",
        "* Historical liquidations and pre-liquidations are not replayed; the liquidator model decides.",
        "* Positions are checked at every oracle round and at each of the borrower's own actions.",
        f"* Liquidator model{'s' if len(liquidators) > 1 else ''}:",
    ]
    for text in sorted(liquidators):
        model = json.loads(text)
        slippage = ", ".join(
            f"{k} fee {int(v['fee']) / 1e18:g} depth(1%) {v['depth_1pct']}"
            for k, v in model["slippage"].items()
        )
        lines.append(
            f"  latency {model['latency_blocks']} block(s); gas {model['gas_liquidation']:,} per "
            f"liquidation and {model['gas_pre_liquidation']:,} per pre-liquidation at the block's "
            f"base fee + {int(model['priority_fee']) / 1e9:g} gwei; minimum profit "
            f"{int(model['min_profit']) / 1e18:g} ETH; pre-liquidation calls "
            f"{model['pre_liquidation_calls']} (≤ {model['max_calls_per_block']} per block); "
            f"slippage {slippage}."
        )
    return lines


def build_report(inputs: ReportInputs) -> Report:
    """The report of a replayed scenario set; ReportError when it cannot be built."""
    scenarios, summary, scenario_file = inputs.scenarios, inputs.summary, inputs.scenario_file
    stored = set(summary["scenario_id"])
    if not inputs.aave_summary.is_empty():
        stored |= set(inputs.aave_summary["scenario_id"])
    missing = [s.name for s in scenarios if s.scenario_id not in stored]
    if missing:
        raise ReportError(
            f"scenarios without stored outcomes: {', '.join(missing[:5])}"
            f"{' …' if len(missing) > 5 else ''}; replay them first "
            f"(softliq demo --scenarios {scenario_file})"
        )
    markets = market_evidence(summary, scenarios)
    aave = (
        aave_section(inputs.aave_summary, scenarios) if not inputs.aave_summary.is_empty() else []
    )
    if not markets and not any(s.mechanism == "aave_pre_liquidation" for s in scenarios):
        raise ReportError("the scenario set has no pre-liquidation scenario: nothing to recommend")
    span = inputs.span
    charts_out: dict[str, bytes] = {}
    by_market = {h.market.market_id: h for h in inputs.histories}

    def day(ts: int) -> str:
        return datetime.fromtimestamp(ts, UTC).date().isoformat()

    md = [
        f"# Pre-liquidation parameters: backtest of {len(scenarios)} scenarios on "
        f"{', '.join(m.label for m in markets)}",
        "",
        f"softliq engine {ENGINE_VERSION}; scenario set `{scenario_file}`; blocks {span['first']:,}–"
        f"{span['last']:,} ({day(span['t0'])} to {day(span['t1'])}).",
        "",
        "## Recommendation",
        "",
        RULE,
        "",
        "| market | recommended | preLLTV / preLCF1 / preLCF2 / preLIF1 / preLIF2 | penalty vs baseline | hard liquidations vs baseline |",
        "|---|---|---|---:|---:|",
    ]
    for m in markets:
        r, b = m.recommended, m.baseline
        if r is None:
            md.append(f"| {m.label} | none passes the rule | — | — | — |")
            continue
        versus = (
            f"{_amount(r, r.penalty)} vs {_amount(r, b.penalty)} {m.unit}" if b else "—",
            f"{r.liquidations} vs {b.liquidations}" if b else "—",
        )
        md.append(f"| {m.label} | `{r.name}` | {_params(r)} | {versus[0]} | {versus[1]} |")

    for m in markets:
        slug = m.label.replace("/", "_")
        md += ["", f"## {m.label} (LLTV {m.lltv:.1%})", ""]
        md += ["### Evidence", "", f"Amounts in {m.unit}.", "", EVIDENCE_HEADER]
        for role, result in (("history", m.history), ("baseline", m.baseline)):
            if result is not None:
                md.append(evidence_row(role, result))
        if m.recommended is not None:
            md.append(evidence_row("**recommended**", m.recommended))
        md += [evidence_row(role, r) for role, r in m.alternatives.items()]
        md += [
            "",
            f"{len(m.pre_liquidation)} pre-liquidation settings replayed; {len(m.feasible)} pass the "
            f"rule; {len(m.pareto)} are Pareto-efficient (no other setting has a lower or equal "
            "penalty, bad debt and a higher or equal liquidator profit, one strictly better). "
            + ALTERNATIVES_RULE,
            "",
            "### Pareto-efficient settings",
            "",
            EVIDENCE_HEADER,
        ]
        md += [evidence_row("pareto", r) for r in sorted(m.pareto, key=lambda r: r.penalty)]
        charts_out[f"penalty_vs_pre_lltv_{slug}.png"] = charts.penalty_vs_pre_lltv(m)
        charts_out[f"liquidations_avoided_vs_pre_lcf_{slug}.png"] = (
            charts.liquidations_avoided_vs_pre_lcf(m)
        )
        md += [
            "",
            "### Charts",
            "",
            f"![borrower penalty vs preLLTV](penalty_vs_pre_lltv_{slug}.png)",
            "",
            f"![hard liquidations avoided vs preLCF2](liquidations_avoided_vs_pre_lcf_{slug}.png)",
        ]
        borrowers = _most_affected(inputs.penalties, m)
        if borrowers and m.market_id in by_market:
            charts_out[f"ltv_paths_{slug}.png"] = charts.ltv_paths(
                m, _paths(by_market[m.market_id], m, borrowers)
            )
            md += ["", f"![LTV paths of the most affected positions](ltv_paths_{slug}.png)"]

    if has_comparison(markets):
        charts_out[COMPARISON_CHART] = charts.mechanism_comparison(markets)
        md += ["", *comparison_markdown(markets, COMPARISON_CHART)]

    if aave:
        md += ["", *aave]
    md += ["", "## Assumptions", "", *_assumptions(scenarios, markets)]
    md += [
        "",
        "## Terms",
        "",
        "* **Borrower penalty**: the value of collateral seized beyond the debt repaid (seized collateral "
        "at the oracle price − repaid assets), in the loan token: what liquidations cost borrowers.",
        "* **Hard liquidation**: Morpho Blue's `liquidate`, allowed above LLTV, at the LIF of the market.",
        "* **Pre-liquidation**: `PreLiquidation.preLiquidate` for opted-in borrowers with preLLTV < LTV ≤ "
        "LLTV: at most preLCF of the debt, at incentive preLIF, both linear in the LTV from "
        "(preLCF1, preLIF1) at preLLTV to (preLCF2, preLIF2) at LLTV.",
        "* **Bad debt**: debt no collateral covers — realised when a liquidation takes the last "
        "collateral, unrealised when an insolvent position is still open at the end.",
        "* **Liquidator profit**: seized value − slippage − repaid − gas, summed over the calls made.",
        "",
        "## Reproduce",
        "",
        "```",
        f"make install && .venv/bin/softliq demo --scenarios {scenario_file}",
        f".venv/bin/softliq report --scenarios {scenario_file}",
        "```",
        "",
        "Every figure above is a row of `scenario_market_summary` in `data/softliq.duckdb` "
        "(`SELECT * FROM scenario_market_summary_tokens`); `softliq sql pareto_front` lists the "
        "efficient settings.",
    ]
    return Report("\n".join(md) + "\n", charts_out)
