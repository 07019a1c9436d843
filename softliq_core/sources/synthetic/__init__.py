"""The embedded synthetic chain, the default source: nothing to configure, deterministic by seed."""

from softliq_core.sources.synthetic.chain import (
    SyntheticChain,
    SyntheticChainConfig,
    SyntheticMarket,
    Token,
    generate_chain,
)
from softliq_core.sources.synthetic.source import SyntheticSource

__all__ = [
    "SyntheticChain",
    "SyntheticChainConfig",
    "SyntheticMarket",
    "SyntheticSource",
    "Token",
    "generate_chain",
]
