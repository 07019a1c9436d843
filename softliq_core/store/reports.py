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


def span(histories: Sequence[MarketHistory]) -> dict[str, int]:
    """First and last block of the replayed data and their timestamps (the markets share a clock)."""
    clocks = [h.clock for h in histories]
    first = min(clocks, key=lambda c: c.first_block)
    last = max(clocks, key=lambda c: c.last_block)
    return {
        "first": first.first_block,
        "last": last.last_block,
        "t0": first.timestamp(first.first_block),
        "t1": last.timestamp(last.last_block),
    }


def report_inputs(
    warehouse: Warehouse,
    histories: Sequence[MarketHistory],
    scenarios: Sequence[Scenario],
    scenario_file: str | Path,
) -> ReportInputs:
    ids = {"ids": [s.scenario_id for s in scenarios]}
    return ReportInputs(
        summary=warehouse.query(SUMMARY_SQL, ids),
        span=span(histories),
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
