"""The sweep benchmark at realistic scale (issue 7): a synthetic chain of two years, 20 markets and
10,000 borrowers (over a million Morpho events), the baseline replay and a 1,000-scenario
pre-liquidation sweep, divergence-driven against full replays, serial and in processes.

    .venv/bin/python bench/scale.py                        # the full size (chain cached in .cache/bench)
    .venv/bin/python bench/scale.py --days 60 --borrowers-per-market 100   # a quick look

Only a sample of the 1,000 scenarios is replayed (``--sample``, evenly spaced over the grid) and
the time is extrapolated: a sweep (each process of it) replays the history of the markets in its
scenarios' scope once, then each scenario, and scenarios are independent, so a sweep costs that
history replay (timed on its own) plus the sum of its scenarios. The float sweep
(replay/float_sweep.py) runs the whole grid, timed, not extrapolated, and is compared with the
exact sample position by position (``--no-float`` skips it). Prints one table and the peak memory
of the process and of its largest worker.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import polars as pl

from softliq_core.compiled import is_compiled
from softliq_core.decode import decode_logs
from softliq_core.markets import build_markets
from softliq_core.oracle_prices import oracle_prices
from softliq_core.replay.engine import replay_market
from softliq_core.replay.float_sweep import COUNTS, float_sweep
from softliq_core.replay.inputs import MarketHistory, market_histories
from softliq_core.replay.run import HISTORY, run_scenarios
from softliq_core.replay.scenario import Scenario, load_scenarios, scenario_chunks
from softliq_core.replay.trajectories import trajectories
from softliq_core.sources.synthetic import SyntheticChainConfig, generate_chain

ROOT = Path(__file__).parents[1]
SCENARIOS = ROOT / "data" / "scenarios" / "sweep_1000.toml"
CACHE = ROOT / ".cache" / "bench"


def cached_chain(config: SyntheticChainConfig) -> dict[str, pl.DataFrame]:
    """The chain's raw tables and reference inputs, generated once per configuration."""
    key = hashlib.sha256(json.dumps(asdict(config), default=str).encode()).hexdigest()[:12]
    directory = CACHE / key
    names = ("raw_logs", "blocks", "tokens", "oracles", "feeds", "rate_samples")
    if not all((directory / f"{n}.parquet").exists() for n in names):
        chain = generate_chain(config)
        directory.mkdir(parents=True, exist_ok=True)
        frames = (
            chain.raw_logs,
            chain.blocks,
            chain.tokens_table(),
            chain.oracles_table(),
            chain.feeds_table(),
            chain.rate_samples(),
        )
        for name, frame in zip(names, frames, strict=True):
            frame.write_parquet(directory / f"{name}.parquet")
    return {n: pl.read_parquet(directory / f"{n}.parquet") for n in names}


def _replay_chunk(histories_file: str, chunk: Sequence[Scenario]) -> tuple[float, float]:
    """Seconds to replay the chunk, and the worker's peak memory in MiB (its own: a spawned
    process's rusage can carry its parent's size from before the exec)."""
    histories = pickle.loads(Path(histories_file).read_bytes())
    started = time.perf_counter()
    run_scenarios(histories, chunk)
    seconds = time.perf_counter() - started
    status = Path("/proc/self/status").read_text()  # Linux: VmHWM, the peak resident set
    peak_kib = next(int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmHWM:")
    return seconds, peak_kib / 1024


def agreement(exact: Any, floats: pl.DataFrame) -> None:
    """The float sweep against the exact replay of the sample: positions whose counts differ, and
    each sampled scenario's totals both ways."""
    keys = ["scenario_id", "market_id", "borrower"]
    names = [*COUNTS, "first_action_block"]
    both = exact.position_outcomes.select(*keys, *names).join(
        floats.select(*keys, *names), on=keys, how="inner", suffix="_float"
    )
    parted = both.filter(
        pl.any_horizontal(~pl.col(n).eq_missing(pl.col(f"{n}_float")) for n in names)
    )
    print(f"float sweep vs exact: {parted.height} of {both.height} simulated positions part")
    repaid = exact.liquidation_actions.group_by("scenario_id").agg(
        pl.col("repaid_assets").cast(pl.Float64).sum().alias("debt_repaid")
    )
    totals = (
        both.group_by("scenario_id")
        .agg(*(pl.col(n).sum() for n in COUNTS), *(pl.col(f"{n}_float").sum() for n in COUNTS))
        .join(repaid, "scenario_id", how="left")
        .join(
            floats.group_by("scenario_id").agg(pl.col("debt_repaid").sum().alias("float_repaid")),
            "scenario_id",
        )
        .join(exact.scenarios.select("scenario_id", "name"), "scenario_id")
    )
    for row in totals.iter_rows(named=True):
        pairs = ", ".join(f"{n} {row[n]:,}/{row[n + '_float']:,}" for n in COUNTS)
        repaid_gap = abs(row["float_repaid"] - (row["debt_repaid"] or 0)) / max(
            row["debt_repaid"] or 0, 1
        )
        print(f"  {row['name']} (exact/float): {pairs}; debt repaid differs by {repaid_gap:.2e}")


def in_processes(
    histories: list[MarketHistory], scenarios: Sequence[Scenario], processes: int
) -> tuple[float, float]:
    """Wall seconds to replay ``scenarios`` split over ``processes`` spawned workers, each loading
    the histories from one pickle (the load is excluded: a worker loads them once per sweep), and
    the largest worker's peak memory (MiB)."""
    with tempfile.NamedTemporaryFile(suffix=".pickle") as file:
        file.write(pickle.dumps(histories))
        file.flush()
        chunks = scenario_chunks(scenarios, processes)
        with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(_replay_chunk, [file.name] * len(chunks), chunks))
            return max(s for s, _ in results), max(peak for _, peak in results)


def chain_arguments(parser: argparse.ArgumentParser) -> None:
    """The synthetic chain's size, the issue's by default (also bench/kernel.py's)."""
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--market-copies", type=int, default=5, help="x 4 markets")
    parser.add_argument("--borrowers-per-market", type=int, default=500)
    parser.add_argument("--attentive-actions-per-day", type=float, default=0.12)
    parser.add_argument("--casual-actions-per-day", type=float, default=0.02)


def chain_config(args: argparse.Namespace) -> SyntheticChainConfig:
    return SyntheticChainConfig(
        days=args.days,
        market_copies=args.market_copies,
        borrowers_per_market=args.borrowers_per_market,
        attentive_actions_per_day=args.attentive_actions_per_day,
        casual_actions_per_day=args.casual_actions_per_day,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    chain_arguments(parser)
    parser.add_argument("--scenarios", default=str(SCENARIOS))
    parser.add_argument(
        "--sample", type=int, default=20, help="scenarios replayed, divergence-driven"
    )
    parser.add_argument("--full-sample", type=int, default=2, help="scenarios replayed in full")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--no-float", action="store_true", help="skip the float sweep of the whole grid"
    )
    args = parser.parse_args()
    config = chain_config(args)
    rows: list[tuple[str, float, str]] = []

    def timed(
        label: str, fn: Callable[[], Any], rate: Callable[[float], str] = lambda s: ""
    ) -> Any:
        started = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - started
        rows.append((label, seconds, rate(seconds)))
        print(
            f"  {label}: {seconds:.2f} s {rate(seconds)}", flush=True
        )  # a long run shows progress
        return result

    chain = timed("synthetic chain (generate or load)", lambda: cached_chain(config))
    n_logs = chain["raw_logs"].height
    decoded = timed(
        "decode", lambda: decode_logs(chain["raw_logs"], chain["blocks"], chain["feeds"]),
        lambda s: f"{n_logs / s:,.0f} logs/s",
    )  # fmt: skip
    n_events = decoded.morpho_events.height
    markets = build_markets(decoded.morpho_events, chain["tokens"], chain["oracles"])
    prices = timed(
        "oracle prices",
        lambda: oracle_prices(
            decoded.oracle_rounds, markets, chain["feeds"], chain["blocks"], chain["rate_samples"]
        ),
    )
    histories = timed(
        "market histories",
        lambda: market_histories(decoded.morpho_events, prices, markets, chain["blocks"]),
    )
    timed(
        "baseline trajectories (vectorised, polars)",
        lambda: trajectories(decoded.morpho_events),
        lambda s: f"{n_events / s:,.0f} events/s",
    )
    timed(
        "baseline replay (every market, history)",
        lambda: [replay_market(h, HISTORY, None) for h in histories],
        lambda s: f"{n_events / s:,.0f} events/s",
    )
    scenarios = [s for s in load_scenarios(args.scenarios) if not s.is_history]
    # What every sweep (every process of one) replays first: the history of the markets in its
    # scenarios' scope (until 2026-11-27 the rule below subtracted every market's, which the
    # sweep does not replay: a scenario's share came out too low).
    in_scope = [h for h in histories if any(s.applies_to(h.market) for s in scenarios)]
    timed(
        f"history replay, the sweep's {len(in_scope)} markets",
        lambda: [replay_market(h, HISTORY, None) for h in in_scope],
    )
    history_seconds = rows[-1][1]
    total = len(scenarios)
    step = max(1, total // args.sample)

    def extrapolated(seconds: float, replayed: int, processes: int = 1) -> str:
        """The whole set's wall time: each process replays the histories in scope once, then its
        share of the scenarios (a scenario's time: the run's, less that replay, per scenario)."""
        per_scenario = max(0.0, seconds - history_seconds) / replayed * processes
        whole = history_seconds + per_scenario * total / processes
        return f"{total} scenarios: {whole:,.0f} s (extrapolated)"

    sample = scenarios[::step][: args.sample]
    per_sample = timed(
        f"sweep, divergence-driven, {len(sample)} scenarios",
        lambda: run_scenarios(histories, sample),
        lambda s: extrapolated(s, len(sample)),
    )
    full = sample[:: max(1, len(sample) // max(1, args.full_sample))][: args.full_sample]
    timed(
        f"sweep, full replay, {len(full)} scenarios",
        lambda: run_scenarios(histories, full, divergence_driven=False),
        lambda s: extrapolated(s, len(full)),
    )
    if not args.no_float:
        # the whole grid, not a sample: compiled once, then every scenario of a market at once
        float_sweep(histories[:1], scenarios[:1])  # (numba's cache: compiled on a first run)
        floats = timed(
            f"float sweep, all {total} scenarios (numba threads)",
            lambda: float_sweep(histories, scenarios),
        )
    parallel, worker_mib = in_processes(histories, sample, args.processes)
    rows.append(
        (
            f"sweep, divergence-driven, {args.processes} processes",
            parallel,
            extrapolated(parallel, len(sample), args.processes),
        )
    )
    engine_module = sys.modules[replay_market.__module__]
    print(f"engine: {'compiled (mypyc)' if is_compiled(engine_module) else 'from source'}")
    print(
        f"chain: {args.days} days, {len(markets)} markets, "
        f"{args.borrowers_per_market * len(markets)} borrowers, {n_logs:,} logs, "
        f"{n_events:,} Morpho events, {decoded.oracle_rounds.height:,} oracle rounds; "
        f"{per_sample.liquidation_actions.height:,} engine actions in the sample"
    )
    # What each sampled scenario must do exactly, whatever the speed of the engine: a row per
    # action, a priced decline per refused call (some settled by the decline screen), positions.
    work = (
        per_sample.position_outcomes.group_by("scenario_id")
        .agg(pl.len().alias("positions"), pl.col("unprofitable_skips").sum().alias("declined"))
        .join(per_sample.liquidation_actions.group_by("scenario_id").len("actions"), "scenario_id")
        .join(per_sample.scenarios.select("scenario_id", "name"), "scenario_id")
        .sort("name")
    )
    for row in work.iter_rows(named=True):
        print(
            f"  {row['name']}: {row['actions']:,} actions, {row['declined']:,} declined calls, "
            f"{row['positions']:,} positions"
        )
    if not args.no_float:
        agreement(per_sample, floats.positions)
    print(f"{'stage':48} {'seconds':>9}  rate")
    for label, seconds, rate in rows:
        print(f"{label:48} {seconds:9.2f}  {rate}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak memory: {peak_mib:,.0f} MiB this process, {worker_mib:,.0f} MiB its largest worker"
    )


if __name__ == "__main__":
    main()
