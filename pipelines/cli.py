"""``softliq``: run the pipeline through Dagster and read its outcomes.

``softliq demo`` ingests the embedded synthetic chain day by day, replays the default scenario set and
prints the summary; runs are recorded in ``data/dagster_home`` so ``make ui`` shows them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from pipelines.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from softliq_core.replay.float_sweep import MarketWork
    from softliq_core.store.lake import Lake

SUMMARY_QUERY = """
SELECT scenario_name AS scenario, market, pre_liquidations AS "pre-liq", liquidations AS liq,
       debt_repaid, borrower_penalty AS penalty, bad_debt_realised + bad_debt_unrealised AS bad_debt,
       liquidator_profit AS "liquidator profit", unit
FROM scenario_market_summary_tokens ORDER BY market, scenario
"""
VALIDATION_QUERY = """
SELECT count(*) AS liquidations, count(*) FILTER (liquidatable) AS found,
       count(*) FILTER (amounts_match) AS exact,
       coalesce(median(blocks_liquidatable_before), 0) AS median_lead
FROM baseline_validation
"""
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
TRY_QUERY = (
    "SELECT scenario_name, market, liquidations, borrower_penalty, unit "
    "FROM scenario_market_summary_tokens ORDER BY borrower_penalty DESC LIMIT 5;"
)


def _instance():  # type: ignore[no-untyped-def]
    import dagster as dg

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / "data" / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.get()


def run_pipeline(settings: Settings) -> None:
    """Ingest every day in one run (a single-run backfill), then replay, through Dagster."""
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from pipelines.definitions import INGEST_JOB, REPLAY_JOB, build_definitions

    defs = build_definitions(settings)
    instance = _instance()
    first, last_day = settings.start_date.isoformat(), settings.last_day.isoformat()
    for name, tags in (
        (
            INGEST_JOB,
            {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last_day},
        ),
        (REPLAY_JOB, {}),
    ):
        started = time.perf_counter()
        result = defs.resolve_job_def(name).execute_in_process(
            instance=instance, tags=tags, run_config=QUIET
        )
        if not result.success:
            raise SystemExit(f"{name} failed")
        failed_checks = [
            e.asset_check_evaluation_data.check_name
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
            and not e.asset_check_evaluation_data.passed
        ]
        print(f"{name}: done in {time.perf_counter() - started:.1f}s"
              + (f", FAILED checks: {', '.join(failed_checks)}" if failed_checks else ", all checks passed"))  # fmt: skip


def ingest_range(settings: Settings, first: date, last: date) -> None:
    """Ingest and decode ``first``..``last`` through Dagster, one run per day (each recorded, each
    resumable: a rerun rewrites its day), with a progress bar: days, blocks/s and logs/s."""
    from tqdm import tqdm

    from pipelines.definitions import INGEST_JOB, build_definitions

    if last < first:
        sys.exit(f"--to {last} is before --from {first}")
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    if settings.source == "synthetic":  # its chain is generated for the configured days
        if first < settings.start_date or last > settings.last_day:
            sys.exit(
                f"the synthetic chain covers {settings.start_date}..{settings.last_day} "
                "(SOFTLIQ_START_DATE, SOFTLIQ_DAYS)"
            )
    else:
        settings = replace(settings, start_date=first, days=len(days))
    job = build_definitions(settings).resolve_job_def(INGEST_JOB)
    instance = _instance()
    blocks = logs = 0
    started = time.perf_counter()
    with tqdm(days, unit="day", desc=f"ingest ({settings.source})", dynamic_ncols=True) as bar:
        for day in bar:
            bar.set_description(f"ingest {day}")
            result = job.execute_in_process(
                partition_key=day.isoformat(), instance=instance, run_config=QUIET,
                raise_on_error=False,
            )  # fmt: skip
            if not result.success:
                errors = [
                    e.step_failure_data.error
                    for e in result.all_events
                    if e.is_step_failure and e.step_failure_data.error is not None
                ]
                # a dg.Failure is the asset's own message (e.g. a day not final): no class name
                failures = [
                    e.message.split(": ", 1)[-1].strip() if e.cls_name == "Failure" else e.message.strip()
                    for e in errors
                ]  # fmt: skip
                bar.close()
                sys.exit(
                    f"{day} failed: {'; '.join(failures) or 'see the run in the Dagster UI'}\n"
                    f"Days before it are in the lake; resume with: softliq ingest --from {day} --to {last}"
                )
            for materialization in result.asset_materializations_for_node("raw_logs_and_blocks"):
                values = {k: v.value for k, v in materialization.metadata.items()}
                logs += int(values.get("logs", 0))  # type: ignore[call-overload]
                blocks += int(values.get("blocks", 0))  # type: ignore[call-overload]
            failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
            if failed:
                bar.write(f"{day}: FAILED checks: {', '.join(failed)}")
            elapsed = time.perf_counter() - started
            bar.set_postfix_str(f"{blocks / elapsed:,.0f} blocks/s, {logs / elapsed:,.0f} logs/s")
    print(
        f"ingested {len(days)} day(s), {blocks:,} blocks, {logs:,} logs in "
        f"{time.perf_counter() - started:.1f} s into {settings.lake_root}"
    )


def print_summary(settings: Settings) -> None:
    from softliq_core.store.warehouse import Warehouse

    summary = Warehouse(settings.duckdb_path).query(SUMMARY_QUERY)
    with pl.Config(
        tbl_rows=-1, tbl_cols=-1, tbl_width_chars=160, float_precision=2,
        tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, thousands_separator=True,
    ):  # fmt: skip
        print(summary)
    validation = Warehouse(settings.duckdb_path).query(VALIDATION_QUERY).row(0, named=True)
    print(
        f"\nBaseline validation: {validation['found']} of {validation['liquidations']} historical "
        f"liquidations and pre-liquidations found allowed by the engine's rules, {validation['exact']} with amounts "
        f"recomputed to the wei; median {validation['median_lead']} block(s) after they became "
        "liquidatable (table baseline_validation)."
    )
    print(f"\nOutcomes are in {settings.duckdb_path} (lake: {settings.lake_root}).")
    report = Path(settings.duckdb_path).parent / "reports" / Path(settings.scenario_file).stem
    if (report / "report.md").exists():
        print(f"Governance report: {report / 'report.md'}")
    print(f'Try:  .venv/bin/softliq sql "{TRY_QUERY}"')
    print("      .venv/bin/softliq sql hard_liquidations_avoided --param market=WETH/USDC")
    print("      .venv/bin/softliq sql list    (the analyst query library, sql/queries/)")


def write_governance_report(settings: Settings, scenarios: str, out: str | None) -> None:
    from softliq_core import steps
    from softliq_core.replay.scenario import ScenarioError
    from softliq_core.report.governance import ReportError

    path = _scenario_file(scenarios)
    out_dir = Path(out) if out else Path(settings.duckdb_path).parent / "reports" / path.stem
    lake, chain_id = _lake_chain(settings)
    try:
        written = steps.write_governance_report(lake, chain_id, settings.duckdb_path, path, out_dir)
    except (ReportError, ScenarioError) as error:
        sys.exit(str(error))
    print(f"Report written: {written} (charts beside it)")


def run_float_sweep(settings: Settings, scenarios: str, out: str | None) -> None:
    """Sweep a scenario grid over the lake's Morpho markets in the float kernel; write its
    per-position and per-(scenario, market) tables and its scenarios as Parquet."""
    from tqdm import tqdm

    from softliq_core import steps
    from softliq_core.replay.ledger import ReplayError
    from softliq_core.replay.scenario import ScenarioError, load_scenarios
    from softliq_core.store.sweeps import sweep_dir, write_sweep
    from softliq_core.store.warehouse import Warehouse

    path = _scenario_file(scenarios)
    out_dir = Path(out) if out else sweep_dir(settings.duckdb_path, path)
    lake, chain_id = _lake_chain(settings)
    started = time.perf_counter()

    def progress(markets: list[MarketWork]) -> Iterable[MarketWork]:
        return tqdm(markets, unit="market", desc="float sweep", dynamic_ncols=True)

    try:
        sweep = steps.sweep_floats(lake, chain_id, load_scenarios(path), progress)
    except (ScenarioError, ReplayError, ValueError) as error:
        sys.exit(str(error))
    written = write_sweep(sweep, out_dir)
    if not out:  # beside the DuckDB file: its views read the sweep
        Warehouse(settings.duckdb_path).refresh_views(settings.lake_root)
    print(
        f"Float sweep of {sweep.summary['scenario_id'].n_unique()} scenarios in "
        f"{time.perf_counter() - started:.1f} s: {written['summary']} (per scenario and "
        f"market), {written['positions']} (per simulated position), "
        f"{written['scenarios']} (their definitions)"
        + (
            ""
            if out
            else f"; in DuckDB: SELECT * FROM float_sweep_summary WHERE sweep = '{path.stem}'"
        )
    )


def _lake_chain(settings: Settings) -> tuple[Lake, int]:
    """The lake and the one chain it holds (the pipeline has run)."""
    from softliq_core.store.lake import Lake

    lake = Lake(settings.lake_root)
    chains = lake.chain_ids()
    if len(chains) != 1:
        sys.exit(f"the lake {settings.lake_root} holds chains {chains}: run the pipeline first")
    return lake, chains[0]


def _scenario_file(scenarios: str) -> Path:
    """A scenario file, or NAME for data/scenarios/NAME.toml."""
    path = Path(scenarios)
    if not path.exists():
        path = PROJECT_ROOT / "data" / "scenarios" / f"{scenarios}.toml"
    if not path.exists():
        sys.exit(f"no scenario file {scenarios!r} (nor {path})")
    return path


def run_sql(settings: Settings, query: str, params: list[str]) -> None:
    """Run a library query by name (``sql/queries/NAME.sql``) or any SQL text, read-only."""
    from softliq_core.store.queries import QueryError, find_query, library
    from softliq_core.store.warehouse import Warehouse

    if query == "list":
        for name, entry in library().items():
            defaults = " ".join(f"--param {k}={v}" for k, v in entry.defaults.items())
            print(f"{name}: {entry.question}\n    {defaults}")
        return
    try:
        given = dict(p.split("=", 1) for p in params)
    except ValueError:
        sys.exit("--param takes name=value")
    sql, values = query, None
    if query.replace("_", "").isalnum():
        try:
            entry = find_query(query)
            sql, values = entry.sql, entry.parameters(given)
        except QueryError as error:
            sys.exit(str(error))
    elif given:
        sys.exit("--param applies to library queries (softliq sql list)")
    with pl.Config(tbl_rows=50, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=66):
        print(Warehouse(settings.duckdb_path).query(sql, values))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="softliq", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="synthetic chain -> lake -> replay -> DuckDB -> summary")
    demo.add_argument("--days", type=int, help="days of synthetic history (default 10)")
    demo.add_argument(
        "--borrowers-per-market", type=int, help="synthetic borrowers per market (default 80)"
    )
    demo.add_argument("--seed", type=int, help="synthetic chain seed (default 7)")
    demo.add_argument("--scenarios", help="scenario set TOML (default data/scenarios/default.toml)")
    ingest = sub.add_parser(
        "ingest",
        help="backfill days into the lake from the configured source (SOFTLIQ_SOURCE), with progress",
    )
    ingest.add_argument("--from", dest="first", required=True, type=date.fromisoformat)
    ingest.add_argument("--to", dest="last", type=date.fromisoformat, help="default: --from")
    sub.add_parser("summary", help="print the summary of the last replay")
    report = sub.add_parser("report", help="write the governance report of a replayed scenario set")
    report.add_argument(
        "--scenarios", required=True, help="a scenario file, or NAME for data/scenarios/NAME.toml"
    )
    report.add_argument(
        "--out", help="directory (default data/reports/NAME next to the DuckDB file)"
    )
    sweep = sub.add_parser(
        "sweep",
        help="sweep a scenario grid in the float kernel (Morpho pre-liquidation and liquidation)",
    )
    sweep.add_argument(
        "--scenarios", required=True, help="a scenario file, or NAME for data/scenarios/NAME.toml"
    )
    sweep.add_argument(
        "--out",
        help="directory (default sweeps/sweep=NAME next to the DuckDB file, which its "
        "float_sweep_* views read)",
    )
    sql = sub.add_parser(
        "sql", help="run a library query by NAME (`softliq sql list`) or any read-only SQL"
    )
    sql.add_argument("query", help="a name from sql/queries, `list`, or SQL text")
    sql.add_argument("--param", action="append", default=[], help="name=value for a library query")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    if args.command == "demo":
        overrides = {
            k: v
            for k, v in {
                "days": args.days,
                "borrowers_per_market": args.borrowers_per_market,
                "seed": args.seed,
                "scenario_file": args.scenarios,
            }.items()
            if v is not None
        }
        settings = replace(settings, **overrides)
        from softliq_core.replay.scenario import ScenarioError, load_scenarios

        try:
            load_scenarios(settings.scenario_file)  # refuse a bad file before any work
        except ScenarioError as error:
            sys.exit(str(error))
        run_pipeline(settings)
    if args.command == "ingest":
        ingest_range(settings, args.first, args.last or args.first)
        return
    if args.command == "report":
        write_governance_report(settings, args.scenarios, args.out)
        return
    if args.command == "sweep":
        run_float_sweep(settings, args.scenarios, args.out)
        return
    if args.command == "sql":
        run_sql(settings, args.query, args.param)
        return
    print_summary(settings)


if __name__ == "__main__":
    main()
