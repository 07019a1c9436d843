"""The Parquet lake: ``<root>/<table>/chain_id=<n>/date=<YYYY-MM-DD>/part-0.parquet`` (DESIGN §3).

Partition columns live in the path only (hive style), so any engine adds them back when reading. A
partition is written whole or not at all (``storage.py``), so a crash never leaves a half-written
partition and re-running a day replaces its rows instead of adding to them. The root is a local
directory or an object-store URL (``s3://bucket/prefix``): the same layout either way.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa

from softliq_core.store.storage import Storage

PARTITION_COLUMNS = ("chain_id", "date")
# the size and modification time of a day's file (Lake.fold_days: what its summary was computed from)
DAY_FILES = pa.schema([("day", pa.date32()), ("size", pa.uint64()), ("mtime_ns", pa.int64())])
SETTLE_SECONDS = 2
PART = "part-0.parquet"


def with_date(schema: pa.Schema) -> pa.Schema:
    """A table's schema with its partition's ``date`` (read from the path)."""
    return schema.append(pa.field("date", pa.date32()))


def _partition(table: str, chain_id: int, day: date | None) -> tuple[str, ...]:
    chain = f"chain_id={chain_id}"
    return (table, chain) if day is None else (table, chain, f"date={day.isoformat()}")


def _day(parts: tuple[str, ...]) -> date | None:
    named = [p.removeprefix("date=") for p in parts if p.startswith("date=")]
    return date.fromisoformat(named[0]) if named else None


def _keys(parts: tuple[str, ...]) -> list[pl.Expr]:
    """The partition columns of a file, from its path (hive style)."""
    chain = next(p.removeprefix("chain_id=") for p in parts if p.startswith("chain_id="))
    day = _day(parts)
    return [pl.lit(int(chain), pl.UInt64).alias("chain_id")] + (
        [] if day is None else [pl.lit(day, pl.Date).alias("date")]
    )


def _folded(summary: pa.Schema) -> pa.Schema:
    """A fold's record: a day, its file's size and time, and its summary rows."""
    rows = pa.struct([f for f in summary if f.name != "day"])
    return DAY_FILES.append(pa.field("rows", pa.list_(rows)))


def _unfolded(folded: pl.DataFrame, summary: pa.Schema) -> pl.DataFrame:
    """The summary rows of a fold's record, by day in order."""
    rows = folded.select("day", "rows").explode("rows").filter(pl.col("rows").is_not_null())
    return rows.unnest("rows").select(summary.names).cast(pl.Schema(summary))


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

    def write_by_day(
        self,
        table: str,
        frame: pl.DataFrame,
        chain_id: int,
        schema: pa.Schema,
        from_day: date | None = None,
    ) -> list[date]:
        """Make a date-partitioned table of one chain hold ``frame`` (``schema``'s columns and
        ``date``; ``from_day``: its days from that one on, the earlier ones left as stored): each
        day whose rows differ from the stored ones is rewritten (atomically, as every partition), a
        day no longer in ``frame`` is deleted, the others are left as they are, so a daily rebuild
        writes its new day, not the year. Returns the days written."""
        dated = with_date(schema)
        later = None if from_day is None else pl.col("date") >= from_day
        stored = {
            day: part.drop("date")
            for (day,), part in self.read(table, dated, chain_id, where=later)
            .partition_by("date", as_dict=True, maintain_order=True)
            .items()
        }
        written = []
        for (day,), part in (
            frame.cast(pl.Schema(dated))
            .partition_by("date", as_dict=True, maintain_order=True)
            .items()
        ):
            rows = part.select(schema.names)
            if not rows.equals(stored.pop(day, pl.DataFrame())):
                self.write(table, rows, chain_id, day)
                written.append(day)
        for day in stored:
            self.storage.delete_dir(*_partition(table, chain_id, day))
        return sorted(written)

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

    def day_stamps(self, table: str, chain_id: int) -> pl.DataFrame:
        """(day, size, mtime_ns) of each day partition's file of a table, from one listing."""
        stamps = self.storage.stamps(*_partition(table, chain_id, None))
        rows = [(_day(parts), *stamp) for parts, stamp in stamps.items() if parts[-1] == PART]
        return pl.DataFrame(rows, schema=pl.Schema(DAY_FILES), orient="row")

    def fold_days(
        self,
        table: str,
        schema: pa.Schema,
        chain_id: int,
        record: str,
        summary: pa.Schema,
        summarize: Callable[[pl.DataFrame], pl.DataFrame],
    ) -> pl.DataFrame:
        """Each day partition of ``table`` (read as ``schema``, which has its ``date``) summarised
        by ``summarize`` into rows of ``summary`` (whose ``day`` column names the day; a day may
        have none). The table ``record`` keeps one row per day: the size and modification time of
        the file its summary rows were computed from, and those rows. Only the days whose file is
        new or changed since are read and summarised again, so a daily run reads its new day, not
        the year; a day whose partition is gone is dropped. The record is one file, written whole:
        folds running at once leave one of theirs, which a later fold checks as any.

        As make and rsync, a file of the same size and time is taken as unchanged; as git does
        for its index, a file modified less than ``SETTLE_SECONDS`` before the record was written
        is read again (a rewrite within its clock's tick, or an object store's second, keeps its
        time)."""
        current = self.day_stamps(table, chain_id)
        kept = _folded(summary)
        written = self.storage.stamps(*_partition(record, chain_id, None))
        settled = max((t for _, t in written.values()), default=0) - SETTLE_SECONDS * 10**9
        stored = self._read_whole(record, kept, chain_id)
        unchanged = stored.join(current, on=["day", "size", "mtime_ns"], how="semi").filter(
            pl.col("mtime_ns") < settled
        )
        changed = current.join(unchanged, on="day", how="anti")
        if changed.is_empty() and stored.height == current.height:
            return _unfolded(unchanged, summary)
        # every day (a first fold): one scan of the table, much faster than a read of each file,
        # but like any scan of the lake not to be run while one of its days is being rewritten
        every = changed.height == current.height
        rows = (
            self.read(table, schema, chain_id)
            if every
            else pl.concat(
                [pl.DataFrame(schema=pl.Schema(schema))]
                + [self._read_whole(table, schema, chain_id, day) for day in changed["day"]]
            )
        )
        fresh = summarize(rows).select(summary.names).cast(pl.Schema(summary))
        nested = fresh.group_by("day", maintain_order=True).agg(
            pl.struct(pl.exclude("day")).alias("rows")
        )
        folded = pl.concat(
            [unchanged, changed.join(nested, on="day", how="left").select(kept.names)]
        ).sort("day")
        self.write(record, folded, chain_id, None)
        return _unfolded(folded, summary)

    def _read_whole(
        self, table: str, schema: pa.Schema, chain_id: int, day: date | None = None
    ) -> pl.DataFrame:
        """One partition (a day's, or a table of one file per chain), its file's bytes read in
        one go: a writer replacing the file meanwhile leaves this read the old file whole (a scan
        reads the footer and the pages separately, and fails if the file changed in between)."""
        parts = (*_partition(table, chain_id, day), PART)
        empty = pl.DataFrame(schema=pl.Schema(schema))
        if not self.storage.exists(*parts):
            return empty
        frame = pl.read_parquet(io.BytesIO(self.storage.read_bytes(*parts)))
        frame = frame.with_columns(_keys(parts))
        present = [c for c in schema.names if c in frame.columns]
        return pl.concat([empty, frame.select(present)], how="diagonal_relaxed").cast(
            pl.Schema(schema)
        )

    def exists(self, table: str) -> bool:
        return bool(self.storage.files(table, suffix=".parquet"))

    def read(
        self,
        table: str,
        schema: pa.Schema,
        chain_id: int | None = None,
        days: list[date] | None = None,
        where: pl.Expr | None = None,
    ) -> pl.DataFrame:
        """Read a table (optionally some days of one chain) cast to its declared schema, or to
        the columns of it that ``schema`` names (only those are read from the files); ``where``:
        only the rows it keeps (pushed down to the scan).

        Files written before a column was added read with nulls in it, whichever file comes
        first (the scan of the whole table takes the first file's columns; when a later file has
        more, the files are read one by one)."""
        empty = pl.DataFrame(schema=pl.Schema(schema))
        if chain_id is not None and days is not None:
            # only the days asked for: a daily run does not list a year of partitions
            files = [
                (*_partition(table, chain_id, day), PART)
                for day in days
                if self.storage.exists(*_partition(table, chain_id, day), PART)
            ]
            frame = self._stack(files, schema.names, where)
        elif not self.exists(table):
            return empty
        else:
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
            if where is not None:
                scan = scan.filter(where)
            present = scan.collect_schema().names()
            try:
                frame = scan.select(c for c in schema.names if c in present).collect()
            except pl.exceptions.SchemaError:
                # a later file has a column the first lacks (added since): stack file by file
                files = [
                    parts
                    for parts in map(self.storage.relative, self.storage.files(table))
                    if parts[-1] == PART
                    and (chain_id is None or parts[1] == f"chain_id={chain_id}")
                    and (days is None or _day(parts) in days)
                ]
                frame = self._stack(files, schema.names, where)
        columns = [c for c in schema.names if c in frame.columns]
        return pl.concat([empty, frame.select(columns)], how="diagonal_relaxed").cast(
            pl.Schema(schema)
        )

    def _stack(
        self, files: list[tuple[str, ...]], columns: Sequence[str], where: pl.Expr | None
    ) -> pl.DataFrame:
        """Files read one by one, their partition columns from their paths, stacked by name;
        only ``columns`` (those each file has) of the rows ``where`` keeps."""
        if not files:
            return pl.DataFrame()
        scans = [pl.scan_parquet(self.storage.url(*p)).with_columns(_keys(p)) for p in files]
        stacked = pl.concat(scans, how="diagonal_relaxed")
        if where is not None:
            stacked = stacked.filter(where)
        present = stacked.collect_schema().names()
        return stacked.select(c for c in columns if c in present).collect()

    def glob(self, table: str) -> str:
        return self.storage.url(table, "**", "*.parquet")
