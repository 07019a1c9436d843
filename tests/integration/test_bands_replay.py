"""The band mechanism (llamma_bands) in the replay, on the small synthetic chain with a crash, with
the shipped scenario file data/scenarios/bands.toml."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.run import Outcomes, run_scenarios
from softliq_core.replay.scenario import Scenario, load_scenarios

BANDS = Path(__file__).parents[2] / "data" / "scenarios" / "bands.toml"


@pytest.fixture(scope="module")
def scenarios() -> dict[str, Scenario]:
    return {s.name: s for s in load_scenarios(BANDS)}


@pytest.fixture(scope="module")
def outcomes(histories: list[MarketHistory], scenarios: dict[str, Scenario]) -> Outcomes:
    return run_scenarios(histories, list(scenarios.values()))


def _of(frame: pl.DataFrame, scenario: Scenario) -> pl.DataFrame:
    return frame.filter(pl.col("scenario_id") == scenario.scenario_id)


def _int(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Int128)


def test_the_crash_converts_bands_and_arbitrageurs_take_the_other_side(
    outcomes: Outcomes, scenarios: dict[str, Scenario]
) -> None:
    for name in ("bands_a100_n10", "bands_a30_n4"):
        positions = _of(outcomes.position_outcomes, scenarios[name])
        converted = positions.filter(_int("band_loss") > 0)
        assert converted.height > 10, name
        # the borrower's loss to arbitrage covers what arbitrageurs kept: the rest paid slippage
        assert converted.filter(_int("arbitrage_profit") > _int("band_loss")).is_empty()
        assert converted.filter(_int("arbitrage_profit") <= 0).height < converted.height
        assert converted.filter(pl.col("soft_zone_blocks") == 0).is_empty()
    for name in ("history", "baseline"):  # the other mechanisms have no bands
        positions = _of(outcomes.position_outcomes, scenarios[name])
        for column in ("band_loan_assets", "band_loss", "band_loss_vs_holding", "band_fees"):
            assert positions.filter(_int(column) != 0).is_empty(), (name, column)


def test_hard_liquidations_repay_the_whole_debt_with_the_bands_loan_asset_first(
    outcomes: Outcomes, scenarios: dict[str, Scenario]
) -> None:
    actions = _of(outcomes.liquidation_actions, scenarios["bands_a30_n4"])
    assert actions.height > 0 and set(actions["kind"]) == {"liquidation"}
    assert actions["position_closed"].all()
    debt_closed = _int("repaid_assets") + _int("band_loan_assets")
    assert actions.filter(debt_closed != _int("debt_before")).is_empty()
    assert actions.filter(_int("band_loan_assets") > 0).height > 0
    assert actions.filter(_int("bad_debt_assets") != 0).is_empty()
    baseline = _of(outcomes.liquidation_actions, scenarios["baseline"])
    assert baseline.filter(_int("band_loan_assets") != 0).is_empty()


def test_the_summary_adds_up_the_positions_band_columns(
    outcomes: Outcomes, scenarios: dict[str, Scenario]
) -> None:
    scenario = scenarios["bands_a100_n10"]
    summary = _of(outcomes.scenario_market_summary, scenario)
    positions = _of(outcomes.position_outcomes, scenario)
    for column in ("band_loss", "band_loss_vs_holding", "band_fees", "arbitrage_profit"):
        by_market = positions.group_by("market_id").agg(_int(column).sum().alias("total"))
        expected = {m: str(t) for m, t in by_market.iter_rows()}
        assert dict(zip(summary["market_id"], summary[column], strict=True)) == expected


def test_divergence_driven_replay_equals_the_full_replay(
    histories: list[MarketHistory], scenarios: dict[str, Scenario]
) -> None:
    """Positions whose LTV never reached the top band's never enter the bands (DESIGN §4 rule 4)."""
    chosen = [scenarios["bands_a100_n10"]]
    fast = run_scenarios(histories, chosen)
    full = run_scenarios(histories, chosen, divergence_driven=False)
    key = ["market_id", "borrower"]
    assert fast.position_outcomes.sort(key).equals(full.position_outcomes.sort(key))
    order = [*key, "block_number", "call_index"]
    assert fast.liquidation_actions.sort(order).equals(full.liquidation_actions.sort(order))
