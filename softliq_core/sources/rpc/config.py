"""What the RPC source needs to know: the endpoint, the contracts to watch, and how polite to be."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from softliq_core.abi import AAVE_KINDS, CONTRACT_KINDS, event_specs
from softliq_core.sources.rpc.client import ClientSettings
from softliq_core.sources.rpc.errors import RpcError

URL_ENV = "SOFTLIQ_RPC_URL"

# Ethereum mainnet deployments.
MORPHO_BLUE = "0xbbbbbbbbbb9cc5e90e3b3af64bdaf62c37eeffcb"
ADAPTIVE_CURVE_IRM = "0x870ac11d48b15db9a138cf899d20f13f79ba00bc"
PRE_LIQUIDATION_FACTORY = "0x6ff33615e792e35ed1026ea7cacccf43d6f0f3f7"
MORPHO_BLUE_DEPLOY_BLOCK = 18_883_124


def known_topic0s() -> tuple[str, ...]:
    """topic0 of every event the decoder knows (Morpho Blue, IRM, pre-liquidation, Chainlink,
    Aave V3)."""
    kinds = CONTRACT_KINDS + AAVE_KINDS
    return tuple(sorted({"0x" + spec.topic0.hex() for kind in kinds for spec in event_specs(kind)}))


def _address(value: str) -> str:
    text = value.strip().lower()
    if not text.startswith("0x") or len(text) != 42:
        raise ValueError(f"not an address: {value!r}")
    int(text, 16)
    return text


@dataclass(frozen=True, slots=True)
class RpcConfig:
    """The RPC source's configuration. ``url`` None means the ``SOFTLIQ_RPC_URL`` environment
    variable; it is never part of ``repr`` and never logged."""

    url: str | None = field(default=None, repr=False)
    chain_id: int = 1
    # Contracts whose logs are fetched: Morpho Blue, the IRM, the PreLiquidation factory and its
    # contracts, and the markets' Chainlink aggregators (the contracts emitting AnswerUpdated).
    addresses: tuple[str, ...] = (MORPHO_BLUE, ADAPTIVE_CURVE_IRM, PRE_LIQUIDATION_FACTORY)
    # topic0 filter; None = every event the decoder knows, () = no filter (all logs of the contracts)
    topic0s: tuple[str, ...] | None = None
    morpho: str = MORPHO_BLUE  # its CreateMarket logs name the tokens and oracles to describe
    markets_from_block: int = MORPHO_BLUE_DEPLOY_BLOCK
    tokens: tuple[str, ...] = ()  # described in addition to the discovered ones
    oracles: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()  # Chainlink proxies described besides those the oracles name
    feed_heartbeats: tuple[tuple[str, int], ...] = ()  # (proxy, seconds); see rpc/feeds.py
    min_block: int = 0  # the earliest block day boundaries are searched from
    confirmations: int = 64  # a day is ingested once its last block is this far below the head
    finalized: bool = (
        False  # instead: once its last block is at or below the node's `finalized` tag
    )
    log_chunk_blocks: int = 2_000  # first eth_getLogs range; bisected when the provider refuses
    discovery_chunk_blocks: int = 100_000  # first range of the CreateMarket scan (sparse)
    client: ClientSettings = field(default_factory=ClientSettings)

    def __post_init__(self) -> None:
        if self.log_chunk_blocks < 1 or self.discovery_chunk_blocks < 1:
            raise ValueError("chunk sizes must be at least one block")
        if self.confirmations < 0:
            raise ValueError("confirmations must be >= 0")
        object.__setattr__(self, "addresses", tuple(_address(a) for a in self.addresses))
        object.__setattr__(self, "tokens", tuple(_address(a) for a in self.tokens))
        object.__setattr__(self, "oracles", tuple(_address(a) for a in self.oracles))
        object.__setattr__(self, "feeds", tuple(_address(a) for a in self.feeds))
        object.__setattr__(
            self, "feed_heartbeats", tuple((_address(a), int(s)) for a, s in self.feed_heartbeats)
        )
        object.__setattr__(self, "morpho", _address(self.morpho))

    def resolved_url(self) -> str:
        url = self.url or os.environ.get(URL_ENV, "")
        if not url:
            raise RpcError(f"no RPC URL: set {URL_ENV} or configure the source's url")
        return url

    def resolved_topic0s(self) -> tuple[str, ...]:
        if self.topic0s is None:
            return known_topic0s()
        return tuple(t.lower() for t in self.topic0s)
