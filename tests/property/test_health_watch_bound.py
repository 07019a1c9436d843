"""The health watch's bound against the Pool's own account data: whenever it calls a look quiet, the
exact health factor is within its band (at or above the bar, below the top of a window the account
is parked in) and the LTV at or below its record, whatever the prices and the time did since
(v3.0–3.7 roundings, one or two collaterals, dust to whales)."""

from __future__ import annotations

import copy
from dataclasses import replace

from hypothesis import assume, event, example, given, settings
from hypothesis import strategies as st

from softliq_core.protocols.aave.account import AccountData, value_in_base
from softliq_core.protocols.aave.pool import AavePool
from softliq_core.replay.health_watch import HealthWatch
from tests.aave_fixtures import ALICE, BOB, CAROL, T0, USDC, WETH, WSTETH, make_pool

WAD = 10**18
VERSIONS = ("3.0", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7")


def _ltv(data: AccountData) -> float:
    return data.total_debt_base / data.total_collateral_base


@settings(max_examples=400, deadline=None)
@given(
    version=st.sampled_from(VERSIONS),
    held=st.sampled_from([(WETH,), (WSTETH,), (WETH, WSTETH), (USDC,), (WETH, USDC)]),
    exponents=st.lists(st.integers(5, 22), min_size=2, max_size=2),
    share=st.integers(5, 99),
    debt_in_weth=st.booleans(),
    elapsed=st.integers(0, 120 * 86_400),
    moves=st.lists(
        st.one_of(st.integers(-400, 400), st.integers(-60_000, 120_000)), min_size=3, max_size=3
    ),
    bar_offset=st.integers(-20_000, 1_000),
    top_offset=st.one_of(st.none(), st.integers(-1_000, 20_000)),
    ltv_offset=st.integers(-1_000, 20_000),
    at_the_boundary=st.booleans(),
)
@example(  # borrowed more USDC than the pool held when it had 50 M (a clean-clone run found it)
    version="3.0", held=(WETH, WSTETH), exponents=[22, 22], share=63, debt_in_weth=False,
    elapsed=0, moves=[0, 0, 0], bar_offset=0, top_offset=None, ltv_offset=0, at_the_boundary=False,
)  # fmt: skip
def test_a_quiet_look_would_change_nothing(
    version: str,
    held: tuple[str, ...],
    exponents: list[int],
    share: int,
    debt_in_weth: bool,
    elapsed: int,
    moves: list[int],
    bar_offset: int,
    top_offset: int | None,
    ltv_offset: int,
    at_the_boundary: bool,
) -> None:
    pool = make_pool(version)
    # enough of each to lend a whale's borrowing power (two collaterals of 10**22 x 7/3)
    pool.supply(USDC, 1_000_000_000 * 10**6, CAROL, T0)
    pool.supply(WETH, 500_000 * 10**18, CAROL, T0)
    for asset, exponent in zip(held, exponents, strict=False):
        decimals = 6 if asset == USDC else 18
        pool.supply(asset, 10 ** max(exponent - (18 - decimals), 1) * 7 // 3, ALICE, T0)
    available = pool.user_account_data(ALICE, T0).available_borrows_base
    debt_asset = WETH if debt_in_weth and WETH not in held else USDC
    unit = 10**18 if debt_asset == WETH else 10**6
    amount = available * share // 100 * unit // pool.prices[debt_asset]
    assume(amount > 0)
    pool.borrow(debt_asset, amount, ALICE, T0)

    seen_at = T0 + elapsed // 3
    before = pool.user_account_data(ALICE, seen_at)
    moved = copy.deepcopy(pool)
    for asset, move in zip((WETH, WSTETH, USDC), moves, strict=True):
        moved.set_price(asset, max(pool.prices[asset] * (100_000 + move) // 100_000, 1))
    now = T0 + elapsed
    after = moved.user_account_data(ALICE, now)
    # the records a replay would hold: the look's own, or bars placed at the exact answer's edge
    if at_the_boundary:
        lowest_health = after.health_factor + bar_offset
        highest_ltv = _ltv(after) * (1 + ltv_offset / 10**9)
        top = None if top_offset is None else after.health_factor - top_offset
    else:
        lowest_health = before.health_factor * (10**6 + bar_offset) // 10**6
        highest_ltv = _ltv(before) * (1 + ltv_offset / 10**6)
        top = None if top_offset is None else before.health_factor * (10**6 + top_offset) // 10**6
    watch = HealthWatch()
    watch.follow_terms(pool)
    watch.observed(pool, ALICE, before, seen_at, (lowest_health, top), highest_ltv)
    event("watched" if watch.watched[0] else "not watched (premises)")
    quiet = watch.is_quiet(ALICE, moved, now)
    event(f"quiet: {quiet}")
    if quiet:
        assert after.health_factor >= lowest_health
        assert top is None or after.health_factor < top
        assert _ltv(after) <= highest_ltv


def _borrower(version: str = "3.3") -> AavePool:
    pool = make_pool(version)
    pool.supply(WETH, 10 * 10**18, ALICE, T0)
    pool.supply(USDC, 50_000_000 * 10**6, CAROL, T0)
    pool.borrow(USDC, 10_000 * 10**6, ALICE, T0)
    return pool


def _look(watch: HealthWatch, pool: AavePool, near: bool = False) -> None:
    """A look at ALICE whose own health and LTV are the account's records."""
    data = pool.user_account_data(ALICE, T0)
    band = None if near else (data.health_factor, None)
    watch.observed(pool, ALICE, data, T0, band, _ltv(data))


def test_a_small_favourable_move_is_quiet_and_a_new_low_is_not() -> None:
    pool = _borrower()
    watch = HealthWatch()
    _look(watch, pool)
    pool.set_price(WETH, pool.prices[WETH] * 1001 // 1000)
    assert watch.is_quiet(ALICE, pool, T0)
    pool.set_price(WETH, pool.prices[WETH] * 998 // 1000)  # below the look's price: a new low
    assert not watch.is_quiet(ALICE, pool, T0)
    # near the trigger, or forgotten: always looked at
    _look(watch, pool, near=True)
    assert not watch.watched[watch.rows[ALICE]]
    _look(watch, pool)
    watch.forget([None, "0xsomeone", ALICE])
    assert not watch.watched[watch.rows[ALICE]] and not watch.known[watch.rows[ALICE]]


def test_a_parked_account_leaves_its_window_when_its_collateral_earns() -> None:
    """Health also rises with the collateral's liquidity index: WETH lent at 90 % utilisation
    earns about 3 % a year while ALICE's USDC debt accrues almost nothing, so a year with no price
    move carries her above the top of a window 0.5 % above her health. The look is quiet before
    and not after (fails when the bound leaves the income out)."""
    pool = _borrower()
    pool.supply(WETH, 1_000 * 10**18, CAROL, T0)
    pool.supply(USDC, 100_000_000 * 10**6, BOB, T0)
    pool.borrow(WETH, 909 * 10**18, BOB, T0)
    data = pool.user_account_data(ALICE, T0)
    watch = HealthWatch()
    watch.observed(
        pool, ALICE, data, T0, (data.health_factor // 2, data.health_factor * 1005 // 1000),
        _ltv(data) * 1.01, calls=True,
    )  # fmt: skip
    later = T0 + 365 * 86_400
    assert pool.user_account_data(ALICE, later).health_factor > data.health_factor * 1005 // 1000
    assert watch.is_quiet(ALICE, pool, T0 + 86_400)
    assert not watch.is_quiet(ALICE, pool, later)
    looks, calls = watch.to_look(pool, T0 + 86_400, {WETH})
    assert list(calls) == [0] and not len(looks)  # quiet and parked: the call is scheduled


def test_the_rows_and_columns_grow_without_losing_a_look() -> None:
    pool = _borrower()
    watch = HealthWatch()
    _look(watch, pool)
    for i in range(40):
        watch.add(f"0x{i:040x}")
        watch._column(f"asset{i}")
    assert watch.rows[ALICE] == 0 and len(watch.known) >= 41 and watch.held.shape[1] >= 42
    pool.set_price(WETH, pool.prices[WETH] * 1001 // 1000)
    assert watch.is_quiet(ALICE, pool, T0)
    looks, calls = watch.to_look(pool, T0, {WETH})
    assert list(looks) == list(range(1, 41)) and not len(calls)  # the new rows: unknown


def test_a_change_of_the_pools_rules_forgets_every_look() -> None:
    pool = _borrower()
    watch = HealthWatch()
    watch.follow_terms(pool)
    _look(watch, pool)
    watch.follow_terms(pool)
    assert watch.watched[0]  # nothing moved
    reserve = pool.reserves[WETH]
    reserve.config = replace(reserve.config, ltv=6500, liquidation_threshold=7000)
    watch.follow_terms(pool)
    assert not watch.watched.any()


def test_the_floored_average_threshold_is_in_the_margin() -> None:
    """Up to v3.4 two collaterals' average LT is floored to a bps: when a price move carries the
    average just below a whole bps the Pool's health factor drops by up to 1/LT while the real one
    rises. Scanned across such a crossing, no quiet look misses the new low."""
    pool = make_pool("3.0")
    pool.supply(USDC, 50_000_000 * 10**6, CAROL, T0)
    pool.supply(WETH, 10**18, ALICE, T0)
    pool.supply(WSTETH, 10**18, ALICE, T0)
    pool.borrow(USDC, 2_500 * 10**6, ALICE, T0)
    weth = pool.prices[WETH]
    # WETH up by 5e-5 (above the 1e-5 margin, below 1/LT); the average LT just above a whole bps
    pool.set_price(WETH, weth * 100_005 // 100_000)
    while _average_threshold(pool) % 1 > 1e-4:
        pool.set_price(WSTETH, pool.prices[WSTETH] + 10**4)
    watch = HealthWatch()
    _look(watch, pool)
    data = pool.user_account_data(ALICE, T0)
    pool.set_price(WETH, weth * 100_010 // 100_000)
    start, crossed = pool.prices[WSTETH], False
    for step in range(400):  # WSTETH up by a little more than WETH: its lower LT gains weight
        pool.set_price(WSTETH, start * (10**9 + 100_000 + step * 10) // 10**9)
        now = pool.user_account_data(ALICE, T0)
        crossed |= now.liquidation_threshold < data.liquidation_threshold
        if watch.is_quiet(ALICE, pool, T0):
            assert now.health_factor >= data.health_factor, step  # (fails without the 1/LT)
    assert crossed  # the scan carried the average across a whole bps


def test_the_floored_average_threshold_is_in_the_upper_margin() -> None:
    """The other side of the floor: a look whose average LT was floored by almost a whole bps, then
    a small rise of the collateral with the higher LT that carries the average just over the next
    bps, and the Pool's health factor jumps by about 1/LT more than the prices moved it. With the
    band's top at each new exact answer, no look may be quiet (fails without the 1/LT term)."""
    pool = make_pool("3.0")
    pool.supply(USDC, 50_000_000 * 10**6, CAROL, T0)
    pool.supply(WETH, 10**18, ALICE, T0)
    pool.supply(WSTETH, 10**18, ALICE, T0)
    pool.borrow(USDC, 2_500 * 10**6, ALICE, T0)
    # the average LT just below a whole bps: floored by almost one
    while _average_threshold(pool) % 1 < 0.9999:
        pool.set_price(WSTETH, pool.prices[WSTETH] - 10**4)
    reference = dict(pool.prices)
    data = pool.user_account_data(ALICE, T0)
    crossed = False
    for step in range(1, 400):  # WETH (the higher LT) up: its weight carries the average over
        pool.prices.update(reference)
        watch = HealthWatch()
        pool.set_price(WETH, reference[WETH] * (10**9 + step * 100) // 10**9)
        now = pool.user_account_data(ALICE, T0)
        crossed |= now.liquidation_threshold > data.liquidation_threshold
        pool.prices.update(reference)
        watch.observed(pool, ALICE, data, T0, (0, now.health_factor), 1.0)
        pool.set_price(WETH, reference[WETH] * (10**9 + step * 100) // 10**9)
        assert not watch.is_quiet(ALICE, pool, T0), step
    assert crossed  # the scan carried the average across a whole bps


def _average_threshold(pool: AavePool) -> float:
    values = {
        asset: value_in_base(pool.collateral_balance(asset, ALICE, T0), pool.prices[asset], reserve)
        for asset, reserve in pool.reserves.items()
        if asset in (WETH, WSTETH)
    }
    weighted = sum(v * pool.reserves[a].config.liquidation_threshold for a, v in values.items())
    return weighted / sum(values.values())
