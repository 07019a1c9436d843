"""The Parquet lake: ``<root>/<table>/chain_id=<n>/date=<YYYY-MM-DD>/part-0.parquet`` (DESIGN §3).

Partition columns live in the path only (hive style), so any engine adds them back when reading. A
partition is written to a temporary file and renamed over the old one, so a crash never leaves a
half-written partition and re-running a day replaces its rows instead of adding to them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa

PARTITION_COLUMNS = ("chain_id", "date")


class Lake:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def partition_dir(self, table: str, chain_id: int, day: date | None) -> Path:
        path = self.root / table / f"chain_id={chain_id}"
        return path / f"date={day.isoformat()}" if day is not None else path

    def write(self, table: str, frame: pl.DataFrame, chain_id: int, day: date | None) -> Path:
        """Replace one partition (one day, or the whole table when ``day`` is None) atomically."""
        directory = self.partition_dir(table, chain_id, day)
        directory.mkdir(parents=True, exist_ok=True)
        body = frame.drop([c for c in PARTITION_COLUMNS if c in frame.columns])
        tmp = directory / f".part-0.parquet.{uuid.uuid4().hex}.tmp"
        body.write_parquet(tmp, compression="zstd", statistics=True)
        final = directory / "part-0.parquet"
        os.replace(tmp, final)
        return final

    def write_by_day(self, table: str, frame: pl.DataFrame, chain_id: int) -> None:
        """Rewrite a whole date-partitioned table from a frame with a ``date`` column."""
        table_dir = self.root / table / f"chain_id={chain_id}"
        if table_dir.exists():
            shutil.rmtree(table_dir)
        for (day,), part in frame.partition_by("date", as_dict=True).items():
            self.write(table, part, chain_id, day)

    def chain_ids(self, table: str = "markets") -> list[int]:
        """The chains a table has partitions for (``chain_id=<n>`` directories)."""
        return sorted(
            int(p.name.split("=", 1)[1])
            for p in (self.root / table).glob("chain_id=*")
            if p.is_dir()
        )

    def days(self, table: str, chain_id: int) -> list[date]:
        """The days a date-partitioned table has partitions for, in order."""
        return sorted(
            date.fromisoformat(p.name.removeprefix("date="))
            for p in self.partition_dir(table, chain_id, None).glob("date=*")
            if p.is_dir()
        )

    def exists(self, table: str) -> bool:
        return any((self.root / table).glob("**/*.parquet"))

    def read(
        self,
        table: str,
        schema: pa.Schema,
        chain_id: int | None = None,
        days: list[date] | None = None,
    ) -> pl.DataFrame:
        """Read a table (optionally some days of one chain) cast to its declared schema."""
        empty = pl.DataFrame(schema=pl.Schema(schema))
        if not self.exists(table):
            return empty
        scan = pl.scan_parquet(
            self.root / table / "**" / "*.parquet",
            hive_partitioning=True,
            hive_schema={"chain_id": pl.UInt64, "date": pl.Date},
            missing_columns="insert",
        )
        if chain_id is not None:
            scan = scan.filter(pl.col("chain_id") == chain_id)
        if days is not None:
            scan = scan.filter(pl.col("date").is_in(days))
        frame = scan.collect()
        columns = [c for c in schema.names if c in frame.columns]
        return pl.concat([empty, frame.select(columns)], how="diagonal_relaxed").cast(
            pl.Schema(schema)
        )

    def glob(self, table: str) -> str:
        return str(self.root.resolve() / table / "**" / "*.parquet")
