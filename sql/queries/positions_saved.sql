-- Question: which positions were hard-liquidated in history but not under a scenario, and what path
-- did they take there (the LTV before each of the scenario's calls, by block)?
-- @param scenario = pre_liq_86_at_83
-- @param market = %
-- Units: penalty in loan tokens; LTVs as ratios.
WITH named AS (SELECT scenario_id, name FROM scenarios),
hist AS (
    SELECT a.market_id, a.borrower, count(*) AS history_liquidations,
           sum(a.borrower_penalty) AS history_penalty
    FROM liquidation_actions a JOIN named n USING (scenario_id)
    WHERE n.name = 'history' AND a.kind = 'liquidation' GROUP BY ALL
),
scen AS (
    SELECT a.market_id, a.borrower,
           count(*) FILTER (a.kind = 'liquidation') AS liquidations,
           count(*) FILTER (a.kind = 'pre_liquidation') AS pre_liquidations,
           sum(a.borrower_penalty) AS penalty, max(a.ltv_before) AS highest_ltv_acted_at,
           list({'block': a.block_number, 'ltv_before': round(a.ltv_before, 4),
                 'ltv_after': round(a.ltv_after, 4)} ORDER BY a.block_number, a.call_index) AS path
    FROM liquidation_actions a JOIN named n USING (scenario_id)
    WHERE n.name = $scenario GROUP BY ALL
)
SELECT m.label AS market, h.borrower, h.history_liquidations,
       h.history_penalty / 10 ^ m.loan_decimals AS history_penalty,
       coalesce(s.pre_liquidations, 0) AS pre_liquidations,
       coalesce(s.penalty, 0) / 10 ^ m.loan_decimals AS scenario_penalty,
       s.highest_ltv_acted_at, s.path AS scenario_path, m.loan_symbol AS unit
FROM hist h
JOIN lake_markets m USING (market_id)
LEFT JOIN scen s USING (market_id, borrower)
WHERE coalesce(s.liquidations, 0) = 0 AND m.label LIKE $market
  AND h.market_id IN (  -- only markets the scenario covers (an unknown scenario gives no rows)
      SELECT market_id FROM scenario_market_summary JOIN named USING (scenario_id) WHERE name = $scenario)
ORDER BY history_penalty DESC;
