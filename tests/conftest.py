"""Shared fixtures: one small synthetic chain (with a crash) and its decoded tables."""

from __future__ import annotations

import pytest

from softliq_core.decode import DecodedLogs, decode_logs
from softliq_core.markets import build_markets
from softliq_core.oracle_prices import oracle_prices
from softliq_core.replay.inputs import MarketHistory, market_histories
from softliq_core.sources.synthetic import SyntheticChain, SyntheticChainConfig, generate_chain

SMALL_CHAIN = SyntheticChainConfig(seed=11, days=4, borrowers_per_market=25, crash_day=2)


@pytest.fixture(scope="session")
def chain() -> SyntheticChain:
    return generate_chain(SMALL_CHAIN)


@pytest.fixture(scope="session")
def decoded(chain: SyntheticChain) -> DecodedLogs:
    return decode_logs(chain.raw_logs, chain.blocks)


@pytest.fixture(scope="session")
def histories(chain: SyntheticChain, decoded: DecodedLogs) -> list[MarketHistory]:
    markets = build_markets(decoded.morpho_events, chain.tokens_table(), chain.oracles_table())
    prices = oracle_prices(decoded.oracle_rounds, markets)
    return market_histories(decoded.morpho_events, prices, markets, chain.blocks)
