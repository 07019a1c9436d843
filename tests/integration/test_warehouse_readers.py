"""A reader holding the DuckDB file open read-only is never locked out by a write, nor sees half of one."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from softliq_core.replay.liquidator import LiquidatorModel
from softliq_core.replay.run import outcomes_table
from softliq_core.replay.scenario import Scenario
from softliq_core.store.lake import Lake
from softliq_core.store.warehouse import Warehouse

# A separate process, like an analyst's `duckdb -readonly`: opens the file, reports the row count,
# waits for a line on stdin, then counts again on the same connection, closes it and opens a new one
# (DuckDB shares one instance per path inside a process: a new version is seen once it is closed).
READER = """
import sys, duckdb
path = sys.argv[1]
held = duckdb.connect(path, read_only=True)
print(held.execute("SELECT count(*) FROM baseline_validation").fetchone()[0], flush=True)
sys.stdin.readline()
print(held.execute("SELECT count(*) FROM baseline_validation").fetchone()[0], flush=True)
held.close()
fresh = duckdb.connect(path, read_only=True)
print(fresh.execute("SELECT count(*) FROM baseline_validation").fetchone()[0], flush=True)
"""

ROW = {
    "kind": "liquidation", "market_id": "0x01", "borrower": "0x02", "liquidator": None,
    "block_number": 1, "log_index": 0, "transaction_hash": None, "price": "1", "ltv": 0.9,
    "liquidatable": True, "first_liquidatable_block": 1, "blocks_liquidatable_before": 0,
    "repaid_assets": "1", "repaid_shares": "1", "seized_assets": "1", "bad_debt_assets": "0",
    "bad_debt_shares": "0", "recomputed_from": "repaid_shares", "recomputed_repaid_assets": "1",
    "recomputed_repaid_shares": "1", "recomputed_seized_assets": "1",
    "recomputed_bad_debt_assets": "0", "recomputed_bad_debt_shares": "0", "amounts_match": True,
    "problem": None,
}  # fmt: skip


def _rows(n: int) -> pl.DataFrame:
    return pl.DataFrame([{**ROW, "log_index": i} for i in range(n)])


def test_a_write_while_a_reader_holds_the_file(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "softliq.duckdb")
    warehouse.replace_table("baseline_validation", _rows(2), tmp_path / "lake")
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(warehouse.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None and reader.stdin is not None
    assert reader.stdout.readline().strip() == "2"
    warehouse.replace_table("baseline_validation", _rows(5), tmp_path / "lake")  # not locked out
    reader.stdin.write("go\n")
    reader.stdin.flush()
    held, fresh = reader.stdout.readline().strip(), reader.stdout.readline().strip()
    assert reader.wait(timeout=60) == 0
    assert (held, fresh) == (
        "2",
        "5",
    )  # the open reader keeps its version; a new one sees the write
    assert warehouse.query("SELECT count(*) AS n FROM baseline_validation")["n"][0] == 5


def test_a_failed_write_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "softliq.duckdb")
    warehouse.replace_table("baseline_validation", _rows(3), tmp_path / "lake")
    broken = _rows(1).with_columns(pl.lit("not a number").alias("repaid_assets"))
    with pytest.raises(Exception, match=r"(?i)conver"):
        warehouse.replace_table("baseline_validation", broken, tmp_path / "lake")
    assert warehouse.query("SELECT count(*) AS n FROM baseline_validation")["n"][0] == 3
    assert not list(tmp_path.glob("*.writing*"))


def test_lake_views_are_kept_across_writes_and_see_new_partitions(tmp_path: Path) -> None:
    """A write keeps the lake views it made before (no listing of the lake each time), and they
    still see partitions and tables added since; a view appears once its table has files, and a
    different lake root makes them again."""
    blocks = pl.DataFrame(
        {"block_number": [1], "timestamp": [1_700_000_000], "base_fee_per_gas": [None]},
        schema={"block_number": pl.UInt32, "timestamp": pl.UInt64, "base_fee_per_gas": pl.UInt64},
    )
    lake = Lake(tmp_path / "lake")
    lake.write("blocks", blocks, 1, date(2024, 3, 1))
    warehouse = Warehouse(tmp_path / "softliq.duckdb")

    def views() -> dict[str, str | None]:
        with warehouse.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        return dict(rows)

    def count(view: str) -> int:
        with warehouse.connect(read_only=True) as con:
            return int(con.execute(f"SELECT count(*) FROM {view}").fetchall()[0][0])

    warehouse.replace_table("baseline_validation", _rows(1), lake.root)
    first = views()
    assert "lake_blocks" in first and "lake_raw_logs" not in first
    assert count("lake_blocks") == 1
    lake.write(
        "blocks", blocks.with_columns(block_number=pl.lit(2, pl.UInt32)), 1, date(2024, 3, 2)
    )
    lake.write("raw_logs", pl.DataFrame({"block_number": [2]}), 1, date(2024, 3, 2))
    warehouse.replace_table("baseline_validation", _rows(1), lake.root)
    second = views()
    assert second["lake_blocks"] == first["lake_blocks"]  # kept, and sees the new day
    assert count("lake_blocks") == 2 and "lake_raw_logs" in second
    moved = tmp_path / "moved"
    (tmp_path / "lake").rename(moved)
    warehouse.replace_table("baseline_validation", _rows(1), moved)
    assert views()["lake_blocks"] != first["lake_blocks"] and count("lake_blocks") == 2


def test_the_schema_runs_again_only_when_it_changed(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    frame = pl.DataFrame([ROW])
    warehouse.replace_table("baseline_validation", frame, tmp_path / "lake")
    comment = "COMMENT ON COLUMN baseline_validation.problem IS 'edited by hand'"
    read_comment = (
        "SELECT comment FROM duckdb_columns() "
        "WHERE table_name = 'baseline_validation' AND column_name = 'problem'"
    )
    with warehouse.connect() as con:
        con.execute(comment)
    # same schema: the next write leaves the file's catalog alone (the statements are skipped)
    warehouse.replace_table("baseline_validation", frame, tmp_path / "lake")
    assert warehouse.query(read_comment).item() == "edited by hand"
    # a file set up by another version of the schema gets this one's statements again
    with warehouse.connect() as con:
        con.execute(comment)
        con.execute("UPDATE schema_version SET schema_sha256 = 'an older schema'")
    warehouse.replace_table("baseline_validation", frame, tmp_path / "lake")
    assert warehouse.query(read_comment).item().startswith("why not")
    assert warehouse.query("SELECT count(*) FROM schema_version").item() == 1


def _write_one_scenario(path: str, latency: int, start: Any) -> None:
    """A writer process: the outcomes of one scenario of its own, once every writer is ready."""
    scenario = replace(
        Scenario(name=f"latency {latency}", mechanism="history"),
        liquidator=LiquidatorModel(latency_blocks=latency),
    )
    start.wait()
    Warehouse(path).write_outcomes(outcomes_table([scenario], [], [], []), Path(path).parent)


def test_writers_in_flight_at_once_each_land(tmp_path: Path) -> None:
    """Writers not serialised by Dagster's pool (another instance, a script) queue on the file's
    lock: none fails on DuckDB's lock, none loses another's rows (each copies the file it then
    replaces, so two copies made at once would keep only the last rename's rows)."""
    path = tmp_path / "softliq.duckdb"
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    writers = [
        context.Process(target=_write_one_scenario, args=(str(path), latency, start))
        for latency in range(1, 7)
    ]
    for writer in writers:
        writer.start()
    start.set()
    for writer in writers:
        writer.join(timeout=120)
    assert [w.exitcode for w in writers] == [0] * 6
    assert Warehouse(path).query("SELECT count(*) FROM scenarios").item() == 6
