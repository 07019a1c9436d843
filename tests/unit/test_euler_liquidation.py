"""Euler v2's liquidation worked by hand: the discount at a health score, its cap, the cool-off,
socialised debt, and the small-repeated-liquidation caveat."""

from __future__ import annotations

from softliq_core.mechanisms import PositionAt
from softliq_core.mechanisms.euler_liquidation import EulerLiquidation, EulerParams, split_gain
from softliq_core.protocols.euler.liquidation import discount_factor, max_liquidation
from softliq_core.protocols.morpho.market import Market, Position

WAD = 10**18
USDC = 10**6
MARKET = Market(total_borrow_assets=10**12, total_borrow_shares=10**18)  # 1 USDC = 1e6 shares
PRICE = 2_000 * USDC * 10**36 // WAD  # ETH at 2,000 USDC
LLTV = 86 * WAD // 100
MAX_DISCOUNT = 15 * WAD // 100


def _position(debt_usdc: int) -> Position:
    return Position(0, debt_usdc * USDC * 10**6, WAD)  # against 1 ETH


def test_the_discount_is_one_minus_the_health_score() -> None:
    # 1 ETH (2,000 x 0.86 = 1,720 adjusted) against 1,800: health score 1,720 / 1,800 = 0.9555…
    factor = discount_factor(1_720 * USDC, 1_800 * USDC, MAX_DISCOUNT)
    assert factor == 1_720 * USDC * WAD // (1_800 * USDC) == 955_555_555_555_555_555
    maximum = max_liquidation(WAD, 2_000 * USDC, 1_800 * USDC, LLTV, MAX_DISCOUNT)
    assert maximum is not None
    # all the debt for 1,800 / 0.9555… = 1,883.72 USDC of collateral, i.e. 0.94186 ETH
    yield_value = 1_800 * USDC * WAD // factor
    assert maximum.repay == 1_800 * USDC
    assert maximum.yield_balance == yield_value * WAD // (2_000 * USDC)


def test_the_discount_is_capped_at_max_liquidation_discount() -> None:
    # debt 2,500: health score 1,720 / 2,500 = 0.688, discount 31.2 % → capped at 15 %
    assert discount_factor(1_720 * USDC, 2_500 * USDC, MAX_DISCOUNT) == WAD - MAX_DISCOUNT
    maximum = max_liquidation(WAD, 2_000 * USDC, 2_500 * USDC, LLTV, MAX_DISCOUNT)
    assert maximum is not None
    # 2,500 / 0.85 > 2,000: all the collateral for 2,000 x 0.85 = 1,700
    assert (maximum.repay, maximum.yield_balance) == (1_700 * USDC, WAD)
    assert max_liquidation(WAD, 2_000 * USDC, 1_700 * USDC, LLTV, MAX_DISCOUNT) is None  # healthy


def test_debt_left_without_collateral_is_socialised() -> None:
    result = EulerLiquidation(LLTV, EulerParams(MAX_DISCOUNT)).act(
        MARKET.copy(), _position(2_500), PRICE, True
    )
    assert result is not None
    assert (result.repaid_assets, result.seized_assets) == (1_700 * USDC, WAD)
    assert result.bad_debt_assets == 800 * USDC


def test_no_liquidation_within_the_cool_off_after_the_owners_last_action() -> None:
    euler = EulerLiquidation(LLTV, EulerParams(MAX_DISCOUNT, cool_off=60))
    euler.position_changed("0xb", 1_000)
    args = (MARKET.copy(), _position(1_800), PRICE, True)
    assert euler.act_on(PositionAt("0xb", 1_059, *args)) is None
    assert (
        euler.act_on(PositionAt("0xb", 1_060, MARKET.copy(), _position(1_800), PRICE, True))
        is not None
    )
    assert (
        euler.act_on(PositionAt("0xc", 1_000, MARKET.copy(), _position(1_800), PRICE, True))
        is not None
    )


def test_splitting_a_liquidation_pays_when_it_lowers_health() -> None:
    """Past LTV = sqrt(LLTV) ≈ 0.927 a discounted liquidation lowers the health score, so each of
    ten smaller calls gets a larger discount than one call: more collateral per unit repaid."""
    one = EulerLiquidation(LLTV, EulerParams(MAX_DISCOUNT)).act(
        MARKET.copy(), _position(1_900), PRICE, True
    )
    split = EulerLiquidation(LLTV, EulerParams(MAX_DISCOUNT, slices=10)).act(
        MARKET.copy(), _position(1_900), PRICE, True
    )
    assert one is not None and split is not None
    assert split.incentive_factor > one.incentive_factor
    # both end with all the collateral; the split repays less for it
    assert one.seized_assets == split.seized_assets == WAD
    assert split.repaid_assets < one.repaid_assets
    assert split_gain(LLTV, MAX_DISCOUNT, 10, MARKET, _position(1_900), PRICE) > 0
    # below sqrt(LLTV) a partial liquidation restores health: splitting stops early and earns less
    assert split_gain(LLTV, MAX_DISCOUNT, 10, MARKET, _position(1_750), PRICE) < 0
