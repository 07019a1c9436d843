"""Morpho oracles over JSON-RPC (``sources/rpc/oracles.py``) against the loopback server: V2 and
V1 immutables, unknown shapes named, and event-less inputs sampled by archive eth_call exactly as
the synthetic chain's own state gives them."""

from __future__ import annotations

import polars as pl
import pytest

from softliq_core.oracle_prices import recipe_of
from softliq_core.protocols.morpho.oracle import V1, V2
from softliq_core.rate_samples import sample_rates
from softliq_core.sources.rpc import ClientSettings, RpcClient, RpcConfig, RpcSource
from softliq_core.sources.rpc.oracles import read_oracles, read_rates
from softliq_core.sources.synthetic import SyntheticChain, SyntheticChainConfig, SyntheticSource
from tests.support.rpc_server import serving

CONFIG = SyntheticChainConfig(seed=13, days=3, borrowers_per_market=8, crash_day=1)
# (a timeout long enough for a batch on a loaded machine: a retried batch would be counted again
# by the call budget below, which is the algorithm's, not the transport's)
FAST = ClientSettings(
    timeout=10.0, requests_per_second=0, max_attempts=30, backoff_base=0.001, backoff_max=0.01,
    batch_size=200, jitter_seed=1,
)  # fmt: skip
V1_ORACLE = "0x" + "71" * 20
ODD_ORACLE = "0x" + "72" * 20
VAULT = "0x" + "73" * 20


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    return SyntheticSource(CONFIG).chain


def test_v2_v1_and_unknown_shapes(chain: SyntheticChain) -> None:
    feed = next(iter(chain.proxies))
    with serving(chain) as server:
        for name, abi_type, value in [
            ("VAULT()", "address", VAULT), ("VAULT_CONVERSION_SAMPLE()", "uint256", 10**18),
            ("BASE_FEED_1()", "address", feed), ("BASE_FEED_2()", "address", "0x" + "00" * 20),
            ("QUOTE_FEED_1()", "address", "0x" + "00" * 20),
            ("QUOTE_FEED_2()", "address", "0x" + "00" * 20), ("SCALE_FACTOR()", "uint256", 10**8),
        ]:  # fmt: skip
            server.add_call(V1_ORACLE, name, abi_type, value)
        server.add_call(ODD_ORACLE, "SCALE_FACTOR()", "uint256", 1)
        oracles = [m.params.oracle for m in chain.markets]
        table = read_oracles(RpcClient(server.url(), FAST), [*oracles, V1_ORACLE, ODD_ORACLE])
    assert table.head(len(oracles)).equals(chain.oracles_table())
    assert set(table.head(len(oracles))["oracle_kind"]) == {V2}
    v1 = table.row(len(oracles), named=True)
    assert v1 == {
        "oracle": V1_ORACLE, "oracle_kind": V1, "base_feed_1": feed, "base_feed_2": None,
        "quote_feed_1": None, "quote_feed_2": None, "base_vault": VAULT,
        "base_vault_conversion_sample": str(10**18), "quote_vault": None,
        "quote_vault_conversion_sample": "1", "scale_factor": str(10**8),
    }  # fmt: skip
    odd = table.row(len(oracles) + 1, named=True)
    assert odd["oracle_kind"] == "unknown: BASE_VAULT() reverts"
    recipe = recipe_of({**v1, "market_id": "0x01"})
    assert recipe.kind == V1 and recipe.vaults == ((VAULT, 10**18),)


def test_adapter_answers_at_past_blocks(chain: SyntheticChain) -> None:
    (adapter,) = chain.adapters.values()
    blocks = [b for b, _ in adapter.history[1:]]
    probes = sorted({b + d for b in blocks for d in (-1, 0, 1)})
    with serving(chain) as server:
        got = read_rates(
            RpcClient(server.url(), FAST), adapter.address, "latestRoundData", None, probes
        )
    assert got == [adapter.answer_after(b) for b in probes]
    assert len(set(got)) == len(blocks) + 1  # each report seen from its own block on


def test_rate_samples_over_rpc_equal_the_synthetic_ones(chain: SyntheticChain) -> None:
    with serving(chain) as server:
        source = RpcSource(
            RpcConfig(url=server.url(), chain_id=CONFIG.chain_id, markets_from_block=CONFIG.first_block,
                      min_block=CONFIG.first_block, confirmations=0, client=FAST)
        )  # fmt: skip
        table = sample_rates(
            lambda rate, blocks: source.rate_at(rate.contract, rate.call, rate.sample, blocks),
            [
                recipe_of({**row, "market_id": "?"})
                for row in source.oracles().iter_rows(named=True)
            ],
            set(chain.proxies),
            CONFIG.first_block,
            CONFIG.first_block + CONFIG.n_blocks - 1,
            CONFIG.chain_id,
        )
        calls = server.stats["method:eth_call"]
    assert table.equals(chain.rate_samples())
    assert table.filter(pl.col("call") == "latestRoundData")["value"].n_unique() == 4  # 3 reports
    # 11 getters per oracle, the grid every 300 blocks, ~log2(300) reads to place each report
    assert calls <= 4 * 11 + (CONFIG.n_blocks // 300 + 2) + 3 * 9
