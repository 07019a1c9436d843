"""The README's main command, end to end, on a small synthetic chain in a temporary directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.e2e


def test_softliq_demo_fills_duckdb_and_prints_the_summary(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {
        **os.environ,
        "SOFTLIQ_LAKE": str(tmp_path / "lake"),
        "SOFTLIQ_DUCKDB": str(tmp_path / "softliq.duckdb"),
        "DAGSTER_HOME": str(home),
    }
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "demo",
            "--days",
            "3",
            "--borrowers-per-market",
            "15",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "ingest_daily: done" in out and "all checks passed" in out
    for header in ("scenario", "market", "pre-liq", "liq", "debt_repaid", "penalty", "bad_debt"):
        assert header in out
    assert "Baseline validation: " in out and "found allowed by the engine's rules" in out
    assert "softliq sql" in out

    con = duckdb.connect(str(tmp_path / "softliq.duckdb"), read_only=True)
    scenarios = dict(con.execute("SELECT name, scenario_id FROM scenarios").fetchall())
    assert set(scenarios) == {
        "history", "baseline", "pre_liq_sdk_default", "pre_liq_86_at_83",
        "pre_liq_tight", "pre_liq_half_opt_in", "aave_baseline", "aave_pre_liq_105",
        "aave_pre_liq_110",
    }  # fmt: skip
    # history's liquidations are exactly the Liquidate logs in the lake
    (lake_liquidations,) = con.execute(
        "SELECT count(*) FROM lake_morpho_events WHERE event = 'Liquidate'"
    ).fetchone()  # type: ignore[misc]
    (recorded,) = con.execute(
        "SELECT count(*) FROM liquidation_actions WHERE scenario_id = $id AND kind = 'liquidation' "
        "AND protocol = 'morpho_blue'",
        {"id": scenarios["history"]},
    ).fetchone()  # type: ignore[misc]
    assert recorded == lake_liquidations > 0
    # and the Aave pool's: history's LiquidationCalls, to the wei, beside the engine's scenarios
    assert (
        con.execute(
            "SELECT count(*), sum(debt_to_cover::HUGEINT), sum(liquidated_collateral_amount::HUGEINT) "
            "FROM lake_aave_events WHERE event = 'LiquidationCall'"
        ).fetchone()
        == con.execute(
            "SELECT count(*), sum(repaid_tokens), sum(seized_tokens) FROM liquidation_actions "
            "WHERE scenario_id = $id AND protocol = 'aave_v3'",
            {"id": scenarios["history"]},
        ).fetchone()
    )
    (aave_soft,) = con.execute(
        "SELECT sum(pre_liquidations) FROM scenario_market_summary WHERE protocol = 'aave_v3'"
    ).fetchone()  # type: ignore[misc]
    assert aave_soft > 0
    assert "Aave V3 pool" in run.stdout
    # and each was checked by the engine's rule in shadow, found, with amounts to the wei
    assert con.execute(
        "SELECT count(*), count(*) FILTER (liquidatable AND amounts_match) FROM baseline_validation "
        "WHERE kind = 'liquidation'"
    ).fetchone() == (lake_liquidations, lake_liquidations)
    # one summary row per scenario x market in scope: 4 markets and the Aave pool (history), two
    # scenarios scoped to one LLTV, Aave's scenarios on the pool alone
    rows = dict(
        con.execute(
            "SELECT scenario_name, count(*) FROM scenario_market_summary GROUP BY 1"
        ).fetchall()
    )
    assert rows == {
        "history": 5, "baseline": 4, "pre_liq_sdk_default": 4, "pre_liq_half_opt_in": 4,
        "pre_liq_86_at_83": 2, "pre_liq_tight": 1, "aave_baseline": 1, "aave_pre_liq_105": 1,
        "aave_pre_liq_110": 1,
    }  # fmt: skip
    (soft,) = con.execute("SELECT sum(pre_liquidations) FROM scenario_market_summary").fetchone()  # type: ignore[misc]
    assert soft > 0
    # the readable view joins the lake's markets (and adds the Aave pool's rows, in USD)
    assert con.execute("SELECT count(*) FROM scenario_market_summary_tokens").fetchone() == (23,)
    # pre-liquidation contracts and opt-ins are readable as views over the lake
    assert con.execute(
        "SELECT count(*), bool_and(uses_market_oracle), round(min(pre_lltv), 6) "
        "FROM pre_liquidation_contracts"
    ).fetchone() == (2, True, 0.832604)
    (opted_in,) = con.execute(
        "SELECT count(*) FROM authorization_intervals WHERE is_pre_liquidation"
    ).fetchone()  # type: ignore[misc]
    assert opted_in > 0
    # every raw log was decoded or quarantined
    (raw,) = con.execute("SELECT count(*) FROM lake_raw_logs").fetchone()  # type: ignore[misc]
    (events,) = con.execute("SELECT count(*) FROM lake_morpho_events").fetchone()  # type: ignore[misc]
    (rounds,) = con.execute("SELECT count(*) FROM lake_oracle_rounds").fetchone()  # type: ignore[misc]
    (aave,) = con.execute("SELECT count(*) FROM lake_aave_events").fetchone()  # type: ignore[misc]
    assert aave > 0
    assert raw == events + aave + rounds
    con.close()

    # re-running gives the same rows, never duplicates
    again = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "demo", "--days", "3", "--borrowers-per-market", "15"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    con = duckdb.connect(str(tmp_path / "softliq.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM scenarios").fetchone() == (9,)
    (recorded_again,) = con.execute(
        "SELECT count(*) FROM liquidation_actions WHERE scenario_id = $id AND kind = 'liquidation' "
        "AND protocol = 'morpho_blue'",
        {"id": scenarios["history"]},
    ).fetchone()  # type: ignore[misc]
    assert recorded_again == recorded

    # the float sweep of a grid over the demo's lake: Parquet any tool reads beside the DuckDB
    # file, a row per scenario and 86 % market, every grid point's positions
    swept = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "sweep", "--scenarios", "sweep_86"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert swept.returncode == 0, swept.stderr[-3000:]
    assert "Float sweep of 25 scenarios" in swept.stdout  # baseline and 24 grid points
    assert "float sweep: 100%" in swept.stderr  # the progress bar, market by market
    written = tmp_path / "sweeps" / "sweep=sweep_86"
    con = duckdb.connect()
    summary = written / "summary.parquet"
    markets, rows, acted = con.execute(
        f"SELECT count(DISTINCT market_id), count(*), sum(pre_liquidations) FROM '{summary}'"
    ).fetchone()  # type: ignore[misc]
    assert markets > 0 and rows == 25 * markets and acted > 0
    positions = written / "positions.parquet"
    assert con.execute(
        f"SELECT count(*) FROM (SELECT scenario_id, market_id, count(*) AS n FROM '{positions}' "
        f"GROUP BY ALL) p JOIN '{summary}' s USING (scenario_id, market_id) "
        "WHERE p.n <> s.positions_simulated"
    ).fetchone() == (0,)
    # each row names its scenario, and the definitions sit beside them: a grid point's preLLTV
    # read from its JSON (WAD)
    defined = written / "scenarios.parquet"
    assert con.execute(
        f"SELECT count(*) FROM '{summary}' s JOIN '{defined}' d USING (scenario_id) "
        "WHERE s.scenario_name = d.name"
    ).fetchone() == (rows,)
    pre_lltvs = con.execute(
        "SELECT DISTINCT (definition->>'$.pre_liquidation.pre_lltv')::HUGEINT / 10**16 "
        f"FROM '{defined}' WHERE name LIKE 'pre_86[%' ORDER BY 1"
    ).fetchall()
    assert pre_lltvs == [(78,), (80,), (82,), (83,)]  # sweep_86.toml's grid
    # and the DuckDB file's views read it, the set's name as a column
    con = duckdb.connect(str(tmp_path / "softliq.duckdb"), read_only=True)
    assert con.execute(
        "SELECT sweep, count(*), sum(pre_liquidations) FROM float_sweep_summary GROUP BY sweep"
    ).fetchall() == [("sweep_86", rows, acted)]
    query = "SELECT * FROM float_sweep_summary WHERE sweep = 'sweep_86'"
    assert query in swept.stdout  # (the query the command prints works as printed)
    con.close()
    read = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "sql", query],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert read.returncode == 0 and f"shape: ({rows}," in read.stdout, read.stderr[-2000:]
