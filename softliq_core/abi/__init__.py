"""Event ABIs of the contracts softliq reads, and the decoded column each field becomes.

The JSON files are the contracts' event ABIs (Morpho Blue, AdaptiveCurveIrm, PreLiquidation and its
factory, Chainlink aggregators; Aave V3's Pool, aToken / variable debt token, PoolConfigurator and
AaveOracle, and the CAPO adapters' cap updates). A field's column is its ABI name in snake_case, tuple components
are flattened into their own columns, and Morpho's ``id`` is called ``market_id``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from eth_abi.abi import encode
from eth_utils.crypto import keccak

CONTRACT_KINDS = (
    "morpho_blue",
    "adaptive_curve_irm",
    "pre_liquidation",
    "pre_liquidation_factory",
    "chainlink_aggregator",
)
MORPHO_KINDS = CONTRACT_KINDS[:4]
# Aave's Pool reuses Morpho's event names (Supply, Borrow, ...): encode_log takes the kind.
# aave_capo: the CAPO price adapters AaveOracle sources name (their cap parameters' updates).
AAVE_KINDS = (
    "aave_pool",
    "aave_scaled_token",
    "aave_pool_configurator",
    "aave_oracle",
    "aave_capo",
)

_COLUMN_RENAMES = {"id": "market_id"}


def column_name(abi_name: str) -> str:
    """ABI parameter name → snake_case column (``onBehalf`` → ``on_behalf``, ``preLCF1`` → ``pre_lcf1``)."""
    if abi_name in _COLUMN_RENAMES:
        return _COLUMN_RENAMES[abi_name]
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", abi_name)
    return re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", spaced).lower()


@dataclass(frozen=True, slots=True)
class EventField:
    column: str
    abi_type: str  # address, bytes32, uint8/16/256, int256, bool, or the dynamic string
    indexed: bool


@dataclass(frozen=True, slots=True)
class EventSpec:
    contract_kind: str
    name: str
    signature: str
    topic0: bytes
    fields: tuple[EventField, ...]

    @property
    def data_fields(self) -> tuple[EventField, ...]:
        return tuple(f for f in self.fields if not f.indexed)

    @property
    def indexed_fields(self) -> tuple[EventField, ...]:
        return tuple(f for f in self.fields if f.indexed)


def _canonical_type(item: dict[str, Any]) -> str:
    if item["type"] == "tuple":
        return "(" + ",".join(_canonical_type(c) for c in item["components"]) + ")"
    return str(item["type"])


def _flatten(item: dict[str, Any]) -> list[EventField]:
    if item["type"] == "tuple":
        # Static tuples are encoded inline, one word per component.
        return [
            EventField(column_name(c["name"]), c["type"], bool(item["indexed"]))
            for c in item["components"]
        ]
    return [EventField(column_name(item["name"]), item["type"], bool(item["indexed"]))]


@cache
def event_specs(contract_kind: str) -> tuple[EventSpec, ...]:
    text = resources.files(__package__).joinpath(f"{contract_kind}.json").read_text()
    specs = []
    for item in json.loads(text):
        if item.get("type") != "event":
            continue
        signature = f"{item['name']}({','.join(_canonical_type(i) for i in item['inputs'])})"
        fields = tuple(f for i in item["inputs"] for f in _flatten(i))
        specs.append(
            EventSpec(contract_kind, item["name"], signature, keccak(text=signature), fields)
        )
    return tuple(specs)


@cache
def specs_by_name() -> dict[str, EventSpec]:
    return {spec.name: spec for kind in CONTRACT_KINDS for spec in event_specs(kind)}


def spec_of(kind: str, event: str) -> EventSpec:
    for spec in event_specs(kind):
        if spec.name == event:
            return spec
    raise KeyError(f"{kind} has no event {event!r}")


def _abi_value(abi_type: str, value: Any) -> Any:
    if abi_type in ("address", "bytes32"):
        return bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else value
    return value


def encode_log(
    event: str, values: dict[str, Any], kind: str | None = None
) -> tuple[list[bytes], bytes]:
    """ABI-encode an event's topics (topic0 first) and data from its column values; ``kind``
    names the contract when the event's name is not unique (Aave's)."""
    spec = spec_of(kind, event) if kind else specs_by_name()[event]
    topics = [spec.topic0] + [
        encode([f.abi_type], [_abi_value(f.abi_type, values[f.column])])
        for f in spec.indexed_fields
    ]
    data_fields = spec.data_fields
    data = encode(
        [f.abi_type for f in data_fields],
        [_abi_value(f.abi_type, values[f.column]) for f in data_fields],
    )
    return topics, data
