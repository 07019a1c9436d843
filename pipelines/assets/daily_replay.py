"""The incremental daily replay: a self-dependent daily-partitioned asset (DESIGN §6).

Each partition resumes from the previous day's snapshots (``TimeWindowPartitionMapping`` one day
back onto itself; the first day from genesis) and replays that day's events for every scenario of
the set, in chunks: one step checks the whole set, then each chunk of scenarios is its own step
(the multiprocess executor runs them in parallel, a Celery or Kubernetes executor fans them out),
resuming its own snapshots, and one step in the ``duckdb_writer`` pool writes the day's rows of
every chunk in one transaction. A changed scenario set, chunk count or engine version has no
snapshot of its own yet: its first run replays from the lake's first day by itself
(softliq_core.steps.replay_stretch). A backfill of a range is one run (single-run backfill policy):
the range is one stretch from the snapshot before it, and every day of it is materialised.
"""

from collections.abc import Iterator
from datetime import date

import dagster as dg

from pipelines.assets.replay import REPLAY_INPUTS, fan_out
from pipelines.resources import (
    ChainSourceResource,
    LakeResource,
    ScenarioSetResource,
    WarehouseResource,
)
from softliq_core import steps
from softliq_core.replay.scenario import Scenario

REPLAY_STATE = "replay_state"


@dg.op(
    ins={name: dg.In(dg.Nothing) for name in ("previous_day", *REPLAY_INPUTS)},
    out=dg.DynamicOut(list),
)
def plan_day_chunks(
    context: dg.OpExecutionContext,
    source: ChainSourceResource,
    lake: LakeResource,
    scenarios: ScenarioSetResource,
) -> Iterator[dg.DynamicOutput[list[Scenario]]]:
    """Check the whole scenario set for the day, then fan it out in chunks (one step each)."""
    chain = source.open()
    day = _last_day(context)
    chunks = steps.plan_day_chunks(
        lake.lake(), chain.chain_id, scenarios.load(), scenarios.chunks, day,
        steps.aave_setup(chain),
    )  # fmt: skip
    yield from fan_out(context, chunks)


def _last_day(context: dg.OpExecutionContext) -> date:
    """The run's day, or the last of its days: a backfill of a range runs once (one stretch from
    the snapshot before the range; the snapshots of its last day and month-ends are written)."""
    return date.fromisoformat(context.partition_keys[-1])


@dg.op
def replay_day_chunk(
    context: dg.OpExecutionContext,
    chunk: list[Scenario],
    source: ChainSourceResource,
    lake: LakeResource,
) -> steps.ReplayedStretch:
    """One chunk's replay of the run's days from its snapshot of the day before them (its
    snapshot of the last day written to the lake); the rows go to the writer step."""
    chain = source.open()
    day = _last_day(context)
    stretch = steps.replay_stretch(
        lake.lake(), chain.chain_id, chunk, day, steps.aave_setup(chain), lake.snapshot_keep_days
    )
    if len(stretch.days) > len(context.partition_keys):
        context.log.warning(
            f"no snapshot of the day before {context.partition_keys[0]} for this chunk, scenario "
            f"set and engine version: replayed {len(stretch.days)} days from {stretch.days[0]}"
        )
    return stretch


@dg.op(pool="duckdb_writer")
def write_day_outcomes(
    context: dg.OpExecutionContext,
    stretches: list[steps.ReplayedStretch],
    lake: LakeResource,
    warehouse: WarehouseResource,
) -> None:
    """The single DuckDB writer: the day's rows of every chunk in one transaction."""
    steps.store_replayed(stretches, warehouse.path, lake.lake())
    longest = max(stretches, key=lambda s: len(s.days))
    context.add_output_metadata(
        {
            "chunks": len(stretches),
            "days_replayed": len(longest.days),
            "from_day": str(longest.days[0]),
            "engine_actions": sum(s.outcomes.liquidation_actions.height for s in stretches),
        }
    )


def daily_replay_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.graph_asset(
        name=REPLAY_STATE,
        partitions_def=partitions,
        ins={
            REPLAY_STATE: dg.AssetIn(
                key=REPLAY_STATE,
                partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1),
                dagster_type=dg.Nothing,
            ),
            **{name: dg.AssetIn(dagster_type=dg.Nothing) for name in REPLAY_INPUTS},
        },
        group_name="outcomes",
        kinds={"pickle", "duckdb"},
        backfill_policy=dg.BackfillPolicy.single_run(),
        description="The replay of every scenario at the end of each day (snapshots under the lake's replay_snapshots/, one per scenario chunk), resumed from the day before in parallel chunks; writes the day's liquidation_actions and clipped_actions, and position_outcomes and scenario_market_summary as of the newest day",
    )
    def replay_state(replay_state, morpho_events, blocks, oracle_prices, markets, aave_events):  # type: ignore[no-untyped-def]
        chunks = plan_day_chunks(
            previous_day=replay_state, morpho_events=morpho_events, blocks=blocks,
            oracle_prices=oracle_prices, markets=markets, aave_events=aave_events,
        )  # fmt: skip
        return write_day_outcomes(chunks.map(replay_day_chunk).collect())

    return replay_state
