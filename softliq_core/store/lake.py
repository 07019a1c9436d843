"""The Parquet lake: ``<root>/<table>/chain_id=<n>/date=<YYYY-MM-DD>/part-0.parquet`` (DESIGN §3).

Partition columns live in the path only (hive style), so any engine adds them back when reading. A
partition is written whole or not at all (``storage.py``), so a crash never leaves a half-written
partition and re-running a day replaces its rows instead of adding to them. The root is a local
directory or an object-store URL (``s3://bucket/prefix``): the same layout either way.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa

from softliq_core.store.storage import Storage

PARTITION_COLUMNS = ("chain_id", "date")
PART = "part-0.parquet"


def _partition(table: str, chain_id: int, day: date | None) -> tuple[str, ...]:
    chain = f"chain_id={chain_id}"
    return (table, chain) if day is None else (table, chain, f"date={day.isoformat()}")


class Lake:
    def __init__(self, root: str | Path) -> None:
        self.storage = Storage(root)

    @property
    def root(self) -> str:
        """The lake's location: an absolute local path or the object store's URL."""
        return self.storage.root

    def partition_dir(self, table: str, chain_id: int, day: date | None) -> str:
        return self.storage.url(*_partition(table, chain_id, day))

    def has_partition(self, table: str, chain_id: int, day: date | None) -> bool:
        return self.storage.exists(*_partition(table, chain_id, day))

    def write(self, table: str, frame: pl.DataFrame, chain_id: int, day: date | None) -> str:
        """Replace one partition (one day, or the whole table when ``day`` is None) atomically."""
        body = frame.drop([c for c in PARTITION_COLUMNS if c in frame.columns])
        return self.storage.write(
            (*_partition(table, chain_id, day), PART),
            lambda stream: body.write_parquet(stream, compression="zstd", statistics=True),
        )

    def write_by_day(self, table: str, frame: pl.DataFrame, chain_id: int) -> None:
        """Rewrite a whole date-partitioned table from a frame with a ``date`` column."""
        self.storage.delete_dir(*_partition(table, chain_id, None))
        for (day,), part in frame.partition_by("date", as_dict=True).items():
            self.write(table, part, chain_id, day)

    def chain_ids(self, table: str = "markets") -> list[int]:
        """The chains a table has partitions for (``chain_id=<n>`` directories)."""
        return sorted(
            int(name.split("=", 1)[1])
            for name in self.storage.children(table)
            if name.startswith("chain_id=")
        )

    def days(self, table: str, chain_id: int) -> list[date]:
        """The days a date-partitioned table has partitions for, in order."""
        return sorted(
            date.fromisoformat(name.removeprefix("date="))
            for name in self.storage.children(*_partition(table, chain_id, None))
            if name.startswith("date=")
        )

    def exists(self, table: str) -> bool:
        return bool(self.storage.files(table, suffix=".parquet"))

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
            self.glob(table),
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
        return self.storage.url(table, "**", "*.parquet")
