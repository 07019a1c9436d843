"""A float sweep's tables on disk: Parquet beside the DuckDB file, one directory per scenario set.

``sweeps/sweep=<set>/{summary,positions,scenarios}.parquet``: hive-style, so the DuckDB views over
them (``Warehouse.create_sweep_views``) read the set's name as a ``sweep`` column, and any tool
reads the files. A sweep of the issue's size has millions of position rows: in the DuckDB file they
would be copied at every later write (each write works on a copy of the file).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Final

import polars as pl

if TYPE_CHECKING:  # (the warehouse imports this module: not numba with it)
    from softliq_core.replay.float_sweep import FloatSweep

# in the order they are written: a summary row's scenario and positions are on disk before it
SWEEP_TABLES: Final = ("scenarios", "positions", "summary")


def sweeps_root(warehouse_path: str | Path) -> Path:
    """Where the sweeps of this DuckDB file's project are written: ``sweeps/`` beside it."""
    return Path(warehouse_path).resolve().parent / "sweeps"


def sweep_dir(warehouse_path: str | Path, scenario_file: str | Path) -> Path:
    """The directory of one scenario set's sweep (``sweep=<file stem>``)."""
    return sweeps_root(warehouse_path) / f"sweep={Path(scenario_file).stem}"


def write_sweep(sweep: FloatSweep, out_dir: Path) -> dict[str, Path]:
    """Write the sweep's tables; each file replaces the last whole (a reader sees the old one or
    the new one, never half of one)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for table in SWEEP_TABLES:
        path = out_dir / f"{table}.parquet"
        draft = path.with_name(path.name + ".writing")
        getattr(sweep, table).write_parquet(draft)
        os.replace(draft, path)
        written[table] = path
    return written


def read_sweep(out_dir: Path, table: str) -> pl.DataFrame:
    """One of a written sweep's tables."""
    return pl.read_parquet(out_dir / f"{table}.parquet")
