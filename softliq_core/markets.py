"""The ``markets`` reference table: each market's params, tokens and oracle recipe.

Built from ``CreateMarket`` events plus what the source knows of tokens (symbol, decimals) and of
each oracle's immutables (feeds, scale factor). A market whose token or oracle the source cannot
describe is an error naming it: a silent gap here would become a silent zero price later.
"""

from __future__ import annotations

import polars as pl

from softliq_core.protocols.morpho.oracle import ORACLE_KINDS
from softliq_core.tables import MARKETS

TOKENS_SCHEMA = {"address": pl.String, "symbol": pl.String, "decimals": pl.UInt8}
# One row per oracle: its shape (``oracle_kind``: MorphoChainlinkOracleV2, ChainlinkOracle for V1,
# or "unknown" when the source could not read either set of immutables) and its immutables.
ORACLES_SCHEMA = {
    "oracle": pl.String,
    "oracle_kind": pl.String,
    "base_feed_1": pl.String,
    "base_feed_2": pl.String,
    "quote_feed_1": pl.String,
    "quote_feed_2": pl.String,
    "base_vault": pl.String,
    "base_vault_conversion_sample": pl.String,
    "quote_vault": pl.String,
    "quote_vault_conversion_sample": pl.String,
    "scale_factor": pl.String,
}


class MarketReferenceError(ValueError):
    pass


def build_markets(
    morpho_events: pl.DataFrame, tokens: pl.DataFrame, oracles: pl.DataFrame
) -> pl.DataFrame:
    created = morpho_events.filter(pl.col("event") == "CreateMarket").select(
        "chain_id", "market_id", pl.col("block_number").alias("created_block"),
        "loan_token", "collateral_token", "oracle", "irm", "lltv",
    )  # fmt: skip
    loan = tokens.select(
        pl.col("address").alias("loan_token"),
        pl.col("symbol").alias("loan_symbol"),
        pl.col("decimals").alias("loan_decimals"),
    )
    collateral = tokens.select(
        pl.col("address").alias("collateral_token"),
        pl.col("symbol").alias("collateral_symbol"),
        pl.col("decimals").alias("collateral_decimals"),
    )
    markets = (
        created.join(loan, on="loan_token", how="left")
        .join(collateral, on="collateral_token", how="left")
        .join(oracles, on="oracle", how="left")
    )
    problems = [
        f"market {row['market_id']}: {what} {row[column]} is unknown to the source"
        for row in markets.iter_rows(named=True)
        for what, column, probe in (
            ("loan token", "loan_token", "loan_decimals"),
            ("collateral token", "collateral_token", "collateral_decimals"),
            ("oracle", "oracle", "oracle_kind"),
        )
        if row[probe] is None
    ] + [
        f"market {row['market_id']}: oracle {row['oracle']} has an unknown shape (neither "
        f"{' nor '.join(ORACLE_KINDS)}: {row['oracle_kind']})"
        for row in markets.iter_rows(named=True)
        if row["oracle_kind"] is not None and row["oracle_kind"] not in ORACLE_KINDS
    ]
    if problems:
        raise MarketReferenceError("; ".join(problems))
    return markets.select(MARKETS.names).cast(pl.Schema(MARKETS)).sort("created_block")
