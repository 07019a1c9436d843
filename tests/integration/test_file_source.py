"""The file source: cryo output and Dune-style exports written by the test from the synthetic chain's
own logs must give the lake the synthetic source gives (raw and decoded), bad rows quarantined with
the column named, none dropped."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from pipelines.assets.lake import decode_assets, feeds, ingest_assets
from pipelines.resources import ChainSourceResource, LakeResource
from softliq_core import steps
from softliq_core.sources.files import FilesConfig, FileSource, FileSourceError
from softliq_core.sources.synthetic import SyntheticChain, SyntheticSource
from softliq_core.store.lake import Lake
from softliq_core.tables import (
    BLOCKS,
    IMPORT_QUARANTINE,
    MARKETS,
    MORPHO_EVENTS,
    ORACLE_ROUNDS,
    QUARANTINE,
    RAW_LOGS,
)
from tests.conftest import SMALL_CHAIN

DECODED = (("morpho_events", MORPHO_EVENTS), ("oracle_rounds", ORACLE_ROUNDS), ("quarantine", QUARANTINE))  # fmt: skip
DAYS = SyntheticSource(SMALL_CHAIN).days()


def build_lake(source: object, root: Path) -> Lake:
    lake = Lake(root)
    steps.build_feeds(source, lake)  # type: ignore[arg-type]
    for day in DAYS:
        steps.ingest_day(source, lake, day)  # type: ignore[arg-type]
        steps.decode_day(lake, SMALL_CHAIN.chain_id, day)
    steps.record_rejected_rows(source, lake)  # type: ignore[arg-type]
    return lake


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return build_lake(SyntheticSource(SMALL_CHAIN), tmp_path_factory.mktemp("synthetic"))


def read(lake: Lake, table: str, schema: object) -> pl.DataFrame:
    return lake.read(table, schema, SMALL_CHAIN.chain_id)  # type: ignore[arg-type]


def assert_decoded_equal(got: Lake, expected: Lake) -> None:
    for table, schema in (("raw_logs", RAW_LOGS), *DECODED):
        for day in DAYS:
            ours = got.read(table, schema, SMALL_CHAIN.chain_id, [day])
            theirs = expected.read(table, schema, SMALL_CHAIN.chain_id, [day])
            assert ours.equals(theirs), (table, day)
    assert read(got, "raw_logs", RAW_LOGS).height == read(expected, "raw_logs", RAW_LOGS).height > 0
    assert read(got, "morpho_events", MORPHO_EVENTS).height > 0


def write_cryo(chain: SyntheticChain, directory: Path) -> tuple[str, str]:
    """cryo's layout: logs and blocks in block-range chunks, its column names and binary types."""
    directory.mkdir()
    middle = chain.blocks["block_number"][chain.blocks.height // 2]
    for lo, hi in ((0, middle - 1), (middle, 2**32 - 1)):
        name = f"ethereum__logs__{lo:08d}_to_{min(hi, 99_999_999):08d}.parquet"
        chain.raw_logs.filter(pl.col("block_number").is_between(lo, hi)).write_parquet(directory / name)  # fmt: skip
    chain.blocks.with_columns(
        pl.lit(b"\x00" * 20).alias("author"), pl.lit(15_000_000, pl.UInt64).alias("gas_used")
    ).write_parquet(directory / "ethereum__blocks__all.parquet")
    return str(directory / "ethereum__logs__*.parquet"), str(directory / "ethereum__blocks__*")


def write_feeds(chain: SyntheticChain, directory: Path) -> str:
    """The synthetic chain's feeds table as a file: what decoding maps AnswerUpdated with."""
    directory.mkdir(exist_ok=True)
    chain.feeds_table().write_parquet(directory / "feeds.parquet")
    return str(directory / "feeds.parquet")


def dune_frame(chain: SyntheticChain) -> pl.DataFrame:
    """Dune's ``ethereum.logs`` columns, every hash and word a 0x-hex string, times as Dune shows them."""
    hexed = {c: "0x" + pl.col(c).bin.encode("hex") for c in ("block_hash", "transaction_hash", "address", "topic0", "topic1", "topic2", "topic3", "data")}  # fmt: skip
    return (
        chain.raw_logs.join(chain.blocks.select("block_number", "timestamp"), on="block_number")
        .select(
            pl.from_epoch(pl.col("timestamp").cast(pl.Int64)).dt.strftime("%Y-%m-%d %H:%M:%S.000 UTC").alias("block_time"),
            pl.col("block_number").cast(pl.String),
            hexed["block_hash"].alias("block_hash"),
            hexed["address"].alias("contract_address"),
            *(hexed[f"topic{i}"].alias(f"topic{i}") for i in range(4)),
            hexed["data"].alias("data"),
            hexed["transaction_hash"].alias("tx_hash"),
            pl.col("log_index").cast(pl.String).alias("index"),
            pl.col("transaction_index").cast(pl.String).alias("tx_index"),
            pl.lit("0x" + "ab" * 20).alias("tx_from"),
        )
    )  # fmt: skip


def with_bad_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Five rows at the end that must not become logs (reasons checked below, in order)."""
    good = frame.row(3, named=True)
    bad = [
        {**good, "topic0": "0x" + "zz" * 32},
        {**good, "contract_address": good["contract_address"][:-2]},
        {**good, "block_number": "19,300,001"},
        {**good, "tx_hash": None, "index": "999"},
        good,  # an exact second copy of a row
    ]
    return pl.concat([frame, pl.DataFrame(bad, schema=frame.schema)])


def test_cryo_parquet_gives_the_synthetic_lake(
    chain: SyntheticChain, expected: Lake, tmp_path: Path
) -> None:
    logs, blocks = write_cryo(chain, tmp_path / "cryo")
    (tmp_path / "ref").mkdir()
    chain.tokens_table().write_csv(tmp_path / "ref" / "tokens.csv")
    chain.oracles_table().write_parquet(tmp_path / "ref" / "oracles.parquet")
    source = FileSource(
        FilesConfig(
            logs=logs,
            blocks=blocks,
            tokens=str(tmp_path / "ref" / "tokens.csv"),
            oracles=str(tmp_path / "ref" / "oracles.parquet"),
            feeds=write_feeds(chain, tmp_path / "ref"),
        )
    )
    assert source.rejected().is_empty()
    lake = build_lake(source, tmp_path / "lake")
    assert_decoded_equal(lake, expected)
    for day in DAYS:  # raw files identical too, blocks complete
        for table in ("raw_logs", "blocks"):
            files = [
                pl.read_parquet(Path(x.partition_dir(table, 1, day)) / "part-0.parquet")
                for x in (lake, expected)
            ]
            assert files[0].equals(files[1]), (table, day)
    # and the reference tables: markets from the tokens and oracles files equal the synthetic ones
    assert steps.build_reference(source, lake).equals(
        steps.build_reference(SyntheticSource(SMALL_CHAIN), expected)
    )
    assert read(lake, "markets", MARKETS).height == 4


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_dune_export_with_hex_strings_and_bad_rows(
    chain: SyntheticChain, expected: Lake, tmp_path: Path, fmt: str
) -> None:
    frame = with_bad_rows(dune_frame(chain))
    path = tmp_path / f"dune_logs.{fmt}"
    frame.write_csv(path) if fmt == "csv" else frame.write_parquet(path)
    source = FileSource(FilesConfig(logs=str(path), feeds=write_feeds(chain, tmp_path / "ref")))
    lake = build_lake(source, tmp_path / "lake")
    assert_decoded_equal(lake, expected)
    # blocks: those the logs name, with the hash and time of the synthetic chain's
    got = read(lake, "blocks", BLOCKS)
    theirs = read(expected, "blocks", BLOCKS).filter(
        pl.col("block_number").is_in(chain.raw_logs["block_number"].unique().implode())
    )
    assert got.select("block_number", "block_hash", "timestamp").equals(
        theirs.select("block_number", "block_hash", "timestamp")
    )
    assert got["parent_hash"].null_count() == got.height
    # every bad row kept, whole, with the column it failed on
    rejected = read(lake, "import_quarantine", IMPORT_QUARANTINE).sort("row")
    assert rejected.height == 5
    assert rejected["row"].to_list() == list(range(frame.height - 5, frame.height))
    reasons = rejected["reason"].to_list()
    for reason, column in zip(
        reasons,
        ["topic0: not hex", "address: 19 bytes", "block_number: not an integer",
         "transaction_hash: missing", "log_index: block_number"],
        strict=True,
    ):  # fmt: skip
        assert f"column {column}" in reason
    assert "second copy" in reasons[4]
    assert json.loads(rejected["raw"][2])["block_number"] == "19,300,001"
    assert set(rejected["file"]) == {str(path)}


def test_conflicting_copies_and_foreign_chains_are_quarantined(
    chain: SyntheticChain, tmp_path: Path
) -> None:
    logs = chain.raw_logs.head(50)
    changed = logs.head(1).with_columns(pl.lit(b"\x07").alias("data"))  # same key, other data
    foreign = logs.slice(1, 1).with_columns(pl.lit(10, pl.UInt64).alias("chain_id"))
    pl.concat([logs, changed, foreign.with_columns(pl.lit(99, pl.UInt32).alias("log_index"))]).write_parquet(tmp_path / "logs.parquet")  # fmt: skip
    chain.blocks.write_parquet(tmp_path / "blocks.parquet")
    source = FileSource(
        FilesConfig(logs=str(tmp_path / "logs.parquet"), blocks=str(tmp_path / "blocks.parquet"))
    )
    reasons = source.rejected()["reason"].to_list()
    assert sorted(reasons) == sorted(
        ["column chain_id: 10, the source is chain 1"]
        + [f"column log_index: block_number {logs['block_number'][0]} log_index {logs['log_index'][0]} appears with different contents"] * 2
    )  # fmt: skip
    assert source.logs(0, 2**32 - 1).height == 49  # the two disagreeing copies are both out


def test_a_file_without_a_required_column_is_refused_by_name(
    chain: SyntheticChain, tmp_path: Path
) -> None:
    dune_frame(chain).drop("data").write_csv(tmp_path / "logs.csv")
    with pytest.raises(FileSourceError, match=r"logs\.csv: no column data"):
        FileSource(FilesConfig(logs=str(tmp_path / "logs.csv")))
    with pytest.raises(FileSourceError, match=r"no \.parquet or \.csv file"):
        FileSource(FilesConfig(logs=str(tmp_path / "nothing*.parquet")))


def test_dagster_ingests_the_files_kind(
    chain: SyntheticChain, expected: Lake, tmp_path: Path
) -> None:
    logs, blocks = write_cryo(chain, tmp_path / "cryo")
    root = tmp_path / "lake"
    files = ChainSourceResource(
        kind="files", files_logs=logs, files_blocks=blocks,
        files_feeds=write_feeds(chain, tmp_path / "ref"),
    )  # fmt: skip
    assert dg.materialize([feeds], resources={"source": files, "lake": LakeResource(root=str(root))}).success  # fmt: skip
    daily = dg.DailyPartitionsDefinition(
        start_date=DAYS[0].isoformat(), end_date=date.fromordinal(DAYS[-1].toordinal() + 1).isoformat()
    )  # fmt: skip
    result = dg.materialize(
        [ingest_assets(daily), decode_assets(daily)],
        partition_key=DAYS[2].isoformat(),
        resources={
            "source": files,
            "lake": LakeResource(root=str(root)),
        },
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    for table, schema in (("raw_logs", RAW_LOGS), ("blocks", BLOCKS), *DECODED):
        ours = Lake(root).read(table, schema, 1, [DAYS[2]])
        assert ours.equals(expected.read(table, schema, 1, [DAYS[2]])), table


def test_rates_come_from_a_samples_file_or_fail_by_contract(
    chain: SyntheticChain, tmp_path: Path
) -> None:
    samples = chain.rate_samples()
    adapter = samples.row(0, named=True)
    assert adapter["call"] == "latestRoundData"
    logs, blocks = write_cryo(chain, tmp_path / "cryo")
    with pytest.raises(FileSourceError, match=rf"latestRoundData on {adapter['contract']}"):
        FileSource(FilesConfig(logs=logs, blocks=blocks)).rate_at(adapter["contract"], "latestRoundData", None, [adapter["block_number"]])  # fmt: skip
    samples.write_parquet(tmp_path / "rates.parquet")
    source = FileSource(
        FilesConfig(logs=logs, blocks=blocks, rates=str(tmp_path / "rates.parquet"))
    )
    at = samples["block_number"].to_list()
    assert source.rate_at(adapter["contract"], "latestRoundData", None, at) == [
        chain.rate_at(adapter["contract"], "latestRoundData", None, b) for b in at
    ]
    with pytest.raises(FileSourceError, match="no rate sample at or before block"):
        source.rate_at(adapter["contract"], "latestRoundData", None, [at[0] - 1])
