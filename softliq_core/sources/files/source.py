"""The file source: a ChainSource over exported files, read once when the source opens.

* logs: cryo's ``logs`` Parquet output, or CSV/Parquet exports with Dune's column names
  (``contract_address``, ``tx_hash``, ``index``, ``block_time``, ``topic0..topic3`` as hex strings);
* blocks (optional): cryo's ``blocks`` output or any export with number, hash, parent hash and
  timestamp. Without it the blocks are those the logs name, with their timestamps (``block_time``),
  no parent hash and no base fee: enough to decode, not to check continuity (``complete_blocks``).

The reference tables come from files too: tokens, oracles, and ``feeds`` (the feeds table: each
Chainlink proxy's phases, e.g. written by another source's ``feeds()``; without it every
``AnswerUpdated`` is quarantined). Event-less oracle inputs (``rate_at``) come from a file of
``rate_samples`` rows; an input with none is an error naming the contract.

Every row is validated (``columns.py``); a row that does not fit, a second copy of a log, logs that
disagree about their block's hash or time, or a row of another chain is quarantined with the reason
(``rejected``, written to the lake's ``import_quarantine``), never dropped.
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from softliq_core.markets import ORACLES_SCHEMA, TOKENS_SCHEMA
from softliq_core.sources.files.columns import (
    BLOCK_COLUMNS,
    LOG_COLUMNS,
    Column,
    MissingColumnError,
    normalise,
    raw_json,
)
from softliq_core.tables import BLOCKS, FEEDS, IMPORT_QUARANTINE, RATE_SAMPLES, RAW_LOGS

log = logging.getLogger("softliq_core.sources.files")


class FileSourceError(ValueError):
    """The files cannot be imported at all (none found, unreadable, a required column missing)."""


@dataclass(frozen=True, slots=True)
class FilesConfig:
    logs: str  # a file, a directory or a glob of .parquet / .csv log exports
    blocks: str | None = None  # the same for block exports; None: blocks from the logs' rows
    chain_id: int = 1
    tokens: str | None = None  # address, symbol, decimals of the markets' tokens
    oracles: str | None = None  # oracle, kind, base_feed_1, ..., scale_factor (ORACLES_SCHEMA)
    feeds: str | None = None  # the feeds table (FEEDS): proxy, phase, aggregator, first block
    rates: str | None = None  # rate_samples rows: contract, call, sample, block_number, value


def paths(pattern: str) -> list[Path]:
    """The files a path, directory or glob names (sorted), .parquet and .csv only."""
    given = Path(pattern)
    found = sorted(given.glob("*")) if given.is_dir() else sorted(map(Path, glob.glob(pattern)))
    files = [p for p in found if p.suffix.lower() in (".parquet", ".csv") and p.is_file()]
    if not files:
        raise FileSourceError(f"no .parquet or .csv file at {pattern}")
    return files


def read(path: Path) -> pl.DataFrame:
    """A file as exported: Parquet with its own types, CSV as text (parsed by ``normalise``)."""
    try:
        if path.suffix.lower() == ".csv":
            return pl.read_csv(path, infer_schema=False)
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise FileSourceError(f"{path}: unreadable ({error})") from None


def _import(
    pattern: str, columns: tuple[Column, ...], may_lack: frozenset[str], table: str, chain_id: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Normalised rows of every file (with ``file``, ``row``, ``raw`` and ``reason``)."""
    frames = []
    for path in paths(pattern):
        frame = read(path)
        try:
            rows = normalise(frame, columns, may_lack)
        except MissingColumnError as error:
            raise FileSourceError(f"{path}: {error}") from None
        frames.append(
            rows.with_columns(
                pl.lit(str(path)).alias("file"),
                pl.int_range(pl.len(), dtype=pl.UInt64).alias("row"),
                raw_json(frame),
            )
        )
    rows = pl.concat(frames, how="vertical_relaxed").with_columns(
        pl.when(pl.col("reason") == "")
        .then(
            pl.when(pl.col("chain_id").is_not_null() & (pl.col("chain_id") != chain_id)).then(
                pl.format(f"column chain_id: {{}}, the source is chain {chain_id}", "chain_id")
            )
        )
        .otherwise(pl.col("reason"))
        .fill_null("")
        .alias("reason"),
        pl.lit(table).alias("table"),
    )
    return rows.filter(pl.col("reason") == ""), rows.filter(pl.col("reason") != "")


def _duplicates(rows: pl.DataFrame, key: list[str], content: list[str], what: str) -> pl.Expr:
    """Why a row repeats a key: a second identical copy, or a key whose copies disagree (all of
    them quarantined: which one is right is not the importer's guess)."""
    disagree = pl.struct(content).n_unique().over(key) > 1
    again = ~pl.struct(key).is_first_distinct()
    shown = pl.format(" ".join(f"{k} {{}}" for k in key), *key)
    return (
        pl.when(disagree)
        .then(pl.format(f"column {key[-1]}: {{}} appears with different {what}", shown))
        .when(again)
        .then(pl.format(f"column {key[-1]}: {{}} is a second copy of a row", shown))
    )


def _keep(rows: pl.DataFrame, reason: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame]:
    marked = rows.with_columns(reason.fill_null("").alias("reason"))
    return marked.filter(pl.col("reason") == ""), marked.filter(pl.col("reason") != "")


def _day_start(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


class FileSource:
    """A ``ChainSource`` over exported files. ``rejected()`` is every row that was quarantined."""

    def __init__(self, config: FilesConfig) -> None:
        self.config = config
        self.chain_id = config.chain_id
        self.complete_blocks = config.blocks is not None
        may_lack = frozenset({"timestamp"}) if self.complete_blocks else frozenset()
        logs, bad_logs = _import(config.logs, LOG_COLUMNS, may_lack, "raw_logs", self.chain_id)
        content = [c.name for c in LOG_COLUMNS if c.name not in ("chain_id",)]
        logs, duplicated = _keep(
            logs, _duplicates(logs, ["block_number", "log_index"], content, "contents")
        )
        logs, inconsistent = _keep(
            logs,
            pl.when(pl.col("block_hash").n_unique().over("block_number") > 1)
            .then(pl.format("column block_hash: block {} has several hashes", "block_number"))
            .when(pl.col("timestamp").n_unique().over("block_number") > 1)
            .then(pl.format("column timestamp: block {} has several times", "block_number")),
        )
        rejected = [bad_logs, duplicated, inconsistent]
        if config.blocks is not None:
            blocks, bad_blocks = _import(
                config.blocks, BLOCK_COLUMNS, frozenset(), "blocks", self.chain_id
            )
            content = [c.name for c in BLOCK_COLUMNS if c.name != "chain_id"]
            blocks, duplicated = _keep(
                blocks, _duplicates(blocks, ["block_number"], content, "hashes or times")
            )
            rejected += [bad_blocks, duplicated]
            known = blocks.select("block_number", pl.col("block_hash").alias("known_hash"))
            logs, unknown = _keep(
                logs.join(known, on="block_number", how="left"),
                pl.when(pl.col("known_hash").is_null())
                .then(pl.format("column block_number: block {} is in no blocks file", "block_number"))
                .when(pl.col("block_hash").is_not_null() & (pl.col("block_hash") != pl.col("known_hash")))
                .then(pl.format("column block_hash: not the hash of block {} in the blocks files", "block_number")),
            )  # fmt: skip
            rejected.append(unknown)
        else:
            blocks = logs.select(
                "block_number", "block_hash", pl.lit(None).alias("parent_hash"), "timestamp"
            ).unique("block_number")
        self._logs = (
            logs.with_columns(
                pl.col("data").bin.size().alias("n_data_bytes"), pl.lit(self.chain_id).alias("chain_id")
            )
            .select(RAW_LOGS.names)
            .cast(pl.Schema(RAW_LOGS))
            .sort("block_number", "log_index")
        )  # fmt: skip
        self._blocks = (
            pl.concat([pl.DataFrame(schema=pl.Schema(BLOCKS)), blocks.with_columns(pl.lit(self.chain_id).alias("chain_id"))], how="diagonal_relaxed")
            .select(BLOCKS.names)
            .cast(pl.Schema(BLOCKS))
            .sort("block_number")
        )  # fmt: skip
        self._rejected = pl.concat(
            [r.select(pl.lit(self.chain_id).alias("chain_id"), *IMPORT_QUARANTINE.names[1:]) for r in rejected],
            how="vertical_relaxed",
        ).cast(pl.Schema(IMPORT_QUARANTINE))  # fmt: skip
        if self._rejected.height:
            log.warning(
                "%d row(s) of the files quarantined (import_quarantine); first: %s",
                self._rejected.height,
                self._rejected["reason"][0],
            )

    def rejected(self) -> pl.DataFrame:
        """``import_quarantine`` rows: every imported row that did not become a lake row."""
        return self._rejected

    def day_block_range(self, day: date) -> tuple[int, int] | None:
        start = _day_start(day)
        numbers = self._blocks.filter(pl.col("timestamp").is_between(start, start + 86_399))[
            "block_number"
        ]
        if numbers.is_empty():
            return None
        return int(numbers.min()), int(numbers.max())  # type: ignore[arg-type]

    def logs(self, first_block: int, last_block: int) -> pl.DataFrame:
        return self._logs.filter(pl.col("block_number").is_between(first_block, last_block))

    def blocks(self, first_block: int, last_block: int) -> pl.DataFrame:
        return self._blocks.filter(pl.col("block_number").is_between(first_block, last_block))

    def tokens(self) -> pl.DataFrame:
        return _reference(self.config.tokens, TOKENS_SCHEMA)

    def oracles(self) -> pl.DataFrame:
        return _reference(self.config.oracles, ORACLES_SCHEMA)

    def feeds(self) -> pl.DataFrame:
        return _reference(self.config.feeds, pl.Schema(FEEDS))

    def rate_at(
        self, contract: str, call: str, sample: int | None, blocks: Sequence[int]
    ) -> list[int]:
        """The latest sampled value at or before each block (files cannot answer ``eth_call``)."""
        samples = _reference(self.config.rates, pl.Schema(RATE_SAMPLES)).filter(
            (pl.col("contract") == contract)
            & (pl.col("call") == call)
            & (pl.col("sample").is_null() if sample is None else pl.col("sample") == str(sample))
        )
        wanted = pl.DataFrame({"block_number": list(blocks)}, schema={"block_number": pl.Int64})
        found = (
            wanted.with_row_index()
            .sort("block_number")
            .join_asof(
                samples.select(pl.col("block_number").cast(pl.Int64), "value").sort("block_number"),
                on="block_number",
            )
            .sort("index")["value"]
        )
        if found.null_count():
            raise FileSourceError(
                f"{call} on {contract}: no rate sample at or before block "
                f"{wanted['block_number'][found.is_null().arg_max() or 0]} in the files "
                f"({self.config.rates or 'no rates file configured: SOFTLIQ_FILES_RATES'})"
            )
        return [int(v) for v in found]


def _reference(
    pattern: str | None, schema: Mapping[str, pl.DataType | type[pl.DataType]]
) -> pl.DataFrame:
    if pattern is None:
        return pl.DataFrame(schema=schema)
    frame = pl.concat([read(p) for p in paths(pattern)], how="vertical_relaxed")
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise FileSourceError(f"{pattern}: no column {', '.join(missing)}")
    return frame.select(list(schema)).cast(schema)  # type: ignore[arg-type]
