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
"""

from __future__ import annotations

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
INT128_SAFE = 2.0**126  # the sum of every |amount| must stay below this for Int128 to be exact


@dataclass(frozen=True)
class Trajectories:
    """``markets``: one row per (event, market) it touched, the totals, ``last_update`` and ``fee``
    after it; ``positions``: one row per (event, market, user) it touched, the balances after it."""

    markets: pl.DataFrame
    positions: pl.DataFrame


def log_order() -> pl.Expr:
    """(block, log index) as one sortable integer, for as-of joins."""
    return (pl.col("block_number").cast(pl.Int64) * 2**24 + pl.col("log_index")).alias("log_order")


def _refuse_overflow(steps: pl.DataFrame, columns: list[str]) -> None:
    for column in columns:
        total = steps.select(pl.col(column).cast(pl.Float64).abs().sum()).item()
        if steps[column].null_count() or total >= INT128_SAFE:
            raise ValueError(
                f"morpho_events: the {column} amounts ({total:.3g} in all, or one alone) exceed what Int128 "
                "trajectories hold exactly; use the ledger's fold (replay_history)"
            )


def _minus(amount: pl.Expr) -> pl.Expr:
    return pl.lit(0, pl.Int128) - amount  # polars has no unary minus on Int128


def _amount(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Int128, strict=False)  # too large: null, refused below


def _step(order: int, **deltas: pl.Expr) -> list[pl.Expr]:
    """One signed step of an event; ``order`` separates steps of one event (Liquidate has two)."""
    zero = pl.lit(0, pl.Int128)
    return [pl.lit(order, pl.Int8).alias("step")] + [
        deltas.get(name, zero).alias(name) for name in TOTALS
    ]


def _market_steps(events: pl.DataFrame) -> pl.DataFrame:
    kind = pl.col("event")
    assets, shares = _amount("assets"), _amount("shares")
    steps = {
        "AccrueInterest": _step(
            0,
            total_supply_assets=_amount("interest"),
            total_borrow_assets=_amount("interest"),
            total_supply_shares=_amount("fee_shares"),
        ),
        "Supply": _step(0, total_supply_assets=assets, total_supply_shares=shares),
        "Withdraw": _step(
            0, total_supply_assets=_minus(assets), total_supply_shares=_minus(shares)
        ),
        "Borrow": _step(0, total_borrow_assets=assets, total_borrow_shares=shares),
        "Repay": _step(0, total_borrow_assets=_minus(assets), total_borrow_shares=_minus(shares)),
    }
    frames = [
        events.filter(kind == name).select("market_id", *KEY, "event", *exprs)
        for name, exprs in steps.items()
    ]
    liquidations = events.filter(kind == "Liquidate")
    frames.append(
        liquidations.select(
            "market_id", *KEY, "event",
            *_step(0, total_borrow_assets=_minus(_amount("repaid_assets")),
                   total_borrow_shares=_minus(_amount("repaid_shares"))),
        )
    )  # fmt: skip
    frames.append(
        liquidations.select(
            "market_id", *KEY, "event",
            *_step(1, total_borrow_assets=_minus(_amount("bad_debt_assets")),
                   total_borrow_shares=_minus(_amount("bad_debt_shares")),
                   total_supply_assets=_minus(_amount("bad_debt_assets"))),
        )
    )  # fmt: skip
    return pl.concat(frames)


def market_trajectories(morpho_events: pl.DataFrame) -> pl.DataFrame:
    """Totals, ``last_update`` and ``fee`` of each market after each event of that market."""
    events = morpho_events.filter(pl.col("market_id").is_not_null())
    steps = _market_steps(events)
    _refuse_overflow(steps, TOTALS)
    floored = (pl.col("event") != "Liquidate") | (pl.col("step") == 0)  # zeroFloorSub steps
    sums = steps.sort("market_id", *KEY, "step").with_columns(
        pl.col(TOTALS).cum_sum().over("market_id")
    )
    # Reflect the borrow assets at zero where Morpho floors them (Repay, Liquidate's repaid step).
    sums = sums.with_columns(
        (
            pl.col("total_borrow_assets")
            - pl.when(floored)
            .then(pl.col("total_borrow_assets"))
            .otherwise(None)
            .cum_min()
            .forward_fill()
            .clip(upper_bound=0)
            .fill_null(0)
            .over("market_id")
        ).alias("total_borrow_assets")
    )
    totals = sums.group_by("market_id", *KEY, maintain_order=True).last().drop("event", "step")
    clock = events.select(
        "market_id",
        *KEY,
        pl.when(pl.col("event").is_in(list(ACCRUING_EVENTS | {"CreateMarket"})))
        .then(pl.col("timestamp").cast(pl.Int64))
        .alias("last_update"),
        pl.when(pl.col("event") == "SetFee")
        .then(_amount("new_fee"))
        .when(pl.col("event") == "CreateMarket")
        .then(pl.lit(0, pl.Int128))
        .alias("fee"),
    ).with_columns(pl.col("last_update", "fee").forward_fill().over("market_id"))
    return (
        clock.join(totals, on=["market_id", *KEY], how="left")
        .sort("market_id", *KEY)
        .with_columns(pl.col(TOTALS).forward_fill().over("market_id").fill_null(0))
    )


def position_trajectories(morpho_events: pl.DataFrame) -> pl.DataFrame:
    """Supply shares, borrow shares and collateral of each (market, user) after each event that
    moved them; fee shares go to the fee recipient set by the last ``SetFeeRecipient``."""
    kind = pl.col("event")
    zero = pl.lit(0, pl.Int128)

    def moves(user: str, **deltas: pl.Expr) -> list[pl.Expr]:
        return [pl.col(user).alias("user")] + [deltas.get(b, zero).alias(b) for b in BALANCES]

    assets, shares = _amount("assets"), _amount("shares")
    recipients = (
        morpho_events.filter(kind == "SetFeeRecipient")
        .select(*KEY, pl.col("new_fee_recipient").alias("fee_recipient"))
        .sort(KEY)
    )
    fees = (
        morpho_events.filter(kind == "AccrueInterest")
        .with_columns(log_order())
        .sort("log_order")
        .join_asof(recipients.with_columns(log_order()).drop(KEY), on="log_order")
        .with_columns(pl.col("fee_recipient").fill_null(ZERO_ADDRESS))
    )
    frames = [
        fees.filter(pl.col("fee_shares").cast(pl.Int128) > 0).select(
            "market_id", *KEY, *moves("fee_recipient", supply_shares=_amount("fee_shares"))
        ),
        morpho_events.filter(kind == "Supply").select(
            "market_id", *KEY, *moves("on_behalf", supply_shares=shares)
        ),
        morpho_events.filter(kind == "Withdraw").select(
            "market_id", *KEY, *moves("on_behalf", supply_shares=_minus(shares))
        ),
        morpho_events.filter(kind == "Borrow").select(
            "market_id", *KEY, *moves("on_behalf", borrow_shares=shares)
        ),
        morpho_events.filter(kind == "Repay").select(
            "market_id", *KEY, *moves("on_behalf", borrow_shares=_minus(shares))
        ),
        morpho_events.filter(kind == "SupplyCollateral").select(
            "market_id", *KEY, *moves("on_behalf", collateral=assets)
        ),
        morpho_events.filter(kind == "WithdrawCollateral").select(
            "market_id", *KEY, *moves("on_behalf", collateral=_minus(assets))
        ),
        morpho_events.filter(kind == "Liquidate").select(
            "market_id",
            *KEY,
            *moves(
                "borrower",
                borrow_shares=_minus(_amount("repaid_shares") + _amount("bad_debt_shares")),
                collateral=_minus(_amount("seized_assets")),
            ),
        ),
    ]
    steps = pl.concat(frames)
    _refuse_overflow(steps, BALANCES)
    return (
        steps.sort("market_id", "user", *KEY)
        .with_columns(pl.col(BALANCES).cum_sum().over("market_id", "user"))
        .group_by("market_id", "user", *KEY, maintain_order=True)
        .last()
        .sort(*KEY, "market_id", "user")
    )


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
