"""The lake's reads: some days of a chain, read from their partitions' files alone, equal the same
rows filtered from a scan of the whole table, across a day with no partition and files written
before a column was added (the declared schema fills it with nulls)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa

from softliq_core.store.lake import Lake

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
