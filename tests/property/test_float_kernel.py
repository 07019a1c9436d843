"""The float kernel's shortcut over empty pre-liquidation calls (float_kernel.too_small_until):
wherever it moves the next call past ``due + 1``, every call it passes over, made block by block as
the engine makes them, must find the position in the window and propose nothing. And its tree of
round ratios answers as a scan of the rounds would."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from softliq_core.replay import float_kernel as fk
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.market_tape import MarketTape, market_tape

# (preLLTV, preLCF1, preLCF2, preLIF1, preLIF2) as fractions
TERMS = [(0.78, 0.05, 0.8, 1.01, 1.05), (0.83, 0.02, 0.2, 1.005, 1.02)]


def _params(history: MarketHistory, terms: tuple[float, ...]) -> fk.Params:
    p = np.zeros(fk.N_PARAMS)
    p[fk.LLTV] = history.market.lltv / 10**18
    p[fk.PRE_LLTV], p[fk.PRE_LCF1], p[fk.PRE_LCF2], p[fk.PRE_LIF1], p[fk.PRE_LIF2] = terms
    p[fk.HAS_PRE] = 1.0
    return tuple(p.tolist())  # as simulate_all passes a scenario's row


def _call(tape: MarketTape, block: int) -> tuple[float, float]:
    """The totals a call at the top of ``block`` sees: accrued borrow assets, borrow shares."""
    segment = int(np.searchsorted(tape.segment_block, block)) - 1
    now = int(tape.timestamps[block - tape.first_block])
    return fk.accrued_borrow_assets(tape, segment, now), float(tape.total_borrow_shares[segment])


def _in_window_and_empty(
    p: np.ndarray, tape: MarketTape, shares: float, collateral: float, price: float, block: int
) -> bool:
    assets, total_shares = _call(tape, block)
    borrowed = fk.assets_up(shares, assets, total_shares)
    quoted = fk.collateral_value(collateral, price)
    inside = np.floor(quoted * p[fk.PRE_LLTV]) < borrowed <= np.floor(quoted * p[fk.LLTV])
    kind = fk.propose(p, True, shares, collateral, price, assets, total_shares)[0]
    return bool(inside and kind == fk.NO_CALL)


def _empty_calls(
    histories: list[MarketHistory],
) -> Iterator[tuple[MarketTape, np.ndarray, tuple[float, float, float], int, int]]:
    """Positions in the window whose call at ``due`` (a block after a round) proposes nothing, with
    the next round's block: small debts at two LTVs in the window, on rounds across each market,
    under two sets of pre-liquidation terms."""
    for history in histories:
        tape, _ = market_tape(history)
        n_rounds = len(tape.round_block)
        for terms in TERMS:
            p = _params(history, terms)
            for j in range(0, n_rounds - 1, max(n_rounds // 40, 1)):
                due, block = int(tape.round_block[j]) + 1, int(tape.round_block[j + 1])
                if block - due < 3:
                    continue
                price = float(tape.round_price[j])
                assets, total_shares = _call(tape, due)
                for debt in (1.0, 30.0, 1e3, 3e4, 1e6):
                    for ltv in (p[fk.PRE_LLTV] + 0.001, (p[fk.PRE_LLTV] + p[fk.LLTV]) / 2):
                        shares = np.floor(debt * (total_shares + 1e6) / (assets + 1.0))
                        collateral = np.ceil(debt / ltv * fk.ORACLE_PRICE_SCALE / price)
                        position = (shares, collateral, price)
                        if shares > 0 and _in_window_and_empty(p, tape, *position, due):
                            yield tape, p, position, due, block


def test_calls_skipped_after_an_empty_pre_liquidation_are_empty_too(
    histories: list[MarketHistory],
) -> None:
    skipped = kept = 0
    for tape, p, position, due, block in _empty_calls(histories):
        following = fk.too_small_until(p, tape, *position, due, block)
        assert due + 1 <= following <= block
        if following == due + 1:
            kept += 1
            continue
        skipped += 1
        for between in range(due + 1, following):
            assert _in_window_and_empty(p, tape, *position, between), (position, due, between)
    # both ways taken: the shortcut is exercised, and refused where calls could propose something
    assert skipped > 0 and kept > 0, (skipped, kept)


SEGMENT_COLUMNS = (
    "segment_block", "total_borrow_assets", "total_borrow_shares", "total_supply_assets",
    "last_update", "rate_at_target",
)  # fmt: skip


def _with_events_at(tape: MarketTape, block: int) -> MarketTape:
    """The tape with two events of other positions: one in ``block`` that triples the borrow
    share price (for the call at the top of the next block), one in the next block that puts it
    back."""
    before = int(np.searchsorted(tape.segment_block, block + 1)) - 1
    at = before + 1
    columns = {}
    for name in SEGMENT_COLUMNS:
        column = getattr(tape, name)
        raised, restored = column[before], column[before]
        if name == "segment_block":
            raised, restored = block, block + 1
        elif name == "total_borrow_assets":
            raised = 3 * (column[before] + 1)  # (the share price's virtual asset)
        columns[name] = np.insert(column, [at, at], [raised, restored])
    return tape._replace(**columns)


def test_the_shortcut_stops_at_an_event(histories: list[MarketHistory]) -> None:
    """Another position's events between the calls can move what a call would do, even when the
    call before the next round is empty again: the shortcut stops at the first call they move."""
    cases = 0
    for tape, p, position, due, block in _empty_calls(histories):
        if block - due < 4 or fk.too_small_until(p, tape, *position, due, block) != block:
            continue
        middle = (due + block) // 2
        moved = _with_events_at(tape, middle)
        if not _in_window_and_empty(p, moved, *position, block - 1):
            continue
        assert not _in_window_and_empty(p, moved, *position, middle + 1)  # on the raised totals
        assert fk.too_small_until(p, moved, *position, due, block) == middle + 1
        cases += 1
    assert cases > 0


def test_no_shortcut_when_interest_puts_it_under_water(histories: list[MarketHistory]) -> None:
    """A position at its LLTV to the unit, whose debt accrues a unit by the block before the next
    round: under water there, so no shortcut, even though a pre-liquidation would seize nothing."""
    terms = (0.78, 0.01, 0.01, 1.0, 1.0)  # a close factor small enough to seize no satoshi
    cases = 0
    for history in histories:
        if history.collateral_decimals > 8:
            continue
        tape, _ = market_tape(history)
        p = _params(history, terms)
        for j in range(len(tape.round_block) - 1):
            due, block = int(tape.round_block[j]) + 1, int(tape.round_block[j + 1])
            (assets, total_shares), (accrued, later_shares) = (
                _call(tape, due),
                _call(tape, block - 1),
            )
            if later_shares != total_shares or block - due < 2:
                continue
            price = float(tape.round_price[j])
            collateral = 50.0
            debt = np.floor(fk.collateral_value(collateral, price) * p[fk.LLTV])
            shares = np.floor(debt * (total_shares + 1e6) / (assets + 1.0))
            if fk.assets_up(shares, accrued, total_shares) <= debt:
                continue  # not a unit of interest by then
            position = (shares, collateral, price)
            if not _in_window_and_empty(p, tape, *position, due):
                continue
            assert not _in_window_and_empty(p, tape, *position, block - 1)
            assert fk.too_small_until(p, tape, *position, due, block) == due + 1
            cases += 1
    assert cases > 0


# ratios with ties, and levels at, between and beyond them
RATIOS = st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]), min_size=1, max_size=300)
LEVELS = st.sampled_from([0.4, 1.0, 1.7, 2.0, 3.0, 3.5])


@settings(deadline=None)  # (the first call compiles the kernel)
@given(RATIOS, st.integers(0, 310), LEVELS)
def test_first_at_least_is_the_first_round_a_scan_finds(
    ratios: list[float], start: int, level: float
) -> None:
    tree, size = fk.max_tree(np.array(ratios))
    n = len(ratios)
    scanned = next((j for j in range(start, n) if ratios[j] >= level), n)
    assert fk.first_at_least(tree, size, start, n, level) == scanned


@settings(deadline=None)
@given(RATIOS, st.integers(0, 300), st.integers(0, 300))
def test_range_max_is_the_highest_ratio_a_scan_finds(
    ratios: list[float], start: int, end: int
) -> None:
    tree, size = fk.max_tree(np.array(ratios))
    start, end = min(start, len(ratios)), min(end, len(ratios))
    assert fk.range_max(tree, size, start, end) == max(ratios[start:end], default=-np.inf)
