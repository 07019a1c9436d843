"""Raw logs → typed event tables (``morpho_events``, ``oracle_rounds``) and ``quarantine``.

Logs are dispatched on topic0 and decoded a whole event type at a time with polars expressions over
the binary columns. A log is quarantined, with the reason, when its topic0 is unknown, its topics or
data do not have the event's shape, a word is not a clean encoding of its type, or its block is not
in ``blocks``. Every input log ends in exactly one output table.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from softliq_core.abi import MORPHO_KINDS, EventSpec, event_specs
from softliq_core.decode.words import CONVERTERS
from softliq_core.feeds import map_rounds
from softliq_core.tables import FEEDS, MORPHO_EVENTS, QUARANTINE, RAW_LOGS

_TOPICS = ("topic1", "topic2", "topic3")
_U64_MAX = 2**64 - 1


@dataclass(frozen=True)
class DecodedLogs:
    morpho_events: pl.DataFrame
    oracle_rounds: pl.DataFrame
    quarantine: pl.DataFrame


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


def _decode_spec(spec: EventSpec, logs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decode every log of one event type; returns (decoded, quarantined)."""
    n_indexed = len(spec.indexed_fields)
    n_data = 32 * len(spec.data_fields)
    has_topic = [logs[t].is_not_null() for t in _TOPICS]
    shape_ok = logs["n_data_bytes"] == n_data
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
    """Decode Morpho Blue, AdaptiveCurveIrm, PreLiquidation(Factory) and Chainlink logs.

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
    (answer_updated,) = event_specs("chainlink_aggregator")
    known = [s.topic0 for s in morpho_specs] + [answer_updated.topic0]
    quarantined.append(
        _quarantine(
            logs.filter(~pl.col("topic0").is_in(known) | pl.col("topic0").is_null()),
            "unknown topic0",
        )
    )

    morpho_frames = []
    for spec in morpho_specs:
        decoded, bad = _decode_spec(spec, logs.filter(pl.col("topic0") == spec.topic0))
        morpho_frames.append(decoded)
        quarantined.append(bad)
    morpho_events = (
        pl.concat([_empty(MORPHO_EVENTS), *morpho_frames], how="diagonal_relaxed")
        .select(MORPHO_EVENTS.names)
        .cast(pl.Schema(MORPHO_EVENTS))
    )

    rounds, bad = _decode_spec(
        answer_updated, logs.filter(pl.col("topic0") == answer_updated.topic0)
    )
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
    )
