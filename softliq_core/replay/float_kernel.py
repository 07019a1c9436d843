"""One position under one Morpho liquidation or pre-liquidation scenario, in compiled float code.

The exact engine (engine.py) is the reference; this kernel follows its rules step for step for the
scenarios a governance sweep runs (history's interest, no market impact, no stateful mechanism):
the checks at each round and at the position's own events (the LTV record, the soft-zone spell, the
liquidator scheduled ``latency`` blocks later), the calls at the top of a block on totals accrued to
it (up to ``max_calls`` greedy pre-liquidations, a hard liquidation seizing what the contract
allows, each only if it pays), and history's actions applied as intents, clipped as the engine
clips them.

Numbers are float64, rounded where the contracts round (``np.floor``/``np.ceil`` at every mulDiv),
so amounts below 2**53 base units (9e15: a USDC amount up to 9 billion dollars, a WBTC amount in
satoshis) are computed as the contracts compute them; larger ones (wei of ETH, borrow shares) carry
16 significant digits. A decision taken at the very boundary of a rounded comparison can then differ
from the exact engine's (a position clipped to exactly its LLTV, a call that pays to the unit), and
the position's path with it: README, "Sweeping a grid: the float sweep", gives how often and by
how much.

Compiled with numba (cached next to this file); every function here is numba code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt
from numba.np.unsafe.ndarray import to_fixed_tuple as _to_fixed_tuple

from softliq_core.replay.market_tape import (
    BORROW,
    NOT_AN_INTENT,
    REPAY,
    SUPPLY_COLLATERAL,
    MarketTape,
)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Flags = npt.NDArray[np.bool_]
# A scenario's row (N_PARAMS) as the kernel takes it: a tuple, not an array, which numba would
# reference-count at every call that passes it (a quarter of the kernel's time)
Params = tuple[float, ...]
F = TypeVar("F", bound=Callable[..., Any])
to_fixed_tuple = cast(Callable[[Floats, int], Params], _to_fixed_tuple)


def kernel(function: F) -> F:
    """Compile with numba, cached on disk (the first call of a new build compiles: seconds)."""
    return cast(F, numba.njit(cache=True)(function))


def inlined(function: F) -> F:
    """A kernel function inlined into its callers by numba: the screen's helpers, which LLVM left
    out of line (a call on every parked round cost about a sixth of the kernel's time). (Callers
    pass their arguments one by one: numba does not inline a call with ``*args``.)"""
    return cast(F, numba.njit(cache=True, inline="always")(function))


# AdaptiveCurveIRM's constants as the contract truncates them (WAD integers), per second
ADJUSTMENT_SPEED: Final = 1585489599188 / 1e18
INITIAL_RATE_AT_TARGET: Final = 1268391679 / 1e18
MIN_RATE_AT_TARGET: Final = 31709791 / 1e18
MAX_RATE_AT_TARGET: Final = 63419583967 / 1e18
LN_2: Final = 0.693147180559945309
LN_WEI: Final = -41.446531673892822312
WEXP_UPPER_BOUND: Final = 93.859467695000404319
WEXP_UPPER_VALUE: Final = 57716089161558943949701069502944508345128422502756744429568 / 1e18
VIRTUAL_SHARES: Final = 1e6
ORACLE_PRICE_SCALE: Final = 1e36
TRIGGER_MARGIN: Final = 1e-9  # engine.TRIGGER_MARGIN, in LTV

# A scenario's parameters, one float64 row of N_SCENARIO (float_sweep.scenario_row)
LLTV, PRE_LLTV, PRE_LCF1, PRE_LCF2, PRE_LIF1, PRE_LIF2, LIF, HAS_PRE = range(8)
GAS_LIQUIDATION, GAS_PRE_LIQUIDATION, PRIORITY_FEE, MIN_PROFIT = range(8, 12)
SLIPPAGE_FEE, SLIPPAGE_DEPTH, MAX_CALLS, GREEDY, LATENCY = range(12, 17)
N_SCENARIO: Final = 17
# and, as the kernel takes them (``with_reciprocals``), reciprocals for the screens: a
# multiplication where a division would stand in each parked round's chain of dependent operations
WINDOW_INVERSE, IMPACT_PER_UNIT, LIF_INVERSE = range(17, 20)
N_PARAMS: Final = 20

# What a simulation leaves, one float64 row per (scenario, position)
PRE_LIQUIDATIONS, LIQUIDATIONS, CLIPPED, FIRST_ACTION_BLOCK, UNPROFITABLE = range(5)
SOFT_ZONE_BLOCKS, MAX_LTV, BORROW_SHARES, COLLATERAL = range(5, 9)
REPAID_ASSETS, SEIZED_ASSETS, SEIZED_VALUE, SLIPPAGE_COST, GAS_COST = range(9, 14)
LIQUIDATOR_PROFIT, BAD_DEBT_ASSETS = range(14, 16)
N_OUTCOMES: Final = 16

NO_CALL: Final = -1
PRE_LIQUIDATION: Final = 0
LIQUIDATION: Final = 1


# -- Morpho's rounded math ------------------------------------------------------------------------


@kernel
def w_exp(x: float) -> float:
    """ExpLib.wExp's approximation, 2^q (1 + r + r^2/2) with r in [-ln2/2, ln2/2] (not exp)."""
    if x < LN_WEI:
        return 0.0
    if x >= WEXP_UPPER_BOUND:
        return WEXP_UPPER_VALUE
    q = np.trunc((x + (-LN_2 / 2 if x < 0 else LN_2 / 2)) / LN_2)
    r = x - q * LN_2
    return float((1.0 + r + r * r / 2) * 2.0**q)


@kernel
def _bounded_rate(rate: float) -> float:
    return min(max(rate, MIN_RATE_AT_TARGET), MAX_RATE_AT_TARGET)


@kernel
def accrued_borrow_assets(tape: MarketTape, segment: int, now: int) -> float:
    """Total borrow assets a call at ``now`` sees (Ledger.accrued_market): the AdaptiveCurveIRM's
    average rate since the segment's last update, compounded as wTaylorCompounded, floored."""
    assets = float(tape.total_borrow_assets[segment])
    elapsed = now - tape.last_update[segment]
    if not tape.accrues or elapsed <= 0:
        return assets
    supplied = tape.total_supply_assets[segment]
    utilization = assets / supplied if supplied > 0 else 0.0
    err = (utilization - 0.9) / (0.1 if utilization > 0.9 else 0.9)
    start = tape.rate_at_target[segment] / 1e18
    if start == 0.0:
        average = INITIAL_RATE_AT_TARGET
    else:
        adaptation = ADJUSTMENT_SPEED * err * elapsed
        if adaptation == 0.0:
            average = start
        else:
            end = _bounded_rate(start * w_exp(adaptation))
            middle = _bounded_rate(start * w_exp(adaptation / 2))
            average = (start + end + 2 * middle) / 4
    rate = ((0.75 if err < 0 else 3.0) * err + 1.0) * average
    x = rate * elapsed
    return float(assets + np.floor(assets * (x + x * x / 2 + x * x * x / 6)))


@kernel
def assets_up(shares: float, total_assets: float, total_shares: float) -> float:
    return float(np.ceil(shares * ((total_assets + 1.0) / (total_shares + VIRTUAL_SHARES))))


@kernel
def assets_down(shares: float, total_assets: float, total_shares: float) -> float:
    return float(np.floor(shares * ((total_assets + 1.0) / (total_shares + VIRTUAL_SHARES))))


@kernel
def shares_up(assets: float, total_assets: float, total_shares: float) -> float:
    return float(np.ceil(assets * ((total_shares + VIRTUAL_SHARES) / (total_assets + 1.0))))


@kernel
def collateral_value(collateral: float, price: float) -> float:
    return float(np.floor(collateral * price / ORACLE_PRICE_SCALE))


@kernel
def seized_for_shares(
    repaid_shares: float, price: float, factor: float, total_assets: float, total_shares: float
) -> float:
    repaid = assets_down(repaid_shares, total_assets, total_shares)
    return float(np.floor(np.floor(repaid * factor) * ORACLE_PRICE_SCALE / price))


@kernel
def shares_for_seized(
    seized: float, price: float, factor: float, total_assets: float, total_shares: float
) -> float:
    quoted = np.ceil(seized * price / ORACLE_PRICE_SCALE)
    return shares_up(float(np.ceil(quoted / factor)), total_assets, total_shares)


@kernel
def healthy(
    shares: float,
    collateral: float,
    price: float,
    lltv: float,
    total_assets: float,
    total_shares: float,
) -> bool:
    if shares == 0.0:
        return True
    borrowed = assets_up(shares, total_assets, total_shares)
    return bool(borrowed <= np.floor(collateral_value(collateral, price) * lltv))


@kernel
def healthy_after(
    borrow: bool,
    amount: float,
    shares: float,
    collateral: float,
    price: float,
    lltv: float,
    total_assets: float,
    total_shares: float,
) -> bool:
    """Healthy after borrowing ``amount`` (``borrow``), or after withdrawing that collateral."""
    if not borrow:
        return healthy(shares, collateral - amount, price, lltv, total_assets, total_shares)
    added = shares_up(amount, total_assets, total_shares)
    after = (shares + added, collateral, price, lltv, total_assets + amount)
    return healthy(*after, total_shares + added)


@kernel
def largest_healthy(
    borrow: bool,
    limit: float,
    shares: float,
    collateral: float,
    price: float,
    lltv: float,
    total_assets: float,
    total_shares: float,
) -> float:
    """The largest borrow (``borrow``) or withdrawal up to ``limit`` after which the position is
    healthy (the engine bisects, health being monotone): the closed form, stepped to the boundary
    of the rounded check."""
    debt = assets_up(shares, total_assets, total_shares)
    if borrow:
        closed_form = np.floor(collateral_value(collateral, price) * lltv) - debt
    else:
        least = np.ceil(np.ceil(debt / lltv) * ORACLE_PRICE_SCALE / price)
        closed_form = collateral - least
    amount = float(min(max(np.floor(closed_form), 0.0), limit))
    step = max(1.0, float(np.spacing(amount if borrow else collateral)))
    position = (shares, collateral, price, lltv, total_assets, total_shares)
    for _ in range(8):
        if amount <= 0.0 or healthy_after(borrow, amount, *position):
            break
        amount = max(amount - step, 0.0)
    for _ in range(8):
        more = amount + step
        if more > limit or not healthy_after(borrow, more, *position):
            break
        amount = more
    return amount


# -- the liquidator --------------------------------------------------------------------------------


@kernel
def pre_liquidation_terms(p: Params, ltv: float) -> tuple[float, float]:
    """The incentive factor and close factor at this LTV in the window: each interpolated
    linearly from preLLTV to LLTV, so both rise with the LTV."""
    return terms_at(p, (ltv - p[PRE_LLTV]) / (p[LLTV] - p[PRE_LLTV]))


@inlined
def terms_at(p: Params, quotient: float) -> tuple[float, float]:
    """``pre_liquidation_terms`` where the LTV is ``quotient`` of the way from preLLTV to LLTV."""
    factor = quotient * (p[PRE_LIF2] - p[PRE_LIF1]) + p[PRE_LIF1]
    return factor, quotient * (p[PRE_LCF2] - p[PRE_LCF1]) + p[PRE_LCF1]


@inlined
def propose(
    p: Params,
    opted_in: bool,
    shares: float,
    collateral: float,
    price: float,
    total_assets: float,
    total_shares: float,
) -> tuple[int, float, float, float, float]:
    """The mechanism's next call (MorphoPreLiquidation/MorphoLiquidation.act): its kind
    (``NO_CALL`` when none), repaid shares, seized collateral, bad-debt shares and gas."""
    lltv, pre_lltv = p[LLTV], p[PRE_LLTV]
    borrowed = assets_up(shares, total_assets, total_shares)
    quoted = collateral_value(collateral, price)
    if borrowed > np.floor(quoted * lltv):
        seized_all = seized_for_shares(shares, price, p[LIF], total_assets, total_shares)
        if seized_all <= collateral:
            return LIQUIDATION, shares, seized_all, 0.0, p[GAS_LIQUIDATION]
        repaid = min(
            shares_for_seized(collateral, price, p[LIF], total_assets, total_shares), shares
        )
        return LIQUIDATION, repaid, collateral, shares - repaid, p[GAS_LIQUIDATION]
    if p[HAS_PRE] > 0 and opted_in and borrowed > np.floor(quoted * pre_lltv):
        factor, close_factor = pre_liquidation_terms(p, borrowed / quoted)
        repaid = float(np.floor(shares * close_factor))
        if repaid == 0.0:
            return NO_CALL, 0.0, 0.0, 0.0, 0.0
        seized = seized_for_shares(repaid, price, factor, total_assets, total_shares)
        if seized == 0.0 or seized > collateral:
            return NO_CALL, 0.0, 0.0, 0.0, 0.0
        # Morpho's repay, then the withdrawal's health check on the market after it
        repaid_assets = assets_up(repaid, total_assets, total_shares)
        assets_after = max(total_assets - repaid_assets, 0.0)
        after = (shares - repaid, collateral - seized, price, lltv, assets_after)
        if not healthy(*after, total_shares - repaid):
            return NO_CALL, 0.0, 0.0, 0.0, 0.0
        return PRE_LIQUIDATION, repaid, seized, 0.0, p[GAS_PRE_LIQUIDATION]
    return NO_CALL, 0.0, 0.0, 0.0, 0.0


@kernel
def with_reciprocals(scenarios: Floats) -> Floats:
    """The scenarios' rows (N_SCENARIO each) with the screens' reciprocals after them:
    1 / (LLTV - preLLTV), 0.01 / slippage depth (0 without depth) and 1 / LIF."""
    rows = np.zeros((scenarios.shape[0], N_PARAMS))
    rows[:, :N_SCENARIO] = scenarios[:, :N_SCENARIO]
    for row in rows:
        if row[HAS_PRE] > 0:
            row[WINDOW_INVERSE] = 1 / (row[LLTV] - row[PRE_LLTV])
        if row[SLIPPAGE_DEPTH] > 0:
            row[IMPACT_PER_UNIT] = 0.01 / row[SLIPPAGE_DEPTH]
        row[LIF_INVERSE] = 1 / row[LIF]
    return rows


@kernel
def gas_cost(p: Params, gas_used: float, base_fee: float, native_price: float) -> float:
    """The call's gas at the block's base fee and the priority fee, in the loan asset, rounded up."""
    wei = gas_used * (base_fee + p[PRIORITY_FEE])
    return float(np.ceil(wei * native_price / ORACLE_PRICE_SCALE))


@kernel
def least_profit(p: Params, native_price: float) -> float:
    """The liquidator's minimum profit, in the loan asset, rounded up."""
    return float(np.ceil(p[MIN_PROFIT] * native_price / ORACLE_PRICE_SCALE))


@kernel
def economics(
    p: Params, seized: float, price: float, base_fee: float, native_price: float, gas_used: float
) -> tuple[float, float, float]:
    """(seized value, slippage cost, gas cost), rounded as LiquidatorModel.economics."""
    seized_value = collateral_value(seized, price)
    impact = p[SLIPPAGE_FEE]
    if p[SLIPPAGE_DEPTH] > 0:
        impact += seized * 0.01 / p[SLIPPAGE_DEPTH]
    slippage = float(np.ceil(seized_value * min(impact, 0.5)))
    return seized_value, slippage, gas_cost(p, gas_used, base_fee, native_price)


@inlined
def surely_declines(
    p: Params,
    in_window: bool,
    shares: float,
    collateral: float,
    debt: float,
    value: float,
    ltv: float,
    inverse_scale: float,
    bar: float,
) -> bool:
    """The call on a parked position, screened without the rounding: True only when the call is
    surely the regime's (a pre-liquidation in the window, a liquidation under water) and surely
    does not pay (value - slippage - repaid <= gas + least profit, ``bar``), with room for every
    rounding the exact path would do; False when unsure (then that path decides). ``debt``,
    ``value`` and ``ltv``: the position's at the call, unrounded."""
    lltv, pre_lltv = p[LLTV], p[PRE_LLTV]
    if in_window:
        if not (pre_lltv * value + 4 < debt < lltv * value * (1 - 1e-12) - 4):
            return False
        factor, close_factor = terms_at(p, (ltv - pre_lltv) * p[WINDOW_INVERSE])
        repaid = debt * close_factor
        seized_value = repaid * factor
        seized = seized_value * inverse_scale
        if shares * close_factor < 4 or seized < 4 or seized > collateral * (1 - 1e-9):
            return False
        if not debt - repaid < lltv * (value - seized_value) * (1 - 1e-12) - 4:
            return False  # the withdrawal's health check might refuse the call
    else:
        if not debt > lltv * value * (1 + 1e-12) + 4:
            return False
        seized_all = debt * p[LIF] * inverse_scale
        if seized_all < collateral * (1 - 1e-9):
            repaid, seized, seized_value = debt, seized_all, debt * p[LIF]
        elif seized_all > collateral * (1 + 1e-9):
            repaid, seized, seized_value = value * p[LIF_INVERSE], collateral, value
        else:
            return False
    impact = p[SLIPPAGE_FEE] + seized * p[IMPACT_PER_UNIT]
    gain = seized_value * (1 - min(impact, 0.5)) - repaid
    return bool(gain + 8 + 1e-9 * (seized_value + repaid) < bar)


@kernel
def _empty_in_window(
    p: Params,
    tape: MarketTape,
    segment: int,
    at: int,
    last: int,
    position: tuple[float, float, float],
) -> bool:
    """The calls at blocks ``at`` to ``last``, all on the totals ``segment`` accrued, find the
    position in the window (above its preLLTV at ``at``, the least accrued; not under water at
    ``last``, the most) and a pre-liquidation there repays or seizes nothing (at ``last``: what
    it would repay and seize only grows with the debt)."""
    shares, collateral, price = position
    quoted = collateral_value(collateral, price)
    total_shares = tape.total_borrow_shares[segment]
    earliest = accrued_borrow_assets(tape, segment, int(tape.timestamps[at - tape.first_block]))
    if not assets_up(shares, earliest, total_shares) > np.floor(quoted * p[PRE_LLTV]):
        return False
    assets = accrued_borrow_assets(tape, segment, int(tape.timestamps[last - tape.first_block]))
    borrowed = assets_up(shares, assets, total_shares)
    if borrowed > np.floor(quoted * p[LLTV]):
        return False
    factor, close_factor = pre_liquidation_terms(p, borrowed / quoted)
    repaid = float(np.floor(shares * close_factor))
    return repaid == 0.0 or seized_for_shares(repaid, price, factor, assets, total_shares) == 0.0


@kernel
def too_small_until(
    p: Params,
    tape: MarketTape,
    shares: float,
    collateral: float,
    price: float,
    due: int,
    block: int,
) -> int:
    """The next block a call must be made at, after the call at ``due`` found the position in the
    window and proposed nothing, ``block`` being the next round's or event's: past every block
    before ``block`` whose call surely proposes nothing too (``due + 1`` if none, as the engine
    does). Between rounds the price stands, and between other positions' events the totals only
    accrue interest, raising the debt, the LTV and with them what a pre-liquidation would repay
    and seize: so, stretch by stretch of one totals segment, the call at the stretch's last block
    settles every call of it. (Small positions of few-decimal collateral, WBTC in satoshis, sit
    in the window for days, one empty call per block.)"""
    position = (shares, collateral, price)
    at = due + 1
    while at < block:
        segment = int(np.searchsorted(tape.segment_block, at)) - 1  # begun before ``at``
        last = block - 1
        if segment + 1 < len(tape.segment_block):  # (the next one holds from the block after)
            last = min(last, int(tape.segment_block[segment + 1]))
        if not _empty_in_window(p, tape, segment, at, last, position):
            return at
        at = last + 1
    return block


@kernel
def call_bar(p: Params, pre_liquidation: bool, native_price: float, base_fee: float) -> float:
    """What a call must beat to pay: its gas and the least profit (surely_declines' ``bar``)."""
    gas_used = p[GAS_PRE_LIQUIDATION] if pre_liquidation else p[GAS_LIQUIDATION]
    return least_profit(p, native_price) + gas_cost(p, gas_used, base_fee, native_price)


@kernel
def round_bars(params: Floats, call_native: Floats, call_base_fee: Floats) -> tuple[Floats, Ints]:
    """``call_bar`` at each round's call, for a liquidation (``[u, 0]``) and a pre-liquidation
    (``[u, 1]``), per distinct liquidator ``u`` (gas, priority fee, least profit), and each
    scenario's ``u``: shared by every position, where each parked round computed its own."""
    liquidator = np.empty(len(params), np.int64)
    first = np.empty(len(params), np.int64)  # a scenario of each distinct liquidator
    n = 0
    for s in range(len(params)):
        liquidator[s] = n
        for u in range(n):
            same = True
            for c in (GAS_LIQUIDATION, GAS_PRE_LIQUIDATION, PRIORITY_FEE, MIN_PROFIT):
                same = same and params[first[u], c] == params[s, c]
            if same:
                liquidator[s] = u
                break
        if liquidator[s] == n:
            first[n] = s
            n += 1
    bars = np.empty((n, 2, len(call_native)))
    for u in range(n):
        p = to_fixed_tuple(params[first[u]], N_PARAMS)
        for j in range(len(call_native)):
            bars[u, 0, j] = call_bar(p, False, call_native[j], call_base_fee[j])
            bars[u, 1, j] = call_bar(p, True, call_native[j], call_base_fee[j])
    return bars, liquidator


@kernel
def _native_price_before(tape: MarketTape, block: int) -> float:
    i = np.searchsorted(tape.native_block, block)
    return float(tape.native_price[i - 1]) if i > 0 else 0.0


# A call's terms, one row per block (``call_terms``)
TERM_ASSETS, TERM_SHARES, TERM_NATIVE, TERM_BASE_FEE = range(4)


@kernel
def call_terms(tape: MarketTape, blocks: Ints) -> Floats:
    """What a call at each block sees (the last block for one past it), a row each: the accrued
    total borrow assets and shares, the ETH price in the loan asset and the base fee. Computed
    once for the blocks calls fall on (``latency`` after a round or an event, a block after a
    round's call), shared by every position and scenario: at other blocks a call looks them up
    in the tape, a search and two reads of the block clock (tens of MB: memory, not cache)."""
    terms = np.empty((len(blocks), 4))
    last_block = tape.first_block + len(tape.timestamps) - 1
    for i in range(len(blocks)):
        block = min(blocks[i], last_block)
        segment = np.searchsorted(tape.segment_block, block) - 1
        terms[i, TERM_SHARES] = tape.total_borrow_shares[segment]
        at = tape.timestamps[block - tape.first_block]
        terms[i, TERM_ASSETS] = accrued_borrow_assets(tape, segment, at)
        terms[i, TERM_NATIVE] = _native_price_before(tape, block)
        terms[i, TERM_BASE_FEE] = tape.base_fees[block - tape.first_block]
    return terms


def ratio_tree(tape: MarketTape) -> tuple[Floats, int]:
    """Each round's borrow share price over its price, in a max segment tree: a position's LTV
    at a round is its shares over its collateral times this ratio, so the first round its LTV can
    reach a level is one query (the engine's LTV watch, replay/ltv_watch.py)."""
    segment = tape.round_segment
    share_price = (tape.total_borrow_assets[segment] + 1.0) / (
        tape.total_borrow_shares[segment] + VIRTUAL_SHARES
    )
    return max_tree(share_price / tape.round_price * ORACLE_PRICE_SCALE)


def max_tree(values: Floats) -> tuple[Floats, int]:
    """A max segment tree over ``values``: the leaves from ``size`` (a power of two), each node
    the highest of its two children, ``-inf`` past the values."""
    size = 1 << max(len(values) - 1, 0).bit_length()
    tree = np.full(2 * size, -np.inf)
    tree[size : size + len(values)] = values
    for node in range(size - 1, 0, -1):
        tree[node] = max(tree[2 * node], tree[2 * node + 1])
    return tree, size


LEAF_RUN: Final = 8  # leaves a tree walk scans rather than descends to


@kernel
def first_at_least(tree: Floats, size: int, start: int, n: int, level: float) -> int:
    """The first round at or after ``start`` whose ratio reaches ``level`` (``n`` if none)."""
    if start >= n:
        return n
    node = size + start
    if tree[node] >= level:
        return start
    while node > 1:
        if node & 1 == 0 and tree[node + 1] >= level:
            node += 1
            # down to a node of LEAF_RUN leaves at most, then a scan of them (one cache line,
            # where the last levels of the walk were a cache miss each)
            while node * LEAF_RUN < size:
                node = 2 * node if tree[2 * node] >= level else 2 * node + 1
            while node < size:
                node *= 2
            while tree[node] < level:
                node += 1
            return min(node - size, n)
        node >>= 1
    return n


@kernel
def range_max(tree: Floats, size: int, start: int, end: int) -> float:
    """The highest ratio of rounds ``start`` to ``end`` (exclusive)."""
    highest = -np.inf
    low, high = start + size, end + size
    while low < high:
        if low & 1:
            highest = max(highest, tree[low])
            low += 1
        if high & 1:
            high -= 1
            highest = max(highest, tree[high])
        low >>= 1
        high >>= 1
    return float(highest)


@kernel
def highest_after_events(tape: MarketTape, tree: Floats, size: int) -> Floats:
    """For each event, the highest ratio (``ratio_tree``) of the rounds from it to the borrower's
    next event (to the end after the last): most of a position's rounds are skipped a whole gap
    at a time, and this bounds them with one look-up."""
    highest = np.empty(len(tape.event_round))
    n_rounds = len(tape.round_block)
    for first, end in tape.borrower_events:
        for k in range(first, end):
            following = tape.event_round[k + 1] if k + 1 < end else n_rounds
            highest[k] = range_max(tree, size, tape.event_round[k], following)
    return highest


@kernel
def _schedule(dues: Ints, n_dues: int, block: int) -> int:
    """Add ``block`` to the sorted calls due (once); the new count."""
    at = 0
    while at < n_dues and dues[at] < block:
        at += 1
    if at < n_dues and dues[at] == block:
        return n_dues
    for q in range(n_dues, at, -1):
        dues[q] = dues[q - 1]
    dues[at] = block
    return n_dues + 1


# -- one position ----------------------------------------------------------------------------------


@kernel
def simulate(
    p: Params,
    opted_in: bool,
    tape: MarketTape,
    first_event: int,
    end_event: int,
    tree: Floats,
    size: int,
    gap_highest: Floats,
    call_assets: Floats,
    call_shares: Floats,
    call_native: Floats,
    call_base_fee: Floats,
    call_ratio: Floats,
    round_ratio: Floats,
    round_scale: Floats,
    round_ltv: Floats,
    call_ltv: Floats,
    inverse_scale: Floats,
    bars: Floats,
    event_call: Floats,
    next_call: Floats,
    out: Floats,
) -> None:
    """Simulate the position from its event ``first_event`` (where it adopts history's position)
    to the end of the history, as engine._MarketReplay does with ``shortcuts``; write its row of
    ``out`` (the ``N_OUTCOMES`` columns above)."""
    lltv, pre_lltv = p[LLTV], p[PRE_LLTV]
    window = p[HAS_PRE] > 0 and opted_in  # calls in the pre-liquidation window
    trigger = pre_lltv if p[HAS_PRE] > 0 else lltv
    latency = int(p[LATENCY])
    charges_gas = p[GAS_LIQUIDATION] > 0 or p[GAS_PRE_LIQUIDATION] > 0 or p[MIN_PROFIT] > 0
    first_block = tape.first_block
    last_block = first_block + len(tape.timestamps) - 1
    n_rounds = len(tape.round_block)
    shares = tape.shares_before[first_event]
    collateral = tape.collateral_before[first_event]
    synced = True  # still history's position: take its exact balances after each event
    out[:] = 0.0
    out[FIRST_ACTION_BLOCK] = -1.0
    max_ltv = 0.0
    spell_since = -1
    dues = np.empty(16, np.int64)
    n_dues = 0
    k, j = first_event, tape.event_round[first_event]
    event_block = event_log = 0
    price = 0.0
    parked = False  # the last call declined: the tight loop below may run
    while True:
        has_event = k < end_event
        if has_event:
            event_block, event_log = tape.event_block[k], tape.event_log[k]
        next_event_round = tape.event_round[k] if has_event else n_rounds

        # Parked: in the window or under water, the liquidator's calls declining round after
        # round. One tight loop, left at the first round where anything else would happen (the
        # engine's decline screen, replay/declines.py).
        in_window = spell_since >= 0
        expected = PRE_LIQUIDATION if in_window else LIQUIDATION
        if n_dues == 1 and j > 0 and shares > 0.0 and (window or not in_window):
            # the call the last round scheduled, if nothing comes before it: a plain decline?
            due = dues[0]
            following = tape.round_block[j] if j < next_event_round else last_block + 1
            if has_event and j == next_event_round:
                following = event_block
            if due == tape.round_block[j - 1] + latency and following >= due <= last_block:
                price = tape.round_price[j - 1]
                bar = bars[1 if in_window else 0, j - 1]
                priced = call_native[j - 1] > 0 or not charges_gas
                debt, value = shares * call_ratio[j - 1], collateral * round_scale[j - 1]
                if priced and surely_declines(
                    p, in_window, shares, collateral, debt, value, debt / value,
                    inverse_scale[j - 1], bar,
                ):  # fmt: skip
                    out[UNPROFITABLE] += 1
                    n_dues = 0
                    parked = True
                    kind = NO_CALL
                else:
                    kind, repaid_shares, seized, _, gas_used = propose(
                        p,
                        opted_in,
                        shares,
                        collateral,
                        price,
                        call_assets[j - 1],
                        call_shares[j - 1],
                    )
                if kind == expected and priced:
                    repaid = assets_up(repaid_shares, call_assets[j - 1], call_shares[j - 1])
                    value, slippage, gas_cost = economics(
                        p, seized, price, call_base_fee[j - 1], call_native[j - 1], gas_used
                    )
                    least = least_profit(p, call_native[j - 1])
                    if not value - slippage - repaid - gas_cost > least:
                        out[UNPROFITABLE] += 1
                        n_dues = 0
                        parked = True
        if parked and n_dues == 0 and shares > 0.0 and (window or not in_window):
            pending = -1
            per_value = shares / collateral if collateral > 0 else np.inf
            # rounding moves an LTV by up to a unit of debt or value: a relative slack
            slack = 1e-12 + 4.0 / (shares * round_ratio[j]) if j < n_rounds else 1.0
            while j < next_event_round:
                r = np.uint64(j)  # (an unsigned index: no wraparound code at each read)
                ltv = per_value * round_ltv[r]
                if in_window:
                    surely = pre_lltv * (1 + slack) < ltv < lltv * (1 - slack)
                else:
                    surely = ltv > lltv * (1 + slack)
                if not surely or ltv * (1 + slack) > max_ltv:  # the exact check decides
                    segment = tape.round_segment[j]
                    price = tape.round_price[j]
                    borrowed = assets_up(
                        shares, tape.total_borrow_assets[segment], tape.total_borrow_shares[segment]
                    )
                    quoted = collateral_value(collateral, price)
                    limit = np.floor(quoted * lltv)
                    if in_window and not np.floor(quoted * pre_lltv) < borrowed <= limit:
                        parked = False
                        if pending < 0 and quoted > 0 and borrowed <= limit:
                            # below the window: this round's check, as the item's check below
                            # makes it (the record; the spell closes; no call), saves a pass
                            max_ltv = max(max_ltv, borrowed / quoted)
                            out[SOFT_ZONE_BLOCKS] += tape.round_block[j] - spell_since
                            spell_since = -1
                            j += 1
                        break
                    if not in_window and not borrowed > limit:
                        parked = False
                        break
                    if quoted > 0:  # the round's check, committed: the record
                        max_ltv = max(max_ltv, borrowed / quoted)
                due = tape.round_block[r] + latency
                if j + 1 < next_event_round:
                    following = tape.round_block[np.uint64(j + 1)]
                else:
                    following = event_block if has_event else last_block + 1
                same_block = j + 1 < next_event_round and following == tape.round_block[r]
                declines = False
                if following >= due and due <= last_block:
                    bar = bars[1 if in_window else 0, r]
                    priced = call_native[r] > 0 or not charges_gas
                    debt, value = shares * call_ratio[r], collateral * round_scale[r]
                    at_call = per_value * call_ltv[r]
                    declines = priced and surely_declines(
                        p, in_window, shares, collateral, debt, value, at_call, inverse_scale[r],
                        bar,
                    )  # fmt: skip
                    kind = NO_CALL
                    if not declines:
                        price = tape.round_price[j]
                        kind, repaid_shares, seized, _, gas_used = propose(
                            p, opted_in, shares, collateral, price, call_assets[j], call_shares[j]
                        )
                    if kind == expected and priced:
                        repaid = assets_up(repaid_shares, call_assets[j], call_shares[j])
                        value, slippage, gas_cost = economics(
                            p, seized, price, call_base_fee[j], call_native[j], gas_used
                        )
                        least = least_profit(p, call_native[j])
                        declines = not value - slippage - repaid - gas_cost > least
                j += 1
                if declines:  # the call saw the position in the same regime: spell as it was
                    out[UNPROFITABLE] += 1
                    pending = -1
                    continue
                pending = due
                if not (following < due and same_block):
                    break  # (else the call waits for the block's later rounds)
            if pending >= 0:
                dues[0] = pending
                n_dues = 1

        # Rounds that cannot matter: no call due, no spell open, the LTV below the trigger (rounded
        # LTVs exceed the ratio's by up to a unit of debt and of value). Skipped at once, their
        # highest LTV taken into the record from the tree (the engine checks each round above it).
        if n_dues == 0 and spell_since < 0 and j < next_event_round:
            if shares == 0.0:
                j = next_event_round
            else:
                segment = tape.round_segment[j]
                debt = shares * (tape.total_borrow_assets[segment] + 1.0)
                debt /= tape.total_borrow_shares[segment] + VIRTUAL_SHARES
                slack = 1e-9 + 4.0 / debt if debt > 0 else 1.0
                if slack < 0.5 and collateral > 0:  # (dust: every round is checked)
                    level = (trigger - TRIGGER_MARGIN) * (1 - slack) * collateral / shares
                    gap = gap_highest[k - 1]  # (the rounds to the next own event: one look-up)
                    reached = next_event_round
                    if not gap < level:
                        reached = min(first_at_least(tree, size, j, n_rounds, level), reached)
                    if reached > j and gap * shares / collateral * (1 + slack) > max_ltv:
                        highest = range_max(tree, size, j, reached)
                        if highest * shares / collateral * (1 + slack) > max_ltv:
                            at = first_at_least(tree, size, j, n_rounds, highest)
                            segment = tape.round_segment[at]
                            borrowed = assets_up(
                                shares,
                                tape.total_borrow_assets[segment],
                                tape.total_borrow_shares[segment],
                            )
                            quoted = collateral_value(collateral, tape.round_price[at])
                            if quoted > 0:
                                max_ltv = max(max_ltv, borrowed / quoted)
                    j = reached

        has_round = j < n_rounds
        at_end = not has_event and not has_round
        is_round = False
        if at_end:
            block = last_block + 1
        elif has_round and (
            not has_event or (tape.round_block[j], tape.round_log[j]) < (event_block, event_log)
        ):
            block = tape.round_block[j]
            is_round = True
        else:
            block = event_block

        # The liquidator's calls due before this item, at the top of their block.
        while n_dues > 0 and dues[0] <= block:
            due = dues[0]
            n_dues -= 1
            for q in range(n_dues):  # (in place: a slice copy would allocate)
                dues[q] = dues[q + 1]
            if due > last_block:
                n_dues = 0
                break
            price = tape.round_price[j - 1]  # the last round before the call's block
            if tape.round_block[j - 1] + latency == due:
                assets, total_shares = call_assets[j - 1], call_shares[j - 1]
                native, base_fee = call_native[j - 1], call_base_fee[j - 1]
            elif k > first_event and tape.event_block[k - 1] + latency == due:
                assets, total_shares, native, base_fee = event_call[k - 1]
            elif tape.round_block[j - 1] + latency + 1 == due:  # (a call's next block)
                assets, total_shares, native, base_fee = next_call[j - 1]
            else:
                segment = np.searchsorted(tape.segment_block, due) - 1
                total_shares = tape.total_borrow_shares[segment]
                assets = accrued_borrow_assets(tape, segment, tape.timestamps[due - first_block])
                native = _native_price_before(tape, due)
                base_fee = tape.base_fees[due - first_block]
            least = least_profit(p, native)
            declined = proposed = False
            for _ in range(int(p[MAX_CALLS])):
                if shares == 0.0:
                    break
                kind, repaid_shares, seized, bad_shares, gas_used = propose(
                    p, opted_in, shares, collateral, price, assets, total_shares
                )
                if kind == NO_CALL:
                    break
                proposed = True
                if native == 0.0 and charges_gas:
                    out[:] = np.nan  # no ETH price to convert gas: the engine raises
                    return
                repaid = assets_up(repaid_shares, assets, total_shares)
                value, slippage, gas_cost = economics(p, seized, price, base_fee, native, gas_used)
                profit = value - slippage - repaid - gas_cost
                if not profit > least:
                    out[UNPROFITABLE] += 1
                    declined = parked = True
                    break
                shares -= repaid_shares + bad_shares
                collateral -= seized
                synced = False
                if out[FIRST_ACTION_BLOCK] < 0:
                    out[FIRST_ACTION_BLOCK] = due
                out[PRE_LIQUIDATIONS if kind == PRE_LIQUIDATION else LIQUIDATIONS] += 1
                out[REPAID_ASSETS] += repaid
                out[SEIZED_ASSETS] += seized
                out[SEIZED_VALUE] += value
                out[SLIPPAGE_COST] += slippage
                out[GAS_COST] += gas_cost
                out[LIQUIDATOR_PROFIT] += profit
                if bad_shares > 0:
                    out[BAD_DEBT_ASSETS] += min(assets, assets_up(bad_shares, assets, total_shares))
                if kind != PRE_LIQUIDATION or p[GREEDY] == 0:
                    break
            # the spell at the accrued totals, then the next block if still triggered
            borrowed = assets_up(shares, assets, total_shares)
            quoted = collateral_value(collateral, price)
            unhealthy = borrowed > np.floor(quoted * lltv)
            above = borrowed > np.floor(quoted * pre_lltv)
            inside = p[HAS_PRE] > 0 and shares > 0 and above and not unhealthy
            if inside and spell_since < 0:
                spell_since = due
            elif not inside and spell_since >= 0:
                out[SOFT_ZONE_BLOCKS] += due - spell_since
                spell_since = -1
            if not declined and shares > 0 and (unhealthy or (window and above)):
                following = due + 1
                if inside and not proposed and following < block:
                    following = too_small_until(p, tape, shares, collateral, price, due, block)
                n_dues = _schedule(dues, n_dues, following)
        if at_end:
            break

        # The item: a round, or one of the position's own events applied as an intent.
        if is_round:
            price = tape.round_price[j]
            segment = tape.round_segment[j]
            j += 1
        else:
            before = tape.event_segment_before[k]
            assets, total_shares = (
                tape.total_borrow_assets[before],
                tape.total_borrow_shares[before],
            )
            kind = tape.event_kind[k]
            price = tape.event_price[k]
            amount = tape.event_assets[k]
            clipped = False
            if kind == NOT_AN_INTENT:
                synced = False  # history's liquidation: not the scenario's (rule 2)
            elif kind == SUPPLY_COLLATERAL:
                collateral += amount
            elif kind == REPAY:
                repaid_shares = tape.event_shares[k]
                if repaid_shares > shares * (1 + 1e-12):
                    clipped = True  # repays more than the position owes
                    shares = 0.0
                else:
                    shares = max(shares - repaid_shares, 0.0)
                    if shares <= repaid_shares * 1e-12:
                        shares = 0.0
            elif kind == BORROW:
                position = (shares, collateral, price, lltv, assets, total_shares)
                if healthy_after(True, amount, *position):
                    shares += shares_up(amount, assets, total_shares)
                else:
                    clipped = True
                    allowed = largest_healthy(True, amount, *position)
                    if allowed > 0:
                        shares += shares_up(allowed, assets, total_shares)
            else:  # WITHDRAW_COLLATERAL
                held = collateral if amount > collateral * (1 + 1e-12) else amount
                position = (shares, collateral, price, lltv, assets, total_shares)
                if healthy_after(False, held, *position):
                    allowed = held
                else:
                    allowed = largest_healthy(False, held, *position)
                clipped = allowed < amount * (1 - 1e-12)
                collateral = max(collateral - allowed, 0.0)
                if collateral <= amount * 1e-12:
                    collateral = 0.0
            if clipped:
                out[CLIPPED] += 1
                synced = False
            elif synced:
                shares, collateral = tape.shares_after[k], tape.collateral_after[k]
            segment = tape.event_segment_after[k]
            k += 1

        # The check: the LTV record, the spell, the liquidator scheduled.
        if price == 0.0 or shares == 0.0:
            if spell_since >= 0:
                out[SOFT_ZONE_BLOCKS] += block - spell_since
                spell_since = -1
            continue
        borrowed = assets_up(
            shares, tape.total_borrow_assets[segment], tape.total_borrow_shares[segment]
        )
        quoted = collateral_value(collateral, price)
        ltv = borrowed / quoted if quoted > 0 else np.inf
        if quoted > 0:  # collateral worth nothing has no LTV, and leaves the record as it is
            max_ltv = max(max_ltv, ltv)
        possible = ltv >= trigger - TRIGGER_MARGIN
        unhealthy = borrowed > np.floor(quoted * lltv)
        above = borrowed > np.floor(quoted * pre_lltv)
        inside = possible and p[HAS_PRE] > 0 and above and not unhealthy
        if inside and spell_since < 0:
            spell_since = block
        elif not inside and spell_since >= 0:
            out[SOFT_ZONE_BLOCKS] += block - spell_since
            spell_since = -1
        if possible and (unhealthy or (window and above)):
            n_dues = _schedule(dues, n_dues, block + latency)
    if spell_since >= 0:
        out[SOFT_ZONE_BLOCKS] += last_block + 1 - spell_since
    out[MAX_LTV] = max_ltv
    out[BORROW_SHARES] = shares
    out[COLLATERAL] = collateral


# simulate_all's threads take borrowers in runs of this many as they come free (numba's
# parallel_chunksize, set by the caller: set inside, the kernel could not be cached), where equal
# shares made the thread sharing its core (a market prepared meanwhile, a neighbour) the one all
# waited for
CHUNK_BORROWERS: Final = 4


@numba.njit(cache=True, parallel=True, nogil=True)  # (a market is prepared meanwhile)
def simulate_all(
    scenarios: Floats,
    opted_in: Flags,
    tape: MarketTape,
    starts: Ints,
    start_group: Ints,
    tree: Floats,
    size: int,
    latency: int,
    out: Floats,
) -> None:  # pragma: no cover - numba code (covered through float_sweep)
    """Every scenario (row of ``scenarios``, all of liquidator latency ``latency``) x every
    position it simulates: ``starts[g, b]``, the first event of borrower ``b`` under the
    scenarios of start group ``g`` (-1: not simulated), in parallel over borrowers (numba
    threads)."""
    round_call = call_terms(tape, tape.round_block + latency)
    call_assets, call_shares = round_call[:, TERM_ASSETS].copy(), round_call[:, TERM_SHARES].copy()
    call_native = round_call[:, TERM_NATIVE].copy()
    call_base_fee = round_call[:, TERM_BASE_FEE].copy()
    event_call = call_terms(tape, tape.event_block + latency)
    next_call = call_terms(tape, tape.round_block + (latency + 1))
    call_ratio = (call_assets + 1.0) / (call_shares + VIRTUAL_SHARES)
    params = with_reciprocals(scenarios)
    segment = tape.round_segment
    round_ratio = (tape.total_borrow_assets[segment] + 1.0) / (
        tape.total_borrow_shares[segment] + VIRTUAL_SHARES
    )
    round_scale = tape.round_price / ORACLE_PRICE_SCALE
    round_ltv, call_ltv = round_ratio / round_scale, call_ratio / round_scale
    inverse_scale = 1.0 / round_scale
    gap_highest = highest_after_events(tape, tree, size)
    bars, liquidator = round_bars(params, call_native, call_base_fee)
    # Borrower by borrower, every scenario in turn (the borrower's stretch of the tape stays in
    # cache). Threads take runs of CHUNK_BORROWERS as they come free; the borrowers are dealt in
    # a scattered order (a multiplicative hash, a permutation: the factor is a prime), so a run
    # is a fair sample and the last runs are not all the heaviest.
    n_borrowers = starts.shape[1]
    for rank in numba.prange(n_borrowers):
        b = rank * 2654435761 % n_borrowers
        for s in range(scenarios.shape[0]):
            first_event = starts[start_group[s], b]
            if first_event >= 0:
                simulate(
                    to_fixed_tuple(params[s], N_PARAMS), opted_in[s, b], tape, first_event,
                    tape.borrower_events[b, 1], tree, size, gap_highest,
                    call_assets, call_shares, call_native, call_base_fee, call_ratio,
                    round_ratio, round_scale, round_ltv, call_ltv, inverse_scale,
                    bars[liquidator[s]], event_call, next_call, out[s, b],
                )  # fmt: skip
