-- Views over the float sweeps written beside the DuckDB file (`softliq sweep`, the `float_sweep`
-- asset): `sweeps/sweep=<set>/*.parquet`, the set's name as the `sweep` column. `{sweeps}` is
-- replaced by that directory; a view is made only when some sweep has written its file.

-- One row per (sweep, scenario, market): the sums over the positions the scenario simulated.
CREATE OR REPLACE VIEW float_sweep_summary AS
    SELECT * FROM read_parquet('{sweeps}/sweep=*/summary.parquet', hive_partitioning = true, union_by_name = true);

-- One row per (sweep, scenario, market, simulated position); amounts are floats in base units.
CREATE OR REPLACE VIEW float_sweep_positions AS
    SELECT * FROM read_parquet('{sweeps}/sweep=*/positions.parquet', hive_partitioning = true, union_by_name = true);

-- The scenarios each sweep ran, as the `scenarios` table keeps them (canonical definition JSON).
CREATE OR REPLACE VIEW float_sweep_scenarios AS
    SELECT * FROM read_parquet('{sweeps}/sweep=*/scenarios.parquet', hive_partitioning = true, union_by_name = true);
