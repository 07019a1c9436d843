"""Baseline trajectories, vectorised: every Morpho market's totals and every position's shares and
collateral after each event, as cumulative sums of the events' own amounts (DESIGN §4: the baseline
follows the events' fields, never recomputes them).

The ledger (``ledger.py``) folds the same events one by one in Python; this is the same fold as
polars expressions over Int128 columns, for the whole history at once. The only non-additive step
of Morpho's accounting, ``zeroFloorSub`` of the repaid assets from ``totalBorrowAssets`` (rounding
up can repay one unit more than the total), is a running sum reflected at zero: x_t = S_t − min(0,
min_{s≤t} S_s), exact because every other subtraction of valid history stays at or above zero (a
negative balance is reported by ``trajectory_problems``). Int128 holds any real total (up to 1.7e38
base units of shares); a history whose amounts could overflow it is refused, not wrapped.

Each event is one row with its signed change of every total (``when/then`` on its kind), so the
fold is a cumulative sum per market over the events in log order: no per-kind frames to concatenate,
sort by market and join back (that shape ran at 240 k events/s on the two-year benchmark chain).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from softliq_core.replay.ledger import ACCRUING_EVENTS, ZERO_ADDRESS

KEY = ["block_number", "log_index"]
TOTALS = [
    "total_supply_assets",
    "total_supply_shares",
    "total_borrow_assets",
    "total_borrow_shares",
]
BALANCES = ["supply_shares", "borrow_shares", "collateral"]
INT128_SAFE = 2.0**126  # each change column's sum of |amount| below this keeps Int128 sums exact
Amount = Callable[[str], pl.Expr]


@dataclass(frozen=True)
class Trajectories:
    """``markets``: one row per (event, market) it touched, the totals, ``last_update`` and ``fee``
    after it; ``positions``: one row per (event, market, user) it touched, the balances after it.
    Both in event order."""

    markets: pl.DataFrame
    positions: pl.DataFrame


def log_order() -> pl.Expr:
    """(block, log index) as one sortable integer, for as-of joins."""
    return (pl.col("block_number").cast(pl.Int64) * 2**24 + pl.col("log_index")).alias("log_order")


def _exact(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Int128, strict=False)  # too large: null, refused


def _magnitude(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Float64)


def _minus(amount: pl.Expr) -> pl.Expr:
    return pl.lit(0, pl.Int128) - amount  # polars has no unary minus on Int128


def _by_event(**amounts: pl.Expr) -> pl.Expr:
    """What an event of each named kind adds; 0 for any other kind."""
    added: pl.Expr = pl.lit(0)
    for kind, amount in amounts.items():
        added = pl.when(pl.col("event") == kind).then(amount).otherwise(added)
    return added


def _market_changes(amount: Amount) -> dict[str, pl.Expr]:
    """Each event's signed change of each total. Liquidate moves the borrow assets in two steps:
    the repaid assets (floored at zero by ``zeroFloorSub``), then the bad debt (not floored)."""
    assets, shares, interest = amount("assets"), amount("shares"), amount("interest")
    return {
        "total_supply_assets": _by_event(
            AccrueInterest=interest, Supply=assets, Withdraw=_minus(assets),
            Liquidate=_minus(amount("bad_debt_assets")),
        ),
        "total_supply_shares": _by_event(
            AccrueInterest=amount("fee_shares"), Supply=shares, Withdraw=_minus(shares)
        ),
        "total_borrow_assets": _by_event(
            AccrueInterest=interest, Borrow=assets, Repay=_minus(assets),
            Liquidate=_minus(amount("repaid_assets")),
        ),
        "bad_debt": _by_event(Liquidate=_minus(amount("bad_debt_assets"))),
        "total_borrow_shares": _by_event(
            Borrow=shares, Repay=_minus(shares),
            Liquidate=_minus(amount("repaid_shares") + amount("bad_debt_shares")),
        ),
    }  # fmt: skip


def _exact_sums(
    events: pl.LazyFrame, sums: pl.LazyFrame, changes: Callable[[Amount], dict[str, pl.Expr]]
) -> pl.DataFrame:
    """``sums`` collected, or refused when Int128 could not hold them exactly: each change
    column's sum of |change| must stay below ``INT128_SAFE`` (a total adds at most two such
    columns), and an amount too large for Int128 at all casts to null. The check runs beside the
    sums (one pass over shared inputs) and names the column."""
    exact, magnitude = changes(_exact), changes(_magnitude)
    checks = events.select(
        *(change.is_null().sum().alias(f"{name}.nulls") for name, change in exact.items()),
        *(change.abs().sum().alias(f"{name}.sum") for name, change in magnitude.items()),
    )
    checked, result = pl.collect_all([checks, sums])
    for name in exact:
        total = checked[f"{name}.sum"].item()
        if checked[f"{name}.nulls"].item() or total >= INT128_SAFE:
            raise ValueError(
                f"morpho_events: the {name} amounts ({total:.3g} in all, or one alone) exceed "
                "what Int128 trajectories hold exactly; use the ledger's fold (replay_history)"
            )
    return result


def _in_log_order(events: pl.DataFrame) -> pl.LazyFrame:
    """The events sorted by (block, log index); the lake's are already, and a sort of every
    column would cost more than the fold."""
    order = events.select(log_order()).to_series()
    # Kinds as categories: the fold compares them a few dozen times per row.
    lazy = events.lazy().with_columns(pl.col("event").cast(pl.Categorical))
    if order.is_sorted():
        return lazy
    return lazy.with_columns(order).sort("log_order").drop("log_order")


def market_trajectories(morpho_events: pl.DataFrame) -> pl.DataFrame:
    """Totals, ``last_update`` and ``fee`` of each market after each event of that market."""
    events = _in_log_order(morpho_events).filter(pl.col("market_id").is_not_null())
    changes = _market_changes(_exact)
    market = "market_id"
    kind = pl.col("event")
    sums = events.select(
        market,
        *KEY,
        pl.when(kind.is_in(list(ACCRUING_EVENTS | {"CreateMarket"})))
        .then(pl.col("timestamp").cast(pl.Int64))
        .forward_fill()
        .over(market)
        .alias("last_update"),
        pl.when(kind == "SetFee")
        .then(_exact("new_fee"))
        .when(kind == "CreateMarket")
        .then(pl.lit(0, pl.Int128))
        .forward_fill()
        .over(market)
        .alias("fee"),
        changes["bad_debt"].alias("bad_debt"),
        *(
            changes[name].cum_sum().over(market).alias(name)
            for name in ("total_supply_assets", "total_supply_shares", "total_borrow_shares")
        ),
        (changes["total_borrow_assets"] + changes["bad_debt"])
        .cum_sum()
        .over(market)
        .alias("total_borrow_assets"),
    )
    # Reflect the borrow assets at zero where Morpho floors them: after every step but Liquidate's
    # bad debt, i.e. at each event's running sum before its own bad-debt step.
    floored = pl.col("total_borrow_assets") - pl.col("bad_debt")
    reflected = sums.with_columns(
        pl.col("total_borrow_assets") - floored.cum_min().over(market).clip(upper_bound=0)
    ).select(market, *KEY, "last_update", "fee", *TOTALS)
    return _exact_sums(events, reflected, _market_changes)


def _position_moves(amount: Amount) -> dict[str, pl.Expr]:
    """Each event's signed change of the balances of the user it moves."""
    assets, shares = amount("assets"), amount("shares")
    return {
        "supply_shares": _by_event(
            AccrueInterest=amount("fee_shares"), Supply=shares, Withdraw=_minus(shares)
        ),
        "borrow_shares": _by_event(
            Borrow=shares, Repay=_minus(shares),
            Liquidate=_minus(amount("repaid_shares") + amount("bad_debt_shares")),
        ),
        "collateral": _by_event(
            SupplyCollateral=assets, WithdrawCollateral=_minus(assets),
            Liquidate=_minus(amount("seized_assets")),
        ),
    }  # fmt: skip


MOVING_EVENTS = [
    "Supply", "Withdraw", "Borrow", "Repay", "SupplyCollateral", "WithdrawCollateral", "Liquidate"
]  # fmt: skip


def position_trajectories(morpho_events: pl.DataFrame) -> pl.DataFrame:
    """Supply shares, borrow shares and collateral of each (market, user) after each event that
    moved them; fee shares go to the fee recipient set by the last ``SetFeeRecipient``."""
    kind = pl.col("event")
    events = _in_log_order(morpho_events)
    recipient = pl.when(kind == "SetFeeRecipient").then(pl.col("new_fee_recipient")).forward_fill()
    moves = events.with_columns(
        pl.when(kind == "AccrueInterest")
        .then(recipient.fill_null(ZERO_ADDRESS))
        .when(kind == "Liquidate")
        .then(pl.col("borrower"))
        .otherwise(pl.col("on_behalf"))
        .alias("user")
    ).filter(
        kind.is_in(MOVING_EVENTS) | ((kind == "AccrueInterest") & (pl.col("fee_shares") != "0"))
    )
    # One move per event and user, so a running sum per (market, user) is its balances.
    balances = moves.select(
        "market_id",
        *KEY,
        "user",
        *(
            change.cum_sum().over("market_id", "user").alias(name)
            for name, change in _position_moves(_exact).items()
        ),
    )
    return _exact_sums(moves, balances, _position_moves)


def trajectories(morpho_events: pl.DataFrame) -> Trajectories:
    return Trajectories(market_trajectories(morpho_events), position_trajectories(morpho_events))


def trajectory_problems(paths: Trajectories, limit: int = 20) -> list[str]:
    """Impossible history, named by its event: a balance or a total below zero after it, or share
    totals that differ from the sum over positions at the end."""
    problems = []
    for frame, by, columns in (
        (paths.markets, ["market_id"], TOTALS),
        (paths.positions, ["market_id", "user"], BALANCES),
    ):
        for column in columns:
            negative = frame.filter(pl.col(column) < 0).head(limit)
            problems += [
                f"{column} of {' '.join(str(row[b]) for b in by)} is {row[column]} after the "
                f"event at block {row['block_number']} log {row['log_index']}"
                for row in negative.iter_rows(named=True)
            ]
    ends = paths.positions.group_by("market_id", "user").last()
    sums = ends.group_by("market_id").agg(pl.col("supply_shares", "borrow_shares").sum())
    last = paths.markets.group_by("market_id").last()
    joined = last.join(sums, on="market_id", how="left").fill_null(0)
    for total, balance in (
        ("total_supply_shares", "supply_shares"),
        ("total_borrow_shares", "borrow_shares"),
    ):
        for row in joined.filter(pl.col(total) != pl.col(balance)).iter_rows(named=True):
            problems.append(
                f"market {row['market_id']}: {total} {row[total]} != sum over positions "
                f"{row[balance]}"
            )
    return problems
