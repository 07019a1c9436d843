"""Shared fixtures: one small synthetic chain (with a crash) and its decoded tables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

from softliq_core import steps
from softliq_core.decode import DecodedLogs, decode_logs
from softliq_core.replay.aave_history import AaveHistory, aave_history
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.scenario import load_scenarios
from softliq_core.sources.synthetic import (
    SyntheticChain,
    SyntheticChainConfig,
    SyntheticSource,
    generate_chain,
)
from softliq_core.store.lake import Lake
from tests.support.pipeline import InMemory, run_in_memory

# CI draws the same examples on every run (.ci/run sets HYPOTHESIS_PROFILE=ci), so a run that does
# not land says the change broke something; a developer's run draws new ones each time, which is
# where a property test finds what it has not seen yet (a found case is then pinned with @example).
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SMALL_CHAIN = SyntheticChainConfig(seed=11, days=4, borrowers_per_market=25, crash_day=2)


@pytest.fixture(scope="session")
def chain() -> SyntheticChain:
    return generate_chain(SMALL_CHAIN)


@pytest.fixture(scope="session")
def decoded(chain: SyntheticChain) -> DecodedLogs:
    return decode_logs(chain.raw_logs, chain.blocks, chain.feeds_table())


@pytest.fixture(scope="session")
def in_memory(chain: SyntheticChain, decoded: DecodedLogs) -> InMemory:
    return run_in_memory(chain, decoded)


@pytest.fixture(scope="session")
def histories(in_memory: InMemory) -> list[MarketHistory]:
    return in_memory.histories


@pytest.fixture(scope="session")
def aave_pool_history(chain: SyntheticChain, decoded: DecodedLogs) -> AaveHistory:
    """The small chain's Aave pool as the replay reads it."""
    setup = SyntheticSource(SMALL_CHAIN).aave_pool()
    assert setup is not None
    return aave_history(
        setup, decoded.aave_events, decoded.oracle_rounds, chain.feeds_table(),
        chain.rate_samples(), chain.blocks,
    )  # fmt: skip


REPORT_SCENARIOS = Path(__file__).parent / "data" / "report_scenarios.toml"


@dataclass(frozen=True)
class OutcomeStore:
    lake: Lake
    duckdb: Path
    scenario_file: Path
    chain_id: int


@pytest.fixture(scope="session")
def outcome_store(tmp_path_factory: pytest.TempPathFactory) -> OutcomeStore:
    """The pipeline's steps without Dagster, on a three-day chain with a crash, for a small sweep."""
    root = tmp_path_factory.mktemp("outcomes")
    source = SyntheticSource(
        SyntheticChainConfig(seed=5, days=3, borrowers_per_market=15, crash_day=1)
    )
    lake = Lake(root / "lake")
    steps.build_lake(source, lake, source.days())
    outcomes = steps.replay_scenarios(lake, source.chain_id, load_scenarios(REPORT_SCENARIOS))
    steps.store_outcomes(outcomes, root / "softliq.duckdb", lake)
    return OutcomeStore(lake, root / "softliq.duckdb", REPORT_SCENARIOS, source.chain_id)
