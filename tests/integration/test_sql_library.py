"""The SQL library runs against a real outcome database and answers what its header says."""

from __future__ import annotations

import polars as pl
import pytest

from softliq_core.store.queries import QueryError, find_query, library
from softliq_core.store.warehouse import Warehouse
from tests.conftest import OutcomeStore

COLUMNS = {
    "hard_liquidations_avoided": ["scenario_name", "market", "hard_liquidations_avoided", "borrower_penalty_saved", "pre_liquidations", "bad_debt_realised", "unit"],
    "bad_debt": ["scenario_name", "market", "bad_debt_realised", "bad_debt_unrealised", "bad_debt_daily_p95", "bad_debt_daily_p99", "bad_debt_worst_day", "unit"],
    "liquidator_profitability": ["scenario_name", "market", "calls", "liquidator_profit", "liquidator_gas_cost", "liquidator_slippage_cost", "profit_per_call", "declined_as_unprofitable", "profitable", "unit"],
    "pareto_front": ["scenario_name", "market", "borrower_penalty", "bad_debt", "liquidator_profit", "unit"],
    "positions_saved": ["market", "borrower", "history_liquidations", "history_penalty", "pre_liquidations", "scenario_penalty", "highest_ltv_acted_at", "scenario_path", "unit"],
    "crash_day": ["scenario_name", "block_number", "blocks_from_drop", "liquidations", "pre_liquidations", "collateral_sold", "unit"],
}  # fmt: skip


@pytest.fixture(scope="module")
def warehouse(outcome_store: OutcomeStore) -> Warehouse:
    return Warehouse(outcome_store.duckdb)


def test_every_library_query_is_tested_and_documented() -> None:
    queries = library()
    assert set(queries) == set(COLUMNS)
    for query in queries.values():
        assert query.question.endswith("?"), query.name
        assert "-- Units:" in query.sql, query.name


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_each_query_returns_its_columns_with_rows(warehouse: Warehouse, name: str) -> None:
    query = find_query(name)
    result = warehouse.query(query.sql, query.parameters({}))
    assert result.columns == COLUMNS[name]
    assert result.height > 0, name


def test_avoided_liquidations_agree_with_the_summary(warehouse: Warehouse) -> None:
    query = find_query("hard_liquidations_avoided")
    avoided = warehouse.query(query.sql, query.parameters({"market": "WETH/USDC"}))
    assert set(avoided["market"]) == {"WETH/USDC"}
    summary = warehouse.query(
        "SELECT scenario_name, liquidations FROM scenario_market_summary_tokens "
        "WHERE market = 'WETH/USDC'"
    )
    count = dict(summary.iter_rows())
    for row in avoided.iter_rows(named=True):
        assert row["hard_liquidations_avoided"] == count["baseline"] - count[row["scenario_name"]]


def test_the_pareto_front_holds_no_dominated_scenario(warehouse: Warehouse) -> None:
    query = find_query("pareto_front")
    front = warehouse.query(query.sql, query.parameters({}))
    everything = warehouse.query(
        "SELECT scenario_name, market, borrower_penalty AS p, "
        "bad_debt_realised + bad_debt_unrealised AS d, liquidator_profit AS q "
        "FROM scenario_market_summary_tokens WHERE scenario_name <> 'history'"
    )
    for row in front.iter_rows(named=True):
        rivals = everything.filter(
            (pl.col("market") == row["market"])
            & (pl.col("scenario_name") != row["scenario_name"])
            & (pl.col("p") <= row["borrower_penalty"])
            & (pl.col("d") <= row["bad_debt"])
            & (pl.col("q") >= row["liquidator_profit"])
            & (
                (pl.col("p") < row["borrower_penalty"])
                | (pl.col("d") < row["bad_debt"])
                | (pl.col("q") > row["liquidator_profit"])
            )
        )
        assert rivals.is_empty(), (row, rivals)
    assert front.height < everything.height  # some scenario is dominated


def test_saved_positions_were_not_hard_liquidated_under_the_scenario(warehouse: Warehouse) -> None:
    query = find_query("positions_saved")
    saved = warehouse.query(query.sql, query.parameters({}))
    assert set(saved["market"]) <= {"WETH/USDC", "WBTC/USDC"}  # the scenario's 86 % scope
    liquidated = warehouse.query(
        "SELECT DISTINCT borrower FROM liquidation_actions JOIN scenarios USING (scenario_id) "
        "WHERE name = 'pre_liq_86_at_83' AND kind = 'liquidation'"
    )
    assert not set(saved["borrower"]) & set(liquidated["borrower"])


def test_unknown_queries_and_parameters_are_named() -> None:
    with pytest.raises(QueryError, match="no query 'nope'"):
        find_query("nope")
    with pytest.raises(QueryError, match="unknown parameter 'mkt'"):
        find_query("bad_debt").parameters({"mkt": "x"})
    assert find_query("crash_day").parameters({"blocks": "50"})["blocks"] == 50
