"""AaveOracle sources over JSON-RPC (``sources/rpc/aave_sources.py``) against the loopback server:
CAPO ratio adapters of both generations and CAPO stable adapters are recognised from their getters
and priced by the CAPO recipes; a feed proxy is a Chainlink source; anything else is named."""

from __future__ import annotations

import pytest

from softliq_core.aave_price_sources import (
    CAPO_SCALING,
    CapoRatioAdapter,
    CapoStableAdapter,
    ChainlinkSource,
)
from softliq_core.sources.rpc import ClientSettings, RpcClient
from softliq_core.sources.rpc.aave_sources import read_aave_sources
from softliq_core.sources.synthetic import SyntheticChain, SyntheticChainConfig, SyntheticSource
from tests.support.rpc_server import ChainRpcServer, serving

CONFIG = SyntheticChainConfig(seed=13, days=2, borrowers_per_market=4, crash_day=1)
FAST = ClientSettings(
    timeout=0.25, requests_per_second=0, max_attempts=30, backoff_base=0.001, backoff_max=0.01,
    batch_size=200, jitter_seed=1,
)  # fmt: skip
WSTETH_CAPO, OLD_CAPO, USDC_CAPO = ("0x" + b * 20 for b in ("c1", "c2", "c3"))
BIG_CAP, ODD = "0x" + "c4" * 20, "0x" + "c5" * 20
SNAPSHOT, SNAPSHOT_T, PERCENT = 1_151_642_949_000_000_000, 1_708_000_000, 968
YEAR = 365 * 86_400


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    return SyntheticSource(CONFIG).chain


def _proxy(chain: SyntheticChain, name: str) -> str:
    return next(a for a, p in chain.proxies.items() if p.spec.name == name)


def _ratio_adapter(server: ChainRpcServer, address: str, eth_usd: str, scaling: int) -> None:
    for name, abi_type, value in [
        ("BASE_TO_USD_AGGREGATOR()", "address", eth_usd), ("RATIO_DECIMALS()", "uint8", 18),
        ("getSnapshotRatio()", "uint256", SNAPSHOT), ("getSnapshotTimestamp()", "uint256", SNAPSHOT_T),
        ("getMaxYearlyGrowthRatePercent()", "uint256", PERCENT),
        ("getMaxRatioGrowthPerSecond()", "uint256", SNAPSHOT * PERCENT * scaling // 10_000 // YEAR),
    ]:  # fmt: skip
        server.add_call(address, name, abi_type, value)


def test_capo_adapters_and_feeds_are_recognised(chain: SyntheticChain) -> None:
    eth_usd, usdc_usd = (_proxy(chain, name) for name in ("ETH / USD", "USDC / USD"))
    with serving(chain) as server:
        _ratio_adapter(server, WSTETH_CAPO, eth_usd, CAPO_SCALING)
        _ratio_adapter(server, OLD_CAPO, eth_usd, 1)
        for address, cap in ((USDC_CAPO, 104_000_000), (BIG_CAP, 3 * 10**8)):
            server.add_call(address, "ASSET_TO_USD_AGGREGATOR()", "address", usdc_usd)
            server.add_call(address, "getPriceCap()", "int256", cap)
        server.add_call(ODD, "RATIO_DECIMALS()", "uint8", 18)
        found = read_aave_sources(
            RpcClient(server.url(), FAST),
            [WSTETH_CAPO, OLD_CAPO, USDC_CAPO, eth_usd, BIG_CAP, ODD],
            chain.blocks["block_number"].max(),  # type: ignore[arg-type]
        )
    assert found.recipes == {
        WSTETH_CAPO: CapoRatioAdapter(WSTETH_CAPO, eth_usd, f"{WSTETH_CAPO}.getRatio()", 18,
                                      SNAPSHOT, SNAPSHOT_T, PERCENT, CAPO_SCALING),
        OLD_CAPO: CapoRatioAdapter(OLD_CAPO, eth_usd, f"{OLD_CAPO}.getRatio()", 18, SNAPSHOT,
                                   SNAPSHOT_T, PERCENT, 1),
        USDC_CAPO: CapoStableAdapter(USDC_CAPO, usdc_usd, 104_000_000),
        eth_usd: ChainlinkSource(eth_usd),
    }  # fmt: skip
    assert set(found.unknown) == {BIG_CAP, ODD}
    assert "cap above 2 USD" in found.unknown[BIG_CAP]
    assert found.unknown[ODD].startswith("unknown source: BASE_TO_USD_AGGREGATOR() reverts")
    # the CAPO recipe prices: a ratio above the cap is capped (one year on: +9.68 %)
    capo = found.recipes[WSTETH_CAPO]
    inputs = {eth_usd: 3000 * 10**8, f"{WSTETH_CAPO}.getRatio()": 2 * SNAPSHOT}
    capped = capo.latest_answer(inputs, SNAPSHOT_T + YEAR)
    assert capped < 3000 * 2 * SNAPSHOT * 10**8 // 10**18
    assert (
        capped == 3000 * 10**8 * found.recipes[WSTETH_CAPO].max_ratio(SNAPSHOT_T + YEAR) // 10**18
    )  # type: ignore[attr-defined]
    assert found.recipes[USDC_CAPO].latest_answer({usdc_usd: 105_000_000}, 0) == 104_000_000


def test_a_growth_no_generation_derives_is_named(chain: SyntheticChain) -> None:
    with serving(chain) as server:
        _ratio_adapter(server, WSTETH_CAPO, _proxy(chain, "ETH / USD"), 7)
        found = read_aave_sources(RpcClient(server.url(), FAST), [WSTETH_CAPO])
    assert found.recipes == {}
    assert "neither generation derives" in found.unknown[WSTETH_CAPO]
