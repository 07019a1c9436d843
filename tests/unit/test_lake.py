"""The lake's reads: some days of a chain, read from their partitions' files alone, equal the same
rows filtered from a scan of the whole table, across a day with no partition and files written
before a column was added (the declared schema fills it with nulls)."""

from __future__ import annotations

import os
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa

from softliq_core.store.lake import SETTLE_SECONDS, Lake, with_date

SCHEMA = pa.schema(
    [("chain_id", pa.uint64()), ("block_number", pa.uint32()), ("amount", pa.string()),
     ("added_later", pa.string())]
)  # fmt: skip
DAYS = [date(2024, 3, 1) + timedelta(days=i) for i in range(6)]


def test_reading_days_equals_filtering_the_whole_table(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    for i, day in enumerate(DAYS):
        if i == 3:
            continue  # a day without a partition
        rows = {"block_number": [10 * i, 10 * i + 1], "amount": [str(i), str(2**200 + i)]}
        if i >= 4:
            rows["added_later"] = ["x", None]
        lake.write("t", pl.DataFrame(rows), 1, day)
    lake.write("t", pl.DataFrame({"block_number": [999], "amount": ["0"]}), 2, DAYS[0])
    whole = lake.read("t", SCHEMA)
    for days in (DAYS[1:2], DAYS[2:5], DAYS, [DAYS[3]]):
        read = lake.read("t", SCHEMA, 1, days)
        expected = whole.filter(
            (pl.col("chain_id") == 1)
            & pl.col("block_number").is_in([10 * DAYS.index(d) + k for d in days for k in (0, 1)])
        ).sort("block_number")
        assert read.schema == whole.schema
        assert read.sort("block_number").equals(expected), days
    assert lake.read("t", SCHEMA, 1, [DAYS[3]]).is_empty()
    assert lake.read("t", SCHEMA, 1, DAYS[4:])["added_later"].to_list() == ["x", None, "x", None]
    assert lake.read("t", SCHEMA, 2, DAYS[:1])["block_number"].to_list() == [999]


def test_reads_project_columns_and_push_filters_down(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    for i, day in enumerate(DAYS[:3]):
        rows = {"block_number": [10 * i, 10 * i + 1], "amount": [str(i), str(2**200 + i)]}
        lake.write("t", pl.DataFrame(rows), 1, day)
    numbers = pa.schema([SCHEMA.field("block_number")])
    odd = pl.col("block_number") % 2 == 1
    for days in (None, DAYS[1:3]):
        read = lake.read("t", numbers, 1, days, where=odd)
        assert read.columns == ["block_number"]
        assert read["block_number"].to_list() == ([1] if days is None else []) + [11, 21]


def test_writing_by_day_rewrites_only_the_days_that_changed(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    dated = pl.DataFrame(
        {"chain_id": [1] * 4, "block_number": [1, 2, 3, 4], "amount": ["a", "b", "c", "d"],
         "added_later": [None] * 4, "date": [DAYS[0], DAYS[0], DAYS[1], DAYS[2]]}
    )  # fmt: skip
    assert lake.write_by_day("t", dated, 1, SCHEMA) == DAYS[:3]
    inodes = {d: _part(tmp_path, d).stat().st_ino for d in DAYS[:2]}  # a rewrite makes a new file
    changed = dated.with_columns(
        pl.when(pl.col("block_number") == 3).then(pl.lit("C")).otherwise("amount").alias("amount")
    )
    # day 1 unchanged, day 2 changed, day 3 gone, day 4 new
    changed = pl.concat(
        [
            changed.filter(pl.col("date") != DAYS[2]),
            changed.tail(1).with_columns(date=pl.lit(DAYS[3])),
        ]
    )
    assert lake.write_by_day("t", changed, 1, SCHEMA) == [DAYS[1], DAYS[3]]
    assert lake.days("t", 1) == [DAYS[0], DAYS[1], DAYS[3]]
    assert _part(tmp_path, DAYS[0]).stat().st_ino == inodes[DAYS[0]]  # not rewritten
    assert _part(tmp_path, DAYS[1]).stat().st_ino != inodes[DAYS[1]]
    stored = lake.read("t", SCHEMA.append(pa.field("date", pa.date32())), 1)
    assert stored.sort("block_number").equals(changed.cast(stored.schema).sort("block_number"))
    assert lake.write_by_day("t", changed, 1, SCHEMA) == []  # nothing changed


def _part(root: Path, day: date) -> Path:
    return root / "lake" / "t" / "chain_id=1" / f"date={day}" / "part-0.parquet"


def age(root: Path) -> None:
    """The table's files as if written a minute ago."""
    for path in (root / "t").rglob("*.parquet"):
        os.utime(path, ns=(path.stat().st_mtime_ns - 60 * 10**9,) * 2)


def test_folding_days_summarises_again_only_the_days_whose_file_changed(tmp_path: Path) -> None:
    """A day's summary is computed again when its file is new or rewritten (even with the same
    rows: its time changed) or was written too shortly before the last fold to tell a rewrite in
    the same clock tick, kept otherwise, and dropped with its partition; the summaries always
    equal summarising every day (days without a summary row are remembered too)."""
    lake = Lake(tmp_path / "lake")
    summary = pa.schema([("day", pa.date32()), ("block_number", pa.uint32())])
    seen: list[list[date]] = []

    def summarize(rows: pl.DataFrame) -> pl.DataFrame:  # the odd blocks of each day
        seen.append(sorted(set(rows["date"].to_list())))
        return rows.filter(pl.col("block_number") % 2 == 1).rename({"date": "day"})

    def fold() -> pl.DataFrame:
        folded = lake.fold_days("t", with_date(SCHEMA), 1, "odd", summary, summarize)
        expected = summarize(lake.read("t", with_date(SCHEMA), 1)).select(summary.names)
        seen.pop()
        assert folded.sort("day", "block_number").equals(expected.sort("day", "block_number"))
        return folded

    def write(i: int, blocks: list[int]) -> None:
        rows = pl.DataFrame({"block_number": blocks, "amount": ["1"] * len(blocks)})
        lake.write("t", rows, 1, DAYS[i])

    for i in range(4):
        write(i, [10 * i, 10 * i + 1] if i != 2 else [20])  # day 2: no odd block
    age(tmp_path / "lake")
    fold()
    assert seen == [DAYS[:4]]
    fold()
    assert len(seen) == 1  # nothing changed: nothing read
    write(4, [41])
    write(1, [11])  # rewritten: the even block gone
    write(3, [30, 31])  # rewritten with the same rows
    lake.storage.delete_dir("t", "chain_id=1", f"date={DAYS[0].isoformat()}")
    assert fold()["block_number"].to_list() == [11, 31, 41]
    assert seen[-1] == [DAYS[1], DAYS[3], DAYS[4]]
    fold()  # written just before the last fold: read again, as a rewrite in its tick would be
    assert seen[-1] == [DAYS[1], DAYS[3], DAYS[4]] and len(seen) == 3
    age(tmp_path / "lake")
    fold()
    fold()
    assert len(seen) == 4  # settled once folded after their time had passed


def test_folds_running_while_days_are_rewritten_leave_a_record_a_later_fold_can_trust(
    tmp_path: Path,
) -> None:
    """Two folds in threads while days are rewritten (different sizes): each reads a day's file in
    one go (never half of two versions), and whichever record is left, a fold after the writes
    (their times settled) equals summarising every day."""
    lake = Lake(tmp_path / "lake")
    summary = pa.schema([("day", pa.date32()), ("block_number", pa.uint32())])

    def summarize(rows: pl.DataFrame) -> pl.DataFrame:
        return rows.filter(pl.col("block_number") % 2 == 1).rename({"date": "day"})

    def fold() -> pl.DataFrame:
        return lake.fold_days("t", with_date(SCHEMA), 1, "odd", summary, summarize)

    def write(i: int, count: int) -> None:
        blocks = list(range(10 * i, 10 * i + count))
        lake.write("t", pl.DataFrame({"block_number": blocks, "amount": ["1"] * count}), 1, DAYS[i])

    for i in range(len(DAYS)):
        write(i, 2)
    age(tmp_path / "lake")
    fold()  # the first fold reads the table in one scan, which must not race a rewrite
    stop = threading.Event()
    failures: list[BaseException] = []

    def keep_folding() -> None:
        while not stop.is_set():
            try:
                fold()
            except BaseException as error:  # reported by the test
                failures.append(error)
                return

    folders = [threading.Thread(target=keep_folding) for _ in range(2)]
    for folder in folders:
        folder.start()
    for n in range(30):
        write(n % 3, 1 + n % 7)  # the later days stay as they were
    stop.set()
    for folder in folders:
        folder.join()
    assert failures == []
    time.sleep(SETTLE_SECONDS + 0.1)
    expected = summarize(lake.read("t", with_date(SCHEMA), 1)).select(summary.names)
    assert fold().sort("day", "block_number").equals(expected.sort("day", "block_number"))
