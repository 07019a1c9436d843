"""Compound III's absorb and buyCollateral worked by hand: the reserves change and the store front."""

from __future__ import annotations

from dataclasses import replace

from softliq_core.mechanisms import PositionAt
from softliq_core.mechanisms.compound_absorb import CometParams, CompoundAbsorb
from softliq_core.protocols.compound.comet import absorb, discounted_price
from softliq_core.protocols.morpho.health import borrowed_assets, collateral_value
from softliq_core.protocols.morpho.market import Market, Position

WAD = 10**18
USDC = 10**6
MARKET = Market(total_borrow_assets=10**12, total_borrow_shares=10**18)
PRICE = 2_000 * USDC * 10**36 // WAD
PARAMS = CometParams(
    liquidate_collateral_factor=86 * WAD // 100,
    liquidation_factor=95 * WAD // 100,
    store_front_price_factor=6 * WAD // 10,
)


def _position(debt_usdc: int) -> Position:
    return Position(0, debt_usdc * USDC * 10**6, WAD)


def test_an_absorb_credits_the_collateral_at_the_liquidation_factor() -> None:
    covered = absorb(2_000 * USDC, 1_800 * USDC, PARAMS.liquidation_factor)
    assert (covered.credited_value, covered.bad_debt, covered.surplus) == (
        1_900 * USDC,
        0,
        100 * USDC,
    )
    assert covered.reserves_change == -1_900 * USDC  # debt cleared + surplus credited
    under = absorb(2_000 * USDC, 2_100 * USDC, PARAMS.liquidation_factor)
    assert (under.bad_debt, under.reserves_change) == (200 * USDC, -2_100 * USDC)


def test_the_store_front_discount() -> None:
    # 0.6 x (1 - 0.95) = 3 % below the oracle price
    assert discounted_price(PRICE, PARAMS.liquidation_factor, PARAMS.store_front_price_factor) == (
        PRICE * 97 // 100
    )


def test_absorb_and_buy_collateral_move_the_reserves() -> None:
    comet = CompoundAbsorb(PARAMS)
    position = _position(1_800)
    result = comet.act_on(PositionAt("0xb", 0, MARKET.copy(), position, PRICE, True))
    assert result is not None
    assert position == Position(0, 0, 0)
    assert (result.seized_assets, result.taker_paid) == (WAD, 1_940 * USDC)
    assert result.repaid_assets == 1_900 * USDC  # so the borrower's penalty is 5 % of the value
    assert result.reserves_change == 40 * USDC  # -1,900 absorbed + 1,940 sold
    comet.accept("0xb")
    assert comet.reserves == 40 * USDC
    assert not comet.triggered(MARKET, _position(1_700), PRICE, True)  # 1,720 >= 1,700


def test_no_sale_once_reserves_reach_the_target() -> None:
    comet = CompoundAbsorb(
        CometParams(
            **{**PARAMS.__dict__, "reserves": 5_000 * USDC, "target_reserves": 1_000 * USDC}
        )
    )
    result = comet.act_on(PositionAt("0xb", 0, MARKET.copy(), _position(1_800), PRICE, True))
    assert result is not None
    # 5,000 - 1,900 = 3,100 >= 1,000: the collateral stays with the protocol
    assert (result.seized_assets, result.taker_paid, result.reserves_change) == (
        0,
        0,
        -1_900 * USDC,
    )


def test_the_partial_variant_absorbs_only_what_restores_the_target_health() -> None:
    comet = CompoundAbsorb(replace(PARAMS, target_health_factor=105 * WAD // 100))
    position = _position(1_800)
    result = comet.act(MARKET.copy(), position, PRICE, True)
    assert result is not None
    # x = (1.05 x 1,800 - 2,000 x 0.86) / (1.05 x 0.95 - 0.86) = 170 / 0.1375 = 1,236.36 USDC,
    # rounded up to the unit, i.e. 0.6181818185 ETH; debt cleared x 0.95
    assert WAD - position.collateral == 618_181_818_500_000_000
    # the buyer's whole-unit payment buys the absorbed collateral but a dust the protocol keeps
    assert 0 <= 618_181_818_500_000_000 - result.seized_assets < 10**9
    assert (result.repaid_assets, result.bad_debt_assets) == (1_174_545_455, 0)
    debt, value = borrowed_assets(position, MARKET), collateral_value(position.collateral, PRICE)
    # health 0.86 x value / debt is back to 1.05, up to a base unit of rounding each side
    assert abs(value * 86 - debt * 105) <= 86 + 105
    assert result.taker_paid == 618_181_818_500_000_000 * (PRICE * 97 // 100) // 10**36
    assert result.reserves_change == result.taker_paid - 1_174_545_455
    # 1.05 x 0.80 <= 0.86: seizing at that factor cannot restore health, so a full absorb
    full = CompoundAbsorb(
        replace(PARAMS, target_health_factor=105 * WAD // 100, liquidation_factor=8 * WAD // 10)
    )
    absorbed = full.act(MARKET.copy(), _position(1_800), PRICE, True)
    assert absorbed is not None and absorbed.seized_assets == WAD
