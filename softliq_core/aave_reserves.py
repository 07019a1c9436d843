"""The Aave V3 reserve and token registry, from the configurator's ``ReserveInitialized`` events:
each reserve's aToken, variable debt token and rate strategy, and which reserve a token belongs to
(aTokens and debt tokens emit the same Mint/Burn events; the emitting address tells them apart)."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

AAVE_RESERVES = pa.schema(
    [
        ("chain_id", pa.uint64()),
        ("asset", pa.string()),
        ("reserve_id", pa.uint32()),  # order of initialisation = the Pool's reserves list
        ("initialized_block", pa.uint32()),
        ("a_token", pa.string()),
        ("variable_debt_token", pa.string()),
        ("interest_rate_strategy", pa.string()),
    ]
)


def aave_reserves(aave_events: pl.DataFrame) -> pl.DataFrame:
    """One row per reserve, in the Pool's reserve-id order (a re-initialisation is refused by the
    Pool, so a second ReserveInitialized for an asset is an error in the data)."""
    initialized = aave_events.filter(pl.col("event") == "ReserveInitialized").sort(
        "block_number", "log_index"
    )
    duplicated = initialized.filter(pl.col("asset").is_duplicated())["asset"].unique().to_list()
    if duplicated:
        raise ValueError(f"ReserveInitialized: assets initialised twice: {duplicated}")
    return initialized.select(
        "chain_id",
        "asset",
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("reserve_id"),
        pl.col("block_number").alias("initialized_block"),
        "a_token",
        "variable_debt_token",
        pl.col("interest_rate_strategy_address").alias("interest_rate_strategy"),
    ).cast(pl.Schema(AAVE_RESERVES))


def aave_tokens(reserves: pl.DataFrame) -> dict[str, tuple[str, bool]]:
    """Token address → (reserve asset, is it the variable debt token)."""
    tokens: dict[str, tuple[str, bool]] = {}
    for row in reserves.iter_rows(named=True):
        tokens[row["a_token"]] = (row["asset"], False)
        tokens[row["variable_debt_token"]] = (row["asset"], True)
    return tokens
