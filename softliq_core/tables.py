"""The lake's table contracts: column names and Arrow types of every layer (DESIGN §3).

Raw tables follow cryo's ``logs`` and ``blocks`` datasets (binary hashes and addresses). Decoded and
derived tables use lowercase 0x-hex strings for addresses and ids so they join and read easily in any
tool, and exact decimal strings for every uint256/int256 value: Parquet has no 256-bit integer and
Morpho prices exceed 128 bits. DuckDB views cast them (``sql/views.sql``); the engine parses them
with ``int``.
"""

from __future__ import annotations

import pyarrow as pa

from softliq_core.abi import AAVE_KINDS, MORPHO_KINDS, event_specs

ADDRESS = pa.string()
HASH = pa.string()
UINT256 = pa.string()

RAW_LOGS = pa.schema(
    [
        ("block_number", pa.uint32()),
        ("block_hash", pa.binary()),
        ("transaction_index", pa.uint32()),
        ("log_index", pa.uint32()),
        ("transaction_hash", pa.binary()),
        ("address", pa.binary()),
        ("topic0", pa.binary()),
        ("topic1", pa.binary()),
        ("topic2", pa.binary()),
        ("topic3", pa.binary()),
        ("data", pa.binary()),
        ("n_data_bytes", pa.uint32()),
        ("chain_id", pa.uint64()),
    ]
)

BLOCKS = pa.schema(
    [
        ("block_number", pa.uint32()),
        ("block_hash", pa.binary()),
        ("parent_hash", pa.binary()),
        ("timestamp", pa.uint32()),
        ("base_fee_per_gas", pa.uint64()),
        ("chain_id", pa.uint64()),
    ]
)

# Columns every decoded event carries, identifying the log it came from.
LOG_KEY = [
    ("chain_id", pa.uint64()),
    ("block_number", pa.uint32()),
    ("timestamp", pa.uint32()),
    ("transaction_hash", HASH),
    ("transaction_index", pa.uint32()),
    ("log_index", pa.uint32()),
    ("contract", ADDRESS),
]

_ARROW_OF_ABI = {
    "address": ADDRESS,
    "bytes32": HASH,
    "uint256": UINT256,
    "int256": UINT256,
    "bool": pa.bool_(),
    "uint8": pa.uint32(),
    "uint16": pa.uint32(),
    "string": pa.string(),
}


def _event_columns(kinds: tuple[str, ...]) -> list[tuple[str, pa.DataType]]:
    columns: dict[str, pa.DataType] = {}
    for kind in kinds:
        for spec in event_specs(kind):
            for field in spec.fields:
                columns.setdefault(field.column, _ARROW_OF_ABI[field.abi_type])
    return list(columns.items())


MORPHO_EVENTS = pa.schema([*LOG_KEY, ("event", pa.string()), *_event_columns(MORPHO_KINDS)])

# Aave V3: Pool, aToken / variable debt token, PoolConfigurator and AaveOracle events. aTokens and
# debt tokens share Mint/Burn: ``contract`` tells them apart (aave_tokens registry).
AAVE_EVENTS = pa.schema([*LOG_KEY, ("event", pa.string()), *_event_columns(AAVE_KINDS)])

ORACLE_ROUNDS = pa.schema(
    [
        *LOG_KEY[:-1],
        ("feed", ADDRESS),
        ("round_id", pa.uint64()),
        ("answer", UINT256),
        ("updated_at", pa.uint64()),
    ]
)

QUARANTINE = pa.schema(
    [
        ("chain_id", pa.uint64()),
        ("block_number", pa.uint32()),
        ("log_index", pa.uint32()),
        ("transaction_hash", HASH),
        ("address", ADDRESS),
        ("topic0", HASH),
        ("reason", pa.string()),
        ("raw", pa.string()),  # the whole log as JSON, so nothing is lost
    ]
)

MARKETS = pa.schema(
    [
        ("chain_id", pa.uint64()),
        ("market_id", HASH),
        ("created_block", pa.uint32()),
        ("loan_token", ADDRESS),
        ("loan_symbol", pa.string()),
        ("loan_decimals", pa.uint8()),
        ("collateral_token", ADDRESS),
        ("collateral_symbol", pa.string()),
        ("collateral_decimals", pa.uint8()),
        ("oracle", ADDRESS),
        ("irm", ADDRESS),
        ("lltv", UINT256),
        ("base_feed_1", ADDRESS),
        ("base_feed_2", ADDRESS),
        ("quote_feed_1", ADDRESS),
        ("quote_feed_2", ADDRESS),
        ("scale_factor", UINT256),
    ]
)

ORACLE_PRICES = pa.schema(
    [
        ("chain_id", pa.uint64()),
        ("market_id", HASH),
        ("block_number", pa.uint32()),
        ("log_index", pa.uint32()),  # of the feed round that set this price
        ("timestamp", pa.uint32()),
        ("price", UINT256),  # IOracle.price(): loan base units per collateral base unit × 1e36
        ("price_float", pa.float64()),  # loan tokens per collateral token, for reading only
    ]
)
