"""Ingest throughput of the RPC source from the loopback JSON-RPC server, with and without faults.

    .venv/bin/python bench/ingest_rpc.py [--days 2] [--borrowers-per-market 40] [--fault-rate 0.2]

The server (tests/support/rpc_server.py) runs in its own process, serving the synthetic chain; the
client ingests ``--days`` days through ``steps.ingest_day`` into a temporary lake, once cleanly and
once with a range limit, a result limit and random faults (429, 5xx, timeouts, dropped connections,
garbled and partially rate-limited batches). Prints logs/s, blocks/s, requests and faults.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path

from softliq_core import steps
from softliq_core.sources.rpc import ClientSettings, RpcConfig, RpcSource
from softliq_core.sources.synthetic import SyntheticChainConfig, SyntheticSource
from softliq_core.store.lake import Lake


def _serve(config: SyntheticChainConfig, faulty: bool, rate: float, pipe: Connection) -> None:
    from tests.support.rpc_server import ChainRpcServer, Faults, Limits

    chain = SyntheticSource(config).chain
    limits = Limits(max_range=500, max_results=200) if faulty else Limits()
    faults = Faults(rate=rate if faulty else 0.0, seed=1, retry_after="0", timeout_sleep=0.5)
    server = ChainRpcServer(chain, limits, faults).start()
    pipe.send(server.url("/v2/bench-key"))
    pipe.recv()  # until told to stop
    pipe.send(server.faults_injected())
    server.stop()


def run(config: SyntheticChainConfig, days: int, faulty: bool, rate: float) -> dict[str, float]:
    spawn = mp.get_context("spawn")  # fork after polars' thread pool started can deadlock
    ours, theirs = spawn.Pipe()
    server = spawn.Process(target=_serve, args=(config, faulty, rate, theirs), daemon=True)
    server.start()
    url = ours.recv()
    chain = SyntheticSource(config).chain
    addresses = tuple(sorted({"0x" + a.hex() for a in chain.raw_logs["address"].unique()}))
    source = RpcSource(
        RpcConfig(
            url=url,
            addresses=addresses,
            markets_from_block=config.first_block,
            min_block=config.first_block,
            confirmations=0,
            client=ClientSettings(
                timeout=0.25,
                requests_per_second=0,
                max_attempts=30,
                backoff_base=0.001,
                backoff_max=0.01,
                batch_size=100,
                jitter_seed=1,
            ),
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(Path(tmp))
        started = time.perf_counter()
        logs = blocks = 0
        for i in range(days):
            counts = steps.ingest_day(source, lake, config.start_date + timedelta(days=i))
            logs, blocks = logs + counts.logs, blocks + counts.blocks
        elapsed = time.perf_counter() - started
    ours.send("stop")
    faults = ours.recv()
    server.join()
    return {
        "seconds": elapsed,
        "logs": logs,
        "blocks": blocks,
        "requests": source.client.stats["requests"],
        "faults": faults,
        "range_refused": source.client.stats["range_refused"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--borrowers-per-market", type=int, default=40)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    args = parser.parse_args()
    config = SyntheticChainConfig(
        seed=7, days=args.days + 1, borrowers_per_market=args.borrowers_per_market
    )
    _ = SyntheticSource(config).chain  # generate before timing
    print(
        f"{'run':<28}{'s':>7}{'logs':>8}{'logs/s':>9}{'blocks/s':>10}{'requests':>10}{'faults':>8}"
    )
    for label, faulty in (("clean", False), (f"faults (rate {args.fault_rate})", True)):
        r = run(config, args.days, faulty, args.fault_rate)
        print(
            f"{label:<28}{r['seconds']:>7.2f}{r['logs']:>8.0f}{r['logs'] / r['seconds']:>9.0f}"
            f"{r['blocks'] / r['seconds']:>10.0f}{r['requests']:>10.0f}{r['faults']:>8.0f}"
        )


if __name__ == "__main__":
    main()
