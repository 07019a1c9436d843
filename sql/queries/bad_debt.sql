-- Question: how much bad debt does each scenario leave, in total and on its worst days?
-- @param market = %
-- Units: loan tokens. Realised = written off in liquidations; unrealised = insolvent positions still
-- open at the end of the data; daily p95/p99 are over every UTC day of the replayed range.
SELECT s.scenario_name, s.market,
       s.bad_debt_realised, s.bad_debt_unrealised,
       m.bad_debt_daily_p95 / 10 ^ k.loan_decimals AS bad_debt_daily_p95,
       m.bad_debt_daily_p99 / 10 ^ k.loan_decimals AS bad_debt_daily_p99,
       m.bad_debt_worst_day / 10 ^ k.loan_decimals AS bad_debt_worst_day,
       s.unit
FROM scenario_market_summary_tokens s
JOIN scenario_market_summary m USING (scenario_id, market_id)
JOIN lake_markets k USING (market_id)
WHERE s.market LIKE $market
ORDER BY s.market, s.bad_debt_realised + s.bad_debt_unrealised DESC, s.scenario_name;
