"""One day of the daily job against the full backfill (issue 7), on a synthetic chain in a lake.

    .venv/bin/python bench/incremental.py                       # 365 days, the default scenario set
    .venv/bin/python bench/incremental.py --days 60 --borrowers-per-market 20   # a quick look

Builds the lake of every day but the last three with the pipeline's steps (ingest, decode,
reference tables, rate samples, oracle prices; kept in ``.cache/bench`` with the generated chain,
for the next run of the same size), replays those days from genesis in one stretch (the first run
of ``replay_state``), then runs the last three days as the daily job does, each stage timed:

* ingest and decode the day;
* the reference tables: ``markets``, ``rate_samples`` (its historical eth_calls counted),
  ``oracle_prices``;
* the plan: the scenario set checked against the markets and the Aave pool as of the day
  (``plan_day_chunks``);
* the replay of the day from the day before's snapshot, with its lake reads, the snapshot read and
  write and the DuckDB transaction (``replay_state``);

then the full backfill of every day (every scenario in one replay, written to DuckDB) and the
reference tables rebuilt from scratch over every day, and checks that the day-by-day DuckDB rows
equal the full replay's. The synthetic chain's Aave pool is replayed on both sides under the set's
Aave scenarios (``--no-aave``: Morpho only). Prints one table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import TypeVar

from softliq_core import steps
from softliq_core.replay.aave_history import AavePoolSetup
from softliq_core.replay.scenario import load_scenarios
from softliq_core.replay.snapshot import replay_version
from softliq_core.sources.files import FilesConfig, FileSource
from softliq_core.sources.synthetic import SyntheticChainConfig, SyntheticSource
from softliq_core.store.lake import Lake
from softliq_core.store.snapshots import SnapshotStore
from softliq_core.store.warehouse import OUTCOME_TABLES, Warehouse
from softliq_core.tables import AAVE_EVENTS, MORPHO_EVENTS

T = TypeVar("T")

ROOT = Path(__file__).parents[1]
CACHE = ROOT / ".cache" / "bench"  # the lake, built once per chain configuration


def rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    warehouse = Warehouse(path)
    return {
        t: sorted(warehouse.query(f"SELECT * FROM {t}").rows(), key=repr) for t in OUTCOME_TABLES
    }


def exported_chain(
    config: SyntheticChainConfig, directory: Path
) -> tuple[FileSource, AavePoolSetup | None]:
    """The synthetic chain as files and its Aave pool's configuration, generated once per
    configuration (a year takes minutes) and kept in ``directory``."""
    done = directory / "exported"
    if not done.exists():
        synthetic = SyntheticSource(config)
        chain = synthetic.chain
        directory.mkdir(parents=True, exist_ok=True)
        for name, frame in (
            ("logs", chain.raw_logs), ("blocks", chain.blocks), ("tokens", synthetic.tokens()),
            ("oracles", synthetic.oracles()), ("feeds", synthetic.feeds()),
            ("rates", chain.rate_samples()),
        ):  # fmt: skip
            frame.write_parquet(directory / f"{name}.parquet")
        (directory / "aave.pickle").write_bytes(pickle.dumps(steps.aave_setup(synthetic)))
        done.touch()
    files = {
        name: str(directory / f"{name}.parquet")
        for name in ("logs", "blocks", "tokens", "oracles", "feeds", "rates")
    }
    source = FileSource(FilesConfig(chain_id=config.chain_id, **files))
    return source, pickle.loads((directory / "aave.pickle").read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--borrowers-per-market", type=int, default=40)
    parser.add_argument("--scenarios", default=str(ROOT / "data" / "scenarios" / "default.toml"))
    parser.add_argument("--no-aave", action="store_true", help="leave the Aave pool out")
    args = parser.parse_args()
    config = SyntheticChainConfig(days=args.days, borrowers_per_market=args.borrowers_per_market)
    table: list[tuple[str, float]] = []

    def timed(label: str, fn: Callable[[], T]) -> T:
        started = time.perf_counter()
        result = fn()
        table.append((label, time.perf_counter() - started))
        return result

    key = hashlib.sha256(json.dumps(asdict(config), default=str).encode()).hexdigest()[:12]
    cached = CACHE / f"daily-{key}"
    source, pool = timed(
        "the chain as files: generate once, then import",
        lambda: exported_chain(config, cached / "files"),
    )
    scenarios = load_scenarios(args.scenarios)
    aave = None if args.no_aave else pool
    days = SyntheticSource(config).days()
    before, last_three = days[:-3], days[-3:]
    if (cached / "built").exists():
        table.append(("lake of the days before the last three: cached", 0.0))
    else:
        timed(
            f"lake of days 1..{len(before)}: ingest, decode, prices",
            lambda: steps.build_lake(source, Lake(cached / "lake"), before),
        )
        (cached / "built").touch()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(cached / "lake", Path(tmp) / "lake")  # the run adds days to its copy
        lake = Lake(Path(tmp) / "lake")
        full_db, daily_db = Path(tmp) / "full.duckdb", Path(tmp) / "daily.duckdb"
        timed(
            f"catch-up from genesis: days 1..{len(before)} in one stretch",
            lambda: steps.replay_through(
                lake, source.chain_id, scenarios, before[-1], daily_db, aave
            ),
        )
        reads = []
        for day in last_three:  # what ingest_and_replay_daily runs
            timed(f"{day}: ingest and decode", lambda day=day: _ingest(source, lake, day))
            timed(f"{day}: markets", lambda: steps.build_reference(source, lake))
            sampled = timed(f"{day}: rate samples", lambda: steps.build_rate_samples(source, lake))
            reads.append(sampled.reads)
            timed(f"{day}: oracle prices", lambda: steps.build_oracle_prices(lake, source.chain_id))
            timed(
                f"{day}: plan (the set checked)",
                lambda day=day: steps.plan_day_chunks(
                    lake, source.chain_id, scenarios, 1, day, aave
                ),
            )
            replayed = timed(
                f"{day}: replay (replay_state)",
                lambda day=day: steps.replay_through(
                    lake, source.chain_id, scenarios, day, daily_db, aave
                ),
            )
            assert replayed == [day]
        timed(
            f"full backfill: {len(days)} days in one replay",
            lambda: steps.store_outcomes(
                steps.replay_scenarios(lake, source.chain_id, scenarios, aave), full_db, lake
            ),
        )
        equal = rows(daily_db) == rows(full_db)
        # every day sampled, folded and priced again
        folds = ("partition_index", "oracle_round_digests", "oracle_round_ends", "market_creations")
        for record in ("rate_sampling", "oracle_pricing", *folds):
            lake.storage.delete_dir(record)
        _, sampled_all, _ = timed(
            f"reference tables from scratch: {len(days)} days",
            lambda: (
                steps.build_reference(source, lake),
                steps.build_rate_samples(source, lake),
                steps.build_oracle_prices(lake, source.chain_id),
            ),
        )
        snapshot_bytes = SnapshotStore(lake.root, source.chain_id, replay_version(scenarios)).size(
            days[-1]
        )
        events = lake.read("morpho_events", MORPHO_EVENTS)
        pool = (
            "no Aave pool"
            if aave is None
            else (f"{lake.read('aave_events', AAVE_EVENTS).height:,} Aave events")
        )
        print(
            f"chain: {len(days)} days, {events.height:,} Morpho events, {pool}, "
            f"{len(scenarios)} scenarios; snapshot of a day {snapshot_bytes / 2**20:.1f} MiB; "
            f"day-by-day rows equal the full replay's: {equal}; rate-sample reads a day "
            f"{reads}, from scratch {sampled_all.reads:,}"
        )
    print(f"{'stage':56} {'seconds':>9}")
    for label, seconds in table:
        print(f"{label:56} {seconds:9.2f}")

    def median(stage: str) -> float:
        return statistics.median(s for label, s in table if label.endswith(stage))

    backfill = next(s for label, s in table if label.startswith("full backfill"))
    scratch = next(s for label, s in table if label.startswith("reference tables from"))
    replay = median("replay (replay_state)")
    stages = ("markets", "rate samples", "oracle prices", "plan (the set checked)")
    references = sum(median(stage) for stage in stages)
    print(f"one day's replay / the full backfill (medians of 3): {replay / backfill:.2%}")
    print(
        "one day of the daily job without ingest (reference tables, prices, plan, replay) / the "
        "same "
        f"over every day: {(replay + references) / (backfill + scratch):.2%}"
    )


def _ingest(source: FileSource, lake: Lake, day: date) -> None:
    steps.ingest_day(source, lake, day)
    steps.decode_day(lake, source.chain_id, day)


if __name__ == "__main__":
    main()
