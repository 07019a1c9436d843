"""MakerDAO Liquidations 2.0: abaci price curves and the Clipper's bark, take and redo, worked by hand."""

from __future__ import annotations

from decimal import Decimal, getcontext

from hypothesis import given
from hypothesis import strategies as st

from softliq_core.mechanisms import PositionAt
from softliq_core.mechanisms.maker_clipper import ClipperParams, MakerClipper
from softliq_core.protocols.maker.abacus import (
    RAY,
    LinearDecrease,
    StairstepExponentialDecrease,
    rpow,
)
from softliq_core.protocols.morpho.market import Market, Position

getcontext().prec = 80
WAD = 10**18
USDC = 10**6
# A WETH/USDC market: 1 USDC of debt is 1e6 borrow shares; ETH at 2,000 USDC as a Morpho oracle.
MARKET = Market(total_borrow_assets=10**12, total_borrow_shares=10**18)
PRICE = 2_000 * USDC * 10**36 // WAD
LLTV = 86 * WAD // 100


def _params(**changes: object) -> ClipperParams:
    base: dict[str, object] = {
        "buf": 12 * RAY // 10,
        "calc": StairstepExponentialDecrease(step=90, cut=99 * RAY // 100),
        "tail": 7200,
        "cusp": 4 * RAY // 10,
        "chip": WAD // 1000,
        "tip": 0,
        "chop": 113 * WAD // 100,
    }
    return ClipperParams(**{**base, **changes})  # type: ignore[arg-type]


def _unsafe() -> Position:
    """1 ETH against 1,800 USDC: 2,000 x 0.86 = 1,720 < 1,800."""
    return Position(0, 1_800 * USDC * 10**6, WAD)


def test_a_stairstep_auction_price_after_k_steps() -> None:
    calc = StairstepExponentialDecrease(step=90, cut=99 * RAY // 100)
    top = 2_400 * 10**18
    # three whole steps (280 s): top x 0.99^3 = 2,400 x 0.970299, exact in RAY
    assert calc.price(top, 3 * 90 + 10) == 2_328_717_600_000_000_000_000
    assert calc.price(top, 89) == top  # no step yet
    # twenty steps: within one RAY-rounding of the exact power
    exact = Decimal(top) * Decimal("0.99") ** 20
    assert abs(calc.price(top, 20 * 90) - exact) < 20


def test_a_linear_auction_price() -> None:
    calc = LinearDecrease(tau=3600)
    assert calc.price(1_000 * WAD, 900) == 750 * WAD
    assert calc.price(1_000 * WAD, 3600) == 0


@given(st.integers(RAY // 2, RAY), st.integers(0, 200))
def test_rpow_decays_monotonically_and_matches_the_power(cut: int, n: int) -> None:
    assert rpow(cut, n + 1) <= rpow(cut, n) <= RAY
    exact = (Decimal(cut) / RAY) ** n * RAY
    assert abs(rpow(cut, n) - exact) <= n + 1  # one half-unit rounding per product at most


def _barked(clipper: MakerClipper, t0: int = 1_000) -> Position:
    position = _unsafe()
    result = clipper.act_on(PositionAt("0xb", t0, MARKET.copy(), position, PRICE, True))
    assert result is not None and result.kind == "auction_start"
    clipper.accept("0xb")
    return position


def test_bark_moves_debt_and_collateral_into_an_auction_and_pays_the_keeper() -> None:
    clipper = MakerClipper(LLTV, _params(tip=5 * USDC))
    position = _unsafe()
    result = clipper.act_on(PositionAt("0xb", 1_000, MARKET.copy(), position, PRICE, True))
    assert result is not None
    # tab = 1,800 x 1.13; coin = tip + 0.1 % of the tab, paid by the protocol
    assert (result.keeper_incentive, result.reserves_change) == (7_034_000, -7_034_000)
    assert position == Position(0, 0, 0)
    assert not clipper.holds("0xb")  # not until the liquidator model carries it out
    clipper.accept("0xb")
    sale = clipper.sales["0xb"]
    assert (sale.tab, sale.lot, sale.due, sale.tic) == (2_034 * USDC, WAD, 1_800 * USDC, 1_000)
    assert sale.top == 2_400 * USDC * 10**36 // WAD
    assert clipper.dirt == 2_034 * USDC


def test_a_take_below_the_tab_sells_the_whole_lot_and_leaves_bad_debt() -> None:
    clipper = MakerClipper(LLTV, _params())
    position = _barked(clipper)
    result = clipper.act_on(
        PositionAt("0xb", 1_000 + 20 * 90, MARKET.copy(), position, PRICE, True)
    )
    assert result is not None and result.kind == "liquidation"
    auction_price = clipper.params.calc.price(clipper.sales["0xb"].top, 20 * 90)
    owe = -(-WAD * auction_price // 10**36)  # 1 ETH at 2,400 x 0.99^20 ≈ 1,962.98 USDC
    assert 1_962 * USDC < owe < 1_963 * USDC
    assert (result.seized_assets, result.taker_paid) == (WAD, owe)
    repaid = owe * WAD // clipper.params.chop  # the debt part of what the taker paid
    assert result.repaid_assets == repaid
    assert result.bad_debt_assets == 1_800 * USDC - repaid  # lot gone, tab not covered
    assert result.reserves_change == owe - repaid  # the penalty collected
    clipper.accept("0xb")
    assert not clipper.holds("0xb") and clipper.dirt == 0
    assert position.collateral == 0


def test_a_take_above_the_tab_returns_the_rest_of_the_lot_to_the_borrower() -> None:
    clipper = MakerClipper(LLTV, _params())
    position = _barked(clipper)
    result = clipper.act_on(PositionAt("0xb", 1_000 + 5 * 90, MARKET.copy(), position, PRICE, True))
    assert result is not None
    auction_price = clipper.params.calc.price(clipper.sales["0xb"].top, 5 * 90)  # ≈ 2,282.4
    tab = 2_034 * USDC
    assert result.taker_paid == tab
    assert result.seized_assets == tab * 10**36 // auction_price  # slice = owe / price
    assert (result.repaid_assets, result.bad_debt_assets) == (1_800 * USDC, 0)
    assert result.reserves_change == 234 * USDC  # the 13 % penalty
    assert position.collateral == WAD - result.seized_assets  # back to the owner
    clipper.accept("0xb")
    assert not clipper.holds("0xb")


def test_the_auction_resets_after_tail_or_below_cusp() -> None:
    clipper = MakerClipper(LLTV, _params(tail=600))
    position = _barked(clipper)
    lower = PRICE * 9 // 10
    result = clipper.act_on(PositionAt("0xb", 1_000 + 601, MARKET.copy(), position, lower, True))
    assert result is not None and result.kind == "auction_reset"
    assert result.keeper_incentive == 2_034_000  # chip on the tab again
    clipper.accept("0xb")
    sale = clipper.sales["0xb"]
    assert (sale.tic, sale.top) == (1_601, lower * 12 // 10)
    # cusp: 2,400 x 0.99^k / 2,400 < 0.4 from k = 92 on (0.99^91 ≈ 0.4007), tail aside
    clipper = MakerClipper(LLTV, _params(tail=100_000))
    position = _barked(clipper)
    took = clipper.act_on(
        PositionAt("0xb", 1_000 + 91 * 90, MARKET.copy(), position.copy(), PRICE, True)
    )
    reset = clipper.act_on(
        PositionAt("0xb", 1_000 + 92 * 90, MARKET.copy(), position.copy(), PRICE, True)
    )
    assert took is not None and took.kind == "liquidation"
    assert reset is not None and reset.kind == "auction_reset"


def test_hole_limits_the_debt_in_auction() -> None:
    clipper = MakerClipper(LLTV, _params(ilk_hole=1_130 * USDC))
    position = _unsafe()
    result = clipper.act_on(PositionAt("0xb", 1_000, MARKET.copy(), position, PRICE, True))
    assert result is not None
    clipper.accept("0xb")
    # room 1,130 → at most 1,000 USDC of debt (x chop = the room), and that share of the collateral
    assert result.repaid_shares == 1_000 * USDC * 10**6
    assert position.borrow_shares == 800 * USDC * 10**6
    assert position.collateral == WAD - WAD * 1_000 // 1_800
    assert clipper.dirt == 1_130 * USDC
    other = _unsafe()
    assert (
        clipper.act_on(PositionAt("0xc", 1_000, MARKET.copy(), other, PRICE, True)) is None
    )  # limit hit
