"""Reference tables, oracle prices, the scenario replay and its DuckDB outcome tables."""

import time
from collections.abc import Iterator
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
from softliq_core.oracle_checks import (
    DEFAULT_JUMP_THRESHOLD,
    DEFAULT_STALE_GRACE,
    truth_mismatches,
)
from softliq_core.rate_samples import DEFAULT_CADENCE, DEFAULT_REFINE_BUDGET
from softliq_core.replay.run import Outcomes
from softliq_core.replay.scenario import Scenario
from softliq_core.replay.trajectories import trajectories, trajectory_problems
from softliq_core.sources.base import KnowsOraclePrices
from softliq_core.tables import MORPHO_EVENTS

# The reference tables are rebuilt from the lake as a whole and keep records of how (rate_sampling,
# oracle_pricing): runs of different days take turns on them (limit 1, data/dagster_home/dagster.yaml)
# so two builds never interleave their writes.
REFERENCE_POOL = "lake_reference"


@dg.asset(
    deps=["morpho_events"],
    group_name="reference",
    kinds={"parquet"},
    pool=REFERENCE_POOL,
    description="Each Morpho market: params, tokens, decimals and its oracle recipe (feeds, scale factor)",
)
def markets(source: ChainSourceResource, lake: LakeResource) -> dg.MaterializeResult:
    table = steps.build_reference(source.open(), lake.lake())
    return dg.MaterializeResult(metadata={"markets": table.height})


class RateSampling(dg.Config):
    """How often event-less oracle inputs are read by historical eth_call (rate_samples.py)."""

    cadence_blocks: int = DEFAULT_CADENCE
    refine_reads: int = DEFAULT_REFINE_BUDGET  # per interval, to place a change to the block


@dg.asset(
    deps=["markets", "feeds", "blocks"],
    group_name="reference",
    kinds={"parquet"},
    pool=REFERENCE_POOL,
    description="Oracle inputs that emit no event (ERC-4626 convertToAssets(sample), adapter feeds such as the wstETH/stETH exchange rate) read at sampled blocks; each value in force from the next block",
)
def rate_samples(
    config: RateSampling, source: ChainSourceResource, lake: LakeResource
) -> dg.MaterializeResult:
    built = steps.build_rate_samples(
        source.open(), lake.lake(), config.cadence_blocks, config.refine_reads
    )
    return dg.MaterializeResult(
        metadata={
            "inputs": built.table.select("contract", "call", "sample").n_unique(),
            "samples": built.table.height,
            "cadence_blocks": config.cadence_blocks,
            "eth_calls": built.reads,  # blocks read this run: about a day's when it extended
            "extended_earlier_samples": built.extended,
        }
    )


class OraclePriceChecks(dg.Config):
    """Thresholds of the flagging checks on oracle_prices (they warn, never fail)."""

    jump_threshold: float = DEFAULT_JUMP_THRESHOLD  # relative move between consecutive prices
    stale_grace_seconds: int = DEFAULT_STALE_GRACE  # past the heartbeat before an answer is stale


def _table(frame: pl.DataFrame, limit: int = 20) -> dg.MetadataValue:
    """The first rows of a frame as a Markdown table for the Dagster UI."""
    if frame.is_empty():
        return dg.MetadataValue.md("none")
    head = frame.head(limit)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in head.iter_rows()]
    more = f"\n\n... and {frame.height - limit} more" if frame.height > limit else ""
    return dg.MetadataValue.md("\n".join(lines) + more)


@dg.asset(
    deps=["oracle_rounds", "markets", "feeds", "blocks", "rate_samples"],
    group_name="reference",
    kinds={"parquet"},
    pool=REFERENCE_POOL,
    description="Each market's IOracle.price() at every change of its inputs (feed rounds, aggregator switches, sampled rates), exact 1e36-scaled",
    check_specs=[
        dg.AssetCheckSpec("prices_positive", asset="oracle_prices"),
        dg.AssetCheckSpec("every_market_priced_from_its_inputs", asset="oracle_prices", blocking=True, description="Every market's oracle has a known shape (MorphoChainlinkOracleV2 or V1) and every input it reads has history: feed rounds or sampled rates. A market that fails is named with the input, left out, and the replay does not run"),
        dg.AssetCheckSpec("prices_equal_the_sources_oracle", asset="oracle_prices", description="Where the source knows the price its oracles returned (the synthetic chain), the price in force at every historical oracle read (each Liquidate, PreLiquidate, Borrow, WithdrawCollateral) in the days this run priced equals it"),
        dg.AssetCheckSpec("feeds_within_heartbeat", asset="oracle_prices", description="Flags (warns, does not fail) every stretch in which a feed's answer in force was older than its heartbeat"),
        dg.AssetCheckSpec("price_jumps", asset="oracle_prices", description="Lists (warns, does not fail) consecutive prices of a market that moved by more than the threshold, in the days this run priced"),
    ],
)  # fmt: skip
def oracle_prices(config: OraclePriceChecks, source: ChainSourceResource, lake: LakeResource):  # type: ignore[no-untyped-def]
    chain = source.open()
    built = steps.build_oracle_prices(
        lake.lake(), chain.chain_id, strict=False, jump_threshold=config.jump_threshold,
        stale_grace_seconds=config.stale_grace_seconds,
    )  # fmt: skip
    prices = built.prices  # the days priced by this run, after the prices in force before them
    yield dg.MaterializeResult(
        metadata={
            "prices_priced": prices.filter(pl.col("block_number") >= built.since_block).height,
            "markets": prices["market_id"].n_unique(),
            # a daily run prices its new day; a re-ingested day, from it; a changed market, all
            "priced_from_day": str(built.priced_from or "none: every day's inputs as before"),
            "days_written": len(built.days_written),
        }
    )
    non_positive = prices.filter(pl.col("price").cast(pl.Float64) <= 0).height
    yield dg.AssetCheckResult(
        check_name="prices_positive",
        passed=non_positive == 0,
        metadata={"non_positive": non_positive},
    )
    yield dg.AssetCheckResult(
        check_name="every_market_priced_from_its_inputs",
        passed=not built.unpriced,
        metadata={
            "unpriced_markets": len(built.unpriced),
            "problems": "; ".join(built.unpriced.values()) or "none",
        },
    )
    if isinstance(chain, KnowsOraclePrices):
        truth = chain.oracle_truth().filter(pl.col("block_number") >= built.since_block)
        wrong = truth_mismatches(prices, truth)
        yield dg.AssetCheckResult(
            check_name="prices_equal_the_sources_oracle",
            passed=wrong.is_empty(),
            metadata={"evaluated": True, "oracle_reads": truth.height, "mismatches": wrong.height,
                      "first_mismatches": _table(wrong, 10)},
        )  # fmt: skip
    else:
        yield dg.AssetCheckResult(
            check_name="prices_equal_the_sources_oracle",
            passed=True,
            metadata={
                "evaluated": False,
                "reason": "the source has no ground truth of its oracles",
            },
        )
    yield dg.AssetCheckResult(
        check_name="feeds_within_heartbeat",
        passed=True,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{built.stale.height} stale interval(s) flagged in the days priced" if built.stale.height else "no stale interval in the days priced",
        metadata={"stale_intervals": built.stale.height, "intervals": _table(built.stale)},
    )  # fmt: skip
    yield dg.AssetCheckResult(
        check_name="price_jumps",
        passed=True,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{built.jumps.height} jump(s) above {config.jump_threshold:.0%} listed" if built.jumps.height else "no jump above the threshold",
        metadata={"jumps": built.jumps.height, "threshold": config.jump_threshold, "listed": _table(built.jumps)},
    )  # fmt: skip


OUTCOME_TABLES = {
    "scenarios": "The scenarios replayed, with their canonical definitions",
    "liquidation_actions": "Every liquidation and pre-liquidation per scenario",
    "clipped_actions": "Historical borrower actions a counterfactual position could not take",
    "position_outcomes": "Each position at the end of each scenario",
    "scenario_market_summary": "Per scenario x market outcome metrics",
}


# One Nothing input per upstream asset, not a fan-in list: oracle_prices' blocking check is a
# second source of its input, and Dagster allows no fan-in of multi-source inputs.
REPLAY_INPUTS = ("morpho_events", "oracle_prices", "markets", "blocks", "aave_events")


@dg.op(ins={dep: dg.In(dg.Nothing) for dep in REPLAY_INPUTS}, out=dg.DynamicOut(list))
def plan_scenario_chunks(
    context: dg.OpExecutionContext,
    source: ChainSourceResource,
    lake: LakeResource,
    scenarios: ScenarioSetResource,
) -> Iterator[dg.DynamicOutput[list[Scenario]]]:
    """Validate the whole scenario set, then fan it out in chunks (one step each)."""
    chain = source.open()
    chunks = steps.plan_scenario_chunks(
        lake.lake(), chain.chain_id, scenarios.load(), scenarios.chunks, steps.aave_setup(chain)
    )
    yield from fan_out(context, chunks)


def fan_out(
    context: dg.OpExecutionContext, chunks: list[list[Scenario]]
) -> Iterator[dg.DynamicOutput[list[Scenario]]]:
    """One dynamic output per chunk of scenarios: a step each downstream."""
    context.log.info(f"{sum(map(len, chunks))} scenarios in {len(chunks)} chunk(s)")
    for index, chunk in enumerate(chunks):
        yield dg.DynamicOutput(chunk, mapping_key=f"chunk_{index}")


@dg.op
def replay_scenario_chunk(
    context: dg.OpExecutionContext,
    chunk: list[Scenario],
    source: ChainSourceResource,
    lake: LakeResource,
) -> Outcomes:
    """Replay one chunk of scenarios over every Morpho market (divergence-driven) and the Aave pool."""
    started = time.perf_counter()
    chain = source.open()
    outcomes = steps.replay_scenarios(lake.lake(), chain.chain_id, chunk, steps.aave_setup(chain))
    context.log.info(
        f"{len(chunk)} scenarios in {time.perf_counter() - started:.1f}s: "
        f"{outcomes.liquidation_actions.height} engine actions"
    )
    return outcomes


@dg.op(
    pool="duckdb_writer",
    out={name: dg.Out(dg.Nothing) for name in OUTCOME_TABLES},
)
def write_scenario_outcomes(
    context: dg.OpExecutionContext,
    chunks: list[Outcomes],
    lake: LakeResource,
    warehouse: WarehouseResource,
):  # type: ignore[no-untyped-def]  (several Nothing outputs: no tuple to annotate)
    """The single DuckDB writer: every chunk's rows in one transaction (delete, then insert)."""
    steps.store_outcomes(chunks, warehouse.path, lake.lake())
    for name in OUTCOME_TABLES:
        rows = sum(getattr(chunk, name).height for chunk in chunks)
        context.add_output_metadata({"rows": rows}, output_name=name)


@dg.graph_multi_asset(
    outs={
        name: dg.AssetOut(group_name="outcomes", kinds={"duckdb"}, description=text, dagster_type=dg.Nothing)
        for name, text in OUTCOME_TABLES.items()
    },
    ins={dep: dg.AssetIn(dagster_type=dg.Nothing) for dep in REPLAY_INPUTS},
)  # fmt: skip
def scenario_outcomes(morpho_events, oracle_prices, markets, blocks, aave_events):  # type: ignore[no-untyped-def]
    """The scenario set replayed in parallel chunks, written to DuckDB by one writer step."""
    chunks = plan_scenario_chunks(
        morpho_events=morpho_events, oracle_prices=oracle_prices, markets=markets, blocks=blocks,
        aave_events=aave_events,
    )  # fmt: skip
    return write_scenario_outcomes(chunks.map(replay_scenario_chunk).collect())


@dg.asset_check(
    asset="scenario_market_summary",
    description="Replaying history, every market's borrow and supply shares equal the sum over positions, and no balance goes negative",
)
def history_conserves_shares_and_collateral(
    source: ChainSourceResource, lake: LakeResource
) -> dg.AssetCheckResult:
    events = lake.lake().read("morpho_events", MORPHO_EVENTS, source.open().chain_id)
    paths = trajectories(events)
    problems = trajectory_problems(paths)
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "problems": "; ".join(problems) or "none",
            "events": events.height,
            "position_states_checked": paths.positions.height,
        },
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
