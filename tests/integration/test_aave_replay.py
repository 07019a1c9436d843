"""The Aave counterfactual replay on the synthetic chain: the history scenario equals what the chain
did, the Pool's own liquidation under the liquidator model finds every account history liquidated,
pre-liquidation acts only in its window, and intents are clipped and recorded."""

from __future__ import annotations

import polars as pl
import pytest

from softliq_core.decode import DecodedLogs
from softliq_core.replay.aave_engine import replay_aave, run_aave_scenarios
from softliq_core.replay.aave_history import AaveHistory
from softliq_core.replay.scenario import Scenario, parse_scenarios
from softliq_core.sources.synthetic import SyntheticChain

PRE_LIQUIDATION = {
    "mechanism": "aave_pre_liquidation", "pre_hf": "1.08", "pre_lcf1": "0.10",
    "pre_lcf2": "0.40", "pre_lif1": "1.01", "pre_lif2": "1.04",
}  # fmt: skip
FREE_LIQUIDATOR = {"gas_liquidation": 0, "gas_pre_liquidation": 0}


@pytest.fixture
def history(aave_pool_history: AaveHistory) -> AaveHistory:
    return aave_pool_history


def _scenario(**table: object) -> Scenario:
    (scenario,) = parse_scenarios({"scenario": [{"name": "s", **table}]})
    return scenario


def _frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows, infer_schema_length=None)


def test_the_history_scenario_equals_the_chain(
    chain: SyntheticChain, decoded: DecodedLogs, history: AaveHistory
) -> None:
    outcome = replay_aave(history, _scenario(mechanism="history"), None)
    calls = decoded.aave_events.filter(pl.col("event") == "LiquidationCall")
    actions = _frame(outcome.actions)
    assert actions.height == calls.height > 0
    assert actions.select(
        "block_number", "borrower", "collateral_asset", "debt_asset", "repaid_tokens",
        "seized_tokens",
    ).rows() == calls.select(
        "block_number", "user", "collateral_asset", "debt_asset", "debt_to_cover",
        "liquidated_collateral_amount",
    ).rows()  # fmt: skip
    # each was found unhealthy before its transaction, and the protocol fee was reproduced
    assert (actions["health_factor_before"] < 1).all()
    assert (actions["protocol_fee_tokens"].cast(pl.Int64) > 0).all()
    # every account ends where the chain's pool has it
    assert chain.aave is not None
    pool, end = chain.aave.pool, history.clock.timestamp(history.clock.last_block)
    for row in outcome.positions:
        data = pool.user_account_data(str(row["borrower"]), end)
        assert (row["debt"], row["collateral"]) == (
            str(data.total_debt_base),
            str(data.total_collateral_base),
        )
    assert outcome.clips == []


def test_the_pools_liquidation_finds_every_account_history_liquidated(
    decoded: DecodedLogs, history: AaveHistory
) -> None:
    scenario = _scenario(mechanism="aave_liquidation", liquidator=FREE_LIQUIDATOR)
    outcome = replay_aave(history, scenario, scenario.aave_mechanism_for(history.market))
    actions = _frame(outcome.actions)
    liquidated = set(
        decoded.aave_events.filter(pl.col("event") == "LiquidationCall")["user"].to_list()
    )
    assert liquidated <= set(actions["borrower"].to_list())
    assert set(actions["kind"].to_list()) == {"liquidation"}
    assert (actions["health_factor_before"] < 1).all()
    assert (actions["liquidator_profit"].cast(pl.Int64) > 0).all()


def test_pre_liquidation_acts_in_its_window_and_never_lowers_health(
    history: AaveHistory,
) -> None:
    scenario = _scenario(**PRE_LIQUIDATION)
    outcome = replay_aave(history, scenario, scenario.aave_mechanism_for(history.market))
    actions = _frame(outcome.actions)
    soft = actions.filter(pl.col("kind") == "pre_liquidation")
    assert soft.height > 0
    assert soft["health_factor_before"].is_between(1.0, 1.08, closed="left").all()
    assert (soft["health_factor_after"] >= soft["health_factor_before"]).all()
    assert (soft["protocol_fee_tokens"] == "0").all()
    positions = _frame(outcome.positions)
    assert positions["soft_zone_blocks"].sum() > 0
    # fewer hard liquidations than the Pool's rule alone on the same history
    baseline = _scenario(mechanism="aave_liquidation")
    hard = replay_aave(history, baseline, baseline.aave_mechanism_for(history.market))
    assert (actions["kind"] == "liquidation").sum() <= len(hard.actions)


def test_clipped_intents_are_recorded_and_smaller_than_history(history: AaveHistory) -> None:
    scenario = _scenario(
        **{**PRE_LIQUIDATION, "pre_hf": "1.2", "pre_lcf1": "0.5", "pre_lcf2": "0.9"}
    )
    outcome = replay_aave(history, scenario, scenario.aave_mechanism_for(history.market))
    clips = _frame(outcome.clips)
    assert clips.height > 0
    assert (
        clips["applied_assets"].cast(pl.Float64) < clips["intended_assets"].cast(pl.Float64)
    ).all()
    per_user = clips.group_by("borrower").len()
    positions = {r["borrower"]: r["clipped_actions"] for r in outcome.positions}
    assert all(positions[b] == n for b, n in per_user.iter_rows())


def test_only_scenarios_of_the_pool_run_on_it(history: AaveHistory) -> None:
    scenarios = parse_scenarios(
        {
            "scenario": [
                {"name": "morpho", "mechanism": "morpho_liquidation"},
                {"name": "morpho_history", "mechanism": "history", "scope": {"protocol": "morpho_blue"}},
                {"name": "aave", "mechanism": "aave_liquidation"},
            ]
        }
    )  # fmt: skip
    outcome = run_aave_scenarios(history, scenarios)
    assert {r["scenario_id"] for r in outcome.positions} == {scenarios[2].scenario_id}
