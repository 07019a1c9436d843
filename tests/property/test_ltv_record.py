"""The LTV record from the round log: the bounds skip only rounds that cannot hold the highest
exact LTV, whatever the totals, prices and position sizes (dust and worthless collateral too)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from softliq_core.protocols.morpho.health import ltv
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.replay.ltv_record import BLOCK, LONG_SEGMENT, SHORT_SEGMENT, RoundLog

# any size from dust to 1e30, each order of magnitude about equally likely
magnitudes = st.integers(0, 30).flatmap(lambda e: st.integers(10 ** max(0, e - 1), 10**e))
rounds = st.tuples(magnitudes, st.floats(1e-3, 1), st.integers(0, 42).map(lambda e: 10**e))


@st.composite
def round_log(
    draw: st.DrawFn, rounds: st.SearchStrategy[tuple[int, float, int]] = rounds, lowest: int = 0
) -> tuple[RoundLog, list[Market], list[int]]:
    """Rounds whose totals and prices repeat, drift or jump (segments longer than the exact cut)."""
    log, markets, prices = RoundLog(), [], []
    for assets, shares_per_asset, scale in draw(
        st.lists(rounds, min_size=SHORT_SEGMENT + 1, max_size=60)
    ):
        shares = max(1, int(assets * 10**6 * shares_per_asset))
        for _ in range(draw(st.integers(1, 3))):  # the same round repeated: ties
            market = Market(total_borrow_assets=assets, total_borrow_shares=shares)
            price = draw(st.integers(lowest, 3)) * scale + draw(st.integers(0, 2))
            log.append(market, price)
            markets.append(market)
            prices.append(price)
    return log, markets, prices


# Sizes where debt and collateral value stay above 10**6 base units: the watch-margin path.
large = st.integers(12, 30).flatmap(lambda e: st.integers(10 ** (e - 1), 10**e))
large_rounds = st.tuples(large, st.floats(1e-3, 1), st.integers(30, 42).map(lambda e: 10**e))
Case = tuple[tuple[RoundLog, list[Market], list[int]], int, int]
cases: st.SearchStrategy[Case] = st.one_of(
    st.tuples(round_log(), magnitudes, magnitudes),  # any size: mostly the bounds path
    st.tuples(round_log(large_rounds, lowest=1), large, large),  # sizeable: the margin path
)


@settings(max_examples=2500, deadline=None)
@given(cases, st.data())
def test_the_record_is_the_highest_exact_ltv(case: Case, data: st.DataObject) -> None:
    (log, markets, prices), borrow_shares, collateral = case
    position = Position(0, max(1, borrow_shares), collateral)
    start = data.draw(st.integers(0, len(log) - 1))
    end = data.draw(st.integers(start, len(log)))
    exact = [ltv(position, markets[i], prices[i]) for i in range(start, end)]
    known = [value for value in exact if value is not None]
    assert log.highest_ltv(position, start, end) == (max(known) if known else None)
    # and whether some round values the collateral at 0 (no LTV while owing)
    assert log.fold(position, start, end)[1] == (None in exact)


def test_a_round_whose_collateral_value_floors_to_zero_does_not_hide_the_record() -> None:
    """collateral x price = 1e36 - 1: worth 0.999... base units, which floats round to 1; that
    round has no LTV, and the record is the highest LTV of the others."""
    position = Position(0, 10**12, 10**18)
    market = Market(total_borrow_assets=10**6, total_borrow_shares=10**12)
    log = RoundLog()
    for price in [10**18 - 1, *(10**24 + i for i in range(SHORT_SEGMENT))]:
        log.append(market, price)
    expected = max(ltv(position, market, 10**24 + i) or 0 for i in range(SHORT_SEGMENT))
    assert ltv(position, market, 10**18 - 1) is None
    assert log.highest_ltv(position, 0, len(log)) == expected


def test_clear_empties_the_log() -> None:
    log = RoundLog()
    log.append(Market(total_borrow_assets=10**18, total_borrow_shares=10**24), 10**36)
    assert len(log) == 1
    log.clear()
    assert len(log) == 0
    assert log.highest_ltv(Position(0, 10**24, 10**18), 0, 0) is None


def test_segments_long_and_across_blocks_have_the_highest_exact_ltv() -> None:
    """Over one log of jumping prices and drifting totals: segments longer than LONG_SEGMENT (found
    with numpy) and segments across block summaries (whole blocks and their ends) hold the
    highest exact LTV of their rounds."""
    rng = random.Random(11)
    log, markets, prices = RoundLog(), [], []
    assets, shares = 10**12, 10**18
    for _ in range(LONG_SEGMENT + 3 * BLOCK):
        assets += rng.randrange(0, 10**8)
        shares += rng.randrange(0, 10**13)
        price = rng.randrange(10**27, 3 * 10**27)
        market = Market(total_borrow_assets=assets, total_borrow_shares=shares)
        log.append(market, price)
        markets.append(market)
        prices.append(price)
    ranges = [(0, len(log)), (5, len(log) - 7)] + [
        (start, start + rng.randrange(1, 4 * BLOCK))
        for start in (rng.randrange(0, len(log) - 4 * BLOCK) for _ in range(60))
    ]
    for borrow_shares, collateral in [(10**17, 10**15), (3 * 10**16, 10**14), (10**9, 10**12)]:
        position = Position(0, borrow_shares, collateral)
        exact = [ltv(position, m, p) for m, p in zip(markets, prices, strict=True)]
        for start, end in ranges:
            known = [value for value in exact[start:end] if value is not None]
            assert known and log.highest_ltv(position, start, end) == max(known), (start, end)
