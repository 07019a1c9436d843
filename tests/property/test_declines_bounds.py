"""The screen's bounds (replay/declines.py) against the exact rules: a regime it is sure of is the
exact one (health, trigger, soft zone), and when it bounds a call's gain, the exact call exists, is
the kind the regime says, and earns no more than the bound (seized value − slippage − repaid)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from softliq_core.mechanisms.morpho_liquidation import MorphoLiquidation
from softliq_core.mechanisms.morpho_pre_liquidation import MorphoPreLiquidation
from softliq_core.protocols.morpho.health import is_healthy
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.pre_liquidation import (
    PreLiquidationParams,
    parameter_violations,
)
from softliq_core.protocols.morpho.shares import to_assets_up
from softliq_core.replay.declines import Quote, Regime, screen_for
from softliq_core.replay.liquidator import LiquidatorModel, SlippageCurve

WAD = 10**18
# log-uniform amounts: dust and whales alike (plain integers would be mostly dust)
amounts = st.integers(0, 29).flatmap(lambda e: st.integers(10**e, 10 ** (e + 1)))


@st.composite
def cases(
    draw: st.DrawFn,
) -> tuple[MorphoLiquidation | MorphoPreLiquidation, Market, Position, int]:
    """A mechanism and a position priced at an LTV drawn around its window and beyond."""
    lltv = draw(st.sampled_from([770, 860, 915, 945])) * WAD // 1000
    pre_lltv = draw(st.integers(lltv // 2, lltv - 1))
    lcf1 = draw(st.integers(0, WAD))
    lcf2 = draw(st.integers(lcf1, 2 * WAD))
    lif2 = draw(st.integers(WAD, WAD * WAD // lltv))
    lif1 = draw(st.integers(WAD, lif2))
    params = PreLiquidationParams(pre_lltv, lcf1, lcf2, lif1, lif2)
    assume(not parameter_violations(params, lltv))
    mechanism = draw(st.sampled_from([MorphoPreLiquidation(lltv, params), MorphoLiquidation(lltv)]))
    total_borrow_assets = draw(amounts)
    per_asset = draw(st.fractions(Fraction(1, 100), 1))
    total_borrow_shares = max(1, int(total_borrow_assets * 10**6 * per_asset))
    borrow_shares = max(1, int(total_borrow_shares * draw(st.fractions(0, 1))))
    collateral = draw(amounts)
    market = Market(
        total_borrow_assets=total_borrow_assets, total_borrow_shares=total_borrow_shares
    )
    debt = to_assets_up(borrow_shares, total_borrow_assets, total_borrow_shares)
    window = (Fraction(pre_lltv, WAD) * Fraction(9, 10), Fraction(lltv, WAD) * Fraction(11, 10))
    target = draw(st.one_of(st.fractions(*window), st.fractions(Fraction(1, 10), 3)))
    price = int(debt * 10**36 / (collateral * target))
    assume(price > 0)
    return mechanism, market, Position(0, borrow_shares, collateral), price


@settings(max_examples=3000, deadline=None)
@given(
    case=cases(),
    opted_in=st.booleans(),
    fee=st.sampled_from([0, 5 * 10**14, 3 * 10**15]),
    depth=st.sampled_from([Decimal(0), Decimal(300), Decimal(8000)]),
    decimals=st.sampled_from([6, 8, 18]),
)
def test_a_sure_regime_and_gain_bound_hold_exactly(
    case: tuple[MorphoLiquidation | MorphoPreLiquidation, Market, Position, int],
    opted_in: bool,
    fee: int,
    depth: Decimal,
    decimals: int,
) -> None:
    mechanism, market, position, price = case
    curve = SlippageCurve(fee, depth)
    screen = screen_for(mechanism, curve, decimals)
    assert screen is not None
    parked = screen.park(position, market, price, opted_in)
    if parked is None:
        return
    event(parked.regime.value)
    triggered = mechanism.triggered(market, position, price, opted_in)
    in_soft_zone = mechanism.in_soft_zone(market, position, price)
    if parked.regime is Regime.UNDERWATER:
        assert not is_healthy(position, market, price, mechanism.lltv)
        assert triggered and not in_soft_zone
    elif parked.regime is Regime.WINDOW:
        assert opted_in and triggered and in_soft_zone
    else:
        assert not opted_in and not triggered and in_soft_zone
    gain = screen.gain_bound(parked, Quote.of(market, price), opted_in)
    if gain is None:
        return
    event(f"{parked.regime.value}: gain bounded")
    result = mechanism.act(market.copy(), position.copy(), price, opted_in)
    assert result is not None
    assert result.kind == ("pre_liquidation" if parked.regime is Regime.WINDOW else "liquidation")
    no_gas = LiquidatorModel(gas_liquidation=0, gas_pre_liquidation=0, slippage={"X": curve})
    economics = no_gas.economics(
        result.kind, result.seized_assets, result.repaid_assets, price, 0, 0, "X", decimals
    )
    assert economics.profit <= gain
