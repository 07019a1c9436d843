"""Counterfactual replay rules (DESIGN §4) on the small synthetic chain."""

from __future__ import annotations

from collections import defaultdict

import polars as pl
import pytest

from softliq_core.decode import DecodedLogs
from softliq_core.protocols.morpho.market import Position
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.run import Outcomes, run_scenarios
from softliq_core.replay.scenario import Scenario, parse_scenarios
from softliq_core.sources.synthetic import SyntheticChain

SCENARIOS = """
[[scenario]]
name = "history"
mechanism = "history"

[[scenario]]
name = "baseline"
mechanism = "morpho_liquidation"

[[scenario]]
name = "idle"                      # a liquidator too slow to ever act within the chain
mechanism = "morpho_liquidation"
liquidator = { latency_blocks = 100000000 }

[[scenario]]
name = "pre"
mechanism = "morpho_pre_liquidation"
scope = { lltv = "0.86" }
pre_lltv = "0.83"
pre_lcf1 = "0.05"
pre_lcf2 = "0.30"
pre_lif1 = "1.01"
pre_lif2 = "1.04"

[[scenario]]
name = "pre_opted_in_history"      # only borrowers who had authorised a PreLiquidation contract
mechanism = "morpho_pre_liquidation"
scope = { lltv = "0.86" }
preset = "blue-sdk-default"
opt_in = { mode = "history" }
liquidator = { gas_pre_liquidation = 0 }
"""


@pytest.fixture(scope="module")
def scenarios() -> dict[str, Scenario]:
    import tomllib

    return {s.name: s for s in parse_scenarios(tomllib.loads(SCENARIOS))}


@pytest.fixture(scope="module")
def outcomes(histories: list[MarketHistory], scenarios: dict[str, Scenario]) -> Outcomes:
    return run_scenarios(histories, list(scenarios.values()))


def _positions(outcomes: Outcomes, scenario: Scenario) -> dict[tuple[str, str], dict]:  # type: ignore[type-arg]
    rows = outcomes.position_outcomes.filter(pl.col("scenario_id") == scenario.scenario_id)
    return {(r["market_id"], r["borrower"]): r for r in rows.iter_rows(named=True)}


def test_history_scenario_records_every_historical_liquidation(
    outcomes: Outcomes, decoded: DecodedLogs, scenarios: dict[str, Scenario], chain: SyntheticChain
) -> None:
    history = outcomes.liquidation_actions.filter(
        pl.col("scenario_id") == scenarios["history"].scenario_id
    )
    for kind, event in (("liquidation", "Liquidate"), ("pre_liquidation", "PreLiquidate")):
        recorded = history.filter(pl.col("kind") == kind)
        logged = decoded.morpho_events.filter(pl.col("event") == event)
        assert recorded.height == logged.height > 0
        key = ["block_number", "borrower"]
        for column in ("seized_assets", "repaid_shares", "repaid_assets"):
            assert recorded.sort(key)[column].to_list() == logged.sort(key)[column].to_list()
    soft = history.filter(pl.col("kind") == "pre_liquidation")
    # the historical contract uses blue-sdk's default parameters: preLIF = LIF(86 %)
    assert set(soft["incentive_factor"]) == {"1043841336116910229"}
    assert (soft["ltv_after"] < soft["ltv_before"]).all()
    final = _positions(outcomes, scenarios["history"])
    for (market_id, borrower), row in final.items():
        contract = chain.morpho.positions[(market_id, borrower)]
        assert (row["borrow_shares"], row["collateral"]) == (
            str(contract.borrow_shares),
            str(contract.collateral),
        )


def test_historical_liquidations_are_not_applied_to_counterfactual_positions(
    outcomes: Outcomes, decoded: DecodedLogs, scenarios: dict[str, Scenario]
) -> None:
    """With a liquidator that never acts, each position = history + what history seized from it,
    in liquidations and in pre-liquidations (whose Repay/WithdrawCollateral are not intents)."""
    idle = scenarios["idle"]
    assert outcomes.liquidation_actions.filter(pl.col("scenario_id") == idle.scenario_id).is_empty()
    seized: dict[tuple[str, str], int] = defaultdict(int)
    liquidations = decoded.morpho_events.filter(
        pl.col("event").is_in(["Liquidate", "PreLiquidate"])
    )
    assert set(liquidations["event"]) == {"Liquidate", "PreLiquidate"}
    for row in liquidations.iter_rows(named=True):
        seized[(row["market_id"], row["borrower"])] += int(row["seized_assets"])
    clipped = set(
        outcomes.clipped_actions.filter(pl.col("scenario_id") == idle.scenario_id)
        .select("market_id", "borrower")
        .iter_rows()
    )
    history = _positions(outcomes, scenarios["history"])
    compared = 0
    for key, row in _positions(outcomes, idle).items():
        if key in clipped:
            continue  # the borrower's own later actions were clipped: amounts differ by design
        assert int(row["collateral"]) == int(history[key]["collateral"]) + seized[key], key
        compared += 1
    assert compared > 0 and any(seized[k] for k in _positions(outcomes, idle) if k not in clipped)


def test_untouched_positions_stay_identical_to_history(
    outcomes: Outcomes, decoded: DecodedLogs, scenarios: dict[str, Scenario]
) -> None:
    liquidated = {
        (r["market_id"], r["borrower"])
        for r in decoded.morpho_events.filter(
            pl.col("event").is_in(["Liquidate", "PreLiquidate"])
        ).iter_rows(named=True)
    }
    history = _positions(outcomes, scenarios["history"])
    for name in ("baseline", "pre"):
        scenario = scenarios[name]
        touched = set(
            outcomes.liquidation_actions.filter(pl.col("scenario_id") == scenario.scenario_id)
            .select("market_id", "borrower")
            .iter_rows()
        )
        same = 0
        for key, row in _positions(outcomes, scenario).items():
            if key in touched or key in liquidated:
                continue
            assert (row["borrow_shares"], row["collateral"]) == (
                history[key]["borrow_shares"],
                history[key]["collateral"],
            ), (name, key)
            same += 1
        assert same > 0


def test_engine_actions_respect_the_mechanism_windows(
    outcomes: Outcomes, scenarios: dict[str, Scenario]
) -> None:
    actions = outcomes.liquidation_actions
    baseline = actions.filter(pl.col("scenario_id") == scenarios["baseline"].scenario_id)
    assert baseline.height > 0
    assert set(baseline["kind"]) == {"liquidation"}
    pre = actions.filter(pl.col("scenario_id") == scenarios["pre"].scenario_id)
    soft = pre.filter(pl.col("kind") == "pre_liquidation")
    assert soft.height > 0
    # LTVs here are WAD ratios rounded up as floats: allow the last-digit slack of that conversion.
    assert soft["ltv_before"].min() > 0.83  # type: ignore[operator]
    assert soft["ltv_before"].max() <= 0.86 + 1e-12  # type: ignore[operator]
    assert (soft["ltv_after"] <= soft["ltv_before"]).all()  # a pre-liquidation never lowers health
    hard = actions.filter(
        pl.col("kind") == "liquidation", pl.col("scenario_id") != scenarios["history"].scenario_id
    )
    assert (hard["ltv_before"] > 0.86 - 1e-12).all()
    assert (hard["borrower_penalty"].cast(pl.Int64) >= 0).all()


def test_pre_liquidation_lowers_the_penalty_on_its_markets(
    outcomes: Outcomes, scenarios: dict[str, Scenario]
) -> None:
    summary = outcomes.scenario_market_summary
    baseline = summary.filter(pl.col("scenario_name") == "baseline")
    pre = summary.filter(pl.col("scenario_name") == "pre")
    joined = pre.join(baseline, on="market_id", suffix="_base")
    assert joined.height == 2  # the two 86 % markets only
    assert (joined["liquidations"] <= joined["liquidations_base"]).all()


def test_clipped_intents_are_recorded_with_reasons(
    outcomes: Outcomes, scenarios: dict[str, Scenario]
) -> None:
    clips = outcomes.clipped_actions
    assert clips.height > 0
    assert (
        clips["applied_assets"].cast(pl.Float64) < clips["intended_assets"].cast(pl.Float64)
    ).all()
    assert set(clips["reason"]) <= {
        "repay exceeds the position's debt",
        "borrow would make the position unhealthy",
        "withdrawal exceeds the position's collateral",
        "withdrawal would make the position unhealthy",
    }
    history = clips.filter(pl.col("scenario_id") == scenarios["history"].scenario_id)
    assert history.is_empty()


def test_summary_totals_equal_the_action_table(outcomes: Outcomes) -> None:
    actions = outcomes.liquidation_actions.with_columns(pl.col("repaid_assets").cast(pl.Int128))
    for row in outcomes.scenario_market_summary.iter_rows(named=True):
        mine = actions.filter(
            pl.col("scenario_id") == row["scenario_id"], pl.col("market_id") == row["market_id"]
        )
        assert row["liquidations"] == mine.filter(pl.col("kind") == "liquidation").height
        assert int(row["debt_repaid"]) == sum(int(x) for x in mine["repaid_assets"].to_list())


def test_position_defaults() -> None:
    assert Position() == Position(0, 0, 0)


def test_history_opt_in_follows_each_borrowers_authorisation_intervals(
    outcomes: Outcomes, decoded: DecodedLogs, scenarios: dict[str, Scenario]
) -> None:
    events = decoded.morpho_events
    contracts = set(events.filter(pl.col("event") == "CreatePreLiquidation")["pre_liquidation"])
    changes: dict[str, list[tuple[int, int, bool]]] = defaultdict(list)
    for row in events.filter(
        (pl.col("event") == "SetAuthorization") & pl.col("authorized").is_in(contracts)
    ).iter_rows(named=True):
        changes[row["authorizer"]].append(
            (row["block_number"], row["log_index"], row["new_is_authorized"])
        )

    def authorised_at(borrower: str, block: int) -> bool:
        state = False
        for change_block, _, flag in sorted(changes[borrower]):
            if change_block < block:
                state = flag
        return state

    soft = outcomes.liquidation_actions.filter(
        (pl.col("scenario_id") == scenarios["pre_opted_in_history"].scenario_id)
        & (pl.col("kind") == "pre_liquidation")
    )
    assert soft.height > 0
    for row in soft.iter_rows(named=True):
        assert authorised_at(row["borrower"], row["block_number"]), row
    revoked = {b for b, c in changes.items() if any(not flag for *_, flag in c)}
    assert revoked, "the synthetic chain has borrowers who opted out again"


def test_time_in_the_soft_zone_is_measured_where_a_soft_zone_exists(
    outcomes: Outcomes, scenarios: dict[str, Scenario], chain: SyntheticChain
) -> None:
    positions = outcomes.position_outcomes
    baseline = positions.filter(pl.col("scenario_id") == scenarios["baseline"].scenario_id)
    assert baseline["soft_zone_blocks"].sum() == 0
    pre = positions.filter(pl.col("scenario_id") == scenarios["pre"].scenario_id)
    # every position the mechanism pre-liquidated was in its window for at least one block
    assert (pre.filter(pl.col("pre_liquidations") > 0)["soft_zone_blocks"] > 0).all()
    assert 0 < pre["soft_zone_blocks"].max() <= chain.blocks.height  # type: ignore[operator]
