"""Aave price sources (AaveOracle, CAPO adapters, peg-to-base) with worked numbers, exact."""

from __future__ import annotations

import pytest

from softliq_core.aave_price_sources import (
    BASE_CURRENCY,
    BASE_CURRENCY_UNIT,
    CapoRatioAdapter,
    CapoStableAdapter,
    ChainlinkSource,
    PegToBaseAdapter,
    PriceSourceError,
    asset_price,
)
from softliq_core.protocols.aave.version import V3_0, VersionSchedule
from softliq_core.replay.aave_ledger import AaveLedger

ETH_USD = "0x5f4ec3df9cbd43714fe2740f5e3616155c5b8419"
USDC_USD = "0x8fffffd4afb6115b954bd326cbe7b4ba576818f6"
BTC_USD = "0xf4030086522a5beea4988f8ca5b36dbc97bee88c"
WBTC_BTC = "0xfdfd9c85ad200c506cf9e21f1fd8dd01932fbb23"
STETH_RATIO = "0xae7ab96520de3a18e5e111b5eaab095312d7fe84"  # getPooledEthByShares(1e18)
WSTETH = "0x7f39c581f595b53c5cb19bd0b3f8da6c935e2ca0"
USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
WBTC = "0x2260fac5e5542a773aa44fbcfedf7c193bc2c599"
T0 = 1_708_992_000  # 2024-02-27, the snapshot
DAY = 86_400

WSTETH_CAPO = CapoRatioAdapter(
    "0xb4ab0c94159bc2d8c133946e7241368fc2f2a010", ETH_USD, STETH_RATIO, 18,
    snapshot_ratio=1_150_000_000_000_000_000, snapshot_timestamp=T0,
    max_yearly_ratio_growth_percent=968,  # 9.68 % a year, the launch parameter
)  # fmt: skip


def test_base_currency_is_usd_with_8_decimals() -> None:
    assert BASE_CURRENCY_UNIT == 100_000_000
    assert asset_price(BASE_CURRENCY, None, {}, T0) == 10**8
    weth = ChainlinkSource(ETH_USD)
    assert asset_price(WSTETH, weth, {ETH_USD: 3_000_12345678}, T0) == 3_000_12345678


def test_capo_ratio_cap_grows_linearly_from_the_snapshot() -> None:
    # growth per second, scaled 1e6: 1.15e18 · 968 · 1e6 / 1e4 / 31,536,000
    assert WSTETH_CAPO.max_ratio_growth_per_second == 3_529_934_043_632_673
    # 30 days on: 1.15 · (1 + 9.68 % · 30/365) = 1.159149589...
    assert WSTETH_CAPO.max_ratio(T0 + 30 * DAY) == 1_159_149_589_041_095_888
    assert WSTETH_CAPO.max_ratio(T0) == 1_150_000_000_000_000_000


def test_capo_caps_a_ratio_above_its_max_and_passes_one_below() -> None:
    t = T0 + 30 * DAY
    eth = 3_000_00000000
    # a ratio of 1.17 (a manipulated or misreported rate) is capped at 1.159149...: $3,477.45
    capped = {ETH_USD: eth, STETH_RATIO: 1_170_000_000_000_000_000}
    assert WSTETH_CAPO.is_capped(capped, t)
    assert asset_price(WSTETH, WSTETH_CAPO, capped, t) == 347_744_876_712
    # a normal ratio passes through: 3000 × 1.155 = $3,465
    normal = {ETH_USD: eth, STETH_RATIO: 1_155_000_000_000_000_000}
    assert not WSTETH_CAPO.is_capped(normal, t)
    assert asset_price(WSTETH, WSTETH_CAPO, normal, t) == 346_500_000_000
    # the same ratio is capped earlier, when the cap has not grown to it yet: 3000 × 1.15 + growth
    early = T0 + DAY
    assert asset_price(WSTETH, WSTETH_CAPO, normal, early) == (
        eth * WSTETH_CAPO.max_ratio(early) // 10**18
    ) == 345_091_495_890  # fmt: skip


def test_capo_first_generation_stores_an_unscaled_growth() -> None:
    first = CapoRatioAdapter(
        WSTETH_CAPO.address, ETH_USD, STETH_RATIO, 18, 1_150_000_000_000_000_000, T0, 968, scaling=1
    )
    assert first.max_ratio_growth_per_second == 3_529_934_043  # wei per second, truncated
    assert first.max_ratio(T0 + 30 * DAY) == 1_159_149_589_039_456_000  # 1.6e6 wei below
    assert first.max_ratio(T0 + 30 * DAY) < WSTETH_CAPO.max_ratio(T0 + 30 * DAY)


def test_capo_snapshot_updates_and_reverts() -> None:
    updated = WSTETH_CAPO.with_cap_parameters(1_160_000_000_000_000_000, T0 + 60 * DAY, 968)
    assert updated.max_ratio(T0 + 60 * DAY) == 1_160_000_000_000_000_000
    with pytest.raises(PriceSourceError, match="newer than the stored one"):
        WSTETH_CAPO.with_cap_parameters(1, T0, 968)
    with pytest.raises(PriceSourceError, match="before the snapshot"):
        WSTETH_CAPO.max_ratio(T0 - 1)
    # a non-positive input makes the adapter answer 0, and AaveOracle with no fallback reverts
    assert WSTETH_CAPO.latest_answer({ETH_USD: 0, STETH_RATIO: 10**18}, T0) == 0
    with pytest.raises(PriceSourceError, match=f"asset {WSTETH}: source .* answered 0"):
        asset_price(WSTETH, WSTETH_CAPO, {ETH_USD: 0, STETH_RATIO: 10**18}, T0)
    assert asset_price(WSTETH, WSTETH_CAPO, {ETH_USD: -5, STETH_RATIO: 1}, T0, fallback=7) == 7


def test_stablecoin_cap() -> None:
    usdc = CapoStableAdapter("0x736bf902680e68989886e9807cd7db4b3e015d3c", USDC_USD, 104_000_000)
    assert asset_price(USDC, usdc, {USDC_USD: 100_010_000}, T0) == 100_010_000  # $1.0001
    assert asset_price(USDC, usdc, {USDC_USD: 105_000_000}, T0) == 104_000_000  # capped at $1.04
    assert (
        asset_price(USDC, usdc, {USDC_USD: 95_000_000}, T0) == 95_000_000
    )  # no floor: a depeg shows
    assert usdc.latest_answer({USDC_USD: -1}, T0) == 0
    with pytest.raises(PriceSourceError, match="cap above 2 USD"):
        CapoStableAdapter("0x01", USDC_USD, 200_000_001)


def test_peg_to_base_wbtc() -> None:
    wbtc = PegToBaseAdapter("0x230e0321cf38f09e247e50afc7801ea2351fe56f", WBTC_BTC, BTC_USD, 8, 8)
    # WBTC/BTC 0.999 × BTC/USD 65,000 = $64,935
    assert asset_price(WBTC, wbtc, {WBTC_BTC: 99_900_000, BTC_USD: 65_000_00000000}, T0) == (
        64_935_00000000
    )
    assert wbtc.latest_answer({WBTC_BTC: 0, BTC_USD: 1}, T0) == 0
    with pytest.raises(PriceSourceError, match=f"no value yet for {BTC_USD}"):
        wbtc.latest_answer({WBTC_BTC: 1}, T0)


def _source_updated(asset: str, source: str) -> dict[str, object]:
    return {"event": "AssetSourceUpdated", "contract": "aave-oracle", "asset": asset,
            "source": source}  # fmt: skip


def test_the_ledger_prices_an_asset_by_its_source_in_force_at_the_blocks_time() -> None:
    """The Aave ledger asks each asset's recipe, at the time of the block: a CAPO cap that binds
    raises the price by the second with no input moving; a new source takes over at its
    AssetSourceUpdated; an input not yet seen leaves the asset unpriced, never at a stale price."""
    ledger = AaveLedger(
        "pool", "treasury", VersionSchedule.single(V3_0), {}, {WSTETH_CAPO.address: WSTETH_CAPO}
    )
    ledger.at_block(100, T0 + DAY)
    ledger.apply(_source_updated(WSTETH, WSTETH_CAPO.address))
    assert WSTETH not in ledger.pool.prices  # neither input has answered
    ledger.apply_round(ETH_USD, 3_000 * 10**8)
    assert WSTETH not in ledger.pool.prices
    ledger.apply_round(STETH_RATIO, 1_250_000_000_000_000_000)  # far above the cap
    capped = 3_000 * 10**8 * WSTETH_CAPO.max_ratio(T0 + DAY) // 10**18
    assert ledger.pool.prices[WSTETH] == capped
    ledger.at_block(101, T0 + 30 * DAY)  # no input moved, the cap grew
    later = 3_000 * 10**8 * WSTETH_CAPO.max_ratio(T0 + 30 * DAY) // 10**18
    assert ledger.pool.prices[WSTETH] == later > capped
    # a source the setup does not describe is the feed proxy at that address
    ledger.apply(_source_updated(WSTETH, ETH_USD))
    assert ledger.pool.prices[WSTETH] == 3_000 * 10**8
    ledger.apply_round(ETH_USD, 0)  # a zero answer: getAssetPrice reverts, no price
    assert WSTETH not in ledger.pool.prices


def test_the_ledger_applies_capo_cap_updates_and_refuses_what_it_cannot_explain() -> None:
    """CapParametersUpdated replaces the adapter's snapshot and growth from its log on; a stored
    growth per second the recipe's generation does not derive, or an update from an adapter the
    pool's sources do not describe, is an error naming the log and the adapter."""
    ledger = AaveLedger(
        "pool", "treasury", VersionSchedule.single(V3_0), {}, {WSTETH_CAPO.address: WSTETH_CAPO}
    )
    ledger.at_block(100, T0 + 30 * DAY)
    ledger.apply(_source_updated(WSTETH, WSTETH_CAPO.address))
    ledger.apply_round(ETH_USD, 3_000 * 10**8)
    ledger.apply_round(STETH_RATIO, 1_250_000_000_000_000_000)  # above both caps
    new = WSTETH_CAPO.with_cap_parameters(1_160_000_000_000_000_000, T0 + 20 * DAY, 500)
    update = {
        "event": "CapParametersUpdated", "contract": WSTETH_CAPO.address, "block_number": 100,
        "log_index": 3, "snapshot_ratio": str(new.snapshot_ratio),
        "snapshot_timestamp": str(new.snapshot_timestamp),
        "max_ratio_growth_per_second": str(new.max_ratio_growth_per_second),
        "max_yearly_ratio_growth_percent": 500,
    }  # fmt: skip
    ledger.apply(update)
    assert ledger.asset_source[WSTETH] == new
    assert ledger.pool.prices[WSTETH] == 3_000 * 10**8 * new.max_ratio(T0 + 30 * DAY) // 10**18
    with pytest.raises(ValueError, match=f"{WSTETH_CAPO.address} stores a growth per second"):
        ledger.apply(update | {"max_ratio_growth_per_second": "1"})
    with pytest.raises(ValueError, match=f"{ETH_USD} is not a CAPO adapter"):
        ledger.apply(update | {"event": "PriceCapUpdated", "contract": ETH_USD, "price_cap": "1"})
