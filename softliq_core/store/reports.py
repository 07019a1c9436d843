"""The report's edges: its inputs read from DuckDB, its Markdown and PNG charts written to a folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.scenario import Scenario
from softliq_core.report.aave import SUMMARY_SQL as AAVE_SUMMARY_SQL
from softliq_core.report.data import SUMMARY_SQL
from softliq_core.report.governance import Report, ReportInputs
from softliq_core.store.warehouse import Warehouse

PENALTIES_SQL = """
SELECT scenario_id, market_id, borrower, sum(borrower_penalty) AS penalty
FROM liquidation_actions WHERE scenario_id IN (SELECT unnest($ids)) GROUP BY ALL
"""
SPAN_SQL = """
SELECT min(block_number) AS first, max(block_number) AS last, min(timestamp) AS t0,
       max(timestamp) AS t1
FROM lake_blocks
"""


def report_inputs(
    warehouse: Warehouse,
    histories: Sequence[MarketHistory],
    scenarios: Sequence[Scenario],
    scenario_file: str | Path,
) -> ReportInputs:
    ids = {"ids": [s.scenario_id for s in scenarios]}
    return ReportInputs(
        summary=warehouse.query(SUMMARY_SQL, ids),
        span=warehouse.query(SPAN_SQL).row(0, named=True),
        penalties=warehouse.query(PENALTIES_SQL, ids),
        histories=histories,
        scenarios=scenarios,
        scenario_file=str(scenario_file),
        aave_summary=warehouse.query(AAVE_SUMMARY_SQL, ids),
    )


def write_report(report: Report, out_dir: str | Path) -> Path:
    """``report.md`` and its charts into ``out_dir`` (created); returns the Markdown's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, png in report.charts.items():
        (out / name).write_bytes(png)
    path = out / "report.md"
    path.write_text(report.markdown)
    return path
