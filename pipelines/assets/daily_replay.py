"""The incremental daily replay: a self-dependent daily-partitioned asset (DESIGN §6).

Each partition resumes from the previous day's snapshot (``TimeWindowPartitionMapping`` one day
back onto itself; the first day from genesis) and replays that day's events for every scenario of
the set, then writes the day's rows to DuckDB in one transaction (the ``duckdb_writer`` pool). A
changed scenario set or engine version has no snapshot of its own yet: its first run replays from
the lake's first day by itself (softliq_core.steps.replay_through).
"""

from datetime import date

import dagster as dg

from pipelines.resources import (
    ChainSourceResource,
    LakeResource,
    ScenarioSetResource,
    WarehouseResource,
)
from softliq_core import steps

REPLAY_STATE = "replay_state"


def daily_replay_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name=REPLAY_STATE,
        partitions_def=partitions,
        deps=[
            dg.AssetDep(
                REPLAY_STATE,
                partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1),
            ),
            "morpho_events",
            "blocks",
            "oracle_prices",
            "markets",
            "aave_events",
        ],
        group_name="outcomes",
        kinds={"pickle", "duckdb"},
        pool="duckdb_writer",
        description="The replay of every scenario at the end of each day (snapshots under the lake's replay_snapshots/), resumed from the day before; writes the day's liquidation_actions and clipped_actions, and position_outcomes and scenario_market_summary as of the newest day",
    )
    def replay_state(
        context: dg.AssetExecutionContext,
        source: ChainSourceResource,
        lake: LakeResource,
        warehouse: WarehouseResource,
        scenarios: ScenarioSetResource,
    ) -> dg.MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        chain = source.open()
        replayed = steps.replay_through(
            lake.lake(), chain.chain_id, scenarios.load(), day, warehouse.path,
            steps.aave_setup(chain),
        )  # fmt: skip
        if len(replayed) > 1:
            context.log.warning(
                f"no snapshot of the day before for this scenario set and engine version: "
                f"replayed {len(replayed)} days from {replayed[0]}"
            )
        return dg.MaterializeResult(
            metadata={"days_replayed": len(replayed), "from_day": str(replayed[0])}
        )

    return replay_state
