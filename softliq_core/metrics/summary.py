"""Per scenario × market summary of the outcome tables, computed with DuckDB SQL. An Aave "market"
is the pool (every account across its reserves), its amounts in the base currency (USD, 8 decimals).

Amounts are summed exactly as HUGEINT (DuckDB raises on overflow instead of wrapping) and returned as
decimal strings, like every exact amount in softliq's tables.
"""

from __future__ import annotations

import duckdb
import polars as pl

SUMMARY_SQL = """
WITH actions AS (
    SELECT scenario_id, market_id, borrower, block_number, kind, position_closed, ltv_before,
           repaid_assets::HUGEINT AS repaid_assets,
           seized_assets::HUGEINT AS seized_assets,
           borrower_penalty::HUGEINT AS borrower_penalty,
           bad_debt_assets::HUGEINT AS bad_debt_assets,
           gas_cost::HUGEINT AS gas_cost, slippage_cost::HUGEINT AS slippage_cost,
           liquidator_profit::HUGEINT AS liquidator_profit,
           keeper_incentive::HUGEINT AS keeper_incentive,
           reserves_change::HUGEINT AS reserves_change,
           to_timestamp("timestamp")::DATE AS day
    FROM liquidation_actions
),
days AS (  -- every day of the replayed range that any scenario acted in, so quiet days count as 0
    SELECT unnest(generate_series(min(day), max(day), INTERVAL 1 DAY))::DATE AS day FROM actions
),
daily_bad_debt AS (
    SELECT k.scenario_id, k.market_id, d.day,
           coalesce(sum(a.bad_debt_assets), 0) AS bad_debt
    FROM (SELECT DISTINCT scenario_id, market_id FROM position_outcomes) k
    CROSS JOIN days d
    LEFT JOIN actions a ON a.scenario_id = k.scenario_id AND a.market_id = k.market_id AND a.day = d.day
    GROUP BY ALL
),
bad_debt_days AS (
    SELECT scenario_id, market_id,
           quantile_disc(bad_debt, 0.95) AS bad_debt_daily_p95,
           quantile_disc(bad_debt, 0.99) AS bad_debt_daily_p99,
           max(bad_debt) AS bad_debt_worst_day
    FROM daily_bad_debt GROUP BY ALL
),
per_block AS (
    SELECT scenario_id, market_id, block_number, sum(seized_assets) AS seized
    FROM actions GROUP BY ALL
),
action_totals AS (
    SELECT scenario_id, market_id,
           count(*) FILTER (kind = 'pre_liquidation') AS pre_liquidations,
           count(DISTINCT (borrower, block_number)) FILTER (kind = 'pre_liquidation')
               AS pre_liquidation_position_blocks,
           count(*) FILTER (kind = 'liquidation') AS liquidations,
           count(DISTINCT borrower) FILTER (kind = 'pre_liquidation') AS positions_pre_liquidated,
           count(DISTINCT borrower) FILTER (kind = 'liquidation') AS positions_liquidated,
           count(*) FILTER (position_closed) AS positions_fully_closed,
           sum(repaid_assets) AS debt_repaid,
           sum(seized_assets) AS collateral_seized,
           sum(borrower_penalty) AS borrower_penalty,
           sum(borrower_penalty) FILTER (kind = 'pre_liquidation') AS borrower_penalty_soft,
           sum(borrower_penalty) FILTER (kind = 'liquidation') AS borrower_penalty_hard,
           sum(bad_debt_assets) AS bad_debt_realised,
           sum(gas_cost) AS liquidator_gas_cost,
           sum(slippage_cost) AS liquidator_slippage_cost,
           sum(liquidator_profit) AS liquidator_profit,
           sum(keeper_incentive) AS keeper_incentive,
           sum(reserves_change) AS reserves_change
    FROM actions GROUP BY ALL
),
peaks AS (
    SELECT scenario_id, market_id, max(seized) AS collateral_sold_peak_block,
           quantile_disc(seized, 0.99) AS collateral_sold_p99_block
    FROM per_block GROUP BY ALL
),
position_totals AS (
    SELECT scenario_id, market_id, protocol,
           count(*) FILTER (max_ltv > 0) AS borrowers,
           sum(unrealised_bad_debt::HUGEINT) AS bad_debt_unrealised,
           max(max_ltv) AS max_ltv_reached,
           sum(clipped_actions)::BIGINT AS clipped_actions,
           sum(unprofitable_skips)::BIGINT AS unprofitable_skips,
           count(*) FILTER (soft_zone_blocks > 0) AS positions_in_soft_zone,
           sum(soft_zone_blocks)::BIGINT AS soft_zone_blocks,
           sum(band_loss::HUGEINT) AS band_loss,
           sum(band_loss_vs_holding::HUGEINT) AS band_loss_vs_holding,
           sum(band_fees::HUGEINT) AS band_fees,
           sum(arbitrage_profit::HUGEINT) AS arbitrage_profit
    FROM position_outcomes GROUP BY ALL
)
SELECT p.scenario_id, s.name AS scenario_name, p.market_id, p.borrowers,
       coalesce(a.pre_liquidations, 0) AS pre_liquidations,
       coalesce(a.pre_liquidation_position_blocks, 0) AS pre_liquidation_position_blocks,
       coalesce(a.liquidations, 0) AS liquidations,
       coalesce(a.positions_pre_liquidated, 0) AS positions_pre_liquidated,
       coalesce(a.positions_liquidated, 0) AS positions_liquidated,
       coalesce(a.positions_fully_closed, 0) AS positions_fully_closed,
       coalesce(a.debt_repaid, 0)::VARCHAR AS debt_repaid,
       coalesce(a.collateral_seized, 0)::VARCHAR AS collateral_seized,
       coalesce(a.borrower_penalty, 0)::VARCHAR AS borrower_penalty,
       coalesce(a.borrower_penalty_soft, 0)::VARCHAR AS borrower_penalty_soft,
       coalesce(a.borrower_penalty_hard, 0)::VARCHAR AS borrower_penalty_hard,
       coalesce(a.bad_debt_realised, 0)::VARCHAR AS bad_debt_realised,
       coalesce(p.bad_debt_unrealised, 0)::VARCHAR AS bad_debt_unrealised,
       coalesce(b.bad_debt_daily_p95, 0)::VARCHAR AS bad_debt_daily_p95,
       coalesce(b.bad_debt_daily_p99, 0)::VARCHAR AS bad_debt_daily_p99,
       coalesce(b.bad_debt_worst_day, 0)::VARCHAR AS bad_debt_worst_day,
       coalesce(a.liquidator_gas_cost, 0)::VARCHAR AS liquidator_gas_cost,
       coalesce(a.liquidator_slippage_cost, 0)::VARCHAR AS liquidator_slippage_cost,
       coalesce(a.liquidator_profit, 0)::VARCHAR AS liquidator_profit,
       p.max_ltv_reached,
       coalesce(k.collateral_sold_peak_block, 0)::VARCHAR AS collateral_sold_peak_block,
       coalesce(k.collateral_sold_p99_block, 0)::VARCHAR AS collateral_sold_p99_block,
       coalesce(p.clipped_actions, 0) AS clipped_actions,
       coalesce(p.unprofitable_skips, 0) AS unprofitable_skips,
       coalesce(p.positions_in_soft_zone, 0) AS positions_in_soft_zone,
       coalesce(p.soft_zone_blocks, 0) AS soft_zone_blocks,
       coalesce(a.keeper_incentive, 0)::VARCHAR AS keeper_incentive,
       coalesce(a.reserves_change, 0)::VARCHAR AS reserves_change,
       p.protocol,
       coalesce(p.band_loss, 0)::VARCHAR AS band_loss,
       coalesce(p.band_loss_vs_holding, 0)::VARCHAR AS band_loss_vs_holding,
       coalesce(p.band_fees, 0)::VARCHAR AS band_fees,
       coalesce(p.arbitrage_profit, 0)::VARCHAR AS arbitrage_profit
FROM position_totals p
JOIN scenarios s USING (scenario_id)
LEFT JOIN action_totals a USING (scenario_id, market_id)
LEFT JOIN peaks k USING (scenario_id, market_id)
LEFT JOIN bad_debt_days b USING (scenario_id, market_id)
ORDER BY s.name, p.market_id
"""


def scenario_market_summary(
    scenarios: pl.DataFrame, liquidation_actions: pl.DataFrame, position_outcomes: pl.DataFrame
) -> pl.DataFrame:
    con = duckdb.connect()
    con.register("scenarios", scenarios.to_arrow())
    con.register("liquidation_actions", liquidation_actions.to_arrow())
    con.register("position_outcomes", position_outcomes.to_arrow())
    return pl.from_arrow(con.sql(SUMMARY_SQL).to_arrow_table())  # type: ignore[return-value]


def stored_scenario_market_summary(
    con: duckdb.DuckDBPyConnection, scenario_ids: list[str]
) -> pl.DataFrame:
    """The same summary for some scenarios, over the outcome tables of the database ``con`` is
    connected to (no row leaves it but the summary's): each table is narrowed to the scenarios
    by a CTE of its own name, which the summary's query then reads."""
    narrowed = ", ".join(
        f"{table} AS (SELECT * FROM main.{table} WHERE scenario_id IN (SELECT unnest($ids)))"
        for table in ("scenarios", "liquidation_actions", "position_outcomes")
    )
    query = f"WITH {narrowed}, " + SUMMARY_SQL.strip().removeprefix("WITH ")
    frame = pl.from_arrow(con.sql(query, params={"ids": scenario_ids}).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame
