"""The Dagster definitions: one module, loaded by workspace.yaml, the CLI and the tests."""

from __future__ import annotations

import dagster as dg

from pipelines.assets.daily_replay import daily_replay_asset
from pipelines.assets.lake import decode_assets, feeds, ingest_assets
from pipelines.assets.replay import (
    baseline_validation,
    governance_report,
    history_conserves_shares_and_collateral,
    markets,
    oracle_prices,
    rate_samples,
    scenario_outcomes,
)
from pipelines.assets.sweep import float_sweep, outcomes_are_physical
from pipelines.resources import (
    LakeResource,
    ScenarioSetResource,
    WarehouseResource,
    chain_source_resource,
)
from pipelines.schedules import ingest_yesterday_schedule
from pipelines.settings import Settings

INGEST_JOB = "ingest_daily"
REPLAY_JOB = "replay_scenarios"
DAILY_JOB = "ingest_and_replay_daily"
SWEEP_JOB = "float_sweep"


def build_definitions(settings: Settings) -> dg.Definitions:
    daily = dg.DailyPartitionsDefinition(
        start_date=settings.start_date.isoformat(),
        end_date=settings.end_date.isoformat() if settings.end_date else None,
    )
    lake_assets = [feeds, ingest_assets(daily), decode_assets(daily)]
    ingest_job = dg.define_asset_job(
        INGEST_JOB,
        selection=dg.AssetSelection.assets(*lake_assets),
        description="Ingest and decode days of chain history into the lake",
    )
    replay_assets = [
        markets,
        rate_samples,
        oracle_prices,
        scenario_outcomes,
        baseline_validation,
        governance_report,
    ]
    replay_job = dg.define_asset_job(
        REPLAY_JOB,
        selection=dg.AssetSelection.assets(*replay_assets),
        description="Reference tables, oracle prices, the scenario replay, the DuckDB outcomes and the report",
    )
    replay_state = daily_replay_asset(daily)
    daily_job = dg.define_asset_job(
        DAILY_JOB,
        selection=dg.AssetSelection.assets(
            *lake_assets, markets, rate_samples, oracle_prices, replay_state
        ),
        description="One day: ingest and decode it, refresh the reference tables and oracle prices, then replay the day for every scenario from the day before's snapshot",
    )
    sweep_job = dg.define_asset_job(
        SWEEP_JOB,
        selection=dg.AssetSelection.assets(float_sweep),
        description="The sweep scenario set over the lake in the float kernel (a grid of thousands of scenarios in minutes), read by the DuckDB file's float_sweep_* views",
    )
    return dg.Definitions(
        assets=[*lake_assets, *replay_assets, replay_state, float_sweep],
        asset_checks=[history_conserves_shares_and_collateral, outcomes_are_physical],
        jobs=[ingest_job, replay_job, daily_job, sweep_job],
        schedules=[ingest_yesterday_schedule(daily_job, daily)],
        resources={
            "source": chain_source_resource(settings),
            "lake": LakeResource(
                root=settings.lake_root, snapshot_keep_days=settings.snapshot_keep_days
            ),
            "warehouse": WarehouseResource(path=settings.duckdb_path),
            "scenarios": ScenarioSetResource(
                path=settings.scenario_file, chunks=settings.scenario_chunks
            ),
            "sweep_scenarios": ScenarioSetResource(
                path=settings.sweep_scenario_file, chunks=settings.sweep_chunks
            ),
        },
    )


defs = build_definitions(Settings.from_env())


def replay_job() -> dg.JobDefinition:
    """The replay job, rebuilt from the environment in each process that runs a step: what
    ``dg.reconstructable`` needs for the multiprocess executor outside a code location."""
    return build_definitions(Settings.from_env()).resolve_job_def(REPLAY_JOB)


def daily_job() -> dg.JobDefinition:
    """The daily job, likewise (a backfill of its days under the multiprocess executor)."""
    return build_definitions(Settings.from_env()).resolve_job_def(DAILY_JOB)


def sweep_job() -> dg.JobDefinition:
    """The float sweep's job, likewise (its chunks under the multiprocess executor)."""
    return build_definitions(Settings.from_env()).resolve_job_def(SWEEP_JOB)
