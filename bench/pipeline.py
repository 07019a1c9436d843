"""Times each stage of the pipeline on the synthetic chain, in process, without Dagster.

    .venv/bin/python bench/pipeline.py [--days 10] [--size 1] [--borrowers-per-market 80] [--full]

``--full`` also times the replay that simulates every position (no divergence shortcut).

Prints one table: stage, seconds, items, items per second, and the peak memory of the process.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from softliq_core.decode import decode_logs
from softliq_core.markets import build_markets
from softliq_core.oracle_prices import oracle_prices
from softliq_core.replay.baseline_validation import baseline_validation
from softliq_core.replay.inputs import market_histories
from softliq_core.replay.run import run_scenarios
from softliq_core.replay.scenario import load_scenarios
from softliq_core.replay.validation import replay_history
from softliq_core.sources.synthetic import SyntheticChainConfig, generate_chain

SCENARIOS = Path(__file__).parents[1] / "data" / "scenarios" / "default.toml"


def timed(
    label: str,
    rows: list[tuple[str, float, int, str]],
    fn: Callable[[], Any],
    count: Callable[[Any], int],
    unit: str,
) -> Any:
    start = time.perf_counter()
    result = fn()
    rows.append((label, time.perf_counter() - start, count(result), unit))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--size", type=int, default=1)
    parser.add_argument("--borrowers-per-market", type=int, default=80)
    parser.add_argument("--full", action="store_true", help="also time the full replay")
    args = parser.parse_args()
    config = SyntheticChainConfig(
        days=args.days, size=args.size, borrowers_per_market=args.borrowers_per_market
    )
    rows: list[tuple[str, float, int, str]] = []
    chain = timed(
        "synthetic chain", rows, lambda: generate_chain(config), lambda c: c.raw_logs.height, "logs"
    )
    feeds = chain.feeds_table()
    decoded = timed(
        "decode",
        rows,
        lambda: decode_logs(chain.raw_logs, chain.blocks, feeds),
        lambda d: chain.raw_logs.height,
        "logs",
    )
    timed(
        "baseline replay (ledger fold)",
        rows,
        lambda: replay_history(decoded.morpho_events),
        lambda _: decoded.morpho_events.height,
        "events",
    )
    markets = build_markets(decoded.morpho_events, chain.tokens_table(), chain.oracles_table())
    rates = timed(
        "rate samples (event-less oracle inputs)",
        rows,
        chain.rate_samples,
        lambda r: r.height,
        "samples",
    )
    prices = timed(
        "oracle prices",
        rows,
        lambda: oracle_prices(decoded.oracle_rounds, markets, feeds, chain.blocks, rates),
        lambda p: p.height,
        "prices",
    )
    histories = market_histories(decoded.morpho_events, prices, markets, chain.blocks)
    scenarios = load_scenarios(SCENARIOS)
    n_events = decoded.morpho_events.height
    outcomes = timed(
        f"replay {len(scenarios)} scenarios", rows, lambda: run_scenarios(histories, scenarios),
        lambda _: n_events * len(scenarios), "event-scenarios",
    )  # fmt: skip
    if args.full:
        timed(
            f"replay {len(scenarios)} scenarios, full", rows,
            lambda: run_scenarios(histories, scenarios, divergence_driven=False),
            lambda _: n_events * len(scenarios), "event-scenarios",
        )  # fmt: skip
    timed(
        "baseline validation", rows, lambda: baseline_validation(histories),
        lambda _: n_events, "events",
    )  # fmt: skip
    print(f"synthetic chain: {args.days} days, {len(chain.markets)} markets, "
          f"{config.borrowers_per_market * config.size} borrowers per market, "
          f"{decoded.morpho_events.height} Morpho events, {decoded.oracle_rounds.height} oracle rounds, "
          f"{outcomes.liquidation_actions.height} engine actions")  # fmt: skip
    print(f"{'stage':34} {'seconds':>8} {'items':>10} {'per second':>12}")
    for label, seconds, items, unit in rows:
        print(f"{label:34} {seconds:8.2f} {items:>10} {items / seconds:>12,.0f} {unit}/s")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
