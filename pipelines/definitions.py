"""The Dagster definitions: one module, loaded by workspace.yaml, the CLI and the tests."""

from __future__ import annotations

import dagster as dg

from pipelines.assets.lake import decode_assets, feeds, ingest_assets
from pipelines.assets.replay import (
    baseline_validation,
    governance_report,
    markets,
    oracle_prices,
    rate_samples,
    scenario_outcomes,
)
from pipelines.resources import (
    LakeResource,
    ScenarioSetResource,
    WarehouseResource,
    chain_source_resource,
)
from pipelines.settings import Settings

INGEST_JOB = "ingest_daily"
REPLAY_JOB = "replay_scenarios"


def build_definitions(settings: Settings) -> dg.Definitions:
    daily = dg.DailyPartitionsDefinition(
        start_date=settings.start_date.isoformat(), end_date=settings.end_date.isoformat()
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
    return dg.Definitions(
        assets=[*lake_assets, *replay_assets],
        jobs=[ingest_job, replay_job],
        schedules=[
            dg.build_schedule_from_partitioned_job(ingest_job, hour_of_day=1, minute_of_hour=0)
        ],
        resources={
            "source": chain_source_resource(settings),
            "lake": LakeResource(root=settings.lake_root),
            "warehouse": WarehouseResource(path=settings.duckdb_path),
            "scenarios": ScenarioSetResource(path=settings.scenario_file),
        },
    )


defs = build_definitions(Settings.from_env())
