-- Question: which scenarios are Pareto-efficient for a market: no other scenario has lower (or
-- equal) borrower penalty, lower (or equal) bad debt and higher (or equal) liquidator profit, with at
-- least one strictly better?
-- @param market = %
-- Units: loan tokens.
WITH o AS (
    SELECT scenario_name, market, borrower_penalty AS penalty,
           bad_debt_realised + bad_debt_unrealised AS bad_debt, liquidator_profit AS profit, unit
    FROM scenario_market_summary_tokens
    WHERE market LIKE $market AND scenario_name <> 'history'
)
SELECT a.scenario_name, a.market, a.penalty AS borrower_penalty, a.bad_debt, a.profit AS liquidator_profit,
       a.unit
FROM o a
WHERE NOT EXISTS (
    SELECT 1 FROM o b
    WHERE b.market = a.market AND b.scenario_name <> a.scenario_name
      AND b.penalty <= a.penalty AND b.bad_debt <= a.bad_debt AND b.profit >= a.profit
      AND (b.penalty < a.penalty OR b.bad_debt < a.bad_debt OR b.profit > a.profit)
)
ORDER BY a.market, a.penalty;
