"""Per scenario × market summary of the outcome tables, computed with DuckDB SQL.

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
           bad_debt_assets::HUGEINT AS bad_debt_assets
    FROM liquidation_actions
),
per_block AS (
    SELECT scenario_id, market_id, block_number, sum(seized_assets) AS seized
    FROM actions GROUP BY ALL
),
action_totals AS (
    SELECT scenario_id, market_id,
           count(*) FILTER (kind = 'pre_liquidation') AS pre_liquidations,
           count(*) FILTER (kind = 'liquidation') AS liquidations,
           count(DISTINCT borrower) FILTER (kind = 'pre_liquidation') AS positions_pre_liquidated,
           count(DISTINCT borrower) FILTER (kind = 'liquidation') AS positions_liquidated,
           count(*) FILTER (position_closed) AS positions_fully_closed,
           sum(repaid_assets) AS debt_repaid,
           sum(seized_assets) AS collateral_seized,
           sum(borrower_penalty) AS borrower_penalty,
           sum(borrower_penalty) FILTER (kind = 'pre_liquidation') AS borrower_penalty_soft,
           sum(borrower_penalty) FILTER (kind = 'liquidation') AS borrower_penalty_hard,
           sum(bad_debt_assets) AS bad_debt_realised
    FROM actions GROUP BY ALL
),
peaks AS (
    SELECT scenario_id, market_id, max(seized) AS collateral_sold_peak_block
    FROM per_block GROUP BY ALL
),
position_totals AS (
    SELECT scenario_id, market_id,
           count(*) FILTER (max_ltv > 0) AS borrowers,
           sum(unrealised_bad_debt::HUGEINT) AS bad_debt_unrealised,
           max(max_ltv) AS max_ltv_reached,
           sum(clipped_actions) AS clipped_actions
    FROM position_outcomes GROUP BY ALL
)
SELECT p.scenario_id, s.name AS scenario_name, p.market_id, p.borrowers,
       coalesce(a.pre_liquidations, 0) AS pre_liquidations,
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
       p.max_ltv_reached,
       coalesce(k.collateral_sold_peak_block, 0)::VARCHAR AS collateral_sold_peak_block,
       coalesce(p.clipped_actions, 0) AS clipped_actions
FROM position_totals p
JOIN scenarios s USING (scenario_id)
LEFT JOIN action_totals a USING (scenario_id, market_id)
LEFT JOIN peaks k USING (scenario_id, market_id)
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
