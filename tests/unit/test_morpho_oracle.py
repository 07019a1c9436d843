"""Morpho Chainlink oracle recipes (V2 and V1) with worked numbers, exact to the unit."""

from __future__ import annotations

import pytest

from softliq_core.protocols.morpho.math import ORACLE_PRICE_SCALE, UINT256_MAX
from softliq_core.protocols.morpho.oracle import (
    V1,
    ChainlinkOracleRecipe,
    OracleError,
    scale_factor,
    vault_input,
)

ORACLE = "0x" + "0a" * 20
BTC_USD = "0x" + "b1" * 20
USDC_USD = "0x" + "c1" * 20
WSTETH_STETH = "0x" + "e1" * 20  # Morpho's exchange-rate adapter: getPooledEthByShares(1e18)
STETH_ETH = "0x" + "e2" * 20
DAI_USD = "0x" + "d1" * 20
SDAI = "0x" + "5d" * 20


def test_cbbtc_usdc_at_100k_is_1e39() -> None:
    # spec morpho.md §3: cbBTC(8)/USDC(6) at $100,000 ⇒ price = 1e39
    sf = scale_factor(8, 6, (8, 0), (8, 0))
    assert sf == 10**34  # 10^(36 + 6 + 8 − 8 − 8)
    recipe = ChainlinkOracleRecipe(ORACLE, sf, base_feed_1=BTC_USD, quote_feed_1=USDC_USD)
    assert recipe.price({BTC_USD: 100_000 * 10**8, USDC_USD: 10**8}) == 10**39
    # without a quote feed (USDC taken as $1) the same price
    alone = ChainlinkOracleRecipe(ORACLE, scale_factor(8, 6, (8, 0)), base_feed_1=BTC_USD)
    assert alone.scale_factor == 10**26
    assert alone.price({BTC_USD: 100_000 * 10**8}) == 10**39
    # USDC at 0.9998: floor(1e34 · 1e13 / 99_980_000)
    assert recipe.price({BTC_USD: 100_000 * 10**8, USDC_USD: 99_980_000}) == 10**47 // 99_980_000


def test_wsteth_weth_with_the_exchange_rate_term() -> None:
    # wstETH(18)/WETH(18): the wstETH/stETH rate (18 dec) × the stETH/ETH market price (18 dec)
    sf = scale_factor(18, 18, (18, 18))
    assert sf == 1  # 10^(36 + 18 − 18 − 18 − 18)
    recipe = ChainlinkOracleRecipe(ORACLE, sf, base_feed_1=WSTETH_STETH, base_feed_2=STETH_ETH)
    rate, steth = 1_170_048_083_179_784_448, 999_500_000_000_000_000
    assert recipe.price({WSTETH_STETH: rate, STETH_ETH: steth}) == rate * steth
    assert rate * steth == 1_169_463_059_138_194_555_776_000_000_000_000_000  # 1.16946 WETH
    # the rate term alone moves the price: Lido's daily report, +0.0082 %
    after = 1_170_144_255_467_620_096
    assert recipe.price({WSTETH_STETH: after, STETH_ETH: steth}) - rate * steth == (
        (after - rate) * steth
    )


def test_v2_base_vault_converts_a_sample_of_shares() -> None:
    # sDAI(18)/USDC(6), BASE_VAULT = sDAI with sample 1e18, DAI/USD and USDC/USD feeds (8 dec)
    sf = scale_factor(18, 6, (8, 0), (8, 0), base_vault_conversion_sample=10**18)
    assert sf == 10**6  # 10^(36 + 6 + 8 − 18 − 8) / 1e18
    recipe = ChainlinkOracleRecipe(
        ORACLE, sf, base_feed_1=DAI_USD, quote_feed_1=USDC_USD,
        base_vault=SDAI, base_vault_conversion_sample=10**18,
    )  # fmt: skip
    assets = 1_052_345_678_901_234_567  # convertToAssets(1e18): 1.0523 DAI per sDAI
    inputs = {vault_input(SDAI, 10**18): assets, DAI_USD: 99_990_000, USDC_USD: 100_010_000}
    assert recipe.inputs == (DAI_USD, USDC_USD, vault_input(SDAI, 10**18))
    expected = 10**6 * assets * 99_990_000 // 100_010_000
    assert recipe.price(inputs) == expected == 1_052_135_230_810_263_417_201_579
    # loan tokens per collateral token: price · 10^(18 − 6) / 1e36
    assert abs(expected * 10**12 / ORACLE_PRICE_SCALE - 1.0521352) < 1e-7


def test_v2_quote_vault_and_v1_single_vault() -> None:
    # a quote vault multiplies the denominator, its sample the scale factor
    sf = scale_factor(6, 18, quote_vault_conversion_sample=10**18)
    assert sf == 10**48 * 10**18  # 10^(36 + 18 − 6) · 1e18
    v2 = ChainlinkOracleRecipe(ORACLE, sf, quote_vault=SDAI, quote_vault_conversion_sample=10**18)
    assert v2.price({vault_input(SDAI, 10**18): 1_050_000_000_000_000_000}) == (
        sf // 1_050_000_000_000_000_000
    )
    # V1 ChainlinkOracle: VAULT and VAULT_CONVERSION_SAMPLE, SCALE_FACTOR divided by the sample
    sf = scale_factor(18, 6, (8, 0), (8, 0), base_vault_conversion_sample=10**18)
    v1 = ChainlinkOracleRecipe(
        ORACLE, sf, base_feed_1=DAI_USD, quote_feed_1=USDC_USD, base_vault=SDAI,
        base_vault_conversion_sample=10**18, kind=V1,
    )  # fmt: skip
    inputs = {vault_input(SDAI, 10**18): 1_100_000_000_000_000_000, DAI_USD: 10**8, USDC_USD: 10**8}
    assert v1.price(inputs) == 1_100_000 * 10**18  # 1.1 USDC per sDAI: 1.1e(36 + 6 − 18)
    # the integer scale factor truncates as the contract's does: without the USDC feed's 8
    # decimals, 10^16 / 1e18 = 0 and such an oracle prices everything at 0
    assert scale_factor(18, 6, (8, 0), base_vault_conversion_sample=10**18) == 0
    with pytest.raises(OracleError, match="V1 ChainlinkOracle has no quote vault"):
        ChainlinkOracleRecipe(ORACLE, 1, quote_vault=SDAI, kind=V1)


def test_reverts_are_errors_never_a_price() -> None:
    recipe = ChainlinkOracleRecipe(ORACLE, 10**26, base_feed_1=BTC_USD, quote_feed_1=USDC_USD)
    with pytest.raises(OracleError, match=f"feed {BTC_USD} answered -1 < 0"):
        recipe.price({BTC_USD: -1, USDC_USD: 1})
    with pytest.raises(OracleError, match="quote terms are 0"):
        recipe.price({BTC_USD: 1, USDC_USD: 0})
    with pytest.raises(OracleError, match=f"no value yet for feed {USDC_USD}"):
        recipe.price({BTC_USD: 1})
    two = ChainlinkOracleRecipe(ORACLE, 1, base_feed_1=BTC_USD, base_feed_2=USDC_USD)
    with pytest.raises(OracleError, match="product of terms overflows"):
        two.price({BTC_USD: 2**200, USDC_USD: 2**60})
    with pytest.raises(OracleError, match="mulDiv result overflows"):
        ChainlinkOracleRecipe(ORACLE, UINT256_MAX, base_feed_1=BTC_USD).price({BTC_USD: 2})
    with pytest.raises(OracleError, match="unknown oracle shape 'PythOracle'"):
        ChainlinkOracleRecipe(ORACLE, 1, kind="PythOracle")
    with pytest.raises(OracleError, match="exponent -1 < 0"):
        scale_factor(37, 0)
