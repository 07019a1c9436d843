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

# Projections of blocks: a read with one reads only its columns (not the hashes, most of the bytes).
BLOCK_TIMES = pa.schema([BLOCKS.field(c) for c in ("block_number", "timestamp")])
BLOCK_CLOCK = pa.schema(
    [BLOCKS.field(c) for c in ("block_number", "timestamp", "base_fee_per_gas")]
)

# One row per ingested day partition: the blocks at its two ends, so consecutive partitions can be
# checked to chain (the first block's parent is the previous partition's last block) and a reorg that
# replaced already ingested blocks is found (softliq_core/reorgs.py).
PARTITION_BLOCKS = pa.schema(
    [
        ("chain_id", pa.uint64()),
        ("date", pa.date32()),
        ("first_block", pa.uint32()),
        ("last_block", pa.uint32()),
        ("first_block_hash", pa.binary()),
        ("first_parent_hash", pa.binary()),
        ("last_block_hash", pa.binary()),
        ("blocks", pa.uint32()),
        ("logs", pa.uint32()),
    ]
)

# A row of an imported file (softliq_core/sources/files) that could not become a raw_logs or blocks
# row: kept whole with the reason, which names the column at fault. One table per chain.
IMPORT_QUARANTINE = pa.schema(
    [
        ("chain_id", pa.uint64()),
        ("table", pa.string()),  # raw_logs or blocks: what the row was imported as
        ("file", pa.string()),
        ("row", pa.uint64()),  # 0-based, in the file
        ("reason", pa.string()),
        ("raw", pa.string()),  # the row as JSON (binary values as 0x-hex)
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

# Chainlink feeds by proxy, one row per phase (softliq_core/feeds.py).
FEEDS = pa.schema(
    [
        ("chain_id", pa.uint64()),
        ("feed", ADDRESS),  # the proxy: what oracles and price sources name
        ("description", pa.string()),
        ("decimals", pa.uint8()),
        ("heartbeat", pa.uint32()),  # seconds; null when not configured
        ("phase_id", pa.uint16()),
        ("aggregator", ADDRESS),  # the contract that emits this phase's AnswerUpdated
        ("first_block", pa.uint32()),  # first block it served the proxy (or the first searched)
    ]
)

# One AnswerUpdated of a phase aggregator, mapped to its proxy. Key (chain_id, feed, round_id).
ORACLE_ROUNDS = pa.schema(
    [
        *LOG_KEY[:-1],
        ("feed", ADDRESS),  # the proxy
        ("phase_id", pa.uint16()),
        ("aggregator", ADDRESS),  # the emitter of the log
        ("aggregator_round_id", pa.uint64()),
        ("round_id", UINT256),  # the proxy's: phase_id << 64 | aggregator_round_id
        ("answer", UINT256),
        ("updated_at", pa.uint64()),
        ("in_force", pa.bool_()),  # published while its aggregator served the proxy
    ]
)

# An oracle input that emits no event, read by historical eth_call (softliq_core/rate_samples.py).
RATE_SAMPLES = pa.schema(
    [
        ("chain_id", pa.uint64()),
        ("contract", ADDRESS),  # an ERC-4626 vault, or a feed-interface adapter
        ("call", pa.string()),  # convertToAssets | latestRoundData
        ("sample", UINT256),  # the shares converted (vaults); null for adapters
        ("block_number", pa.uint32()),  # read at this block: in force from the next one's start
        ("value", UINT256),  # assets for the sample / the adapter's answer
    ]
)

# What the stored rate_samples cover and how they were read (rate_samples.RateSampling): a build
# over a longer range with the same first block, cadence and budget keeps their finalised intervals.
RATE_SAMPLING = pa.schema(
    [
        ("chain_id", pa.uint64()),
        ("first_block", pa.uint32()),
        ("last_block", pa.uint32()),
        ("cadence", pa.uint32()),
        ("refine_budget", pa.uint32()),
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
        ("oracle_kind", pa.string()),  # MorphoChainlinkOracleV2 | ChainlinkOracle (V1)
        ("base_feed_1", ADDRESS),
        ("base_feed_2", ADDRESS),
        ("quote_feed_1", ADDRESS),
        ("quote_feed_2", ADDRESS),
        ("base_vault", ADDRESS),  # ERC-4626: the price reads convertToAssets(sample)
        ("base_vault_conversion_sample", UINT256),
        ("quote_vault", ADDRESS),
        ("quote_vault_conversion_sample", UINT256),
        ("scale_factor", UINT256),
    ]
)

# What each day's oracle_prices were built from (oracle_prices.input_digests): a later build
# prices again only from the first day whose inputs differ (a new day, a re-ingested one).
ORACLE_PRICING = pa.schema(
    [("chain_id", pa.uint64()), ("day", pa.date32()), ("inputs", pa.string())]
)

# Summaries of each day partition, kept one file per chain and recomputed only for the days whose
# file changed (Lake.fold_days), so a daily build reads its new day, not a year of partitions:
# every day's partition_blocks record; the digest of each day's oracle rounds; each day's rounds a
# later build carries in (feeds.round_ends); every CreateMarket; each day's Aave events counted
# and the highest liquidation threshold they configured (aave_history.aave_event_days).
PARTITION_INDEX = pa.schema(
    [("day", pa.date32()), *(f for f in PARTITION_BLOCKS if f.name != "date")]
)
ORACLE_ROUND_DIGESTS = pa.schema([("day", pa.date32()), ("rounds", pa.string())])
ORACLE_ROUND_ENDS = pa.schema([("day", pa.date32()), *ORACLE_ROUNDS])
MARKET_CREATIONS = pa.schema([("day", pa.date32()), *MORPHO_EVENTS])
AAVE_EVENT_DAYS = pa.schema(
    [("day", pa.date32()), ("events", pa.uint32()), ("highest_threshold", pa.uint64())]
)

ORACLE_PRICES = pa.schema(
    [
        ("chain_id", pa.uint64()),
        ("market_id", HASH),
        ("block_number", pa.uint32()),
        ("log_index", pa.uint32()),  # of the round that set this price; 0 = from the block's start
        ("timestamp", pa.uint32()),
        ("price", UINT256),  # IOracle.price(): loan base units per collateral base unit × 1e36
        ("price_float", pa.float64()),  # loan tokens per collateral token, for reading only
        ("feed", ADDRESS),  # the input that changed: a feed proxy, a vault or an adapter
        ("round_id", UINT256),  # the proxy round id now in force (null for a sampled rate)
        ("cause", pa.string()),  # round | phase_switch | rate
    ]
)
