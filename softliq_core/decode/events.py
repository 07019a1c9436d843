"""Raw logs → typed event tables (``morpho_events``, ``aave_events``, ``oracle_rounds``) and
``quarantine``.

Logs are dispatched on topic0 and decoded a whole event type at a time with polars expressions over
the binary columns. A log is quarantined, with the reason, when its topic0 is unknown, its topics or
data do not have the event's shape, a word is not a clean encoding of its type, or its block is not
in ``blocks``. Every input log ends in exactly one output table.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from softliq_core.abi import AAVE_KINDS, MORPHO_KINDS, EventSpec, event_specs
from softliq_core.decode.words import CONVERTERS
from softliq_core.feeds import map_rounds
from softliq_core.tables import AAVE_EVENTS, FEEDS, MORPHO_EVENTS, QUARANTINE, RAW_LOGS

_TOPICS = ("topic1", "topic2", "topic3")
_U64_MAX = 2**64 - 1


@dataclass(frozen=True)
class DecodedLogs:
    morpho_events: pl.DataFrame
    oracle_rounds: pl.DataFrame
    quarantine: pl.DataFrame
    aave_events: pl.DataFrame


def _empty(schema: object) -> pl.DataFrame:
    return pl.DataFrame(schema=pl.Schema(schema))  # type: ignore[arg-type]


def _quarantine(logs: pl.DataFrame, reason: str | pl.Expr) -> pl.DataFrame:
    hexed = [
        ("0x" + pl.col(c).bin.encode("hex")).alias(c) if logs.schema[c] == pl.Binary else pl.col(c)
        for c in logs.columns
        if c in RAW_LOGS.names
    ]
    return logs.select(
        pl.col("chain_id"),
        pl.col("block_number"),
        pl.col("log_index"),
        ("0x" + pl.col("transaction_hash").bin.encode("hex")).alias("transaction_hash"),
        ("0x" + pl.col("address").bin.encode("hex")).alias("address"),
        ("0x" + pl.col("topic0").bin.encode("hex")).alias("topic0"),
        (pl.lit(reason) if isinstance(reason, str) else reason).alias("reason"),
        pl.struct(hexed).struct.json_encode().alias("raw"),
    ).cast(pl.Schema(QUARANTINE))


def _log_key(logs: pl.DataFrame) -> list[pl.Series]:
    return [
        logs["chain_id"],
        logs["block_number"],
        logs["timestamp"],
        ("0x" + logs["transaction_hash"].bin.encode("hex")).alias("transaction_hash"),
        logs["transaction_index"],
        logs["log_index"],
        ("0x" + logs["address"].bin.encode("hex")).alias("contract"),
    ]


def _string_field(data: bytes, head_word: int) -> str | None:
    """An ABI ``string`` whose head word holds its offset; None unless cleanly encoded UTF-8."""
    offset = int.from_bytes(data[32 * head_word : 32 * head_word + 32], "big")
    if offset + 32 > len(data):
        return None
    length = int.from_bytes(data[offset : offset + 32], "big")
    raw = data[offset + 32 : offset + 32 + length]
    if len(raw) != length:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _decode_spec(spec: EventSpec, logs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decode every log of one event type; returns (decoded, quarantined)."""
    n_indexed = len(spec.indexed_fields)
    n_data = 32 * len(spec.data_fields)
    dynamic = any(f.abi_type == "string" for f in spec.data_fields)
    has_topic = [logs[t].is_not_null() for t in _TOPICS]
    # A dynamic field's head word is an offset; its length word and bytes follow the head.
    shape_ok = (logs["n_data_bytes"] >= n_data + 32) if dynamic else logs["n_data_bytes"] == n_data
    for i, present in enumerate(has_topic):
        shape_ok &= present if i < n_indexed else ~present
    bad_shape = logs.filter(~shape_ok)
    good = logs.filter(shape_ok)
    columns: list[pl.Series] = []
    dirty = pl.Series(values=[False] * good.height, dtype=pl.Boolean)
    data_word = 0
    topic = 0
    for field in spec.fields:
        if field.indexed:
            words = good[_TOPICS[topic]]
            topic += 1
        elif field.abi_type == "string":
            strings = pl.Series(
                values=[_string_field(data, data_word) for data in good["data"]], dtype=pl.String
            )
            data_word += 1
            columns.append(strings.alias(field.column))
            dirty |= strings.is_null()
            continue
        else:
            words = good["data"].bin.slice(32 * data_word, 32)
            data_word += 1
        values, invalid = CONVERTERS[field.abi_type](words)
        columns.append(values.alias(field.column))
        dirty |= invalid
    decoded = pl.DataFrame(
        [*_log_key(good), pl.Series("event", [spec.name] * good.height), *columns]
    )
    quarantined = pl.concat(
        [
            _quarantine(
                bad_shape,
                f"{spec.name}: expected {n_indexed} indexed topics and {n_data} data bytes",
            ),
            _quarantine(good.filter(dirty), f"{spec.name}: a word is not a clean ABI encoding"),
        ]
    )
    return decoded.filter(~dirty), quarantined


def decode_logs(
    raw_logs: pl.DataFrame, blocks: pl.DataFrame, feeds: pl.DataFrame | None = None
) -> DecodedLogs:
    """Decode Morpho Blue, AdaptiveCurveIrm, PreLiquidation(Factory), Aave V3 and Chainlink logs.

    ``raw_logs`` has cryo's logs schema; ``blocks`` gives each log its block timestamp; ``feeds``
    (the feeds table) maps each aggregator's ``AnswerUpdated`` to its proxy and phase: without it,
    every ``AnswerUpdated`` is quarantined. An aggregator that serves two proxies gives two
    ``oracle_rounds`` rows for one log.
    """
    if feeds is None:
        feeds = _empty(FEEDS)
    logs = raw_logs.join(blocks.select("block_number", "timestamp"), on="block_number", how="left")
    quarantined = [_quarantine(logs.filter(pl.col("timestamp").is_null()), "block not in blocks")]
    logs = logs.filter(pl.col("timestamp").is_not_null())

    morpho_specs = [s for kind in MORPHO_KINDS for s in event_specs(kind)]
    aave_specs = [s for kind in AAVE_KINDS for s in event_specs(kind)]
    (answer_updated,) = event_specs("chainlink_aggregator")
    known = [s.topic0 for s in morpho_specs + aave_specs] + [answer_updated.topic0]
    quarantined.append(
        _quarantine(
            logs.filter(~pl.col("topic0").is_in(known) | pl.col("topic0").is_null()),
            "unknown topic0",
        )
    )

    # One pass to group logs by event; an event type absent from the batch costs nothing (a day
    # holds a handful of the ~100 known types, and each decode has a fixed polars cost).
    by_topic0 = logs.partition_by("topic0", as_dict=True)

    def logs_of(spec: EventSpec) -> pl.DataFrame:
        return by_topic0.get((spec.topic0,), logs.clear())

    def event_table(specs: list[EventSpec], schema: pa.Schema) -> pl.DataFrame:
        frames = []
        for spec in specs:
            if (spec.topic0,) not in by_topic0:
                continue
            decoded, bad = _decode_spec(spec, logs_of(spec))
            frames.append(decoded)
            quarantined.append(bad)
        return (
            pl.concat([_empty(schema), *frames], how="diagonal_relaxed")
            .select(schema.names)
            .cast(pl.Schema(schema))
        )

    morpho_events = event_table(morpho_specs, MORPHO_EVENTS)
    aave_events = event_table(aave_specs, AAVE_EVENTS)

    rounds, bad = _decode_spec(answer_updated, logs_of(answer_updated))
    quarantined.append(bad)
    # Aggregator round ids are uint32 in practice; anything past u64 is not a round we understand.
    round_too_big = rounds["round_id"].cast(pl.UInt128) > _U64_MAX
    if round_too_big.any():
        keys = rounds.filter(round_too_big).select("block_number", "log_index")
        quarantined.append(
            _quarantine(logs.join(keys, on=["block_number", "log_index"]), "round_id exceeds u64")
        )
        rounds = rounds.filter(~round_too_big)
    oracle_rounds, unknown = map_rounds(rounds, feeds)
    if unknown.height:
        keys = unknown.select("block_number", "log_index")
        quarantined.append(
            _quarantine(
                logs.join(keys, on=["block_number", "log_index"]),
                "AnswerUpdated from an aggregator that no feed's phase names",
            )
        )

    return DecodedLogs(
        morpho_events.sort("block_number", "log_index"),
        oracle_rounds.sort("block_number", "log_index"),
        pl.concat(quarantined).sort("block_number", "log_index"),
        aave_events.sort("block_number", "log_index"),
    )
