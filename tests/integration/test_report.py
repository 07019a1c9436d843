"""The governance report on a replayed sweep: its numbers are the outcome tables', its charts are PNGs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from softliq_core import steps
from softliq_core.report.data import RULE
from softliq_core.report.governance import ReportError
from softliq_core.store.warehouse import Warehouse
from tests.conftest import OutcomeStore

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(outcome_store: OutcomeStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    return steps.write_governance_report(
        outcome_store.lake,
        outcome_store.chain_id,
        outcome_store.duckdb,
        outcome_store.scenario_file,
        out,
    )


def _rows(text: str, section: str) -> dict[str, list[str]]:
    """The evidence table of one market section: role → cells."""
    body = text.split(f"## {section}", 1)[1].split("### Pareto", 1)[0]
    rows = {}
    for line in body.splitlines():
        if line.startswith("| ") and not line.startswith(("| role", "|---")):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0].strip("*")] = cells
    return rows


def test_every_chart_is_a_png_the_report_links(report: Path) -> None:
    text = report.read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert len(linked) >= 4
    for name in linked:
        data = (report.parent / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        with Image.open(report.parent / name) as image:
            image.verify()
            assert image.size[0] > 300


def test_the_evidence_equals_the_summary_table(report: Path, outcome_store: OutcomeStore) -> None:
    text = report.read_text()
    summary = Warehouse(outcome_store.duckdb).query(
        "SELECT scenario_name, market, pre_liquidations, liquidations, borrower_penalty, "
        "bad_debt_realised + bad_debt_unrealised AS bad_debt, liquidator_profit, clipped_actions "
        "FROM scenario_market_summary_tokens"
    )
    by_key = {(r["scenario_name"], r["market"]): r for r in summary.iter_rows(named=True)}
    checked = 0
    for market in ("WETH/USDC", "WBTC/USDC"):
        for role, cells in _rows(text, market).items():
            name = cells[1].strip("`")
            row = by_key[(name, market)]
            assert int(cells[3]) == row["pre_liquidations"], (role, name)
            assert int(cells[4]) == row["liquidations"], (role, name)
            for cell, column in (
                (5, "borrower_penalty"),
                (6, "bad_debt"),
                (7, "liquidator_profit"),
            ):
                assert cells[cell] == f"{row[column]:,.2f}", (role, name, column)
            assert int(cells[8]) == row["clipped_actions"]
            checked += 1
    assert checked >= 6


def test_the_recommendation_follows_the_stated_rule(
    report: Path, outcome_store: OutcomeStore
) -> None:
    text = report.read_text()
    assert RULE in text
    for market in ("WETH/USDC", "WBTC/USDC"):
        # the rule, written independently in SQL over the same table
        (expected,) = (
            Warehouse(outcome_store.duckdb)
            .query(
                """
            WITH s AS (SELECT * FROM scenario_market_summary_tokens WHERE market = $m),
                 b AS (SELECT bad_debt_realised + bad_debt_unrealised AS bad FROM s
                       WHERE scenario_name = 'baseline')
            SELECT scenario_name FROM s JOIN scenarios ON scenarios.scenario_id = s.scenario_id
            WHERE scenarios.mechanism = 'morpho_pre_liquidation'
              AND bad_debt_realised + bad_debt_unrealised <= (SELECT bad FROM b)
              AND liquidator_profit > 0
            ORDER BY borrower_penalty, liquidations, scenario_name LIMIT 1
            """,
                {"m": market},
            )
            .row(0)
        )
        assert _rows(text, market)["recommended"][1] == f"`{expected}`"


def test_a_report_on_scenarios_not_replayed_is_refused(
    outcome_store: OutcomeStore, tmp_path: Path
) -> None:
    other = tmp_path / "other.toml"
    other.write_text(
        '[[scenario]]\nname = "never_replayed"\nmechanism = "morpho_pre_liquidation"\n'
        'preset = "blue-sdk-default"\nliquidator = { latency_blocks = 7 }\n'
    )
    with pytest.raises(
        ReportError, match="without stored outcomes: never_replayed; replay them first"
    ):
        steps.write_governance_report(
            outcome_store.lake, outcome_store.chain_id, outcome_store.duckdb, other, tmp_path
        )
