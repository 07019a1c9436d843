-- softliq outcome tables (DESIGN §7). Created idempotently by `softliq` and the Dagster assets.
-- Units: amounts are exact integers in token base units (HUGEINT); `*_value` and penalties are in
-- loan-asset base units; WAD columns are 1e18-scaled ratios; prices are IOracle.price() (1e36-scaled,
-- kept as VARCHAR because they can exceed 128 bits). Views in views.sql convert to token units.

CREATE TABLE IF NOT EXISTS scenarios (
    scenario_id     VARCHAR PRIMARY KEY,  -- sha256 of the canonical JSON definition, first 16 hex
    name            VARCHAR NOT NULL,     -- the name in the scenario file
    mechanism       VARCHAR NOT NULL,     -- history | morpho_liquidation | morpho_pre_liquidation | maker_clipper | compound_absorb | euler_liquidation | llamma_bands | aave_liquidation | aave_pre_liquidation
    accrual         VARCHAR NOT NULL,     -- history: the borrow share price follows history | irm: AdaptiveCurveIRM on the scenario's own utilisation
    definition      JSON NOT NULL,        -- canonical definition: parameters (WAD), scope, opt-in, liquidator
    engine_version  VARCHAR NOT NULL    -- softliq engine version that produced the rows
);
COMMENT ON TABLE scenarios IS 'One row per scenario replayed, keyed by scenario_id';

CREATE TABLE IF NOT EXISTS liquidation_actions (
    scenario_id        VARCHAR NOT NULL,  -- the scenario (scenarios.scenario_id)
    market_id          VARCHAR NOT NULL,  -- Morpho market id (bytes32 hex)
    borrower           VARCHAR NOT NULL,  -- the position's owner (address)
    block_number       UINTEGER NOT NULL,  -- block the action executed in
    call_index         USMALLINT NOT NULL, -- order of the liquidator's calls on this position in this block (0 first)
    "timestamp"        UINTEGER NOT NULL,  -- its unix time
    kind               VARCHAR NOT NULL,   -- liquidation | pre_liquidation | auction_start | auction_reset (Maker)
    price              VARCHAR NOT NULL,   -- oracle price used (1e36-scaled)
    ltv_before         DOUBLE,             -- LTV before the action (ratio)
    ltv_after          DOUBLE,             -- LTV after (0 when the debt is gone)
    debt_before        HUGEINT NOT NULL,   -- loan base units, rounded up as Morpho does
    collateral_before  HUGEINT NOT NULL,   -- collateral base units
    repaid_shares      HUGEINT NOT NULL,  -- borrow shares repaid
    repaid_assets      HUGEINT NOT NULL,   -- loan base units paid by the liquidator
    seized_assets      HUGEINT NOT NULL,   -- collateral base units taken from the borrower
    seized_value       HUGEINT NOT NULL,   -- seized collateral valued at the price, loan base units
    borrower_penalty   HUGEINT NOT NULL,   -- seized_value - repaid_assets: the incentive the borrower paid
    incentive_factor   HUGEINT NOT NULL,   -- LIF or preLIF applied (WAD)
    bad_debt_shares    HUGEINT NOT NULL,  -- borrow shares written off (only when no collateral is left)
    bad_debt_assets    HUGEINT NOT NULL,   -- loss realised to suppliers, loan base units
    gas_used           UINTEGER NOT NULL,  -- gas units the liquidator model charges for this call
    gas_cost           HUGEINT NOT NULL,   -- gas_used x (base fee + priority fee), in loan base units
    slippage_cost      HUGEINT NOT NULL,   -- price impact selling the seized collateral, loan base units
    liquidator_profit  HUGEINT NOT NULL,   -- seized_value - slippage_cost - repaid_assets - gas_cost (may be < 0 in history)
    position_closed    BOOLEAN NOT NULL,   -- the action left the position without debt
    taker_paid         HUGEINT,   -- loan base units the liquidator paid: repaid_assets, or a Maker auction's price with the penalty, Compound's store-front price; Aave: repaid_assets
    keeper_incentive   HUGEINT,   -- loan base units the protocol paid the caller (Maker tip + chip at an auction's start or reset; 0 elsewhere)
    reserves_change    HUGEINT,   -- the protocol's own balance change, loan base units (Maker: penalty collected - keeper incentives; Compound: sale proceeds - absorbed debt and credit; 0 for Morpho designs; NULL for Aave, whose treasury share is protocol_fee_tokens)
    protocol              VARCHAR,  -- morpho_blue | aave_v3. Aave: market_id is the pool, borrower the account across its reserves, every amount and value above in the base currency (USD, 8 decimals), price the collateral's AaveOracle price, ltv total debt / total collateral, seized_assets what left the borrower (liquidator's collateral + protocol fee)
    collateral_asset      VARCHAR,  -- Aave: the reserve whose collateral was seized (NULL for Morpho)
    debt_asset            VARCHAR,  -- Aave: the reserve whose debt was repaid (NULL for Morpho)
    repaid_tokens         HUGEINT,  -- Aave: debt repaid, debt_asset base units (LiquidationCall.debtToCover)
    seized_tokens         HUGEINT,  -- Aave: collateral to the liquidator, collateral_asset base units (liquidatedCollateralAmount)
    protocol_fee_tokens   HUGEINT,  -- Aave: collateral to the treasury (the protocol fee on the bonus), collateral_asset base units
    health_factor_before  DOUBLE,   -- Aave: the account's health factor before the call (NULL without debt)
    health_factor_after   DOUBLE,   -- Aave: after it (NULL when no debt is left)
    band_loan_assets   HUGEINT NOT NULL,   -- loan base units the position's bands held and put toward the debt (llamma_bands; else 0): debt closed = repaid_assets + band_loan_assets
    impacted_price     VARCHAR NOT NULL    -- price the action saw (1e36-scaled): the oracle price moved by recent liquidations' sales when market_impact is on, else equal to price; ltv_*, seized_value and the liquidator's costs use it
);
COMMENT ON TABLE liquidation_actions IS 'Every liquidation and pre-liquidation call, historical (scenario history) or by the engine''s liquidator model, keyed by (scenario_id, market_id, borrower, block_number, call_index)';

CREATE TABLE IF NOT EXISTS clipped_actions (
    scenario_id      VARCHAR NOT NULL,  -- the scenario (scenarios.scenario_id)
    market_id        VARCHAR NOT NULL,  -- Morpho market id
    borrower         VARCHAR NOT NULL,  -- the position's owner
    block_number     UINTEGER NOT NULL, -- block of the historical log
    log_index        UINTEGER NOT NULL,   -- the historical log whose intent was clipped
    event            VARCHAR NOT NULL,    -- Borrow | Repay | WithdrawCollateral
    intended_assets  HUGEINT NOT NULL,    -- what history did
    applied_assets   HUGEINT NOT NULL,    -- what the counterfactual position could take
    reason           VARCHAR NOT NULL,  -- why: exceeds the position's debt or collateral, or would make it unhealthy
    protocol         VARCHAR,           -- morpho_blue | aave_v3. Aave: market_id is the pool; event is the Pool call (Withdraw, Borrow, Repay, Supply, UserEModeSet, ReserveUsedAsCollateralEnabled/Disabled); amounts in the asset's base units (eMode: category ids; collateral switches: 1 on / 0 off)
    asset            VARCHAR            -- Aave: the reserve of the call (NULL for eMode and for Morpho)
);
COMMENT ON TABLE clipped_actions IS 'Historical borrower actions that a counterfactual position could not take in full (DESIGN §4 rule 3)';

CREATE TABLE IF NOT EXISTS position_outcomes (
    scenario_id          VARCHAR NOT NULL,  -- the scenario (scenarios.scenario_id)
    market_id            VARCHAR NOT NULL,  -- Morpho market id
    borrower             VARCHAR NOT NULL,  -- the position's owner
    borrow_shares        HUGEINT NOT NULL,  -- at the end of the replayed range
    collateral           HUGEINT NOT NULL,  -- collateral base units at the end (maker_clipper: with the unsold lot of an auction still running)
    debt                 HUGEINT NOT NULL,  -- loan base units at the last totals (maker_clipper: with the debt a running auction has not recovered)
    collateral_value     HUGEINT NOT NULL,  -- at the last price, loan base units
    unrealised_bad_debt  HUGEINT NOT NULL,  -- max(0, debt - collateral_value): insolvent and still open
    max_ltv              DOUBLE NOT NULL,   -- highest LTV seen at a price update or own action
    pre_liquidations     UINTEGER NOT NULL,  -- pre-liquidation calls on the position
    liquidations         UINTEGER NOT NULL,  -- liquidation calls on the position
    clipped_actions      UINTEGER NOT NULL,  -- the borrower's historical actions clipped (rows of clipped_actions)
    first_action_block   UINTEGER,          -- first (pre-)liquidation, NULL if none
    unprofitable_skips   UINTEGER NOT NULL, -- times an allowed action did not pay the liquidator (so was not taken)
    soft_zone_blocks     UINTEGER NOT NULL, -- blocks spent in the mechanism's soft zone (pre-liquidation: preLltv < LTV <= LLTV), seen at price updates and own actions
    protocol             VARCHAR,           -- morpho_blue | aave_v3. Aave: the account across the pool's reserves; borrow_shares 0, collateral, debt and values in the base currency (USD, 8 decimals), max_ltv total debt / total collateral, soft zone 1 <= HF < preHF
    min_health_factor    DOUBLE,            -- Aave: the lowest health factor seen at price updates and own actions (NULL without debt or for Morpho)
    band_loan_assets     HUGEINT NOT NULL,  -- loan base units the position's bands hold at the end (llamma_bands; counted against the debt in unrealised_bad_debt)
    band_loss            HUGEINT NOT NULL,  -- llamma_bands: value the borrower lost to arbitrageurs converting its bands, each trade valued at its oracle price (fees netted), loan base units
    band_loss_vs_holding HUGEINT NOT NULL,  -- llamma_bands: the bands' value versus holding the collateral put in them, summed over spells in bands (each at its last price; < 0: converting protected value)
    band_fees            HUGEINT NOT NULL,  -- llamma_bands: AMM fees arbitrageurs paid into the position's bands (kept by the borrower, already inside band_loss)
    arbitrage_profit     HUGEINT NOT NULL   -- llamma_bands: what arbitrageurs trading against the position's bands kept, net of outside slippage
);
COMMENT ON TABLE position_outcomes IS 'Each borrower position at the end of each scenario, keyed by (scenario_id, market_id, borrower)';

CREATE TABLE IF NOT EXISTS scenario_market_summary (
    scenario_id                      VARCHAR NOT NULL,  -- the scenario (scenarios.scenario_id)
    scenario_name                    VARCHAR NOT NULL,  -- its name in the scenario file
    market_id                        VARCHAR NOT NULL,  -- Morpho market id
    borrowers                        BIGINT NOT NULL,   -- positions that had debt at some point
    pre_liquidations                 BIGINT NOT NULL,   -- pre-liquidation calls
    pre_liquidation_position_blocks  BIGINT NOT NULL,   -- (position, block) pairs with pre-liquidation calls: fewer than calls when a liquidator split
    liquidations                     BIGINT NOT NULL,  -- liquidation calls
    positions_pre_liquidated         BIGINT NOT NULL,  -- distinct positions with at least one pre-liquidation
    positions_liquidated             BIGINT NOT NULL,  -- distinct positions with at least one liquidation
    positions_fully_closed           BIGINT NOT NULL,   -- actions that left a position without debt
    debt_repaid                      HUGEINT NOT NULL,  -- loan base units liquidators and takers repaid (llamma_bands: the bands' own loan asset that repaid the rest is liquidation_actions.band_loan_assets)
    collateral_seized                HUGEINT NOT NULL,  -- collateral base units
    borrower_penalty                 HUGEINT NOT NULL,  -- loan base units, soft + hard
    borrower_penalty_soft            HUGEINT NOT NULL,  -- paid in pre-liquidations
    borrower_penalty_hard            HUGEINT NOT NULL,  -- paid in liquidations
    bad_debt_realised                HUGEINT NOT NULL,  -- loan base units
    bad_debt_unrealised              HUGEINT NOT NULL,  -- insolvent positions still open at the end
    bad_debt_daily_p95               HUGEINT NOT NULL,  -- 95th percentile of bad debt realised per UTC day (days with none count as 0)
    bad_debt_daily_p99               HUGEINT NOT NULL,  -- 99th percentile of the same
    bad_debt_worst_day               HUGEINT NOT NULL,  -- the most bad debt realised in one day
    liquidator_gas_cost              HUGEINT NOT NULL,  -- loan base units
    liquidator_slippage_cost         HUGEINT NOT NULL,  -- loan base units
    liquidator_profit                HUGEINT NOT NULL,  -- net of gas and slippage, loan base units
    max_ltv_reached                  DOUBLE,  -- highest LTV any position reached (ratio)
    collateral_sold_peak_block       HUGEINT NOT NULL,  -- most collateral seized in one block
    collateral_sold_p99_block        HUGEINT NOT NULL,  -- 99th percentile over blocks with seizures
    clipped_actions                  BIGINT NOT NULL,  -- historical borrower actions clipped
    unprofitable_skips               BIGINT NOT NULL,   -- allowed actions the liquidator declined as unprofitable
    positions_in_soft_zone           BIGINT NOT NULL,   -- positions that entered the soft zone (pre-liquidation window)
    soft_zone_blocks                 BIGINT NOT NULL,   -- blocks spent there, summed over positions (x 12 s for time)
    keeper_incentive                 HUGEINT NOT NULL,  -- paid by the protocol to callers (Maker tip + chip), loan base units
    reserves_change                  HUGEINT NOT NULL,  -- the protocol's own balance change (Maker, Compound III), loan base units
    protocol                         VARCHAR,           -- morpho_blue | aave_v3 (Aave: one row per pool, amounts in its base currency, USD with 8 decimals)
    band_loss                        HUGEINT NOT NULL,  -- llamma_bands: value borrowers lost to arbitrageurs converting their bands, loan base units
    band_loss_vs_holding             HUGEINT NOT NULL,  -- llamma_bands: borrowers' loss versus holding the collateral (< 0: a gain)
    band_fees                        HUGEINT NOT NULL,  -- llamma_bands: AMM fees paid into the bands by arbitrageurs
    arbitrage_profit                 HUGEINT NOT NULL,  -- llamma_bands: arbitrageurs' take net of outside slippage
    PRIMARY KEY (scenario_id, market_id)
);
COMMENT ON TABLE scenario_market_summary IS 'Per scenario x market outcome metrics, keyed by (scenario_id, market_id)';

CREATE TABLE IF NOT EXISTS baseline_validation (
    kind                        VARCHAR NOT NULL,   -- liquidation (a Liquidate log) | pre_liquidation (a PreLiquidate log)
    market_id                   VARCHAR NOT NULL,  -- Morpho market id
    borrower                    VARCHAR NOT NULL,  -- the position's owner
    liquidator                  VARCHAR,            -- Liquidate's caller, PreLiquidate's liquidator
    block_number                UINTEGER NOT NULL,  -- block of the historical log
    log_index                   UINTEGER NOT NULL,  -- of the historical Liquidate / PreLiquidate log
    transaction_hash            VARCHAR,  -- its transaction
    price                       VARCHAR NOT NULL,   -- oracle price in force before the log (1e36-scaled)
    ltv                         DOUBLE,             -- the position's LTV as the call saw it (ratio)
    liquidatable                BOOLEAN NOT NULL,   -- the engine's rule allowed it: unhealthy (Morpho _isHealthy), or for a pre-liquidation authorised and preLltv < LTV <= LLTV
    first_liquidatable_block    UINTEGER,           -- first block of the unhealthy spell that ended here
    blocks_liquidatable_before  UINTEGER,           -- block_number - first_liquidatable_block
    repaid_assets               HUGEINT NOT NULL,   -- the event's amounts (loan / collateral base units)
    repaid_shares               HUGEINT NOT NULL,  -- the event's repaid borrow shares
    seized_assets               HUGEINT NOT NULL,  -- the event's seized collateral (base units)
    bad_debt_assets             HUGEINT NOT NULL,  -- the event's bad debt (0 for pre-liquidations)
    bad_debt_shares             HUGEINT NOT NULL,  -- the event's bad-debt shares
    recomputed_from             VARCHAR,            -- seized_assets | repaid_shares: the input that reproduced the event, NULL if none did
    recomputed_repaid_assets    HUGEINT,            -- the engine's amounts from that input (or from the last input tried)
    recomputed_repaid_shares    HUGEINT,  -- the engine's repaid shares
    recomputed_seized_assets    HUGEINT,  -- the engine's seized collateral
    recomputed_bad_debt_assets  HUGEINT,  -- the engine's bad debt
    recomputed_bad_debt_shares  HUGEINT,  -- the engine's bad-debt shares
    amounts_match               BOOLEAN NOT NULL,   -- every recomputed amount equals the event's, to the wei
    problem                     VARCHAR,            -- why not: the contract error or the amounts that differ
    PRIMARY KEY (market_id, block_number, log_index)
);
COMMENT ON TABLE baseline_validation IS 'Each historical Liquidate and PreLiquidate checked by the engine in shadow: was the position liquidatable by the engine''s rule, since when, and are the amounts recomputed from the event''s input equal to the event''s. Keyed by (market_id, block_number, log_index)';

CREATE TABLE IF NOT EXISTS schema_version (
    schema_sha256  VARCHAR NOT NULL,   -- sha256 of the sql/schema.sql that last set up this file
    applied_at     TIMESTAMP NOT NULL  -- when it was applied (UTC)
);
COMMENT ON TABLE schema_version IS 'One row: the version of sql/schema.sql this file was set up with; a write runs the schema''s statements again only when the file differs';
