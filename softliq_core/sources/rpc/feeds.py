"""Chainlink proxy phases over JSON-RPC: the ``feeds`` table from ``eth_call`` at chosen blocks.

A proxy emits no event when it switches aggregator (spec ``aave_chainlink.md`` §6.3), so its phases
are read from its state:

1. at the head: ``phaseId()`` (the current phase), ``phaseAggregators(1..phaseId)`` (kept forever),
   ``aggregator()`` (must be the current phase's), ``description()`` and ``decimals()``;
2. each phase's first block: ``phaseId()`` never decreases, so the blocks where it changes are
   found by bisecting ``phaseId()`` at historical blocks (archive ``eth_call``) between
   ``first_block`` and the head: about log2(range) calls per switch, none for a quiet range;
3. ``aggregator()`` at each phase's first block is checked against ``phaseAggregators``.

``eth_call`` at block B answers from the state after B, so "first block" is the block in which
``confirmAggregator`` ran; where in that block is not known (``feeds.py`` takes the switch from the
start of the block). Phases that ended before ``first_block`` are left out: they cannot price
anything in the range. An address whose ``phaseId()`` reverts is not a proxy (an adapter such as
Morpho's wstETH exchange-rate feed, or a bare aggregator) and is returned apart, not guessed at.
Heartbeats are not on chain: they come from configuration (``KNOWN_HEARTBEATS`` are the published
values of a few Ethereum feeds, spec §6.5, unverified); unknown ones stay null.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from softliq_core.feeds import feeds_table
from softliq_core.rate_samples import change_points
from softliq_core.sources.rpc.client import RpcClient
from softliq_core.sources.rpc.errors import RpcError

log = logging.getLogger("softliq_core.sources.rpc")

ZERO_ADDRESS = "0x" + "00" * 20

# Ethereum mainnet proxies (spec aave_chainlink.md §6.5; heartbeats from third-party pages).
KNOWN_HEARTBEATS = {
    "0x5f4ec3df9cbd43714fe2740f5e3616155c5b8419": 3_600,  # ETH / USD
    "0xf4030086522a5beea4988f8ca5b36dbc97bee88c": 3_600,  # BTC / USD
    "0x8fffffd4afb6115b954bd326cbe7b4ba576818f6": 86_400,  # USDC / USD
    "0x3e7d1eab13ad0104d2750b8863b489d65364e32d": 86_400,  # USDT / USD
    "0x86392dc19c0b719886221c78ab11eb8cf5c52812": 86_400,  # stETH / ETH
}


def selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


PHASE_ID = selector("phaseId()")
PHASE_AGGREGATORS = selector("phaseAggregators(uint16)")
AGGREGATOR = selector("aggregator()")
DESCRIPTION = selector("description()")
DECIMALS = selector("decimals()")


def _word(raw: Any, abi_type: str) -> Any:
    """Decode an eth_call result; None for a revert or an empty answer (no code at that block)."""
    if isinstance(raw, RpcError) or not isinstance(raw, str) or raw in ("0x", ""):
        return None
    value = abi_decode([abi_type], bytes.fromhex(raw[2:]))[0]
    return value.lower() if abi_type == "address" else value


@dataclass(frozen=True, slots=True)
class Discovery:
    feeds: pl.DataFrame  # the FEEDS table
    not_proxies: tuple[str, ...]  # addresses whose phaseId() reverts


class _Calls:
    """Batched eth_call at a block, each answer cached (bisection revisits blocks)."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client
        self._cache: dict[tuple[str, str, int], Any] = {}

    def many(self, calls: Iterable[tuple[str, str, int]]) -> list[Any]:
        wanted = list(calls)
        missing = sorted({c for c in wanted if c not in self._cache})
        if missing:
            answers = self.client.batch(
                [
                    ("eth_call", [{"to": to, "data": data}, hex(block)])
                    for to, data, block in missing
                ],
                tolerate=True,
            )
            self._cache.update(zip(missing, answers, strict=True))
        return [self._cache[c] for c in wanted]

    def one(self, to: str, data: str, block: int) -> Any:
        return self.many([(to, data, block)])[0]


def phase_changes(read: Callable[[int], int], lo: int, hi: int) -> dict[int, int]:
    """{phase id: first block with phaseId() >= it} for the phases that start in (lo, hi], given
    ``read``, the phase id at a block (non-decreasing). Bisects only ranges whose ends differ."""
    if hi <= lo:
        return {}
    at_lo = read(lo)
    found: dict[int, int] = {}
    for block, phase in change_points(read, lo, hi, at_lo, read(hi)).items():
        if phase < at_lo:
            raise RpcError(f"phaseId() is not monotone: {at_lo} before block {block}, then {phase}")
        for p in range(at_lo + 1, phase + 1):
            found[p] = block
        at_lo = phase
    return found


def discover_feeds(
    client: RpcClient,
    addresses: Iterable[str],
    first_block: int,
    head: int,
    chain_id: int,
    heartbeats: Mapping[str, int] | None = None,
) -> Discovery:
    """The ``feeds`` table of the proxies among ``addresses``, phases in [first_block, head]."""
    beats = {**KNOWN_HEARTBEATS, **{k.lower(): v for k, v in (heartbeats or {}).items()}}
    calls = _Calls(client)
    proxies = sorted({a.lower() for a in addresses})
    heads = calls.many(
        (p, data, head) for p in proxies for data in (PHASE_ID, AGGREGATOR, DESCRIPTION, DECIMALS)
    )
    rows: list[tuple[object, ...]] = []
    not_proxies = []
    for i, proxy in enumerate(proxies):
        phase_raw, aggregator_raw, description_raw, decimals_raw = heads[4 * i : 4 * i + 4]
        current = _word(phase_raw, "uint16")
        if not current:
            not_proxies.append(proxy)
            continue
        aggregators = [
            _word(raw, "address")
            for raw in calls.many(
                (proxy, PHASE_AGGREGATORS + abi_encode(["uint16"], [p]).hex(), head)
                for p in range(1, current + 1)
            )
        ]
        if _word(aggregator_raw, "address") != aggregators[-1]:
            raise RpcError(
                f"feed {proxy}: aggregator() is not phaseAggregators({current}) at block {head}"
            )

        def phase_at(block: int, proxy: str = proxy) -> int:
            return int(_word(calls.one(proxy, PHASE_ID, block), "uint16") or 0)

        starts = phase_changes(phase_at, first_block, head)
        at_first = phase_at(first_block)
        if at_first:
            starts[at_first] = first_block
        checks = calls.many((proxy, AGGREGATOR, block) for block in starts.values())
        for (phase, block), raw in zip(starts.items(), checks, strict=True):
            last_of_block = phase == max(p for p, b in starts.items() if b == block)
            if last_of_block and _word(raw, "address") != aggregators[phase - 1]:
                raise RpcError(
                    f"feed {proxy}: aggregator() at block {block} is not phase {phase}'s"
                )
        description = _word(description_raw, "string")
        decimals = _word(decimals_raw, "uint8")
        for phase, block in sorted(starts.items()):
            aggregator = aggregators[phase - 1]
            if aggregator in (None, ZERO_ADDRESS):
                raise RpcError(f"feed {proxy}: phaseAggregators({phase}) is empty")
            rows.append(
                (chain_id, proxy, description, decimals, beats.get(proxy), phase, aggregator, block)
            )
        log.info("feed %s (%s): phases %s", proxy, description, sorted(starts))
    return Discovery(feeds_table(rows), tuple(not_proxies))
