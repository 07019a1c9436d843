"""Decode throughput: softliq's vectorised decoder against web3's own per-log decoding on the same logs.

    .venv/bin/python bench/decode_vs_web3.py [--days 10] [--borrowers-per-market 80] [--repeat 3]

The logs are the synthetic chain's (the demo chain by default). softliq: ``decode_logs`` over the
whole ``raw_logs`` frame (Morpho Blue, AdaptiveCurveIrm, PreLiquidation, Chainlink). web3: each log
as the dict ``eth_getLogs`` returns, ``contract.events.<Event>().process_log(log)`` with the event
picked by topic0 (the usual way to decode with web3). Both are timed best of ``--repeat``; building
web3's log dicts from the lake's rows is timed apart. Every decoded value is compared between the
two, so the figures are for the same work.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import polars as pl
from hexbytes import HexBytes
from web3 import Web3

from softliq_core.abi import CONTRACT_KINDS, column_name
from softliq_core.decode import decode_logs
from softliq_core.sources.synthetic import SyntheticChainConfig, generate_chain


def best(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def web3_events() -> dict[bytes, Any]:
    """topic0 -> the web3 event class of every event softliq decodes."""
    w3 = Web3()
    events = {}
    for kind in CONTRACT_KINDS:
        abi = json.loads(resources.files("softliq_core.abi").joinpath(f"{kind}.json").read_text())
        contract = w3.eth.contract(abi=abi)
        for item in abi:
            if item["type"] == "event":
                event = contract.events[item["name"]]
                events[bytes(HexBytes(event.topic))] = event
    return events


def web3_logs(raw: pl.DataFrame) -> list[dict[str, Any]]:
    """The lake's rows as the log dicts web3 decodes (what eth_getLogs returns, parsed)."""
    return [
        {
            "address": Web3.to_checksum_address(row["address"]),
            "topics": [
                HexBytes(row[f"topic{i}"]) for i in range(4) if row[f"topic{i}"] is not None
            ],
            "data": HexBytes(row["data"]),
            "blockNumber": row["block_number"],
            "blockHash": HexBytes(row["block_hash"]),
            "transactionHash": HexBytes(row["transaction_hash"]),
            "transactionIndex": row["transaction_index"],
            "logIndex": row["log_index"],
        }
        for row in raw.iter_rows(named=True)
    ]


def decode_with_web3(logs: list[dict[str, Any]], events: dict[bytes, Any]) -> list[Any]:
    return [events[bytes(log["topics"][0])]().process_log(log) for log in logs]


def _shown(value: Any) -> Any:
    """A web3 value as softliq stores it: exact decimal strings, lowercase 0x-hex."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value).lower()


def flatten(args: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in args.items():
        if isinstance(value, dict):  # a tuple (CreateMarket's marketParams): one column each
            flat.update(flatten(value))
        else:
            flat[column_name(name)] = _shown(value)
    return flat


RENAMED = {"current": "answer"}  # AnswerUpdated's field, as oracle_rounds calls it


def disagreements(decoded: list[Any], tables: list[pl.DataFrame]) -> tuple[int, int]:
    """Decoded values compared, and those that differ between web3 and softliq."""
    rows = {(r["block_number"], r["log_index"]): r for t in tables for r in t.iter_rows(named=True)}
    wrong = compared = 0
    for event in decoded:
        row = rows[(event["blockNumber"], event["logIndex"])]
        for column, value in flatten(dict(event["args"])).items():
            wrong += _shown(row[RENAMED.get(column, column)]) != value
            compared += 1
    return compared, wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--borrowers-per-market", type=int, default=80)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    chain = generate_chain(
        SyntheticChainConfig(days=args.days, borrowers_per_market=args.borrowers_per_market)
    )
    raw, blocks = chain.raw_logs, chain.blocks
    events = web3_events()
    ours_s, decoded = best(args.repeat, lambda: decode_logs(raw, blocks))
    assert decoded.quarantine.is_empty()
    build_s, logs = best(args.repeat, lambda: web3_logs(raw))
    web3_s, theirs = best(args.repeat, lambda: decode_with_web3(logs, events))
    compared, wrong = disagreements(theirs, [decoded.morpho_events, decoded.oracle_rounds])
    n = raw.height
    print(
        f"{n:,} logs ({args.days} days, {args.borrowers_per_market} borrowers per market), best of {args.repeat}"
    )
    print(f"{'decoder':<52}{'s':>8}{'logs/s':>12}")
    print(f"{'softliq decode_logs (vectorised, polars)':<52}{ours_s:>8.3f}{n / ours_s:>12,.0f}")
    print(f"{'web3 process_log, per log':<52}{web3_s:>8.3f}{n / web3_s:>12,.0f}")
    print(
        f"{'  (+ building web3 log dicts from the rows)':<52}{build_s:>8.3f}{n / build_s:>12,.0f}"
    )
    print(f"speed-up {web3_s / ours_s:.0f}x; {compared:,} decoded values compared, {wrong} differ")


if __name__ == "__main__":
    main()
