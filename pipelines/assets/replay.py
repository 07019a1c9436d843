"""Reference tables, oracle prices, the scenario replay and its DuckDB outcome tables."""

from pathlib import Path

import dagster as dg
import polars as pl

from pipelines.resources import (
    ChainSourceResource,
    LakeResource,
    ScenarioSetResource,
    WarehouseResource,
)
from softliq_core import steps
from softliq_core.replay.validation import conservation_problems, replay_history
from softliq_core.tables import MORPHO_EVENTS


@dg.asset(
    deps=["morpho_events"],
    group_name="reference",
    kinds={"parquet"},
    description="Each Morpho market: params, tokens, decimals and its oracle recipe (feeds, scale factor)",
)
def markets(source: ChainSourceResource, lake: LakeResource) -> dg.MaterializeResult:
    table = steps.build_reference(source.open(), lake.lake())
    return dg.MaterializeResult(metadata={"markets": table.height})


@dg.asset(
    deps=["oracle_rounds", "markets", "feeds", "blocks"],
    group_name="reference",
    kinds={"parquet"},
    description="Each market's IOracle.price() after every round of its feeds, exact 1e36-scaled",
    check_specs=[dg.AssetCheckSpec("prices_positive", asset="oracle_prices")],
)
def oracle_prices(source: ChainSourceResource, lake: LakeResource):  # type: ignore[no-untyped-def]
    prices = steps.build_oracle_prices(lake.lake(), source.open().chain_id)
    yield dg.MaterializeResult(metadata={"prices": prices.height})
    non_positive = prices.filter(pl.col("price").cast(pl.Float64) <= 0).height
    yield dg.AssetCheckResult(
        check_name="prices_positive",
        passed=non_positive == 0,
        metadata={"non_positive": non_positive},
    )


OUTCOME_SPECS = [
    dg.AssetSpec(name, deps=["morpho_events", "oracle_prices", "markets", "blocks"], group_name="outcomes", kinds={"duckdb"}, description=text)
    for name, text in [
        ("scenarios", "The scenarios replayed, with their canonical definitions"),
        ("liquidation_actions", "Every liquidation and pre-liquidation per scenario"),
        ("clipped_actions", "Historical borrower actions a counterfactual position could not take"),
        ("position_outcomes", "Each position at the end of each scenario"),
        ("scenario_market_summary", "Per scenario x market outcome metrics"),
    ]
]  # fmt: skip


@dg.multi_asset(
    specs=OUTCOME_SPECS,
    check_specs=[
        dg.AssetCheckSpec("history_conserves_shares_and_collateral", asset="scenario_market_summary", description="Replaying history, every market's borrow and supply shares equal the sum over positions, and no balance goes negative"),
    ],
    pool="duckdb_writer",
)  # fmt: skip
def scenario_outcomes(
    source: ChainSourceResource,
    lake: LakeResource,
    warehouse: WarehouseResource,
    scenarios: ScenarioSetResource,
):  # type: ignore[no-untyped-def]
    store = lake.lake()
    chain_id = source.open().chain_id
    scenario_set = scenarios.load()
    outcomes = steps.replay_scenarios(store, chain_id, scenario_set)
    steps.store_outcomes(outcomes, warehouse.path, store)
    for spec in OUTCOME_SPECS:
        frame = getattr(outcomes, spec.key.path[-1])
        yield dg.MaterializeResult(asset_key=spec.key, metadata={"rows": frame.height})
    problems = conservation_problems(
        replay_history(store.read("morpho_events", MORPHO_EVENTS, chain_id))
    )
    yield dg.AssetCheckResult(
        asset_key="scenario_market_summary",
        check_name="history_conserves_shares_and_collateral",
        passed=not problems,
        metadata={"problems": "; ".join(problems) or "none"},
    )


@dg.asset(
    deps=["morpho_events", "oracle_prices", "markets", "blocks"],
    group_name="outcomes",
    kinds={"duckdb"},
    pool="duckdb_writer",
    description="Each historical Liquidate and PreLiquidate checked by the engine's own rules in shadow: allowed, since when, amounts recomputed to the wei",
    check_specs=[
        dg.AssetCheckSpec(
            "every_historical_liquidation_reproduced",
            asset="baseline_validation",
            description="Every historical Liquidate and PreLiquidate is allowed by the engine's rules and its amounts are recomputed exactly",
        )
    ],
)
def baseline_validation(
    source: ChainSourceResource, lake: LakeResource, warehouse: WarehouseResource
):  # type: ignore[no-untyped-def]
    table = steps.validate_baseline(lake.lake(), source.open().chain_id, warehouse.path)
    not_found = table.filter(~pl.col("liquidatable")).height
    mismatched = table.filter(~pl.col("amounts_match")).height
    yield dg.MaterializeResult(
        metadata={
            "liquidations": table.filter(pl.col("kind") == "liquidation").height,
            "pre_liquidations": table.filter(pl.col("kind") == "pre_liquidation").height,
            "not_liquidatable": not_found,
            "amounts_differ": mismatched,
            "median_blocks_liquidatable_before": table["blocks_liquidatable_before"].median(),
        }
    )
    problems = table.filter(~pl.col("liquidatable") | ~pl.col("amounts_match")).head(5)
    yield dg.AssetCheckResult(
        check_name="every_historical_liquidation_reproduced",
        passed=not_found == 0 and mismatched == 0,
        metadata={
            "not_liquidatable": not_found,
            "amounts_differ": mismatched,
            "first_problems": "; ".join(
                f"block {r['block_number']} log {r['log_index']}: {r['problem'] or 'healthy by the engine'}"
                for r in problems.iter_rows(named=True)
            )
            or "none",
        },
    )


@dg.asset(
    deps=["scenario_market_summary", "liquidation_actions"],
    group_name="outcomes",
    kinds={"markdown"},
    description="The governance report of the scenario set: recommendation, evidence, Pareto sets, charts, assumptions (data/reports/<set>/report.md)",
)
def governance_report(
    source: ChainSourceResource,
    lake: LakeResource,
    warehouse: WarehouseResource,
    scenarios: ScenarioSetResource,
) -> dg.MaterializeResult:
    scenario_file = Path(scenarios.path)
    out_dir = Path(warehouse.path).parent / "reports" / scenario_file.stem
    written = steps.write_governance_report(
        lake.lake(), source.open().chain_id, warehouse.path, scenario_file, out_dir
    )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(written)),
            "charts": len(list(out_dir.glob("*.png"))),
            "report": dg.MetadataValue.md(written.read_text()[:4000]),
        }
    )
