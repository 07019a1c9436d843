"""The Aave V3 pool's replay at size: the synthetic chain's pool (five reserves, multi-collateral and
eMode borrowers, v3.0 then v3.3, CAPO price sources) over a longer history and more borrowers, each
scenario of a set replayed once and timed, with what it had to do.

    .venv/bin/python bench/aave.py                                  # 365 days, 500 borrowers
    .venv/bin/python bench/aave.py --days 60 --borrowers 100

The pool's history is built once per size and cached in ``.cache/bench`` (a pickle of the replay's
input, so another checkout of the project can time the same input). Prints one table and the peak
memory of the process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import resource
import time
from dataclasses import asdict
from pathlib import Path

from softliq_core.decode import decode_logs
from softliq_core.replay.aave_engine import replay_aave
from softliq_core.replay.aave_history import AaveHistory, aave_history
from softliq_core.replay.scenario import load_scenarios
from softliq_core.sources.synthetic import SyntheticChainConfig
from softliq_core.sources.synthetic.source import SyntheticSource

ROOT = Path(__file__).parents[1]
CACHE = ROOT / ".cache" / "bench"


def cached_pool(config: SyntheticChainConfig) -> AaveHistory:
    key = hashlib.sha256(json.dumps(asdict(config), default=str).encode()).hexdigest()[:12]
    path = CACHE / f"aave-{key}.pickle"
    if not path.exists():
        source = SyntheticSource(config)
        chain = source.chain
        setup = source.aave_pool()
        assert setup is not None
        decoded = decode_logs(chain.raw_logs, chain.blocks, chain.feeds_table())
        history = aave_history(
            setup, decoded.aave_events, decoded.oracle_rounds, chain.feeds_table(),
            chain.rate_samples(), chain.blocks,
        )  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(history))
    history: AaveHistory = pickle.loads(path.read_bytes())
    return history


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--borrowers", type=int, default=500, help="the pool's (and each Morpho market's)"
    )
    parser.add_argument("--scenarios", default=str(ROOT / "data" / "scenarios" / "default.toml"))
    args = parser.parse_args()
    config = SyntheticChainConfig(
        days=args.days,
        borrowers_per_market=args.borrowers,
    )
    started = time.perf_counter()
    history = cached_pool(config)
    print(f"pool history (build or load): {time.perf_counter() - started:.1f} s", flush=True)
    scenarios = [
        s
        for s in load_scenarios(args.scenarios)
        if s.applies_to(history.market) and (s.is_history or s.mechanism.startswith("aave"))
    ]
    rows = []
    for scenario in scenarios:
        mechanism = None if scenario.is_history else scenario.aave_mechanism_for(history.market)
        started = time.perf_counter()
        outcome = replay_aave(history, scenario, mechanism)
        seconds = time.perf_counter() - started
        declined = sum(int(p["unprofitable_skips"]) for p in outcome.positions)
        rows.append(
            (scenario.name, seconds, len(outcome.actions), declined, len(outcome.positions))
        )
        print(f"  {scenario.name}: {seconds:.2f} s", flush=True)
    print(
        f"pool: {args.days} days, {history.events.height:,} events, "
        f"{history.prices.height:,} price inputs, {rows[0][4] if rows else 0:,} borrowers"
    )
    print(f"{'scenario':24} {'seconds':>9} {'actions':>8} {'declined':>9}")
    for name, seconds, actions, declined, _ in rows:
        print(f"{name:24} {seconds:9.2f} {actions:8,} {declined:9,}")
    print(f"{'all':24} {sum(r[1] for r in rows):9.2f}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (this process): {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
