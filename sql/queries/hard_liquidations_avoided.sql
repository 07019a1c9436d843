-- Question: how many hard liquidations, and how much borrower penalty, does each scenario avoid
-- compared with the baseline (Morpho's liquidation alone under the same liquidator model)?
-- @param market = %
-- Units: penalties in loan tokens.
SELECT s.scenario_name, s.market,
       b.liquidations - s.liquidations AS hard_liquidations_avoided,
       b.borrower_penalty - s.borrower_penalty AS borrower_penalty_saved,
       s.pre_liquidations, s.bad_debt_realised, s.unit
FROM scenario_market_summary_tokens s
JOIN scenario_market_summary_tokens b ON b.market = s.market AND b.scenario_name = 'baseline'
WHERE s.scenario_name NOT IN ('baseline', 'history') AND s.market LIKE $market
ORDER BY s.market, hard_liquidations_avoided DESC;
