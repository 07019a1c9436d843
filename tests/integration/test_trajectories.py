"""Vectorised baseline trajectories equal the chain's state after every transaction, and name the
event where history goes impossible."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softliq_core.decode import decode_logs
from softliq_core.replay.trajectories import (
    BALANCES,
    TOTALS,
    log_order,
    trajectories,
    trajectory_problems,
)
from softliq_core.replay.validation import replay_history
from softliq_core.sources.synthetic import SyntheticChain, SyntheticChainConfig, generate_chain


def _as_of(truth: pl.DataFrame, paths: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Each truth row beside the trajectory's state at or before its log."""
    return (
        truth.with_columns(log_order())
        .sort(*by, "log_order")
        .join_asof(
            paths.with_columns(log_order())
            .drop("block_number", "log_index")
            .sort(*by, "log_order"),
            on="log_order",
            by=by,
            suffix="_path",
            check_sortedness=False,  # sorted within each group, which polars cannot check
        )
    )


def _assert_equal_to_the_chain(chain: SyntheticChain) -> None:
    decoded = decode_logs(chain.raw_logs, chain.blocks, chain.feeds_table())
    paths = trajectories(decoded.morpho_events)
    assert trajectory_problems(paths) == []
    markets = _as_of(chain.truth_markets, paths.markets, ["market_id"])
    for column in [*TOTALS, "fee"]:
        differ = markets.filter(
            pl.col(column) != pl.col(f"{column}_path").cast(pl.String).fill_null("0")
        )
        assert differ.is_empty(), (column, differ.head(3))
    assert (markets["last_update"] == markets["last_update_path"]).all()
    positions = _as_of(chain.truth_positions, paths.positions, ["market_id", "user"])
    for column in BALANCES:
        differ = positions.filter(
            pl.col(column) != pl.col(f"{column}_path").cast(pl.String).fill_null("0")
        )
        assert differ.is_empty(), (column, differ.head(3))
    assert markets.height == chain.truth_markets.height > 0
    assert positions.height == chain.truth_positions.height > 0


def test_trajectories_equal_the_chain_after_every_transaction(chain: SyntheticChain) -> None:
    _assert_equal_to_the_chain(chain)


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), crash_day=st.sampled_from([0, 1]))
def test_trajectories_equal_the_chain_on_random_chains(seed: int, crash_day: int) -> None:
    _assert_equal_to_the_chain(
        generate_chain(
            SyntheticChainConfig(seed=seed, days=2, borrowers_per_market=10, crash_day=crash_day)
        )
    )


def test_trajectories_end_where_the_ledger_ends(chain: SyntheticChain) -> None:
    decoded = decode_logs(chain.raw_logs, chain.blocks, chain.feeds_table())
    ledger = replay_history(decoded.morpho_events)
    ends = trajectories(decoded.morpho_events).positions.group_by("market_id", "user").last()
    for row in ends.iter_rows(named=True):
        position = ledger.positions[(row["market_id"], row["user"])]
        assert (position.supply_shares, position.borrow_shares, position.collateral) == tuple(
            row[b] for b in BALANCES
        )


def test_an_impossible_withdrawal_is_named(chain: SyntheticChain) -> None:
    decoded = decode_logs(chain.raw_logs, chain.blocks, chain.feeds_table())
    events = decoded.morpho_events
    first = events.filter(pl.col("event") == "WithdrawCollateral").row(0, named=True)
    doubled = events.with_columns(
        pl.when(
            (pl.col("block_number") == first["block_number"])
            & (pl.col("log_index") == first["log_index"])
        )
        .then(pl.lit(str(10**30)))
        .otherwise(pl.col("assets"))
        .alias("assets")
    )
    problems = trajectory_problems(trajectories(doubled))
    assert any(
        f"block {first['block_number']} log {first['log_index']}" in p and "collateral" in p
        for p in problems
    ), problems


def test_amounts_beyond_int128_are_refused(chain: SyntheticChain) -> None:
    events = decode_logs(chain.raw_logs, chain.blocks, chain.feeds_table()).morpho_events
    huge = events.with_columns(
        pl.when(pl.col("event") == "SupplyCollateral")
        .then(pl.lit(str(2**200)))
        .otherwise(pl.col("assets"))
        .alias("assets")
    )
    with pytest.raises(ValueError, match="collateral amounts"):
        trajectories(huge)
