"""The report's Aave section: its table is the pool's rows of scenario_market_summary, in USD, and
its recommendation follows the rule (bad debt not above the Pool's liquidation, profit > 0, then the
lowest borrower penalty)."""

from __future__ import annotations

import polars as pl

from softliq_core.metrics.summary import scenario_market_summary
from softliq_core.replay.aave_engine import run_aave_scenarios
from softliq_core.replay.aave_history import AaveHistory
from softliq_core.replay.run import scenarios_table
from softliq_core.replay.scenario import parse_scenarios
from softliq_core.report.aave import aave_results, aave_section, recommended

PRE = {"mechanism": "aave_pre_liquidation", "pre_lcf1": "0.05", "pre_lif1": "1.01"}


def test_the_aave_section_shows_the_summary_and_the_rules_choice(
    aave_pool_history: AaveHistory,
) -> None:
    scenarios = parse_scenarios(
        {
            "scenario": [
                {"name": "history", "mechanism": "history"},
                {"name": "aave_baseline", "mechanism": "aave_liquidation"},
                {"name": "narrow", **PRE, "pre_hf": "1.04", "pre_lcf2": "0.3", "pre_lif2": "1.03"},
                {"name": "wide", **PRE, "pre_hf": "1.12", "pre_lcf2": "0.6", "pre_lif2": "1.05"},
            ]
        }
    )
    outcome = run_aave_scenarios(aave_pool_history, scenarios)
    actions = pl.DataFrame(outcome.actions, infer_schema_length=None)
    positions = pl.DataFrame(outcome.positions, infer_schema_length=None)
    summary = scenario_market_summary(scenarios_table(scenarios), actions, positions)
    lines = aave_section(summary, scenarios)
    assert lines[0] == "## Aave V3 pool"
    rows = [line for line in lines if line.startswith("| ") and "`" in line]
    assert [r.split("`")[1] for r in rows] == ["history", "aave_baseline", "narrow", "wide"]
    results = {r.scenario.name: r for r in aave_results(summary, scenarios)}
    for row in rows:
        result = results[row.split("`")[1]]
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert cells[3:5] == [str(result.pre_liquidations), str(result.liquidations)]
        assert cells[5] == f"{result.penalty / 1e8:,.2f}"
    best = recommended(list(results.values()))
    baseline = results["aave_baseline"]
    if best is None:
        assert "Recommended: none of the settings passes the rule." in lines
    else:
        assert best.bad_debt <= baseline.bad_debt and best.profit > 0
        assert f"Recommended: `{best.scenario.name}`." in lines
        assert all(
            best.penalty <= r.penalty
            for r in results.values()
            if r.scenario.mechanism == "aave_pre_liquidation"
            and r.bad_debt <= baseline.bad_debt
            and r.profit > 0
        )
