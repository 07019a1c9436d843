"""Morpho oracles over JSON-RPC: their immutables, and their event-less inputs at past blocks.

* ``read_oracles``: each oracle's shape and immutables by ``eth_call`` at the head. A
  ``MorphoChainlinkOracleV2`` answers ``BASE_VAULT()``, ``BASE_VAULT_CONVERSION_SAMPLE()``,
  ``QUOTE_VAULT()``, ``QUOTE_VAULT_CONVERSION_SAMPLE()``, the four feeds and ``SCALE_FACTOR()``; a
  V1 ``ChainlinkOracle`` answers ``VAULT()``, ``VAULT_CONVERSION_SAMPLE()``, the feeds and
  ``SCALE_FACTOR()``. Anything else is returned with ``oracle_kind`` "unknown" (and which getter
  failed), so ``markets`` can name the market it belongs to rather than price it as zero.
* ``read_rates``: a vault's ``convertToAssets(sample)`` or an adapter's ``latestRoundData()``
  answer by archive ``eth_call`` at each block (``rate_samples.py`` chooses the blocks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode

from softliq_core.markets import ORACLES_SCHEMA
from softliq_core.protocols.morpho.oracle import V1, V2
from softliq_core.rate_samples import ADAPTER_CALL, VAULT_CALL
from softliq_core.sources.rpc.client import RpcClient
from softliq_core.sources.rpc.errors import RpcError
from softliq_core.sources.rpc.feeds import ZERO_ADDRESS, selector

FEEDS = ("BASE_FEED_1", "BASE_FEED_2", "QUOTE_FEED_1", "QUOTE_FEED_2")
V2_GETTERS = (
    "BASE_VAULT", "BASE_VAULT_CONVERSION_SAMPLE", "QUOTE_VAULT", "QUOTE_VAULT_CONVERSION_SAMPLE",
    *FEEDS, "SCALE_FACTOR",
)  # fmt: skip
V1_GETTERS = ("VAULT", "VAULT_CONVERSION_SAMPLE")
_TYPES = {name: "address" if "VAULT" in name and "SAMPLE" not in name else "uint256"
          for name in V2_GETTERS + V1_GETTERS} | {f: "address" for f in FEEDS}  # fmt: skip


def _value(raw: Any, abi_type: str) -> Any:
    if isinstance(raw, RpcError) or not isinstance(raw, str) or raw in ("0x", ""):
        return None
    value = abi_decode([abi_type], bytes.fromhex(raw[2:]))[0]
    if abi_type == "address":
        return None if value.lower() == ZERO_ADDRESS else value.lower()
    return str(value)


def read_oracles(client: RpcClient, addresses: Sequence[str]) -> pl.DataFrame:
    """``ORACLES_SCHEMA`` rows for every address, V2 or V1 or "unknown: <getter> reverts"."""
    getters = V2_GETTERS + V1_GETTERS
    answers = client.batch(
        [("eth_call", [{"to": a, "data": selector(f"{g}()")}, "latest"]) for a in addresses for g in getters],
        tolerate=True,
    )  # fmt: skip
    rows = []
    for i, address in enumerate(addresses):
        raw = dict(zip(getters, answers[i * len(getters) : (i + 1) * len(getters)], strict=True))
        failed = [g for g, r in raw.items() if isinstance(r, RpcError) or r in (None, "0x", "")]
        v = {g: _value(r, _TYPES[g]) for g, r in raw.items()}
        if not any(g in failed for g in V2_GETTERS):
            kind = V2
            vaults = [v[g] for g in V2_GETTERS[:4]]
        elif not any(g in failed for g in (*V1_GETTERS, *FEEDS, "SCALE_FACTOR")):
            kind = V1
            vaults = [v["VAULT"], v["VAULT_CONVERSION_SAMPLE"], None, "1"]
        else:
            missing = next(g for g in V2_GETTERS if g in failed)
            rows.append((address, f"unknown: {missing}() reverts", *([None] * 9)))
            continue
        rows.append((address, kind, *(v[f] for f in FEEDS), *vaults, v["SCALE_FACTOR"]))
    return pl.DataFrame(rows, schema=ORACLES_SCHEMA, orient="row")


def read_rates(
    client: RpcClient, contract: str, call: str, sample: int | None, blocks: Sequence[int]
) -> list[int]:
    """The input's value by ``eth_call`` at each block (the state after it)."""
    if call == VAULT_CALL:
        data = selector("convertToAssets(uint256)") + abi_encode(["uint256"], [sample]).hex()
        types = ["uint256"]
    elif call == ADAPTER_CALL:
        data = selector("latestRoundData()")
        types = ["uint80", "int256", "uint256", "uint256", "uint80"]
    else:
        raise ValueError(f"unknown rate call {call!r}")
    answers = client.batch(
        [("eth_call", [{"to": contract, "data": data}, hex(block)]) for block in blocks]
    )
    values = []
    for block, raw in zip(blocks, answers, strict=True):
        if not isinstance(raw, str) or raw in ("0x", ""):
            raise RpcError(f"{contract}.{call} at block {block}: empty answer (no code then?)")
        decoded = abi_decode(types, bytes.fromhex(raw[2:]))
        values.append(int(decoded[0] if call == VAULT_CALL else decoded[1]))
    return values
