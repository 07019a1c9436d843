"""Chainlink phase discovery over JSON-RPC (``sources/rpc/feeds.py``) against the loopback server:
``phaseId()`` / ``phaseAggregators(id)`` / ``aggregator()`` at chosen blocks give the same feeds
table as the synthetic chain's own proxies, in a logarithmic number of calls, through faults."""

from __future__ import annotations

from dataclasses import replace

import pytest

from softliq_core.sources.rpc import ClientSettings, RpcClient, RpcConfig, RpcSource
from softliq_core.sources.rpc.feeds import discover_feeds, phase_changes
from softliq_core.sources.synthetic import SyntheticChain, SyntheticChainConfig, SyntheticSource
from tests.support.rpc_server import Faults, serving

CONFIG = SyntheticChainConfig(seed=13, days=3, borrowers_per_market=8, crash_day=1)
FAST = ClientSettings(
    timeout=0.25, requests_per_second=0, max_attempts=30, backoff_base=0.001, backoff_max=0.01,
    batch_size=200, jitter_seed=1,
)  # fmt: skip


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    return SyntheticSource(CONFIG).chain


def test_phase_changes_bisects_only_where_the_phase_moves() -> None:
    starts = {1: 1_000, 2: 5_000, 3: 5_000, 4: 90_000}
    reads: list[int] = []

    def phase_at(block: int) -> int:
        reads.append(block)
        return max((p for p, b in starts.items() if b <= block), default=0)

    assert phase_changes(phase_at, 0, 100_000) == starts  # 2 and 3 confirmed in one block
    assert len(reads) < 4 * 17 + 2  # ~log2(range) per change
    reads.clear()
    assert phase_changes(phase_at, 6_000, 80_000) == {}
    assert len(reads) == 2  # a quiet range costs its two ends


@pytest.mark.parametrize("faults", [None, Faults(rate=0.3, seed=3)], ids=["clean", "faults"])
def test_discovered_feeds_equal_the_chains_proxies(
    chain: SyntheticChain, faults: Faults | None
) -> None:
    adapter = chain.markets[0].params.oracle  # any contract without phaseId(): not a proxy
    with serving(chain, faults=faults) as server:
        # (clean: a timeout a loaded machine cannot reach, so no retried batch counts below)
        client = RpcClient(server.url(), FAST if faults else replace(FAST, timeout=10.0))
        found = discover_feeds(
            client,
            [p.address for p in chain.proxies.values()] + [adapter],
            CONFIG.first_block,
            server.head,
            CONFIG.chain_id,
            heartbeats={p.address: p.spec.heartbeat for p in chain.proxies.values()},
        )
        calls = server.stats["method:eth_call"]
    assert found.feeds.equals(chain.feeds_table())
    assert found.not_proxies == (adapter,)
    # five proxies, one switch: heads and ends, ~log2(21,600 blocks) probes for the switch
    assert calls < 5 * 4 + 5 * 2 + 2 * 16 + 10 or faults is not None


def test_rpc_source_feeds_are_the_proxies_its_oracles_name(chain: SyntheticChain) -> None:
    with serving(chain) as server:
        source = RpcSource(
            RpcConfig(
                url=server.url(),
                chain_id=CONFIG.chain_id,
                markets_from_block=CONFIG.first_block,
                min_block=CONFIG.first_block,
                confirmations=0,
                feed_heartbeats=tuple(
                    (p.address, p.spec.heartbeat) for p in chain.proxies.values()
                ),
                client=FAST,
            )
        )
        assert source.feeds().equals(chain.feeds_table())


def test_phases_before_the_searched_range_are_left_out(chain: SyntheticChain) -> None:
    proxy = next(p for p in chain.proxies.values() if len(p.phases) == 2)
    switch = proxy.phases[1][2]
    with serving(chain) as server:
        found = discover_feeds(
            RpcClient(server.url(), FAST), [proxy.address], switch + 10, server.head, 1
        )
    assert found.feeds["phase_id"].to_list() == [2]
    assert found.feeds["first_block"].to_list() == [switch + 10]
    assert found.feeds["heartbeat"].to_list() == [None]  # not configured, not a known proxy
