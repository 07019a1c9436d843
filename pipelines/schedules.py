"""The daily schedule: ingest yesterday (UTC) once the source says it is final, then replay it
(the job's incremental replay resumes from the day before's snapshot: one day of events).

Evaluated every hour; while yesterday is not final (RPC: its last block not yet ``confirmations``
below the head, or above the node's finalized block) the evaluation is skipped with the reason, and the
first evaluation that finds it final requests the run, once (the run key is the day).
"""

from datetime import date, timedelta

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from pipelines.resources import ChainSourceResource
from softliq_core.sources.base import DayNotFinalError

SCHEDULE = "ingest_yesterday_once_final"


def ingest_yesterday_schedule(
    job: UnresolvedAssetJobDefinition, partitions: dg.PartitionsDefinition
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=SCHEDULE,
        job=job,
        cron_schedule="15 * * * *",
        execution_timezone="UTC",
        description="Ingest, decode and replay yesterday (UTC) once the source says the day is final",
    )
    def ingest_yesterday(
        context: dg.ScheduleEvaluationContext, source: ChainSourceResource
    ) -> dg.RunRequest | dg.SkipReason:
        now = context.scheduled_execution_time
        day: date = now.date() - timedelta(days=1)
        key = day.isoformat()
        if key not in partitions.get_partition_keys(current_time=now):
            return dg.SkipReason(f"{key} is not one of the job's days (SOFTLIQ_START_DATE/DAYS)")
        try:
            source.open().day_block_range(day)
        except DayNotFinalError as error:
            return dg.SkipReason(f"{key} not ingested yet: {error}. Checked again next hour.")
        return dg.RunRequest(run_key=key, partition_key=key)

    return ingest_yesterday
