"""Hypothesis properties of the exact Morpho math, MorphoBlue and the baseline ledger fold.

Exact reference values are rationals (``Fraction``), never the functions under test.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from fractions import Fraction

from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from softliq_core.decode import decode_logs
from softliq_core.mechanisms.base import ActionResult
from softliq_core.mechanisms.morpho_liquidation import MorphoLiquidation
from softliq_core.mechanisms.morpho_pre_liquidation import MorphoPreLiquidation
from softliq_core.protocols.morpho import errors
from softliq_core.protocols.morpho.blue import ZERO_ADDRESS, MorphoBlue
from softliq_core.protocols.morpho.errors import MorphoRevert
from softliq_core.protocols.morpho.health import is_healthy
from softliq_core.protocols.morpho.liquidation import (
    liquidate,
    liquidation_incentive_factor,
    max_liquidation_inputs,
    repaid_shares_for_seized,
    seized_for_repaid_shares,
)
from softliq_core.protocols.morpho.market import Market, MarketParams, Position
from softliq_core.protocols.morpho.pre_liquidation import (
    PreLiquidationParams,
    parameter_violations,
    pre_liquidate,
    pre_liquidation_terms,
)
from softliq_core.protocols.morpho.shares import (
    to_assets_down,
    to_assets_up,
    to_shares_down,
    to_shares_up,
)
from softliq_core.replay.ledger import Ledger
from softliq_core.replay.validation import conservation_problems
from softliq_core.sources.synthetic import SyntheticChainConfig, generate_chain

WAD = 10**18
SCALE = 10**36
UINT128 = 2**128 - 1
LLTVS = [385, 625, 770, 860, 915, 945, 965, 980]  # spec §1.9 tiers, per mille

# The SMALL_CHAIN shape of tests/conftest.py (seed 11 there; other seeds here).
SMALL_CHAIN = SyntheticChainConfig(seed=11, days=4, borrowers_per_market=25, crash_day=2)


def _exact_assets(shares: int, total_assets: int, total_shares: int) -> Fraction:
    return Fraction(shares * (total_assets + 1), total_shares + 10**6)


def _exact_shares(assets: int, total_assets: int, total_shares: int) -> Fraction:
    return Fraction(assets * (total_shares + 10**6), total_assets + 1)


amounts = st.integers(min_value=0, max_value=UINT128)
lltvs = st.sampled_from(LLTVS).map(lambda per_mille: per_mille * 10**15)


@st.composite
def totals(draw: st.DrawFn) -> tuple[int, int]:
    """(total assets, total shares) as a market reaches them: shares per asset at most 1e6."""
    total_assets = draw(st.integers(min_value=0, max_value=10**30))
    if total_assets == 0:
        return 0, draw(st.sampled_from([0, 0, 1, 10**6]))
    # interest makes an asset worth more shares-wise: between 1e6 and ~1e3 shares per asset
    per_asset = draw(st.fractions(min_value=Fraction(1, 1000), max_value=1))
    return total_assets, int(total_assets * 10**6 * per_asset)


# -- share conversions ---------------------------------------------------------------------------


@settings(deadline=None)  # timing under a loaded CI machine is no property
@given(totals(), amounts)
def test_share_conversions_bracket_the_exact_value(t: tuple[int, int], x: int) -> None:
    ta, ts = t
    exact_shares, exact_assets = _exact_shares(x, ta, ts), _exact_assets(x, ta, ts)
    assert to_shares_down(x, ta, ts) <= exact_shares <= to_shares_up(x, ta, ts)
    assert to_shares_up(x, ta, ts) - to_shares_down(x, ta, ts) <= 1
    assert to_assets_down(x, ta, ts) <= exact_assets <= to_assets_up(x, ta, ts)
    assert to_assets_up(x, ta, ts) - to_assets_down(x, ta, ts) <= 1


@settings(deadline=None)  # timing under a loaded CI machine is no property
@given(totals(), amounts)
def test_round_trips_never_give_the_user_more(t: tuple[int, int], x: int) -> None:
    ta, ts = t
    # supply x assets, then redeem the shares: never more than x back
    assert to_assets_down(to_shares_down(x, ta, ts), ta, ts) <= x
    # mint x shares by paying assets: those assets buy back at least x shares
    assert to_shares_down(to_assets_up(x, ta, ts), ta, ts) >= x
    # borrow x assets: the debt the shares represent is at least x
    assert to_assets_up(to_shares_up(x, ta, ts), ta, ts) >= x
    # borrow x shares: the assets received are worth at most x shares
    assert to_shares_up(to_assets_down(x, ta, ts), ta, ts) <= x
    # withdraw x assets: the shares burnt are worth at least x
    assert to_assets_down(to_shares_up(x, ta, ts), ta, ts) >= x


# -- MorphoBlue operation sequences --------------------------------------------------------------

MORPHO = "0x" + "bb" * 20
OWNER = "0x" + "01" * 20
FEE_RECIPIENT = "0x" + "fe" * 20
USERS = ["0x" + f"{i:02x}" * 20 for i in range(0xA1, 0xA5)]
IRM = "0x" + "12" * 20
ORACLE = "0x" + "0c" * 20
PARAMS = MarketParams("0x" + "10" * 20, "0x" + "20" * 20, ORACLE, IRM, 860 * 10**15)

operation = st.tuples(
    st.sampled_from(
        [
            "supply",
            "supply_shares",
            "withdraw",
            "withdraw_shares",
            "borrow",
            "borrow_shares",
            "repay",
            "repay_shares",
            "supply_collateral",
            "withdraw_collateral",
            "liquidate_seized",
            "liquidate_shares",
            "price",
            "price",
            "fee",
        ]
    ),
    st.integers(min_value=0, max_value=len(USERS) - 1),
    # amounts around the seeded balances, with dust and huge values now and then
    st.one_of(
        st.integers(min_value=1, max_value=10**12),
        st.integers(min_value=1, max_value=100),
        st.integers(min_value=1, max_value=10**30),
    ),
    st.sampled_from([0, 0, 1, 12, 3_600, 86_400, 30 * 86_400]),
)


def _apply(blue: MorphoBlue, prices: dict[str, int], op: tuple[str, int, int, int]) -> None:
    kind, who, amount, wait = op
    user, other = USERS[who], USERS[(who + 1) % len(USERS)]
    position = blue.position(PARAMS.id, user)
    blue.timestamp += wait
    if kind.startswith("liquidate") and amount % 4:
        # most liquidation attempts come with a price drop to 0.4x-0.95x (0.8-1.9 loan per unit)
        prices[ORACLE] = 2 * SCALE * (amount % 12 + 8) // 20
    match kind:
        case "supply":
            blue.supply(user, PARAMS, amount, 0, user)
        case "supply_shares":
            blue.supply(user, PARAMS, 0, amount * 10**6 + amount % 997, user)
        case "withdraw":
            blue.withdraw(user, PARAMS, amount, 0, user, user)
        case "withdraw_shares":  # often everything the user has
            shares = min(amount * 10**6, position.supply_shares) or amount
            blue.withdraw(user, PARAMS, 0, shares, user, user)
        case "borrow":
            blue.borrow(user, PARAMS, amount, 0, user, user)
        case "borrow_shares":
            blue.borrow(user, PARAMS, 0, amount * 10**6 + amount % 997, user, user)
        case "repay":  # a third party repays on the user's behalf
            blue.repay(other, PARAMS, amount, 0, user)
        case "repay_shares":
            shares = min(amount * 10**6, position.borrow_shares) or amount
            blue.repay(user, PARAMS, 0, shares, user)
        case "supply_collateral":
            blue.supply_collateral(user, PARAMS, amount, user)
        case "withdraw_collateral":
            blue.withdraw_collateral(user, PARAMS, amount, user, user)
        case "liquidate_seized":  # the seeded borrowers, often all their collateral (bad debt)
            borrower = blue.position(PARAMS.id, USERS[who % 2])
            seized = borrower.collateral if amount % 3 == 0 else amount
            seized = min(seized, borrower.collateral) or amount
            blue.liquidate(other, PARAMS, USERS[who % 2], seized, 0)
        case "liquidate_shares":
            borrower = blue.position(PARAMS.id, USERS[who % 2])
            shares = borrower.borrow_shares if amount % 3 == 0 else amount * 10**6
            shares = min(shares, borrower.borrow_shares) or amount
            blue.liquidate(other, PARAMS, USERS[who % 2], 0, shares)
        case "price":
            # from 0.25x to 2.2x of 2e36: drops make positions liquidatable or insolvent
            prices[ORACLE] = 2 * SCALE * (amount % 40 + 5) // 20
        case "fee":
            blue.set_fee(OWNER, PARAMS, (amount % 6) * WAD // 20)  # 0 to 0.25


def _state(blue: MorphoBlue) -> tuple[object, ...]:
    return (
        blue.markets[PARAMS.id].copy(),
        {k: v.copy() for k, v in blue.positions.items() if v != Position()},
        dict(blue.rate_at_target),
        len(blue.events),
    )


@settings(max_examples=120, deadline=None)
@given(st.lists(operation, min_size=5, max_size=40))
def test_morpho_sequences_conserve_shares_and_liquidity(
    ops: list[tuple[str, int, int, int]],
) -> None:
    prices = {ORACLE: 2 * SCALE}
    blue = MorphoBlue(MORPHO, OWNER, lambda oracle: prices[oracle], timestamp=1_700_000_000)
    blue.enable_irm(OWNER, IRM)
    blue.enable_lltv(OWNER, PARAMS.lltv)
    blue.set_fee_recipient(OWNER, FEE_RECIPIENT)
    blue.create_market(OWNER, PARAMS)
    # seed: every user supplies and posts collateral, two borrow near the limit
    for user in USERS:
        blue.supply(user, PARAMS, 10**12, 0, user)
        blue.supply_collateral(user, PARAMS, 10**12, user)
    for user in USERS[:2]:
        blue.borrow(user, PARAMS, 17 * 10**11, 0, user, user)  # LTV 0.85 at price 2
    collateral_in, collateral_out = 10**12 * len(USERS), 0
    succeeded = 0
    for op in ops:
        before = _state(blue)
        n_events = len(blue.events)
        try:
            _apply(blue, prices, op)
        except MorphoRevert as revert:
            # atomic: a revert changes nothing (the clock is not contract state)
            assert _state(blue) == before, op
            note_event(f"{op[0]} reverted: {revert.reason}")
            continue
        succeeded += 1
        for event in blue.events[n_events:]:
            if event["event"] == "SupplyCollateral":
                collateral_in += event["assets"]
            elif event["event"] == "WithdrawCollateral":
                collateral_out += event["assets"]
            elif event["event"] == "Liquidate":
                collateral_out += event["seized_assets"]
                note_event(f"liquidation with bad debt: {event['bad_debt_shares'] > 0}")
        market = blue.markets[PARAMS.id]
        positions = [p for (m, _), p in blue.positions.items() if m == PARAMS.id]
        assert market.total_borrow_assets <= market.total_supply_assets, op
        assert sum(p.supply_shares for p in positions) == market.total_supply_shares, op
        assert sum(p.borrow_shares for p in positions) == market.total_borrow_shares, op
        assert sum(p.collateral for p in positions) == collateral_in - collateral_out, op
        assert all(min(p.collateral, p.borrow_shares, p.supply_shares) >= 0 for p in positions)
        assert min(market.total_borrow_assets, market.total_borrow_shares) >= 0
        assert max(market.total_supply_assets, market.total_supply_shares) <= UINT128
        new = blue.events[n_events:]
        if new and new[-1]["event"] in {"Borrow", "WithdrawCollateral"}:
            # the contract's own post-condition: the borrower is healthy after the call
            borrower = new[-1]["on_behalf"]
            assert is_healthy(
                blue.position(PARAMS.id, borrower), market, prices[ORACLE], PARAMS.lltv
            )
    note_event(f"successful calls: {min(succeeded, 10) // 5 * 5}+")
    if blue.markets[PARAMS.id].fee:
        note_event("fee set")
    assert blue.position(PARAMS.id, ZERO_ADDRESS) == Position()


# -- standard liquidation ------------------------------------------------------------------------


# any size from dust to 1e28 base units, each order of magnitude equally likely
magnitudes = st.integers(min_value=0, max_value=28).flatmap(
    lambda e: st.integers(min_value=max(1, 10 ** (e - 1)), max_value=10**e)
)


@st.composite
def borrow_position(draw: st.DrawFn) -> tuple[Market, Position, int]:
    """A market with debt, a borrower owing a share of it, and that borrower's debt in assets."""
    total_borrow_assets = draw(magnitudes)
    per_asset = draw(st.fractions(min_value=Fraction(1, 100), max_value=1))
    total_borrow_shares = max(1, int(total_borrow_assets * 10**6 * per_asset))
    part = draw(st.one_of(st.fractions(min_value=0, max_value=1), st.just(Fraction(1))))
    borrow_shares = max(1, int(total_borrow_shares * part))
    collateral = draw(magnitudes)
    market = Market(
        total_supply_assets=total_borrow_assets + draw(st.integers(0, 10**20)),
        total_supply_shares=draw(st.integers(0, 10**30)),
        total_borrow_assets=total_borrow_assets,
        total_borrow_shares=total_borrow_shares,
        last_update=1,
    )
    debt = to_assets_up(borrow_shares, total_borrow_assets, total_borrow_shares)
    return market, Position(borrow_shares=borrow_shares, collateral=collateral), debt


def _price_for_ltv(debt: int, collateral: int, ltv: Fraction) -> int:
    """The oracle price (1e36-scaled) at which the position's LTV is about ``ltv``."""
    return int(Fraction(debt * SCALE) / (collateral * ltv))


@st.composite
def unhealthy_case(draw: st.DrawFn) -> tuple[Market, Position, int, int, int, int]:
    """An unhealthy position, its LLTV and price, and liquidation inputs (one of them zero)."""
    lltv = draw(lltvs)
    market, position, debt = draw(borrow_position())
    # LTV between LLTV and 1.5: past 1/LIF the position is insolvent (bad debt)
    target_ltv = draw(st.fractions(min_value=Fraction(lltv, WAD), max_value=Fraction(3, 2)))
    price = _price_for_ltv(debt, position.collateral, target_ltv)
    assume(price > 0 and not is_healthy(position, market, price, lltv))
    match draw(st.sampled_from(["all collateral", "some collateral", "all shares", "some shares"])):
        case "all collateral":
            return market, position, lltv, price, position.collateral, 0
        case "some collateral":
            return market, position, lltv, price, draw(st.integers(1, position.collateral)), 0
        case "all shares":
            return market, position, lltv, price, 0, position.borrow_shares
        case _:
            return market, position, lltv, price, 0, draw(st.integers(1, position.borrow_shares))


@settings(max_examples=200, deadline=None)
@given(unhealthy_case())
def test_liquidation_conserves_collateral_and_debt(
    case: tuple[Market, Position, int, int, int, int],
) -> None:
    market, position, lltv, price, seized_in, shares_in = case
    market_before, position_before = market.copy(), position.copy()
    try:
        result = liquidate(market, position, lltv, price, seized_in, shares_in)
    except MorphoRevert as revert:
        # inputs worth more than the position (shares owed or collateral held) underflow
        assert revert.reason == errors.UNDERFLOW
        assert (market, position) == (market_before, position_before)
        note_event("liquidation: underflow")
        return
    note_event(f"liquidation: bad debt {result.bad_debt_shares > 0}")
    lif = liquidation_incentive_factor(lltv)
    tba, tbs = market_before.total_borrow_assets, market_before.total_borrow_shares

    # collateral: exactly the seized amount leaves the position
    assert position_before.collateral - position.collateral == result.seized_assets
    assert result.seized_assets == (seized_in or result.seized_assets)
    # debt shares: repaid + bad debt leave both the position and the market
    removed = result.repaid_shares + result.bad_debt_shares
    assert position_before.borrow_shares - position.borrow_shares == removed
    assert tbs - market.total_borrow_shares == removed
    assert market.total_borrow_assets == max(0, tba - result.repaid_assets) - result.bad_debt_assets
    assert market_before.total_supply_assets - market.total_supply_assets == result.bad_debt_assets
    assert market.total_supply_shares == market_before.total_supply_shares
    # bad debt is realised exactly when the collateral is gone, and then all debt is gone
    if position.collateral == 0:
        assert position.borrow_shares == 0
    else:
        assert result.bad_debt_shares == result.bad_debt_assets == 0
    assert result.repaid_shares == (shares_in or result.repaid_shares)

    # rounding favours the protocol: the assets paid cover the exact value of the shares repaid,
    repaid_value = _exact_assets(result.repaid_shares, tba, tbs)
    assert result.repaid_assets >= repaid_value
    # the collateral seized is worth at most the exact repaid value times LIF,
    assert result.seized_assets * Fraction(price, SCALE) <= repaid_value * Fraction(lif, WAD)
    if seized_in:
        # and the shares repaid for a given seizure are at least its exact cost in shares
        exact_cost = Fraction(seized_in * price, SCALE) / Fraction(lif, WAD)
        assert result.repaid_shares >= exact_cost * Fraction(tbs + 10**6, tba + 1)


@settings(max_examples=300, deadline=None)
@given(unhealthy_case())
def test_the_largest_liquidation_is_the_largest_the_contract_accepts(
    case: tuple[Market, Position, int, int, int, int],
) -> None:
    """Every share when the collateral covers it; else the most collateral whose cost in shares
    (rounded up) the position still owes: one unit more would cost more than it owes."""
    market, position, lltv, price, _, _ = case
    inputs = max_liquidation_inputs(market, position, lltv, price)
    lif = liquidation_incentive_factor(lltv)
    cost = lambda seized: repaid_shares_for_seized(seized, price, lif, market)  # noqa: E731
    if inputs is None:
        note_event("largest liquidation: none")
        assert cost(1) > position.borrow_shares
        return
    seized, shares = inputs
    if shares:
        note_event("largest liquidation: every share")
        assert (seized, shares) == (0, position.borrow_shares)
        assert seized_for_repaid_shares(shares, price, lif, market) <= position.collateral
        return
    note_event(f"largest liquidation: all collateral {seized == position.collateral}")
    assert 0 < seized <= position.collateral
    assert cost(seized) <= position.borrow_shares
    assert seized == position.collateral or cost(seized + 1) > position.borrow_shares


# -- pre-liquidation -----------------------------------------------------------------------------


@st.composite
def pre_liquidation_case(
    draw: st.DrawFn, low: Fraction, high: Fraction
) -> tuple[Market, Position, int, PreLiquidationParams, int, int, int]:
    """Parameters passing the constructor's rules and a position at an LTV drawn between
    ``low`` and ``high`` times LLTV, with pre-liquidation inputs (one of them zero)."""
    lltv = draw(lltvs)
    pre_lltv = draw(st.integers(min_value=lltv // 2, max_value=lltv - 1))
    pre_lcf1 = draw(st.integers(min_value=0, max_value=WAD))
    pre_lcf2 = draw(st.integers(min_value=pre_lcf1, max_value=2 * WAD))
    pre_lif2 = draw(st.integers(min_value=WAD, max_value=WAD * WAD // lltv))
    pre_lif1 = draw(st.integers(min_value=WAD, max_value=pre_lif2))
    params = PreLiquidationParams(pre_lltv, pre_lcf1, pre_lcf2, pre_lif1, pre_lif2)
    assert parameter_violations(params, lltv) == []

    market, position, debt = draw(borrow_position())
    floor_ltv = max(Fraction(pre_lltv, WAD), low * Fraction(lltv, WAD))
    target = draw(st.fractions(min_value=floor_ltv, max_value=high * Fraction(lltv, WAD)))
    price = _price_for_ltv(debt, position.collateral, target)
    assume(price > 0)
    # at least preLCF1 of the shares is always repayable: mostly stay under it, sometimes not
    safe_shares = max(1, position.borrow_shares * pre_lcf1 // WAD)
    safe_seized = max(1, int(position.collateral * target * Fraction(pre_lcf1, WAD)))
    match draw(st.sampled_from(["safe shares", "any shares", "safe seized", "any seized"])):
        case "safe shares":
            seized, shares = 0, draw(st.integers(1, safe_shares))
        case "any shares":
            cap = position.borrow_shares * max(pre_lcf2, WAD) // WAD + 1
            seized, shares = 0, draw(st.integers(1, cap))
        case "safe seized":
            seized, shares = draw(st.integers(1, safe_seized)), 0
        case _:
            seized, shares = draw(st.integers(1, position.collateral)), 0
    return market, position, lltv, params, price, seized, shares


def _exact_ltv(position: Position, market: Market, price: int) -> Fraction:
    debt = to_assets_up(
        position.borrow_shares, market.total_borrow_assets, market.total_borrow_shares
    )
    quoted = position.collateral * price // SCALE
    if debt == 0:
        return Fraction(0)
    assert quoted > 0
    return Fraction(debt, quoted)


@settings(max_examples=250, deadline=None)
@given(pre_liquidation_case(Fraction(0), Fraction(1)))
def test_pre_liquidation_never_lowers_health(
    case: tuple[Market, Position, int, PreLiquidationParams, int, int, int],
) -> None:
    market, position, lltv, params, price, seized_in, shares_in = case
    ltv_before = _exact_ltv(position, market, price)
    try:
        result = pre_liquidate(
            market, position, lltv, params, price, price, True, seized_in, shares_in
        )
    except MorphoRevert as revert:
        note_event(f"pre-liquidation: {revert.reason}")
        return
    note_event("pre-liquidation: done")
    # the premise: preLIF <= preLIF2 <= wDivDown(WAD, LLTV) and LTV <= LLTV, so preLIF <= 1/LTV
    assert result.pre_lif * ltv_before <= WAD
    assert _exact_ltv(position, market, price) <= ltv_before


@settings(max_examples=150, deadline=None)
@given(pre_liquidation_case(Fraction(9, 10), Fraction(3, 2)))
def test_no_pre_liquidation_of_a_morpho_liquidatable_position(
    case: tuple[Market, Position, int, PreLiquidationParams, int, int, int],
) -> None:
    market, position, lltv, params, price, seized_in, shares_in = case
    liquidatable = not is_healthy(position, market, price, lltv)
    market_before, position_before = market.copy(), position.copy()
    try:
        pre_liquidate(market, position, lltv, params, price, price, True, seized_in, shares_in)
    except MorphoRevert as revert:
        note_event(f"liquidatable {liquidatable}: {revert.reason}")
        if liquidatable:
            assert revert.reason == errors.LIQUIDATABLE_POSITION
        assert (market, position) == (market_before, position_before)
        return
    note_event(f"liquidatable {liquidatable}: done")
    assert not liquidatable


@settings(max_examples=300, deadline=None)
@given(pre_liquidation_case(Fraction(1, 2), Fraction(3, 2)), st.booleans())
def test_the_mechanism_derives_once_what_the_contract_steps_derive(
    case: tuple[Market, Position, int, PreLiquidationParams, int, int, int], opted_in: bool
) -> None:
    """MorphoPreLiquidation derives the debt and collateral value once per call for its triggers
    and the largest slice; the answer is the contract's steps composed as the spec states them:
    liquidatable -> the standard liquidation; in the window -> pre_liquidate of every repayable
    share; otherwise nothing."""
    market, position, lltv, params, price, _, _ = case
    mechanism = MorphoPreLiquidation(lltv, params)
    liquidatable = not is_healthy(position, market, price, lltv)
    try:
        terms = pre_liquidation_terms(market, position, lltv, params, price)
    except MorphoRevert:
        terms = None
    assert mechanism.triggered(market, position, price, opted_in) == (
        liquidatable or (opted_in and terms is not None)
    )

    expected_market, expected_position = market.copy(), position.copy()
    expected: tuple[str, int, int, int] | None = None
    if liquidatable:
        liquidation = MorphoLiquidation(lltv).act(expected_market, expected_position, price, True)
        if liquidation is not None:
            expected = ("liquidation", *_amounts(liquidation))
    elif opted_in and terms is not None and terms.repayable_shares > 0:
        try:
            slice_ = pre_liquidate(
                expected_market, expected_position, lltv, params, price, price, True,
                repaid_shares=terms.repayable_shares,
            )  # fmt: skip
            expected = (
                "pre_liquidation",
                slice_.repaid_shares,
                slice_.repaid_assets,
                slice_.seized_assets,
            )
        except MorphoRevert:
            pass
    result = mechanism.act(market, position, price, opted_in)
    note_event(f"mechanism: {expected[0] if expected else 'nothing'}")
    assert (result.kind, *_amounts(result)) == expected if result else expected is None
    assert (market, position) == (expected_market, expected_position)


def _amounts(result: ActionResult) -> tuple[int, int, int]:
    return result.repaid_shares, result.repaid_assets, result.seized_assets


# -- the baseline ledger fold over synthetic chains ----------------------------------------------


@settings(
    max_examples=3,
    deadline=None,
    # a seed is the whole input: shrinking it would only regenerate chains (2 s each)
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.integers(min_value=0, max_value=10_000).filter(lambda seed: seed != SMALL_CHAIN.seed))
def test_ledger_fold_conserves_shares_and_collateral_on_synthetic_chains(seed: int) -> None:
    chain = generate_chain(replace(SMALL_CHAIN, seed=seed))
    events = decode_logs(chain.raw_logs, chain.blocks).morpho_events
    ledger = Ledger()
    collateral: dict[str, int] = defaultdict(int)  # per market: supplied - withdrawn - seized
    for event in events.sort("block_number", "log_index").iter_rows(named=True):
        ledger.apply(event)
        name = event["event"]
        if name == "SupplyCollateral":
            collateral[event["market_id"]] += int(event["assets"])
        elif name == "WithdrawCollateral":
            collateral[event["market_id"]] -= int(event["assets"])
        elif name == "Liquidate":
            collateral[event["market_id"]] -= int(event["seized_assets"])
        assert conservation_problems(ledger) == [], event
        held: dict[str, int] = defaultdict(int)
        for (market_id, _), position in ledger.positions.items():
            assert min(position.collateral, position.borrow_shares, position.supply_shares) >= 0
            held[market_id] += position.collateral
        assert {m: c for m, c in held.items() if c} == {m: c for m, c in collateral.items() if c}, (
            event
        )
        if event["market_id"] in ledger.markets:
            market = ledger.markets[event["market_id"]]
            assert market.total_borrow_assets <= market.total_supply_assets, event
    assert sum(collateral.values()) == sum(p.collateral for p in ledger.positions.values())
    # and the fold ends where the contract ended
    for key, position in chain.morpho.positions.items():
        assert ledger.positions.get(key, Position()) == position, key
    for market_id, market in chain.morpho.markets.items():
        assert ledger.markets[market_id] == market, market_id
    assert ledger.rate_at_target == chain.morpho.rate_at_target
