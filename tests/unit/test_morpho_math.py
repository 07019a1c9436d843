"""Worked examples of the exact Morpho math (spec ../shared/spec/morpho.md §0–§5).

Every expected number is a literal: taken from the spec's own tables or computed by hand, with the
arithmetic in the comment next to it. None is produced by the function under test.
"""

from __future__ import annotations

import pytest

from softliq_core.protocols.morpho import errors
from softliq_core.protocols.morpho.accrual import accrue_interest
from softliq_core.protocols.morpho.errors import MorphoRevert
from softliq_core.protocols.morpho.health import borrowed_assets, is_healthy, ltv, max_borrow
from softliq_core.protocols.morpho.irm import (
    ADJUSTMENT_SPEED,
    INITIAL_RATE_AT_TARGET,
    LN_2,
    LN_WEI,
    MAX_RATE_AT_TARGET,
    MIN_RATE_AT_TARGET,
    WEXP_UPPER_BOUND,
    WEXP_UPPER_VALUE,
    adaptive_curve_borrow_rate,
    w_exp,
)
from softliq_core.protocols.morpho.liquidation import (
    liquidate,
    liquidation_incentive_factor,
    max_liquidation_inputs,
)
from softliq_core.protocols.morpho.market import Market, MarketParams, Position
from softliq_core.protocols.morpho.math import (
    mul_div_down,
    mul_div_up,
    tdiv,
    w_div_down,
    w_div_to_zero,
    w_div_up,
    w_mul_down,
    w_mul_to_zero,
    w_taylor_compounded,
    zero_floor_sub,
)
from softliq_core.protocols.morpho.pre_liquidation import (
    DEFAULT_PRE_LIQUIDATION_PARAMS,
    PreLiquidationParams,
    parameter_violations,
    pre_liquidate,
    pre_liquidation_terms,
)
from softliq_core.protocols.morpho.shares import (
    VIRTUAL_ASSETS,
    VIRTUAL_SHARES,
    to_assets_down,
    to_assets_up,
    to_shares_down,
    to_shares_up,
)

WAD = 10**18  # literal on purpose: not imported from the module under test
LLTV_86 = 860_000_000_000_000_000
LIF_86 = 1_043_841_336_116_910_229  # spec §1.9 table


# -- §0 fixed-point helpers ---------------------------------------------------------------------


def test_mul_div_rounds_down_and_up() -> None:
    assert mul_div_down(7, 3, 2) == 10  # 21 / 2 = 10.5 -> 10
    assert mul_div_up(7, 3, 2) == 11  # 10.5 -> 11
    assert mul_div_down(6, 2, 3) == 4  # exact: both agree
    assert mul_div_up(6, 2, 3) == 4
    assert mul_div_up(0, 5, 7) == 0
    assert mul_div_up(1, 1, 10**36) == 1  # any positive remainder rounds up


def test_wad_helpers() -> None:
    assert w_mul_down(3 * WAD // 2, 3 * WAD // 2) == 2_250_000_000_000_000_000  # 1.5 * 1.5
    assert w_mul_down(1, WAD - 1) == 0  # 0.999... wei -> 0
    assert w_div_down(1, 3) == 333_333_333_333_333_333  # 1e18 / 3 = 333...333.3
    assert w_div_up(1, 3) == 333_333_333_333_333_334
    assert w_div_up(2, 4) == 500_000_000_000_000_000  # exact
    assert zero_floor_sub(3, 5) == 0
    assert zero_floor_sub(5, 3) == 2


def test_signed_division_truncates_toward_zero() -> None:
    # spec §0: err at utilization 0.5 = (0.5 - 0.9) / 0.9 = -0.4444...: trunc ...444, floor ...445
    assert tdiv(-4 * 10**35, 9 * 10**17) == -444_444_444_444_444_444
    assert (-4 * 10**35) // (9 * 10**17) == -444_444_444_444_444_445  # what Python's // gives
    assert w_div_to_zero(-4 * 10**17, 9 * 10**17) == -444_444_444_444_444_444
    assert tdiv(7, -2) == -3  # -3.5 -> -3 (floor would be -4)
    assert tdiv(-7, -2) == 3
    assert tdiv(7, 2) == 3
    assert w_mul_to_zero(-3, WAD // 2) == -1  # -1.5 -> -1 (floor would be -2)


def test_w_taylor_compounded() -> None:
    # x = 1e9 (per second), n = 1e6 s: t1 = 1e15; t2 = floor(1e30 / 2e18) = 5e11;
    # t3 = floor(5e11 * 1e15 / 3e18) = floor(166666666.67) = 166666666; sum 1000500166666666
    assert w_taylor_compounded(10**9, 10**6) == 1_000_500_166_666_666
    # x = 0.1 WAD, n = 10: t1 = 1e18; t2 = 5e17; t3 = floor(5e17 * 1e18 / 3e18) = 166666666666666666
    assert w_taylor_compounded(WAD // 10, 10) == 1_666_666_666_666_666_666
    assert w_taylor_compounded(10**9, 0) == 0


def test_accrual_with_fee_by_hand() -> None:
    market = Market(
        total_supply_assets=2_000_000,
        total_supply_shares=2_000_000_000_000,
        total_borrow_assets=1_000_000,
        total_borrow_shares=1_000_000_000_000,
        last_update=1_000,
        fee=WAD // 10,
    )
    accrual = accrue_interest(market, 10**9, 1_000 + 10**6)
    # taylor(1e9, 1e6) = 1000500166666666 (above); interest = floor(1e6 * 1.0005e15 / 1e18) = 1000
    assert accrual.interest == 1_000
    # fee = floor(1000 * 0.1) = 100; shares = floor(100 * (2e12 + 1e6) / (2_001_000 - 100 + 1))
    #     = floor(200000100000000 / 2000901) = floor(99955020.26) = 99955020
    assert accrual.fee_shares == 99_955_020
    assert market.total_borrow_assets == 1_001_000
    assert market.total_supply_assets == 2_001_000
    assert market.total_supply_shares == 2_000_000_000_000 + 99_955_020
    assert market.last_update == 1_000_000 + 1_000


# -- §1.5 shares with virtual shares and assets -------------------------------------------------


def test_virtual_shares_constants() -> None:
    assert VIRTUAL_SHARES == 1_000_000
    assert VIRTUAL_ASSETS == 1


def test_empty_market_converts_one_asset_to_a_million_shares() -> None:
    assert to_shares_down(1, 0, 0) == 1_000_000  # 1 * (0 + 1e6) / (0 + 1)
    assert to_shares_up(1, 0, 0) == 1_000_000
    assert to_assets_down(1_000_000, 0, 0) == 1
    assert to_assets_down(999_999, 0, 0) == 0  # 999999 / 1e6 -> 0
    assert to_assets_up(999_999, 0, 0) == 1
    assert to_assets_up(1, 0, 0) == 1  # ceil(1 / 1e6)


def test_share_conversions_after_interest() -> None:
    # 100 supplied (1e8 shares), then 50 interest: TA = 150, TS = 1e8
    assert to_shares_down(10, 150, 10**8) == 6_688_741  # 10 * 101e6 / 151 = 6688741.72
    assert to_shares_up(10, 150, 10**8) == 6_688_742
    assert to_assets_down(10**6, 150, 10**8) == 1  # 1e6 * 151 / 101e6 = 1.495
    assert to_assets_up(10**6, 150, 10**8) == 2


# -- §1.2 / §5 market ids ------------------------------------------------------------------------

IRM_ETH = "0x870aC11D48B15DB9a138Cf899d20F13F79Ba00BC"
IRM_BASE = "0x46415998764C29aB2a25CbeA6254146D50D22687"
WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
WSTETH = "0x7f39C581F595B53c5cb19bD0b3f8dA6c935E2Ca0"
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
WBTC = "0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599"
CBBTC = "0xcbB7C0000aB88B473b1f5aFd9ef808440eed33Bf"
BASE_WETH = "0x4200000000000000000000000000000000000006"
BASE_USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"


@pytest.mark.parametrize(
    ("loan", "collateral", "oracle", "irm", "lltv", "market_id"),
    [
        (
            WETH,
            WSTETH,
            "0x2a01EB9496094dA03c4E364Def50f5aD1280AD72",
            IRM_ETH,
            945 * 10**15,
            "0xc54d7acf14de29e0e5527cabd7a576506870346a78a11a6762e2cca66322ec41",
        ),
        (
            WETH,
            WSTETH,
            "0xbD60A6770b27E084E8617335ddE769241B0e71D8",
            IRM_ETH,
            945 * 10**15,
            "0xd0e50cdac92fe2172043f5e0c36532c6369d24947e40968f34a5e8819ca9ec5d",
        ),
        (
            USDC,
            CBBTC,
            "0xA6D6950c9F177F1De7f7757FB33539e3Ec60182a",
            IRM_ETH,
            LLTV_86,
            "0x64d65c9a2d91c36d56fbc42d69e979335320169b3df63bf92789e2c8883fcc64",
        ),
        (
            USDC,
            WBTC,
            "0xDddd770BADd886dF3864029e4B377B5F6a2B6b83",
            IRM_ETH,
            LLTV_86,
            "0x3a85e619751152991742810df6ec69ce473daef99e28a64ab2340d7b7ccfee49",
        ),
        (
            USDC,
            WSTETH,
            "0x48F7E36EB6B826B2dF4B2E630B62Cd25e89E40e2",
            IRM_ETH,
            LLTV_86,
            "0xb323495f7e4148be5643a4ea4a8221eef163e4bccfdedc2a6f4696baacbc86cc",
        ),
        (
            BASE_USDC,
            CBBTC,
            "0x663BECd10daE6C4A3Dcd89F1d76c1174199639B9",
            IRM_BASE,
            LLTV_86,
            "0x9103c3b4e834476c9a62ea009ba2c884ee42e94e6e314a26f04d312434191836",
        ),
        (
            BASE_USDC,
            BASE_WETH,
            "0xFEa2D58cEfCb9fcb597723c6bAE66fFE4193aFE4",
            IRM_BASE,
            LLTV_86,
            "0x8793cf302b8ffd655ab97bd1c695dbd967807e8367a65cb2f4edaf1380ba1bda",
        ),
    ],
)
def test_market_ids_of_spec_section_5(
    loan: str, collateral: str, oracle: str, irm: str, lltv: int, market_id: str
) -> None:
    assert MarketParams(loan, collateral, oracle, irm, lltv).id == market_id


def test_market_id_ignores_address_case_and_depends_on_every_param() -> None:
    oracle = "0xDddd770BADd886dF3864029e4B377B5F6a2B6b83"
    base = MarketParams(USDC, WBTC, oracle, IRM_ETH, LLTV_86)
    lower = MarketParams(USDC.lower(), WBTC.lower(), oracle.lower(), IRM_ETH.lower(), LLTV_86)
    assert (
        lower.id == base.id == "0x3a85e619751152991742810df6ec69ce473daef99e28a64ab2340d7b7ccfee49"
    )
    variants = [
        MarketParams(WBTC, USDC, oracle, IRM_ETH, LLTV_86),  # tokens swapped
        MarketParams(USDC, WBTC, IRM_ETH, oracle, LLTV_86),  # oracle and irm swapped
        MarketParams(USDC, WBTC, oracle, IRM_ETH, LLTV_86 + 1),
    ]
    assert len({base.id} | {v.id for v in variants}) == 4


# -- §1.9 LIF table ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lltv", "lif", "inverse_lltv"),
    [
        (385 * 10**15, 1_150_000_000_000_000_000, 2_597_402_597_402_597_402),  # capped at 1.15
        (625 * 10**15, 1_126_760_563_380_281_690, 1_600_000_000_000_000_000),
        (770 * 10**15, 1_074_113_856_068_743_286, 1_298_701_298_701_298_701),
        (860 * 10**15, 1_043_841_336_116_910_229, 1_162_790_697_674_418_604),
        (915 * 10**15, 1_026_167_265_264_238_070, 1_092_896_174_863_387_978),
        (945 * 10**15, 1_016_776_817_488_561_260, 1_058_201_058_201_058_201),
        (965 * 10**15, 1_010_611_419_909_044_972, 1_036_269_430_051_813_471),
        (980 * 10**15, 1_006_036_217_303_822_937, 1_020_408_163_265_306_122),
    ],
)
def test_liquidation_incentive_factor_table(lltv: int, lif: int, inverse_lltv: int) -> None:
    assert liquidation_incentive_factor(lltv) == lif
    assert w_div_down(WAD, lltv) == inverse_lltv


def test_lif_at_86_by_hand() -> None:
    # 0.3 * (1 - 0.86) = 0.042; 1 - 0.042 = 0.958; 1e36 / 0.958e18 = 1043841336116910229.6 -> floor
    assert liquidation_incentive_factor(LLTV_86) == 1_043_841_336_116_910_229
    # LLTV 50 %: 1/(1 - 0.3 * 0.5) = 1.17647 > 1.15: capped
    assert liquidation_incentive_factor(WAD // 2) == 1_150_000_000_000_000_000


# -- §1.8 health ---------------------------------------------------------------------------------

PRICE = 2 * 10**36  # one collateral unit is worth two loan units


def _borrow_market() -> Market:
    """TBA + 1 = 1e6 and TBS + 1e6 = 9e11: one asset is exactly 900000 shares."""
    return Market(
        total_supply_assets=2_000_000,
        total_supply_shares=2_000_000_000_000,
        total_borrow_assets=999_999,
        total_borrow_shares=899_999_000_000,
        last_update=1,
    )


def test_health_boundary_is_healthy_at_equality() -> None:
    market = _borrow_market()
    # collateral 50_000 worth 100_000; max borrow = floor(100_000 * 0.86) = 86_000
    assert max_borrow(50_000, PRICE, LLTV_86) == 86_000
    at_limit = Position(borrow_shares=86_000 * 900_000, collateral=50_000)
    assert borrowed_assets(at_limit, market) == 86_000
    assert is_healthy(at_limit, market, PRICE, LLTV_86)
    one_share_more = Position(borrow_shares=86_000 * 900_000 + 1, collateral=50_000)
    assert borrowed_assets(one_share_more, market) == 86_001  # rounded up
    assert not is_healthy(one_share_more, market, PRICE, LLTV_86)
    assert ltv(at_limit, market, PRICE) == 860_000_000_000_000_000
    # no debt: healthy whatever the price, even 0
    assert is_healthy(Position(collateral=1), market, 0, LLTV_86)


# -- §1.9 standard liquidation by hand ----------------------------------------------------------


def test_liquidation_by_repaid_shares() -> None:
    market = _borrow_market()
    # debt 90e9 shares = 100_000 assets; collateral 58_000 worth 116_000; max borrow 99_760
    position = Position(borrow_shares=90_000_000_000, collateral=58_000)
    result = liquidate(market, position, LLTV_86, PRICE, repaid_shares=45_000_000_001)
    # toAssetsDown(45_000_000_001) = floor(45_000_000_001 / 900_000) = 50_000
    # wMulDown(50_000, LIF) = floor(52_192.07) = 52_192; seized = floor(52_192 * 1e36 / 2e36) = 26_096
    assert result.seized_assets == 26_096
    assert result.repaid_shares == 45_000_000_001
    # toAssetsUp(45_000_000_001) = ceil(50_000.0000011) = 50_001
    assert result.repaid_assets == 50_001
    assert (result.bad_debt_assets, result.bad_debt_shares) == (0, 0)
    assert position == Position(borrow_shares=44_999_999_999, collateral=58_000 - 26_096)
    assert market.total_borrow_shares == 899_999_000_000 - 45_000_000_001
    assert market.total_borrow_assets == 999_999 - 50_001
    assert market.total_supply_assets == 2_000_000  # no bad debt: suppliers untouched


def test_liquidation_by_seized_assets() -> None:
    market = _borrow_market()
    position = Position(borrow_shares=90_000_000_000, collateral=58_000)
    result = liquidate(market, position, LLTV_86, PRICE, seized_assets=20_000)
    # quoted = ceil(20_000 * 2) = 40_000; wDivUp(40_000, LIF) = ceil(38_320.0000...) = 38_321
    # (LIF is floored, so 40_000 / LIF is a hair above 40_000 * 0.958 = 38_320)
    # repaidShares = toSharesUp(38_321) = 38_321 * 900_000 = 34_488_900_000
    assert result.repaid_shares == 34_488_900_000
    assert result.repaid_assets == 38_321
    assert result.seized_assets == 20_000
    assert (result.bad_debt_assets, result.bad_debt_shares) == (0, 0)
    assert position == Position(borrow_shares=55_511_100_000, collateral=38_000)
    assert market.total_borrow_shares == 865_510_100_000  # 899_999_000_000 - 34_488_900_000
    assert market.total_borrow_assets == 961_678  # 999_999 - 38_321


def test_liquidation_realising_bad_debt() -> None:
    market = _borrow_market()
    # debt 100_000, collateral 50_000 worth 100_000: insolvent once the incentive is paid
    position = Position(borrow_shares=90_000_000_000, collateral=50_000)
    result = liquidate(market, position, LLTV_86, PRICE, seized_assets=50_000)
    # quoted = 100_000; wDivUp(100_000, LIF) = 95_801; shares = 95_801 * 900_000 = 86_220_900_000
    assert result.seized_assets == 50_000
    assert result.repaid_shares == 86_220_900_000
    assert result.repaid_assets == 95_801
    # after the repay: TBA = 999_999 - 95_801 = 904_198, TBS = 899_999_000_000 - 86_220_900_000
    # = 813_778_100_000, still exactly 900_000 shares per asset with the virtual ones.
    # bad debt shares = 90_000_000_000 - 86_220_900_000 = 3_779_100_000
    # bad debt assets = min(904_198, ceil(3_779_100_000 / 900_000)) = 4_199
    assert result.bad_debt_shares == 3_779_100_000
    assert result.bad_debt_assets == 4_199
    assert position == Position(borrow_shares=0, collateral=0)
    assert market.total_borrow_assets == 899_999  # 904_198 - 4_199
    assert market.total_borrow_shares == 809_999_000_000  # 813_778_100_000 - 3_779_100_000
    assert market.total_supply_assets == 2_000_000 - 4_199  # the loss goes to suppliers
    assert market.total_supply_shares == 2_000_000_000_000


def test_liquidation_leaving_collateral_realises_no_bad_debt() -> None:
    market = _borrow_market()
    position = Position(borrow_shares=90_000_000_000, collateral=50_000)
    result = liquidate(market, position, LLTV_86, PRICE, seized_assets=49_999)
    assert (result.bad_debt_assets, result.bad_debt_shares) == (0, 0)
    assert position.collateral == 1
    assert market.total_supply_assets == 2_000_000


def test_liquidation_reverts() -> None:
    market = _borrow_market()
    healthy = Position(borrow_shares=86_000 * 900_000, collateral=50_000)
    with pytest.raises(MorphoRevert) as info:
        liquidate(market, healthy, LLTV_86, PRICE, repaid_shares=1)
    assert info.value.reason == errors.HEALTHY_POSITION
    sick = Position(borrow_shares=90_000_000_000, collateral=50_000)
    for seized, shares in [(0, 0), (1, 1)]:
        with pytest.raises(MorphoRevert) as info:
            liquidate(market, sick, LLTV_86, PRICE, seized_assets=seized, repaid_shares=shares)
        assert info.value.reason == errors.INCONSISTENT_INPUT
    # seizing more than the collateral underflows: no capping
    with pytest.raises(MorphoRevert) as info:
        liquidate(market, sick, LLTV_86, PRICE, seized_assets=50_001)
    assert info.value.reason == errors.UNDERFLOW
    with pytest.raises(MorphoRevert) as info:
        liquidate(market, sick, LLTV_86, PRICE, repaid_shares=90_000_000_001)
    assert info.value.reason == errors.UNDERFLOW
    assert market == _borrow_market()
    assert sick == Position(borrow_shares=90_000_000_000, collateral=50_000)


def test_max_liquidation_inputs() -> None:
    market = _borrow_market()
    # all debt (90e9 shares = 100_000) seizes floor(floor(100_000 * LIF) / 2) = floor(104_384 / 2)
    # = 52_192 <= 58_000: repay every share
    assert max_liquidation_inputs(
        market, Position(borrow_shares=90_000_000_000, collateral=58_000), LLTV_86, PRICE
    ) == (0, 90_000_000_000)
    # 52_192 > 50_000: seize all the collateral (realises bad debt)
    assert max_liquidation_inputs(
        market, Position(borrow_shares=90_000_000_000, collateral=50_000), LLTV_86, PRICE
    ) == (50_000, 0)
    assert (
        max_liquidation_inputs(
            market, Position(borrow_shares=86_000 * 900_000, collateral=50_000), LLTV_86, PRICE
        )
        is None
    )


# -- §2 AdaptiveCurveIRM -------------------------------------------------------------------------


def test_irm_constants() -> None:
    assert ADJUSTMENT_SPEED == 1_585_489_599_188  # 50e18 / 31536000
    assert INITIAL_RATE_AT_TARGET == 1_268_391_679  # 0.04e18 / 31536000
    assert MIN_RATE_AT_TARGET == 31_709_791  # 0.001e18 / 31536000
    assert MAX_RATE_AT_TARGET == 63_419_583_967  # 2e18 / 31536000


def test_first_borrow_rate_at_creation() -> None:
    # utilization 0 -> err = -1; curve(INITIAL, -1) = (0.75 * -1 + 1) * 1268391679 = 317097919.75
    rate = adaptive_curve_borrow_rate(Market(last_update=100), 0, 100)
    assert rate.avg_borrow_rate == 317_097_919
    assert rate.end_rate_at_target == 1_268_391_679


def test_first_borrow_rate_at_half_utilization_truncates() -> None:
    # err = tdiv(-0.4e36, 0.9e18) = -444444444444444444; coeff * err = tdiv(0.75 * that) =
    # -333333333333333333; + WAD = 666666666666666667; * 1268391679 / WAD = 845594452.67 -> 845594452
    market = Market(total_supply_assets=2_000, total_borrow_assets=1_000, last_update=5)
    assert adaptive_curve_borrow_rate(market, 0, 5).avg_borrow_rate == 845_594_452


@pytest.mark.parametrize(
    ("supplied", "borrowed", "expected"),
    [
        (1_000, 0, 250_000_000),  # u = 0: RAT / 4
        (1_000, 900, 1_000_000_000),  # u = 0.9: RAT
        (1_000, 1_000, 4_000_000_000),  # u = 1: 4 RAT
    ],
)
def test_curve_endpoints_without_elapsed_time(supplied: int, borrowed: int, expected: int) -> None:
    # elapsed 0 -> linear adaptation 0 -> avg = end = start = 1e9
    market = Market(total_supply_assets=supplied, total_borrow_assets=borrowed, last_update=50)
    rate = adaptive_curve_borrow_rate(market, 1_000_000_000, 50)
    assert rate.avg_borrow_rate == expected
    assert rate.end_rate_at_target == 1_000_000_000


def test_rate_at_target_after_one_day_at_full_utilization() -> None:
    # u = 1 -> err = WAD; speed = ADJUSTMENT_SPEED = 1585489599188; elapsed 86400
    # linear = 136986301369843200 (< ln2/2, so q = 0, r = linear)
    # wExp: r*r/WAD = 18765246762989504, /2 = 9382623381494752;
    #       e = 1e18 + 136986301369843200 + 9382623381494752 = 1146368924751337952
    # end = tdiv(1268391679 * 1146368924751337952, WAD) = 1454044805
    # mid: x = 68493150684921600, r*r/WAD = 4691311690747376, /2 = 2345655845373688,
    #      e = 1070838806530295288, mid = 1268391679 * e / WAD = 1358243031
    # avg = tdiv(1268391679 + 1454044805 + 2 * 1358243031, 4) = tdiv(5438922546, 4) = 1359730636
    # rate = curve(avg, WAD) = 4 * 1359730636 = 5438922544
    market = Market(total_supply_assets=10**9, total_borrow_assets=10**9, last_update=0)
    rate = adaptive_curve_borrow_rate(market, 1_268_391_679, 86_400)
    assert rate.end_rate_at_target == 1_454_044_805
    assert rate.avg_borrow_rate == 5_438_922_544


def test_rate_at_target_is_clamped() -> None:
    full = Market(total_supply_assets=10**9, total_borrow_assets=10**9, last_update=0)
    ten_years = 10 * 31_536_000
    up = adaptive_curve_borrow_rate(full, 1_268_391_679, ten_years)
    # end and mid both clamp to MAX = 63419583967; avg = tdiv(1268391679 + 3 * MAX, 4) = 47881785895
    assert up.end_rate_at_target == 63_419_583_967
    assert up.avg_borrow_rate == 4 * 47_881_785_895
    empty = Market(total_supply_assets=10**9, total_borrow_assets=0, last_update=0)
    down = adaptive_curve_borrow_rate(empty, 1_268_391_679, ten_years)
    # linear = -5e20 < LN_WEI: wExp = 0, so end and mid clamp to MIN = 31709791
    # avg = tdiv(1268391679 + 3 * 31709791, 4) = tdiv(1363521052, 4) = 340880263
    # rate = curve(avg, -WAD) = tdiv(0.25e18 * 340880263, WAD) = 85220065
    assert down.end_rate_at_target == 31_709_791
    assert down.avg_borrow_rate == 85_220_065


def test_w_exp_values_and_bounds() -> None:
    assert w_exp(0) == WAD
    assert w_exp(LN_2) == 2 * WAD  # q = 1, r = 0
    assert w_exp(-LN_2) == WAD // 2  # q = -1, r = 0
    assert w_exp(3 * LN_2) == 8 * WAD
    assert w_exp(LN_WEI - 1) == 0  # below ln(1e-18)
    # at ln(1e-18) itself: q = -60, e = 1152423685130113710, e >> 60 = 0
    assert w_exp(LN_WEI) == 0
    assert w_exp(WEXP_UPPER_BOUND) == WEXP_UPPER_VALUE
    assert w_exp(WEXP_UPPER_BOUND + 10**30) == WEXP_UPPER_VALUE
    assert WEXP_UPPER_VALUE == 57716089161558943949701069502944508345128422502756744429568
    assert w_exp(WEXP_UPPER_BOUND - 1) <= WEXP_UPPER_VALUE


# -- §4 pre-liquidation --------------------------------------------------------------------------

# LLTV 86 %, preLLTV 83 %; preLCF 10 % -> 50 %, preLIF 1.01 -> 1.04 (<= 1/0.86 = 1.1628)
PARAMS = PreLiquidationParams(
    pre_lltv=830_000_000_000_000_000,
    pre_lcf1=100_000_000_000_000_000,
    pre_lcf2=500_000_000_000_000_000,
    pre_lif1=1_010_000_000_000_000_000,
    pre_lif2=1_040_000_000_000_000_000,
)


def _pre_position(debt_assets: int) -> Position:
    """Collateral 50_000 worth 100_000 at PRICE, so the LTV is debt_assets / 100_000."""
    return Position(borrow_shares=debt_assets * 900_000, collateral=50_000)


def test_pre_liquidation_terms_at_84_5_percent() -> None:
    market = _borrow_market()
    terms = pre_liquidation_terms(market, _pre_position(84_500), LLTV_86, PARAMS, PRICE)
    # borrowed = toAssetsUp(76_050_000_000) = 84_500; quoted = 100_000
    # 84_500 <= floor(100_000 * 0.86) = 86_000 and 84_500 > floor(100_000 * 0.83) = 83_000
    # ltv = wDivUp(84_500, 100_000) = 0.845e18
    assert terms.ltv == 845_000_000_000_000_000
    # quotient = wDivDown(0.845 - 0.83, 0.86 - 0.83) = wDivDown(0.015e18, 0.03e18) = 0.5e18
    # preLIF = wMulDown(0.5e18, 0.03e18) + 1.01e18 = 1.025e18
    assert terms.pre_lif == 1_025_000_000_000_000_000
    # preLCF = wMulDown(0.5e18, 0.4e18) + 0.1e18 = 0.3e18
    assert terms.pre_lcf == 300_000_000_000_000_000
    # repayable = wMulDown(76_050_000_000, 0.3e18) = 22_815_000_000
    assert terms.repayable_shares == 22_815_000_000


def test_pre_liquidation_by_repayable_shares() -> None:
    market = _borrow_market()
    position = _pre_position(84_500)
    result = pre_liquidate(
        market, position, LLTV_86, PARAMS, PRICE, PRICE, True, repaid_shares=22_815_000_000
    )
    # toAssetsDown(22_815_000_000) = 25_350; wMulDown(25_350, 1.025e18) = floor(25_983.75) = 25_983
    # seized = floor(25_983 * 1e36 / 2e36) = floor(12_991.5) = 12_991
    assert result.seized_assets == 12_991
    assert result.repaid_shares == 22_815_000_000
    assert result.repaid_assets == 25_350  # toAssetsUp, exact here
    assert (result.ltv, result.pre_lif, result.pre_lcf) == (
        845_000_000_000_000_000,
        1_025_000_000_000_000_000,
        300_000_000_000_000_000,
    )
    # 76_050_000_000 - 22_815_000_000 = 53_235_000_000 shares (59_150 assets), 37_009 collateral
    assert position == Position(borrow_shares=53_235_000_000, collateral=37_009)
    assert market.total_borrow_assets == 974_649  # 999_999 - 25_350
    assert market.total_borrow_shares == 877_184_000_000  # 899_999_000_000 - 22_815_000_000
    assert market.total_supply_assets == 2_000_000
    # health improved: wDivUp(59_150, 74_018) = ceil(0.79912994136561377...e18) < 0.845e18
    assert ltv(position, market, PRICE) == 799_129_941_365_613_770


def test_pre_liquidation_by_seized_assets() -> None:
    market = _borrow_market()
    position = _pre_position(84_500)
    result = pre_liquidate(
        market, position, LLTV_86, PARAMS, PRICE, PRICE, True, seized_assets=10_000
    )
    # quoted = ceil(10_000 * 2) = 20_000; wDivUp(20_000, 1.025e18) = ceil(19_512.195) = 19_513
    # repaidShares = toSharesUp(19_513) = 19_513 * 900_000 = 17_561_700_000 <= 22_815_000_000
    assert result.repaid_shares == 17_561_700_000
    assert result.repaid_assets == 19_513
    assert result.seized_assets == 10_000
    assert position == Position(borrow_shares=76_050_000_000 - 17_561_700_000, collateral=40_000)


def test_pre_liquidation_too_large() -> None:
    market = _borrow_market()
    position = _pre_position(84_500)
    with pytest.raises(MorphoRevert) as info:
        pre_liquidate(
            market, position, LLTV_86, PARAMS, PRICE, PRICE, True, repaid_shares=22_815_000_001
        )
    assert info.value.reason == errors.PRE_LIQUIDATION_TOO_LARGE
    # seizing 13_000: quoted 26_000, wDivUp(26_000, 1.025) = 25_366 -> 22_829_400_000 shares > cap
    with pytest.raises(MorphoRevert) as info:
        pre_liquidate(market, position, LLTV_86, PARAMS, PRICE, PRICE, True, seized_assets=13_000)
    assert info.value.reason == errors.PRE_LIQUIDATION_TOO_LARGE
    assert position == _pre_position(84_500)
    assert market == _borrow_market()


def test_pre_liquidation_window_boundaries() -> None:
    market = _borrow_market()
    # at LLTV exactly (86_000 = floor(100_000 * 0.86)): allowed, quotient 1 -> preLIF2, preLCF2
    terms = pre_liquidation_terms(market, _pre_position(86_000), LLTV_86, PARAMS, PRICE)
    assert (terms.pre_lif, terms.pre_lcf) == (PARAMS.pre_lif2, PARAMS.pre_lcf2)
    # one above preLLTV (83_001 > 83_000): allowed, quotient = wDivDown(0.00001e18, 0.03e18)
    # = 333333333333333; preLIF = 1.01e18 + floor(333333333333333 * 0.03) = 1010009999999999999
    terms = pre_liquidation_terms(market, _pre_position(83_001), LLTV_86, PARAMS, PRICE)
    assert terms.pre_lif == 1_010_009_999_999_999_999
    # preLCF = 0.1e18 + floor(333333333333333 * 0.4) = 100133333333333333
    assert terms.pre_lcf == 100_133_333_333_333_333


@pytest.mark.parametrize(
    ("debt", "reason"),
    [
        (86_001, errors.LIQUIDATABLE_POSITION),  # above LLTV: Morpho-liquidatable
        (90_000, errors.LIQUIDATABLE_POSITION),
        (83_000, errors.NOT_PRE_LIQUIDATABLE_POSITION),  # LTV == preLLTV is not in the window
        (80_000, errors.NOT_PRE_LIQUIDATABLE_POSITION),
    ],
)
def test_pre_liquidation_refused_outside_window(debt: int, reason: str) -> None:
    market = _borrow_market()
    position = _pre_position(debt)
    with pytest.raises(MorphoRevert) as info:
        pre_liquidate(market, position, LLTV_86, PARAMS, PRICE, PRICE, True, repaid_shares=1)
    assert info.value.reason == reason
    assert position == _pre_position(debt)
    assert market == _borrow_market()


def test_pre_liquidation_other_reverts() -> None:
    market = _borrow_market()
    position = _pre_position(84_500)
    cases = [
        ({"seized_assets": 1, "repaid_shares": 1}, True, PRICE, errors.PRE_INCONSISTENT_INPUT),
        ({}, True, PRICE, errors.PRE_INCONSISTENT_INPUT),
        # one share is worth 1/900_000 asset: seized rounds to 0 -> Morpho's zero assets
        ({"repaid_shares": 1}, True, PRICE, errors.ZERO_ASSETS),
        ({"repaid_shares": 22_815_000_000}, False, PRICE, errors.UNAUTHORIZED),
        # the market oracle at 1.5: after the trade 59_150 > floor(37_009 * 1.5 * 0.86) = 47_741
        ({"repaid_shares": 22_815_000_000}, True, 3 * 10**36 // 2, errors.INSUFFICIENT_COLLATERAL),
    ]
    for inputs, authorized, market_price, reason in cases:
        with pytest.raises(MorphoRevert) as info:
            pre_liquidate(
                market, position, LLTV_86, PARAMS, PRICE, market_price, authorized, **inputs
            )
        assert info.value.reason == reason, inputs
        assert position == _pre_position(84_500)
        assert market == _borrow_market()


def test_parameter_rules_of_section_4_1() -> None:
    assert parameter_violations(PARAMS, LLTV_86) == []
    cases = [
        (dict(pre_lltv=LLTV_86), "PreLltvTooHigh"),
        (dict(pre_lcf1=PARAMS.pre_lcf2 + 1), "PreLCFDecreasing"),
        (dict(pre_lcf1=WAD + 1, pre_lcf2=2 * WAD), "PreLCFTooHigh"),
        (dict(pre_lif1=WAD - 1), "PreLIFTooLow"),
        (dict(pre_lif1=PARAMS.pre_lif2 + 1), "PreLIFDecreasing"),
        # wDivDown(WAD, 0.86e18) = 1162790697674418604
        (dict(pre_lif2=1_162_790_697_674_418_605), "PreLIFTooHigh"),
    ]
    for changes, error in cases:
        fields = {
            "pre_lltv": PARAMS.pre_lltv,
            "pre_lcf1": PARAMS.pre_lcf1,
            "pre_lcf2": PARAMS.pre_lcf2,
            "pre_lif1": PARAMS.pre_lif1,
            "pre_lif2": PARAMS.pre_lif2,
            **changes,
        }
        violations = parameter_violations(PreLiquidationParams(**fields), LLTV_86)
        assert [v.error for v in violations] == [error], changes
    # preLCF2 may exceed 1 and preLIF2 may equal 1/LLTV exactly
    edge = PreLiquidationParams(
        PARAMS.pre_lltv, PARAMS.pre_lcf1, 2 * WAD, PARAMS.pre_lif1, 1_162_790_697_674_418_604
    )
    assert parameter_violations(edge, LLTV_86) == []


@pytest.mark.parametrize(
    ("lltv", "lif"),
    [
        (385 * 10**15, 1_150_000_000_000_000_000),
        (625 * 10**15, 1_126_760_563_380_281_690),
        (770 * 10**15, 1_074_113_856_068_743_286),
        (860 * 10**15, 1_043_841_336_116_910_229),
        (915 * 10**15, 1_026_167_265_264_238_070),
        (945 * 10**15, 1_016_776_817_488_561_260),
        (965 * 10**15, 1_010_611_419_909_044_972),
        (980 * 10**15, 1_006_036_217_303_822_937),
    ],
)
def test_default_params_of_section_4_5(lltv: int, lif: int) -> None:
    params = DEFAULT_PRE_LIQUIDATION_PARAMS[lltv]
    assert params.pre_lif1 == params.pre_lif2 == lif  # the market's own LIF (spec §4.5)
    assert parameter_violations(params, lltv) == []
    assert params.pre_lltv < lltv
