-- Question: around the largest one-hour price drop of a market, how many liquidation and
-- pre-liquidation calls did each scenario make per block, and how much collateral did they sell?
-- @param market = WETH/USDC
-- @param blocks = 600
-- Units: collateral tokens.
WITH m AS (SELECT * FROM lake_markets WHERE label = $market),
p AS (
    SELECT o.block_number, o.price::HUGEINT::DOUBLE AS price,
           max(o.price::HUGEINT::DOUBLE) OVER (ORDER BY o.block_number RANGE BETWEEN 300 PRECEDING AND CURRENT ROW) AS high
    FROM lake_oracle_prices o JOIN m USING (market_id)
),
drop_block AS (SELECT block_number::BIGINT AS block_number FROM p ORDER BY price / high ASC LIMIT 1)
SELECT n.name AS scenario_name, a.block_number, a.block_number::BIGINT - d.block_number AS blocks_from_drop,
       count(*) FILTER (a.kind = 'liquidation') AS liquidations,
       count(*) FILTER (a.kind = 'pre_liquidation') AS pre_liquidations,
       sum(a.seized_assets) / 10 ^ any_value(m.collateral_decimals) AS collateral_sold,
       any_value(m.collateral_symbol) AS unit
FROM liquidation_actions a
JOIN scenarios n USING (scenario_id)
JOIN m USING (market_id)
CROSS JOIN drop_block d
WHERE a.block_number BETWEEN d.block_number - $blocks AND d.block_number + $blocks
GROUP BY ALL
ORDER BY scenario_name, a.block_number;
