-- Question: does each scenario stay profitable for liquidators after gas and slippage?
-- @param market = %
-- Units: loan tokens. Profit = seized value - slippage - repaid - gas, summed over the engine's
-- calls; a call is only made when it pays, so declined opportunities are counted separately.
SELECT s.scenario_name, s.market,
       s.pre_liquidations + s.liquidations AS calls,
       s.liquidator_profit, s.liquidator_gas_cost,
       m.liquidator_slippage_cost / 10 ^ k.loan_decimals AS liquidator_slippage_cost,
       s.liquidator_profit / nullif(s.pre_liquidations + s.liquidations, 0) AS profit_per_call,
       s.unprofitable_skips AS declined_as_unprofitable,
       s.liquidator_profit > 0 AS profitable,
       s.unit
FROM scenario_market_summary_tokens s
JOIN scenario_market_summary m USING (scenario_id, market_id)
JOIN lake_markets k USING (market_id)
WHERE s.market LIKE $market
ORDER BY s.market, s.liquidator_profit DESC;
