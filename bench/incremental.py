"""One incremental day against the full backfill (issue 7), on a synthetic chain in a lake.

    .venv/bin/python bench/incremental.py                       # 365 days, the default scenario set
    .venv/bin/python bench/incremental.py --days 60 --borrowers-per-market 20   # a quick look

Builds the lake with the pipeline's steps (ingest, decode, reference tables, oracle prices; kept
in ``.cache/bench`` for the next run of the same size), then times, each with its lake reads and
DuckDB writes:

* the full backfill: every day of every scenario in one replay (``scenario_outcomes``);
* the first run of ``replay_state`` (no snapshot yet): days 1 .. N-3 from genesis in one stretch;
* one incremental day, three times: days N-2, N-1, N each from the day before's snapshot, what the
  daily schedule runs (lake reads, snapshot read and write, the DuckDB transaction included);

and checks that the incremental DuckDB rows equal the full replay's. The synthetic chain's Aave pool
is replayed on both sides under the set's Aave scenarios (``--no-aave``: Morpho only, as this bench
ran before the pool had snapshots). Prints one table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

from softliq_core import steps
from softliq_core.replay.scenario import load_scenarios
from softliq_core.replay.snapshot import replay_version
from softliq_core.sources.synthetic import SyntheticChainConfig, SyntheticSource
from softliq_core.store.lake import Lake
from softliq_core.store.snapshots import TABLE, SnapshotStore
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--borrowers-per-market", type=int, default=40)
    parser.add_argument("--scenarios", default=str(ROOT / "data" / "scenarios" / "default.toml"))
    parser.add_argument("--no-aave", action="store_true", help="leave the Aave pool out")
    args = parser.parse_args()
    source = SyntheticSource(
        SyntheticChainConfig(days=args.days, borrowers_per_market=args.borrowers_per_market)
    )
    scenarios = load_scenarios(args.scenarios)
    aave = None if args.no_aave else steps.aave_setup(source)
    table: list[tuple[str, float]] = []

    def timed(label: str, fn: Callable[[], T]) -> T:
        started = time.perf_counter()
        result = fn()
        table.append((label, time.perf_counter() - started))
        return result

    key = hashlib.sha256(json.dumps(asdict(source.config), default=str).encode()).hexdigest()
    built = CACHE / f"lake-{key[:12]}" / "built"
    lake = Lake(built.parent / "lake")
    if built.exists():
        table.append(("lake: loaded from .cache/bench (built by an earlier run)", 0.0))
    else:
        timed(
            "lake: generate, ingest, decode, prices",
            lambda: steps.build_lake(source, lake, source.days()),
        )
        built.touch()
    lake.storage.delete_dir(TABLE)  # an earlier run's snapshots: the catch-up starts at genesis
    with tempfile.TemporaryDirectory() as tmp:
        days = lake.days("blocks", source.chain_id)
        full_db, daily_db = Path(tmp) / "full.duckdb", Path(tmp) / "daily.duckdb"
        timed(
            f"full backfill: {len(days)} days in one replay",
            lambda: steps.store_outcomes(
                steps.replay_scenarios(lake, source.chain_id, scenarios, aave), full_db, lake
            ),
        )
        timed(
            f"catch-up from genesis: days 1..{len(days) - 3} in one stretch",
            lambda: steps.replay_through(
                lake, source.chain_id, scenarios, days[-4], daily_db, aave
            ),
        )
        for day in days[-3:]:
            replayed = timed(
                f"one incremental day ({day})",
                lambda day=day: steps.replay_through(
                    lake, source.chain_id, scenarios, day, daily_db, aave
                ),
            )
            assert replayed == [day]
        equal = rows(daily_db) == rows(full_db)
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
            f"day-by-day rows equal the full replay's: {equal}"
        )
    print(f"{'stage':48} {'seconds':>9}")
    for label, seconds in table:
        print(f"{label:48} {seconds:9.2f}")
    backfill = next(s for label, s in table if label.startswith("full backfill"))
    day = statistics.median(s for label, s in table if label.startswith("one incremental"))
    print(f"one incremental day (median of 3) / full backfill: {day / backfill:.2%}")


if __name__ == "__main__":
    main()
