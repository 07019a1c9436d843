"""AaveOracle sources over JSON-RPC: which recipe (``aave_price_sources.py``) a source address is.

``AssetSourceUpdated`` names an address only; what it returns depends on the contract behind it, so
each source is asked for its getters by ``eth_call`` at a block (the state then):

* a CAPO ratio adapter (``PriceCapAdapterBase``) answers ``BASE_TO_USD_AGGREGATOR()``,
  ``RATIO_DECIMALS()``, ``getSnapshotRatio()``, ``getSnapshotTimestamp()``,
  ``getMaxYearlyGrowthRatePercent()`` and ``getMaxRatioGrowthPerSecond()``; the stored growth per
  second tells the first generation (an integer per second) from later ones (scaled by 1e6). Its
  ratio is the adapter's own ``getRatio()`` (what it reads from its ``RATIO_PROVIDER``), an
  event-less input named ``<adapter>.getRatio()``;
* a CAPO stable adapter (``PriceCapAdapterStable``) answers ``ASSET_TO_USD_AGGREGATOR()`` and
  ``getPriceCap()`` (the 2024 generation has no ``getPriceCap()``: named unknown, not guessed);
* a Chainlink feed proxy answers ``aggregator()``.

Anything else is returned in ``unknown`` with the getter that failed, so the caller can name the asset
rather than price it as zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode as abi_decode

from softliq_core.aave_price_sources import (
    CAPO_SCALING,
    PERCENTAGE_FACTOR,
    SECONDS_PER_YEAR,
    CapoRatioAdapter,
    CapoStableAdapter,
    ChainlinkSource,
    PriceSource,
    PriceSourceError,
)
from softliq_core.sources.rpc.client import RpcClient
from softliq_core.sources.rpc.errors import RpcError
from softliq_core.sources.rpc.feeds import selector

CAPO_RATIO = {
    "BASE_TO_USD_AGGREGATOR()": "address", "RATIO_DECIMALS()": "uint8",
    "getSnapshotRatio()": "uint256", "getSnapshotTimestamp()": "uint256",
    "getMaxYearlyGrowthRatePercent()": "uint256", "getMaxRatioGrowthPerSecond()": "uint256",
}  # fmt: skip
CAPO_STABLE = {"ASSET_TO_USD_AGGREGATOR()": "address", "getPriceCap()": "int256"}
PROXY = {"aggregator()": "address"}
GETTERS = {**CAPO_RATIO, **CAPO_STABLE, **PROXY}
RATIO_CALL = "getRatio()"


@dataclass(frozen=True)
class AaveSources:
    recipes: dict[str, PriceSource] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)  # address -> why no recipe


def _answers(raw: dict[str, Any]) -> dict[str, Any]:
    """Each getter's decoded value; absent when it reverted or returned nothing."""
    values = {}
    for getter, answer in raw.items():
        if isinstance(answer, RpcError) or not isinstance(answer, str) or answer in ("0x", ""):
            continue
        value = abi_decode([GETTERS[getter]], bytes.fromhex(answer[2:]))[0]
        values[getter] = value.lower() if isinstance(value, str) else value
    return values


def _ratio_adapter(address: str, v: dict[str, Any]) -> CapoRatioAdapter | str:
    snapshot, percent = v["getSnapshotRatio()"], v["getMaxYearlyGrowthRatePercent()"]
    stored = v["getMaxRatioGrowthPerSecond()"]
    for scaling in (1, CAPO_SCALING):
        if snapshot * percent * scaling // PERCENTAGE_FACTOR // SECONDS_PER_YEAR == stored:
            return CapoRatioAdapter(
                address, v["BASE_TO_USD_AGGREGATOR()"], f"{address}.{RATIO_CALL}",
                v["RATIO_DECIMALS()"], snapshot, v["getSnapshotTimestamp()"], percent, scaling,
            )  # fmt: skip
    return (
        f"CAPO ratio adapter with a growth per second {stored} that neither generation derives "
        f"from ratio {snapshot} and {percent} bps a year"
    )


def read_aave_sources(
    client: RpcClient, addresses: Sequence[str], block: int | str = "latest"
) -> AaveSources:
    """The recipe of every AaveOracle source address, from its getters at ``block``."""
    tag = block if isinstance(block, str) else hex(block)
    calls = [
        ("eth_call", [{"to": a, "data": selector(g)}, tag]) for a in addresses for g in GETTERS
    ]
    answers = client.batch(calls, tolerate=True)
    found = AaveSources()
    for i, address in enumerate(addresses):
        raw = dict(zip(GETTERS, answers[i * len(GETTERS) : (i + 1) * len(GETTERS)], strict=True))
        v = _answers(raw)
        recipe: PriceSource | str
        if CAPO_RATIO.keys() <= v.keys():
            recipe = _ratio_adapter(address, v)
        elif CAPO_STABLE.keys() <= v.keys():
            try:
                recipe = CapoStableAdapter(
                    address, v["ASSET_TO_USD_AGGREGATOR()"], v["getPriceCap()"]
                )
            except PriceSourceError as error:
                recipe = str(error)
        elif PROXY.keys() <= v.keys():
            recipe = ChainlinkSource(address)
        else:
            missing = next(g for g in GETTERS if g not in v)
            recipe = f"unknown source: {missing} reverts (not a CAPO adapter nor a feed proxy)"
        if isinstance(recipe, str):
            found.unknown[address] = recipe
        else:
            found.recipes[address] = recipe
    return found
