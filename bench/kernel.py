"""The float kernel alone (replay/float_kernel.py) on one market of the scale benchmark's chain:
its CPU time for a slice of the 1,000-scenario grid, repeated (this machine's timings move by
±20 % from one minute to the next: compare the minimum, or run two builds alternately), and a
perf symbol map of the compiled code, so that a profile names numba's functions.

    .venv/bin/python bench/kernel.py --market 0 --step 20 --repeats 6
    NUMBA_CACHE_DIR=$(mktemp -d) NUMBA_NUM_THREADS=1 \
        perf record -e cpu-clock -F 2000 .venv/bin/python bench/kernel.py --perf-map
    perf report --sort sym

(An empty NUMBA_CACHE_DIR: code loaded from numba's cache carries no function names.)

The chain is the scale benchmark's (bench/scale.py, cached in .cache/bench); the market's history
replay and tape are prepared once, outside the timing.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from scale import SCENARIOS, cached_chain, chain_arguments, chain_config  # (bench/: the path)

from softliq_core.decode import decode_logs
from softliq_core.markets import build_markets
from softliq_core.oracle_prices import oracle_prices
from softliq_core.replay import float_kernel as fk
from softliq_core.replay.float_sweep import prepare_market, simulate_market
from softliq_core.replay.inputs import MarketHistory, market_histories
from softliq_core.replay.scenario import load_scenarios
from softliq_core.sources.synthetic import SyntheticChainConfig


def histories(config: SyntheticChainConfig) -> list[MarketHistory]:
    chain = cached_chain(config)
    decoded = decode_logs(chain["raw_logs"], chain["blocks"], chain["feeds"])
    markets = build_markets(decoded.morpho_events, chain["tokens"], chain["oracles"])
    prices = oracle_prices(
        decoded.oracle_rounds, markets, chain["feeds"], chain["blocks"], chain["rate_samples"]
    )
    return market_histories(decoded.morpho_events, prices, markets, chain["blocks"])


def write_perf_map() -> Path:
    """Each compiled kernel function's address and name, as perf reads a JIT's symbols
    (/tmp/perf-PID.map); a function's size runs to the next one's address. numba does not
    publish these: the code libraries are its internals."""
    functions: set[tuple[int, str]] = set()
    seen: set[int] = set()

    def walk(library: Any) -> None:
        if id(library) in seen:
            return
        seen.add(id(library))
        for function in library._final_module.functions:
            if not function.is_declaration:
                address = library.get_pointer_to_function(function.name)
                if address:
                    functions.add((address, function.name))
        for linked in library._linking_libraries:
            walk(linked)

    for name in dir(fk):
        for compiled in getattr(getattr(fk, name), "overloads", {}).values():
            walk(compiled.library)
    if not functions:
        raise SystemExit("no compiled functions named: run with an empty NUMBA_CACHE_DIR")
    ordered = sorted(functions)
    path = Path(f"/tmp/perf-{os.getpid()}.map")
    with path.open("w") as out:
        for (address, name), (following, _) in zip(
            ordered, [*ordered[1:], (ordered[-1][0] + 65536, "")], strict=True
        ):
            out.write(f"{address:x} {following - address:x} {name}\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    chain_arguments(parser)
    parser.add_argument("--market", type=int, default=0, help="index among the grid's markets")
    parser.add_argument("--step", type=int, default=20, help="every STEP-th grid scenario")
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--perf-map", action="store_true", help="write /tmp/perf-PID.map")
    args = parser.parse_args()
    scenarios = [s for s in load_scenarios(SCENARIOS) if not s.is_history][:: args.step]
    in_grid = [h for h in histories(chain_config(args)) if scenarios[0].applies_to(h.market)]
    history = in_grid[args.market]
    market = prepare_market(history, scenarios)
    simulate_market(history, market)  # (loads or compiles the kernel)
    if args.perf_map:
        print(f"perf map: {write_perf_map()}")
    seconds = []
    for _ in range(args.repeats):
        started = time.process_time()
        simulate_market(history, market)
        seconds.append(time.process_time() - started)
    simulated = int((market.starts[market.group] >= 0).sum())
    print(
        f"{history.market.label}: {len(scenarios)} scenarios, {simulated:,} simulated positions; "
        f"kernel CPU min {min(seconds):.3f} s of {' '.join(f'{s:.3f}' for s in seconds)}"
    )


if __name__ == "__main__":
    main()
