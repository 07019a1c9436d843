"""Baseline validation: the engine's liquidation rule in shadow against history's Liquidate events."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest

from softliq_core.decode import DecodedLogs
from softliq_core.replay.baseline_validation import baseline_validation
from softliq_core.replay.inputs import MarketHistory


@pytest.fixture(scope="module")
def validation(histories: list[MarketHistory]) -> pl.DataFrame:
    return baseline_validation(histories)


def test_every_historical_liquidation_is_found_with_amounts_to_the_wei(
    validation: pl.DataFrame, decoded: DecodedLogs
) -> None:
    liquidations = decoded.morpho_events.filter(
        pl.col("event").is_in(["Liquidate", "PreLiquidate"])
    )
    kinds = dict(validation.group_by("kind").len().iter_rows())
    assert kinds["liquidation"] == liquidations.filter(pl.col("event") == "Liquidate").height > 10
    assert (
        kinds["pre_liquidation"]
        == liquidations.filter(pl.col("event") == "PreLiquidate").height
        > 10
    )
    assert validation.height == liquidations.height
    assert validation["liquidatable"].all()
    assert validation["amounts_match"].all(), validation.filter(~pl.col("amounts_match"))
    for column in ("repaid_assets", "repaid_shares", "seized_assets", "bad_debt_assets"):
        assert (validation[column] == validation[f"recomputed_{column}"]).all()
    assert validation["problem"].is_null().all()


def test_lead_time_is_the_synthetic_liquidators_delay(validation: pl.DataFrame) -> None:
    # The synthetic liquidators act 1 to 3 blocks after the round that made a position unhealthy;
    # pre-liquidation bots 1 to 3 blocks after the round that put it in the window, or later when
    # the incentive was too small to pay for gas then.
    hard = validation.filter(pl.col("kind") == "liquidation")
    lead = hard["blocks_liquidatable_before"]
    assert lead.min() == 1
    # ...except during their three-hour outage in the crash (900 blocks), after which they act
    # within 50 blocks, on positions deep under water: those liquidations realise bad debt.
    late = hard.filter(pl.col("blocks_liquidatable_before") > 3)
    assert late.height > 0 and late["blocks_liquidatable_before"].max() <= 900 + 53
    bad_debt = hard.filter(pl.col("bad_debt_assets") != "0")
    assert bad_debt.height > 0 and bad_debt["amounts_match"].all()
    assert (bad_debt["recomputed_bad_debt_shares"] == bad_debt["bad_debt_shares"]).all()
    assert hard["ltv"].min() > 0.86  # type: ignore[operator]
    soft = validation.filter(pl.col("kind") == "pre_liquidation")
    assert soft["blocks_liquidatable_before"].min() >= 1  # type: ignore[operator]
    # the default preLltv of an 86 % market is 83.26 %
    assert soft["ltv"].min() > 0.8326 and soft["ltv"].max() <= 0.86  # type: ignore[operator]


def _tamper(history: MarketHistory, change) -> MarketHistory:  # type: ignore[no-untyped-def]
    events = [dict(e) for e in history.events]
    index = next(i for i, e in enumerate(events) if e["event"] == "Liquidate")
    change(events, index)
    return replace(history, events=events)


def _first_liquidated(histories: list[MarketHistory]) -> MarketHistory:
    return next(h for h in histories if any(e["event"] == "Liquidate" for e in h.events))


def test_amounts_the_contract_could_not_have_produced_are_flagged(
    histories: list[MarketHistory],
) -> None:
    def more_seized(events, index):  # type: ignore[no-untyped-def]
        events[index]["seized_assets"] = str(int(events[index]["seized_assets"]) + 1)
        # keep the ledger consistent: the extra wei was supplied just before
        events.insert(index, {**events[index], "event": "SupplyCollateral", "on_behalf": events[index]["borrower"], "assets": "1", "log_index": events[index]["log_index"]})  # fmt: skip

    rows = baseline_validation([_tamper(_first_liquidated(histories), more_seized)])
    row = rows.filter(pl.col("kind") == "liquidation").row(0, named=True)
    assert row["liquidatable"]
    assert not row["amounts_match"]
    assert row["recomputed_from"] is None
    assert "seized_assets" in row["problem"]


def test_a_liquidation_of_a_healthy_position_is_not_found(
    histories: list[MarketHistory],
) -> None:
    history = _first_liquidated(histories)
    liquidation = next(e for e in history.events if e["event"] == "Liquidate")
    key = (liquidation["block_number"], liquidation["log_index"])
    # A price 10x higher published just before the liquidation makes every position healthy.
    boosted = [p for p in history.prices if p[:2] < key][-1][2] * 10
    prices = sorted([*history.prices, (key[0], key[1] - 1, boosted)])
    rows = baseline_validation([replace(history, prices=prices)])
    row = rows.filter(pl.col("block_number") == key[0], pl.col("log_index") == key[1]).row(
        0, named=True
    )
    assert not row["liquidatable"]
    assert row["first_liquidatable_block"] is None
    assert "position is healthy" in row["problem"]
