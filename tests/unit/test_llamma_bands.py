"""LLAMMA-like bands: edges, a band's conversion over a price path down and back up, the mechanism's
placement, health and hard liquidation, and its scenario parameters.

Reference values are computed by hand (the first step) or with real numbers (``Decimal``, 50
digits) from LLAMMA's equations, never by the integer code under test.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal, getcontext

import pytest

from softliq_core.mechanisms.llamma_bands import BandParams, BandPosition, LlammaBands
from softliq_core.protocols.llamma.bands import (
    CURVE_UNIT,
    Band,
    BandRange,
    arbitrage,
    band_ranges,
    invariant,
    value,
)
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.replay.scenario import ScenarioError, parse_scenarios

getcontext().prec = 50
WAD = 10**18
TOKEN = 10**18  # collateral base units (18 decimals)
USDC = 10**6  # loan base units (6 decimals)


def P(usdc_per_token: int | Decimal) -> int:
    """1e36-scaled oracle price of a token in USDC base units."""
    return int(Decimal(usdc_per_token) * USDC * 10**36 / TOKEN)


def no_impact(_: int) -> int:
    return 0


def test_band_edges_are_geometric_in_the_ratio_a_minus_one_over_a() -> None:
    ranges = band_ranges(P(2000), 100, 4)
    ups = [r.price_up for r in ranges]
    # 2000 x 0.99^k, exactly (the top edge is 2000e24)
    assert ups == [P(2000), P(1980), P("1960.2"), P("1940.598")]
    assert [r.price_down for r in ranges] == [*ups[1:], P("1921.19202")]
    assert band_ranges(P(2000), 2, 2) == (
        BandRange(P(2000), P(1000)),
        BandRange(P(1000), P(500)),
    )


def _reference_step(
    x: Decimal, y: Decimal, up: Decimal, a: int, p: Decimal
) -> tuple[Decimal, Decimal]:
    """LLAMMA's band after arbitrage to the oracle price, in real numbers (no fees, no slippage):
    y0 from (x + f)(y + g) = p A^2 y0^2, then the point of the curve where (x + f)/(y + g) = p."""
    b = x * up * (a - 1) / p + y * a * p * p / up
    y0 = (b + (b * b + 4 * p * a * x * y).sqrt()) / (2 * p * a)
    f = p * p / up * a * y0
    g = up / p * (a - 1) * y0
    product = p * a * a * y0 * y0
    y_new = min(max((product / p).sqrt() - g, Decimal(0)), product / f - g)
    return product / (y_new + g) - f, y_new


def test_one_band_down_and_back_up_by_hand() -> None:
    """A = 2, one band [1000, 2000] USDC holding 1 token; the oracle goes 2000 → 1500 → 1000 → 1500 →
    2000 and arbitrageurs (no fee, no slippage) trade the band to each price."""
    (edges,) = band_ranges(P(2000), 2, 1)
    band = Band(0, TOKEN)
    # At 1500: y0 = 0.75, f = 1687.5, g = 1, I = 3375 (USDC x token); the AMM quotes 843.75 < 1500.
    curve = invariant(band, edges, 2, P(1500))
    assert curve is not None
    assert (curve.f, curve.g) == (1_687_500_000 * CURVE_UNIT, TOKEN * CURVE_UNIT)
    assert curve.price(band) == P("843.75")
    band, trade = arbitrage(band, edges, 2, P(1500), P(1500), 0, 0, no_impact)
    # (x + f) = sqrt(3375 x 1500) = 2250, (y + g) = 1.5: the band sold half a token for 562.5 USDC,
    # worth 750 USDC: the arbitrageur gained 187.5 USDC, which the band lost.
    assert band == Band(562_500_000, TOKEN // 2)
    assert trade is not None
    assert (trade.collateral_out, trade.loan_in, trade.gross_profit) == (
        TOKEN // 2,
        562_500_000,
        187_500_000,
    )
    x, y = Decimal("562.5"), Decimal("0.5")
    for price, all_loan, all_collateral in (
        (1000, True, False),
        (1500, False, False),
        (2000, False, True),
    ):
        before = band
        band, trade = arbitrage(band, edges, 2, P(price), P(price), 0, 0, no_impact)
        x, y = _reference_step(x, y, Decimal(2000), 2, Decimal(price))
        assert abs(band.loan - x * USDC) <= 2 and abs(band.collateral - y * TOKEN) <= 2 * 10**12
        assert (band.collateral == 0) is all_loan  # at the band's lower edge: all loan asset
        assert (band.loan == 0) is all_collateral  # at its upper edge: all collateral again
        assert trade is not None
        # value is conserved at the oracle price: what the band lost, the arbitrageur gained
        assert abs(before.value(P(price)) - band.value(P(price)) - trade.gross_profit) <= 1
    # the round trip cost the borrower collateral: back at 2000 it holds about 0.4184 tokens
    assert band.collateral < TOKEN
    assert abs(band.collateral - y * TOKEN) <= 2 * 10**12


def test_three_bands_convert_in_turn_and_back() -> None:
    """A = 10, three bands from 1000 down (edges 1000, 900, 810, 729): at each price the bands
    above it are all loan asset, the one holding it is mixed, those below are all collateral."""
    ranges = band_ranges(P(1000), 10, 3)
    assert [r.price_down for r in ranges] == [P(900), P(810), P(729)]
    bands = [Band(0, TOKEN)] * 3
    path = [(950, "mcc"), (880, "lmc"), (800, "llm"), (700, "lll"), (850, "lmc"), (1000, "ccc")]
    fees_paid = 0
    for price, shape in path:
        outcome = [
            arbitrage(b, r, 10, P(price), P(price), 6 * 10**15, 0, no_impact)
            for b, r in zip(bands, ranges, strict=True)
        ]
        before = sum(b.value(P(price)) for b in bands)
        bands = [b for b, _ in outcome]
        trades = [t for _, t in outcome if t is not None]
        seen = "".join("l" if b.collateral == 0 else "c" if b.loan == 0 else "m" for b in bands)
        assert seen == shape, (price, bands)
        after = sum(b.value(P(price)) for b in bands)
        gross = sum(t.gross_profit for t in trades)
        assert abs(before - after - gross) <= len(trades)  # conservation at the oracle price
        fees_paid += sum(t.fee for t in trades if t.collateral_out > 0)
    assert fees_paid > 0
    assert all(b.loan == 0 for b in bands) and sum(b.collateral for b in bands) < 3 * TOKEN


def test_fees_and_outside_slippage_make_the_conversion_lag() -> None:
    (edges,) = band_ranges(P(2000), 100, 1)  # one band [1980, 2000]
    fresh = Band(0, TOKEN)
    free, _ = arbitrage(fresh, edges, 100, P(1990), P(1990), 0, 0, no_impact)
    with_fee, trade = arbitrage(fresh, edges, 100, P(1990), P(1990), 6 * 10**15, 0, no_impact)
    assert free.collateral < with_fee.collateral < TOKEN  # the fee stops the arbitrageur earlier
    assert trade is not None and trade.fee > 0
    # a 5 % outside price impact eats more than the margin: nothing trades, the band lags
    lagging, none = arbitrage(fresh, edges, 100, P(1990), P(1990), 0, 0, lambda _: 5 * 10**16)
    assert lagging == fresh and none is None


PARAMS = BandParams(a=2, n_bands=1, fee=0, loan_discount=WAD // 10, liquidation_discount=WAD // 20)


def test_top_ltv_is_where_the_ideal_conversion_covers_the_debt() -> None:
    # one band of A = 2: collateral converts at sqrt(p_up x p_down) = p_up / sqrt(2)
    assert PARAMS.top_ltv == 636_396_103_067_892_771  # 0.9 / sqrt(2), floored
    crv = BandParams(100, 10, 0, 9 * WAD // 100, 6 * WAD // 100)
    series = sum(Decimal("0.99") ** k for k in range(10)) / 10
    assert (
        abs(Decimal(crv.top_ltv) / WAD - Decimal("0.91") * Decimal("0.99").sqrt() * series)
        < Decimal(10) ** -17
    )


def test_the_mechanism_places_bands_converts_and_hard_liquidates() -> None:
    mechanism = LlammaBands(PARAMS)
    market = Market(total_borrow_assets=1_000 * USDC, total_borrow_shares=1_000 * USDC * 10**6)
    position = Position(borrow_shares=1_000 * USDC * 10**6, collateral=TOKEN)  # 1000 USDC debt
    # top edge: 1000 / (1 x 0.6364) = 1571.37 USDC; above it the mechanism holds nothing
    state, step = mechanism.follow_price(None, market, position, P(1600), no_impact)
    assert state is None and step.collateral_sold == 0
    state, step = mechanism.follow_price(None, market, position, P(1400), no_impact)
    assert isinstance(state, BandPosition)
    (edges,) = state.ranges
    assert (
        abs(edges.price_up - P("1571.348")) < P("0.001") and edges.price_down == edges.price_up // 2
    )
    assert 0 < position.collateral == state.collateral < TOKEN and step.collateral_sold > 0
    assert step.other_side_gross > 0 and step.loss_vs_holding_change == state.loss
    bound = mechanism.bound(state)
    assert bound.in_soft_zone(market, position, P(1400))
    assert not bound.triggered(market, position, P(1400), True)  # health still positive
    # the price falls below the band: all loan asset, worth less than the debt after the discount
    state, step = mechanism.follow_price(state, market, position, P(700), no_impact)
    assert isinstance(state, BandPosition) and position.collateral == 0 < state.loan < 1_000 * USDC
    bound = mechanism.bound(state)
    assert bound.triggered(market, position, P(700), True)
    scratch, trial = market.copy(), position.copy()
    result = bound.act(scratch, trial, P(700), True)
    assert result is not None and result.kind == "liquidation"
    assert result.band_loan_assets == state.loan
    assert result.repaid_assets + result.band_loan_assets == 1_000 * USDC  # the whole debt
    assert trial == Position() and scratch.total_borrow_shares == 0


def test_a_round_trip_releases_the_position_with_less_collateral() -> None:
    mechanism = LlammaBands(PARAMS)
    market = Market(total_borrow_assets=1_000 * USDC, total_borrow_shares=1_000 * USDC)
    position = Position(borrow_shares=1_000 * USDC, collateral=TOKEN)
    state, first = mechanism.follow_price(None, market, position, P(1300), no_impact)
    state, back = mechanism.follow_price(state, market, position, P(1600), no_impact)
    assert state is None  # every band is collateral again: released
    assert back.collateral_sold < 0 < first.collateral_sold
    # versus holding, the spell's loss is the collateral it cost, at the price it ended (the two
    # sides are floored apart: one base unit)
    loss = first.loss_vs_holding_change + back.loss_vs_holding_change
    assert abs(loss - value(TOKEN - position.collateral, P(1600))) <= 1


def _scenario(bands: str, mechanism: str = "llamma_bands") -> str:
    return f'[[scenario]]\nname = "b"\nmechanism = "{mechanism}"\n{bands}\n'


GOOD = 'bands = { a = 100, n_bands = 10, fee = "0.006", loan_discount = "0.12", liquidation_discount = "0.09" }'


@pytest.mark.parametrize(
    ("bands", "needle"),
    [
        (GOOD.replace("n_bands = 10", "n_bands = 0"), "bands.n_bands: 0 must be an integer from 1"),
        (GOOD.replace("a = 100", "a = 1"), "bands.a: 1 must be an integer from 2"),
        (GOOD.replace('fee = "0.006"', 'fee = "0.2"'), "bands.fee: 0.2 must be below 0.1"),
        (GOOD.replace('fee = "0.006"', 'fee = "-0.01"'), "bands.fee: '-0.01' must be >= 0"),
        (GOOD.replace('"0.12"', '"1.2"'), "bands.loan_discount: 1.2 must be within (0, 1)"),
        (GOOD.replace('"0.09"', '"0.15"'), "bands.liquidation_discount: 0.15 must be below"),
        (GOOD.replace("a = 100", "a = 100, width = 3"), "bands.width: unknown field"),
        (GOOD.replace("n_bands = 10, ", ""), "bands.n_bands: required"),
        ("", "bands: required for mechanism 'llamma_bands'"),
    ],
)
def test_bad_band_parameters_are_named(bands: str, needle: str) -> None:
    with pytest.raises(ScenarioError) as refused:
        parse_scenarios(tomllib.loads(_scenario(bands)))
    assert any(p.startswith("scenario 'b': ") and needle in p for p in refused.value.problems), (
        refused.value.problems
    )


def test_band_parameters_belong_to_the_band_mechanism_only() -> None:
    with pytest.raises(
        ScenarioError, match="band parameters given to mechanism 'morpho_liquidation'"
    ):
        parse_scenarios(tomllib.loads(_scenario(GOOD, "morpho_liquidation")))
    (scenario,) = parse_scenarios(tomllib.loads(_scenario(GOOD)))
    assert scenario.canonical()["bands"]["a"] == "100"
    (plain,) = parse_scenarios(tomllib.loads(_scenario("", "morpho_liquidation")))
    assert "bands" not in plain.canonical()  # other mechanisms' scenario ids are unchanged
