"""The RPC source: Morpho Blue and Chainlink history from an archive node's JSON-RPC."""

from softliq_core.sources.base import DayNotFinalError
from softliq_core.sources.rpc.client import ClientSettings, RpcClient
from softliq_core.sources.rpc.config import URL_ENV, RpcConfig, known_topic0s
from softliq_core.sources.rpc.errors import (
    RpcBatchTooLargeError,
    RpcError,
    RpcRangeError,
    RpcRetriesExhaustedError,
    RpcTransientError,
    redacted_url,
)
from softliq_core.sources.rpc.source import RpcSource

__all__ = [
    "URL_ENV",
    "ClientSettings",
    "DayNotFinalError",
    "RpcBatchTooLargeError",
    "RpcClient",
    "RpcConfig",
    "RpcError",
    "RpcRangeError",
    "RpcRetriesExhaustedError",
    "RpcSource",
    "RpcTransientError",
    "known_topic0s",
    "redacted_url",
]
