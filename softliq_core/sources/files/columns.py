"""Columns of log and block exports, as cryo, Dune and node dumps name and type them, normalised to
the lake's ``raw_logs`` and ``blocks`` columns with a reason for every value that does not fit.

Hashes, addresses, topics and data may be binary (cryo's Parquet) or hex strings with or without
``0x`` (Dune's CSV); integers may be integers, decimal or ``0x`` strings; times may be epoch seconds,
datetimes, or Dune's ``2024-03-01 00:00:11.000 UTC``. A value that does not parse, or a hash of the
wrong length, makes the row's reason name the column; nothing is coerced silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

U32_MAX = 2**32 - 1


@dataclass(frozen=True)
class Column:
    name: str  # the lake's column
    aliases: tuple[str, ...]  # names exports use, first match wins
    kind: str  # "bytes32", "address", "bytes", "uint32", "uint64", "time"
    required: bool = True  # a missing value is a bad row (else null)


LOG_COLUMNS = (
    Column("block_number", ("block_number", "blockNumber"), "uint32"),
    Column("block_hash", ("block_hash", "blockHash"), "bytes32", required=False),
    Column("transaction_index", ("transaction_index", "tx_index", "transactionIndex"), "uint32"),
    Column("log_index", ("log_index", "index", "logIndex"), "uint32"),
    Column("transaction_hash", ("transaction_hash", "tx_hash", "transactionHash"), "bytes32"),
    Column("address", ("address", "contract_address"), "address"),
    Column("topic0", ("topic0",), "bytes32", required=False),
    Column("topic1", ("topic1",), "bytes32", required=False),
    Column("topic2", ("topic2",), "bytes32", required=False),
    Column("topic3", ("topic3",), "bytes32", required=False),
    Column("data", ("data",), "bytes"),
    Column("timestamp", ("timestamp", "block_time", "block_timestamp"), "time"),
    Column("chain_id", ("chain_id",), "uint64", required=False),
)  # fmt: skip

BLOCK_COLUMNS = (
    Column("block_number", ("block_number", "number"), "uint32"),
    Column("block_hash", ("block_hash", "hash"), "bytes32"),
    Column("parent_hash", ("parent_hash", "parentHash"), "bytes32"),
    Column("timestamp", ("timestamp", "block_time"), "time"),
    Column("base_fee_per_gas", ("base_fee_per_gas", "baseFeePerGas"), "uint64", required=False),
    Column("chain_id", ("chain_id",), "uint64", required=False),
)  # fmt: skip

_LENGTH = {"bytes32": 32, "address": 20}


class MissingColumnError(ValueError):
    """A file lacks a column every row needs: no row of it can be imported."""


def find(frame: pl.DataFrame, column: Column) -> str | None:
    return next((a for a in column.aliases if a in frame.columns), None)


def _text(source: str) -> pl.Expr:
    """A string column's value, trimmed, empty as null."""
    text = pl.col(source).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def _bytes(source: str, dtype: pl.DataType, column: Column) -> tuple[pl.Expr, pl.Expr]:
    if dtype == pl.Binary:
        value = pl.col(source)
        problem = pl.lit(None, pl.String)
    else:
        text = _text(source).cast(pl.String)
        digits = text.str.strip_prefix("0x").str.strip_prefix("0X")
        value = digits.str.decode("hex", strict=False)
        problem = pl.when(text.is_not_null() & value.is_null()).then(
            pl.format(f"column {column.name}: not hex ({{}})", text.str.slice(0, 80))
        )
    length = _LENGTH.get(column.kind)
    if length is not None:
        problem = pl.coalesce(
            problem,
            pl.when(value.bin.size() != length).then(
                pl.format(f"column {column.name}: {{}} bytes, not {length}", value.bin.size())
            ),
        )
    return value, problem


def _integer(source: str, dtype: pl.DataType, column: Column) -> tuple[pl.Expr, pl.Expr]:
    if dtype.is_integer():
        raw = pl.col(source).cast(pl.Int64, strict=False)
        shown = pl.col(source).cast(pl.String)
    else:
        text = _text(source).cast(pl.String)
        raw = (
            pl.when(text.str.starts_with("0x"))
            .then(text.str.slice(2).str.to_integer(base=16, strict=False))
            .otherwise(text.str.to_integer(base=10, strict=False))
        )
        shown = text
    ceiling = U32_MAX if column.kind == "uint32" else 2**63 - 1
    ok = raw.is_between(0, ceiling)
    problem = pl.when(shown.is_not_null() & ~ok.fill_null(False)).then(
        pl.format(f"column {column.name}: not an integer in 0..{ceiling} ({{}})", shown)
    )
    return pl.when(ok).then(raw), problem


def _time(source: str, dtype: pl.DataType, column: Column) -> tuple[pl.Expr, pl.Expr]:
    if isinstance(dtype, pl.Datetime):
        # a naive datetime is UTC (block times are)
        seconds = pl.col(source).dt.epoch("s")
        return seconds, pl.lit(None, pl.String)
    if dtype.is_integer():
        return _integer(source, dtype, column)
    text = _text(source).cast(pl.String)
    epoch = text.str.to_integer(base=10, strict=False)
    parsed = (
        text.str.replace(r" UTC$", "")
        .str.replace(r"Z$", "")
        .str.replace("T", " ")
        .str.to_datetime(format="%Y-%m-%d %H:%M:%S%.f", strict=False)
        .dt.epoch("s")
    )
    seconds = pl.coalesce(epoch, parsed)
    ok = seconds.is_between(0, U32_MAX)
    problem = pl.when(text.is_not_null() & ~ok.fill_null(False)).then(
        pl.format(f"column {column.name}: not a time ({{}})", text)
    )
    return pl.when(ok).then(seconds), problem


def normalise(
    frame: pl.DataFrame, columns: tuple[Column, ...], may_lack: frozenset[str] = frozenset()
) -> pl.DataFrame:
    """``frame`` with the lake's columns (null where a value is bad or absent) and ``reason``:
    empty for a good row, else every problem, each naming its column. A required column the file
    lacks altogether raises ``MissingColumnError``, unless it is in ``may_lack``."""
    values, problems = [], []
    for column in columns:
        source = find(frame, column)
        if source is None:
            if column.required and column.name not in may_lack:
                raise MissingColumnError(
                    f"no column {column.name} (nor {', '.join(column.aliases[1:]) or 'an alias'})"
                )
            values.append(pl.lit(None).alias(column.name))
            continue
        dtype = frame.schema[source]
        if column.kind in ("bytes32", "address", "bytes"):
            value, problem = _bytes(source, dtype, column)
        elif column.kind == "time":
            value, problem = _time(source, dtype, column)
        else:
            value, problem = _integer(source, dtype, column)
        if column.required:
            given = _text(source) if dtype == pl.String else pl.col(source)
            missing = pl.when(given.is_null()).then(pl.lit(f"column {column.name}: missing"))
            problem = pl.coalesce(problem, missing)
        values.append(value.alias(column.name))
        problems.append(problem)
    reason = pl.concat_str(problems, separator="; ", ignore_nulls=True)
    return frame.select(*values, reason.fill_null("").alias("reason"))


def raw_json(frame: pl.DataFrame) -> pl.Series:
    """Each row as JSON text, binary values as 0x-hex: what a quarantined row keeps of itself."""
    shown = [
        ("0x" + pl.col(c).bin.encode("hex")).alias(c) if frame.schema[c] == pl.Binary else pl.col(c)
        for c in frame.columns
    ]
    return frame.select(pl.struct(shown).struct.json_encode().alias("raw")).to_series()
