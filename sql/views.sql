-- Views over the Parquet lake, so one DuckDB session sees raw, decoded, reference and outcome data.
-- `{lake}` is replaced by the lake root when softliq creates them; a view is made only for tables
-- that have files. Exact uint256 values are VARCHAR in the lake; the views cast amounts to HUGEINT.

CREATE OR REPLACE VIEW lake_raw_logs AS
    SELECT * FROM read_parquet('{lake}/raw_logs/**/*.parquet', hive_partitioning = true);

CREATE OR REPLACE VIEW lake_blocks AS
    SELECT * FROM read_parquet('{lake}/blocks/**/*.parquet', hive_partitioning = true);

CREATE OR REPLACE VIEW lake_morpho_events AS
    SELECT * REPLACE (assets::HUGEINT AS assets, shares::HUGEINT AS shares,
                      repaid_assets::HUGEINT AS repaid_assets, repaid_shares::HUGEINT AS repaid_shares,
                      seized_assets::HUGEINT AS seized_assets, bad_debt_assets::HUGEINT AS bad_debt_assets,
                      bad_debt_shares::HUGEINT AS bad_debt_shares, interest::HUGEINT AS interest,
                      fee_shares::HUGEINT AS fee_shares)
    FROM read_parquet('{lake}/morpho_events/**/*.parquet', hive_partitioning = true);

-- Aave V3 events (Pool, aToken / variable debt token, PoolConfigurator, AaveOracle); uint256 columns
-- stay exact decimal strings (cast with ::HUGEINT where they fit).
CREATE OR REPLACE VIEW lake_aave_events AS
    SELECT * FROM read_parquet('{lake}/aave_events/**/*.parquet', hive_partitioning = true, union_by_name = true);

-- One AnswerUpdated of a phase aggregator, mapped to the feed proxy; round_id is the proxy's
-- (phase_id << 64 | aggregator_round_id); in_force: published while its aggregator served the proxy.
CREATE OR REPLACE VIEW lake_oracle_rounds AS
    SELECT * REPLACE (round_id::HUGEINT AS round_id, answer::HUGEINT AS answer)
    FROM read_parquet('{lake}/oracle_rounds/**/*.parquet', hive_partitioning = true);

-- Chainlink feeds by proxy, one row per phase: the aggregator and the first block it served the
-- proxy (until the next phase's first block).
CREATE OR REPLACE VIEW lake_feeds AS
    SELECT *, lead(first_block) OVER (PARTITION BY feed ORDER BY phase_id) AS until_block
    FROM read_parquet('{lake}/feeds/**/*.parquet', hive_partitioning = true);

-- Oracle inputs that emit no event, read by historical eth_call at block_number (the state after
-- it): in force from block_number + 1. call: convertToAssets (a vault, for sample shares) or
-- latestRoundData (an adapter feed's answer).
CREATE OR REPLACE VIEW lake_rate_samples AS
    SELECT * REPLACE (sample::HUGEINT AS sample, value::HUGEINT AS value)
    FROM read_parquet('{lake}/rate_samples/**/*.parquet', hive_partitioning = true);

CREATE OR REPLACE VIEW lake_quarantine AS
    SELECT * FROM read_parquet('{lake}/quarantine/**/*.parquet', hive_partitioning = true);

CREATE OR REPLACE VIEW lake_markets AS
    SELECT *, collateral_symbol || '/' || loan_symbol AS label
    FROM read_parquet('{lake}/markets/**/*.parquet', hive_partitioning = true);

-- Each market's IOracle.price() from (block_number, log_index) until the next row; cause says what
-- changed: a feed round (from its log), an aggregator switch or a sampled rate (log_index 0: from
-- the start of the block). price stays VARCHAR: it can exceed HUGEINT (cbBTC/USDC at $100k is 1e39).
CREATE OR REPLACE VIEW lake_oracle_prices AS
    SELECT * REPLACE (round_id::HUGEINT AS round_id)
    FROM read_parquet('{lake}/oracle_prices/**/*.parquet', hive_partitioning = true);

-- The summary in token units with market labels (Aave's pool in USD): what the demo prints.
CREATE OR REPLACE VIEW scenario_market_summary_tokens AS
    SELECT s.scenario_name, m.label AS market, m.lltv::HUGEINT / 1e18 AS lltv,
           s.pre_liquidations, s.liquidations, s.positions_liquidated,
           s.debt_repaid / 10 ^ m.loan_decimals AS debt_repaid,
           s.borrower_penalty / 10 ^ m.loan_decimals AS borrower_penalty,
           s.borrower_penalty_soft / 10 ^ m.loan_decimals AS borrower_penalty_soft,
           s.borrower_penalty_hard / 10 ^ m.loan_decimals AS borrower_penalty_hard,
           s.bad_debt_realised / 10 ^ m.loan_decimals AS bad_debt_realised,
           s.bad_debt_unrealised / 10 ^ m.loan_decimals AS bad_debt_unrealised,
           s.liquidator_profit / 10 ^ m.loan_decimals AS liquidator_profit,
           s.liquidator_gas_cost / 10 ^ m.loan_decimals AS liquidator_gas_cost,
           m.loan_symbol AS unit, s.max_ltv_reached, s.clipped_actions, s.unprofitable_skips, s.scenario_id, s.market_id,
           s.keeper_incentive / 10 ^ m.loan_decimals AS keeper_incentive,
           s.reserves_change / 10 ^ m.loan_decimals AS reserves_change
    FROM scenario_market_summary s JOIN lake_markets m USING (market_id)
    UNION ALL BY NAME
    -- Aave: one row per pool, amounts in its base currency (USD, 8 decimals)
    SELECT s.scenario_name, 'Aave V3 pool' AS market, NULL::DOUBLE AS lltv,
           s.pre_liquidations, s.liquidations, s.positions_liquidated,
           s.debt_repaid / 1e8 AS debt_repaid, s.borrower_penalty / 1e8 AS borrower_penalty,
           s.borrower_penalty_soft / 1e8 AS borrower_penalty_soft,
           s.borrower_penalty_hard / 1e8 AS borrower_penalty_hard,
           s.bad_debt_realised / 1e8 AS bad_debt_realised,
           s.bad_debt_unrealised / 1e8 AS bad_debt_unrealised,
           s.liquidator_profit / 1e8 AS liquidator_profit,
           s.liquidator_gas_cost / 1e8 AS liquidator_gas_cost,
           'USD' AS unit, s.max_ltv_reached, s.clipped_actions, s.unprofitable_skips, s.scenario_id, s.market_id,
           s.keeper_incentive / 1e8 AS keeper_incentive, s.reserves_change / 1e8 AS reserves_change
    FROM scenario_market_summary s WHERE s.protocol = 'aave_v3';

-- Who allowed whom on Morpho, as intervals: a borrower authorises an address (a bundler, or a
-- PreLiquidation contract: that is the opt-in to pre-liquidation) from a block until the next change.
CREATE OR REPLACE VIEW authorization_intervals AS
    WITH changes AS (
        SELECT authorizer, authorized, block_number, log_index, new_is_authorized,
               lead(block_number) OVER w AS next_change_block
        FROM lake_morpho_events
        WHERE event = 'SetAuthorization'
        WINDOW w AS (PARTITION BY authorizer, authorized ORDER BY block_number, log_index)
    )
    SELECT c.authorizer AS borrower, c.authorized, c.block_number AS from_block,
           c.next_change_block AS until_block,  -- exclusive, NULL while still authorised at the end of the data
           p.market_id IS NOT NULL AS is_pre_liquidation, p.market_id
    FROM changes c
    LEFT JOIN (SELECT DISTINCT pre_liquidation, market_id FROM lake_morpho_events
               WHERE event = 'CreatePreLiquidation') p ON p.pre_liquidation = c.authorized
    WHERE c.new_is_authorized;

-- The PreLiquidation contracts deployed by the factory, with their parameters as ratios.
CREATE OR REPLACE VIEW pre_liquidation_contracts AS
    SELECT e.pre_liquidation, e.market_id, m.label AS market, e.block_number AS created_block,
           e.pre_lltv::HUGEINT / 1e18 AS pre_lltv, e.pre_lcf1::HUGEINT / 1e18 AS pre_lcf1,
           e.pre_lcf2::HUGEINT / 1e18 AS pre_lcf2, e.pre_lif1::HUGEINT / 1e18 AS pre_lif1,
           e.pre_lif2::HUGEINT / 1e18 AS pre_lif2, e.pre_liquidation_oracle,
           e.pre_liquidation_oracle = m.oracle AS uses_market_oracle
    FROM lake_morpho_events e JOIN lake_markets m USING (market_id)
    WHERE e.event = 'CreatePreLiquidation';
