"""Which Aave accounts a price update must look at: a bound that skips the provably quiet ones.

At every price update the Aave replay records each borrowing account's health factor and LTV (the
lowest health and the highest LTV are outcomes) and asks the mechanism whether it may act. That is
``calculateUserAccountData`` over the account's reserves, exact integer ray math, for every borrower
holding a repriced asset at every update: on a pool of a few hundred borrowers it was two thirds of a
scenario's replay. Most accounts sit far above their health record and the trigger, so the watch
keeps what each account's last look saw and skips it while the prices since cannot have moved it
that far (the Morpho replay's ``ltv_watch`` does the same for one collateral and one loan asset).

The bound. Between two looks an account's scaled balances, collateral switches and eMode are fixed
(its own calls and the liquidator's actions look again; history's other token moves forget it), and
so are the reserves' liquidation thresholds and the Pool version (any change forgets every account).
With real-valued collateral C = Σ c_a·p_a·LT_a and debt D = Σ d_b·p_b, the aTokens' liquidity index
never falls and the debt grows by its reserve's borrow index, so for the price ratios
r_a = p_a/p_a⁰ (collateral) and s_b = (p_b/p_b⁰)·(I_b/I_b⁰) (debt):

    HF ≥ HF⁰ · m,   LTV ≤ LTV⁰ / m,   m = min_a r_a / max_b s_b,

and, with the collateral's income too (g_a = r_a·J_a/J_a⁰, J the liquidity index),
HF ≤ HF⁰ · max_a g_a / min_b s_b; each debt is worth at most its look's value times s_b.

The Pool's integers differ from the real values by at most one token unit and one base unit per
reserve (``err``: price/unit + 2 each) and, up to v3.4 with several collaterals, by the floor of the
average liquidation threshold (relative 1/LT). An account is watched only while its totals are at
least ``SIZE`` times ``err`` and every ratio stays within [1/2, 2]: then each side's rounding is
within 1e-6 of it, and a margin of 1e-5 (plus 1/LT where the average is floored) covers both looks
and the float arithmetic. A skipped look is one whose exact health factor is provably at or above
the account's record and the trigger, and whose LTV is at or below its record (hypothesis-tested
against the Pool's own account data); everything outside these premises is looked at as before:
accounts in or near the trigger zone, without debt, nearly insolvent, small, or after a big move.

Parking. An account in a pre-liquidation window whose call was just declined (or that has not
opted in) is watched within a band instead: while its health surely stays in [max(its record, 1),
preHF), a look would record nothing and leave its soft-zone spell open, so a price update only
schedules its call (``calls``) or skips it. When that call falls due, the replay asks
``parked_bounds`` for its health and largest debt bounds and declines it unasked when even the
pre-liquidation's most profitable offer at those bounds cannot pay gas and the least profit.

The looks are rows of arrays in the replay's join order (an account per borrower), so a price update
costs one numpy pass over the accounts holding a repriced asset, not a Python call per borrower.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from softliq_core.protocols.aave.account import AccountData, in_emode_as_collateral
from softliq_core.protocols.aave.math import RAY, WAD
from softliq_core.protocols.aave.pool import AavePool
from softliq_core.protocols.aave.reserve import normalized_debt, normalized_income

SIZE = 4_000_000  # totals at least this many times their rounding error
MARGIN = 1e-5
MOVE = 2.0  # ratios beyond [1/MOVE, MOVE] since the last look: look again
LOWEST_HEALTH = WAD // 1000  # below a health factor of 0.001 the wad division's rounding counts
# a watched look's floats, one row each: health and LTV then, the rounding margin (relative) and
# slack (base units), and the band and LTV record the next look must surely keep to
_FLOATS = ("health", "ltv", "margin", "slack", "lowest_health", "highest_health", "highest_ltv")


class HealthWatch:
    def __init__(self) -> None:
        self.accounts: list[str] = []  # row -> account, in the order they were added
        self.rows: dict[str, int] = {}
        self.columns: dict[str, int] = {}  # asset -> column
        self.terms: tuple[Any, ...] = ()
        rows, columns = 16, 8
        # the assets each account held at its last look (known: looked at, not forgotten since)
        self.known = np.zeros(rows, bool)
        self.held = np.zeros((rows, columns), bool)
        # a look the bound may skip from: its health, LTV, margin and records, reserves' marks
        self.watched = np.zeros(rows, bool)
        self.calls = np.zeros(rows, bool)  # parked in a window: a quiet update schedules a call
        self.parking = False  # some look had a band with a top (else no update needs the rise)
        self.floats = np.zeros((rows, len(_FLOATS)))
        self.is_collateral = np.zeros((rows, columns), bool)
        self.is_debt = np.zeros((rows, columns), bool)
        self.price = np.ones((rows, columns))
        self.index = np.ones((rows, columns))  # the debt's borrow index
        self.income = np.ones((rows, columns))  # the collateral's liquidity index
        self.debt_value = np.zeros((rows, columns))  # in base currency

    # -- rows and columns ----------------------------------------------------------------------

    def add(self, account: str) -> None:
        """A row for ``account``: looked at whenever one of its assets moves, until its first
        look says which they are."""
        if account in self.rows:
            return
        row = len(self.accounts)
        if row == len(self.known):
            self._grow(2 * row, self.held.shape[1])
        self.accounts.append(account)
        self.rows[account] = row

    def _column(self, asset: str) -> int:
        if asset not in self.columns:
            if len(self.columns) == self.held.shape[1]:
                self._grow(len(self.known), 2 * len(self.columns))
            self.columns[asset] = len(self.columns)
        return self.columns[asset]

    def _grow(self, rows: int, columns: int) -> None:
        def grown(array: np.ndarray, fill: float | bool, width: int = columns) -> np.ndarray:
            shape = (rows, width) if array.ndim == 2 else (rows,)
            bigger = np.full(shape, fill, dtype=array.dtype)
            bigger[tuple(slice(0, n) for n in array.shape)] = array
            return bigger

        self.known, self.watched = grown(self.known, False), grown(self.watched, False)
        self.calls = grown(self.calls, False)
        self.floats = grown(self.floats, 0.0, len(_FLOATS))
        self.held = grown(self.held, False)
        self.is_collateral, self.is_debt = (
            grown(self.is_collateral, False),
            grown(self.is_debt, False),
        )
        self.price, self.index = grown(self.price, 1.0), grown(self.index, 1.0)
        self.income = grown(self.income, 1.0)
        self.debt_value = grown(self.debt_value, 0.0)

    # -- looks ---------------------------------------------------------------------------------

    def observed(
        self,
        pool: AavePool,
        account: str,
        data: AccountData,
        timestamp: int,
        band: tuple[int, int | None] | None,
        highest_ltv: float,
        calls: bool = False,
    ) -> None:
        """Remember a look at ``account``: the assets it holds, and, unless the look is outside
        the bound's premises (``band`` None: within the mechanism's reach), what a later price
        update must move to matter: a health factor outside ``band`` (WAD, [low, high), high None
        for none: below the record low or the trigger, or out of a window the account is parked
        in) or an LTV above ``highest_ltv`` (the record high). ``calls``: a quiet update still
        schedules the liquidator's call (parked in a pre-liquidation window, opted in)."""
        self.add(account)
        row = self.rows[account]
        config = pool.user_config(account)
        self.held[row] = False
        for asset in config.collateral | config.borrowing:
            self.held[row, self._column(asset)] = True
        self.known[row] = True
        self.watched[row] = self.calls[row] = False
        if band is None or not data.total_debt_base or data.health_factor < LOWEST_HEALTH:
            return
        version = pool.version
        category = pool.emode_categories.get(config.emode) if config.emode else None
        self.is_collateral[row] = self.is_debt[row] = False
        err, lowest_threshold, collaterals = 0, 10_000, 0
        for asset in config.collateral:
            reserve = pool.reserves[asset]
            in_emode = in_emode_as_collateral(version, config.emode, category, reserve)
            threshold = (
                category.liquidation_threshold
                if in_emode and category
                else reserve.config.liquidation_threshold
            )
            if threshold == 0 and not version.counts_zero_lt_collateral:
                continue  # not in the account's totals
            price = pool.prices.get(asset)
            if price is None:
                return
            column = self.columns[asset]
            self.is_collateral[row, column] = True
            self.price[row, column] = price
            if band[1] is not None:  # (only a band with a top reads it)
                self.income[row, column] = normalized_income(reserve, timestamp)
                self.parking = True
            err += price // reserve.config.unit + 2
            collaterals += 1
            if threshold:
                lowest_threshold = min(lowest_threshold, threshold)
        for asset in config.borrowing:
            reserve = pool.reserves[asset]
            price = pool.prices.get(asset)
            if price is None:
                return
            column = self.columns[asset]
            self.is_debt[row, column] = True
            self.price[row, column] = price  # (an asset both lent and borrowed: one price)
            index = normalized_debt(reserve, timestamp, version)
            self.index[row, column] = index
            if calls:  # (only a parked call's screen reads it)
                scaled = reserve.v_token.scaled_balance(account) * (index / RAY)
                self.debt_value[row, column] = scaled * (price / reserve.config.unit)
            err += price // reserve.config.unit + 2
        if min(data.total_debt_base, data.total_collateral_base) < SIZE * err:
            return
        floored_average = not version.directional_rounding and collaterals > 1
        lowest_health, highest_health = band
        self.floats[row] = (  # in _FLOATS' order
            data.health_factor / WAD,
            data.total_debt_base / data.total_collateral_base,
            MARGIN + (1 / lowest_threshold if floored_average else 0.0),
            err,
            lowest_health / WAD,
            np.inf if highest_health is None else highest_health / WAD,
            highest_ltv,
        )
        self.watched[row] = True
        self.calls[row] = calls

    def to_look(
        self, pool: AavePool, timestamp: int, repriced: set[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows, ascending, a price update of ``repriced`` must look at (those holding one of the
        assets, or not known since their last change, whose look the bound cannot skip), and the
        rows whose skipped look would have scheduled the liquidator's call."""
        n = len(self.accounts)
        moved = [self.columns[a] for a in repriced if a in self.columns]
        holding = self.held[:n, moved].any(axis=1) if moved else np.zeros(n, bool)
        candidates = np.flatnonzero(holding | ~self.known[:n])
        quiet = self._quiet(pool, timestamp, candidates)
        calls = candidates[quiet & self.calls[candidates]] if self.parking else candidates[:0]
        return candidates[~quiet], calls

    def _quiet(self, pool: AavePool, timestamp: int, rows: np.ndarray) -> np.ndarray:
        """For each of ``rows``: does the bound show a look now would change nothing?"""
        return self._bounds(pool, timestamp, rows)[0]

    def parked_bounds(
        self, pool: AavePool, timestamp: int, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For each of ``rows``: parked with a call and quiet now (its look would change nothing
        and schedule the call), the least its health factor can be (float), the most its debt in
        one reserve can be worth (base currency, float) and the rounding slack (base units)."""
        quiet, lowest_health, largest_debt = self._bounds(pool, timestamp, rows, debts=True)
        slack = self.floats[rows, _FLOATS.index("slack")]
        return quiet & self.calls[rows], lowest_health, largest_debt, slack

    def _bounds(
        self, pool: AavePool, timestamp: int, rows: np.ndarray, debts: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each of ``rows``: quiet or not, the health bound, and (``debts``) the largest
        debt's (else zeros)."""
        assets = list(self.columns)
        prices = np.array([float(pool.prices.get(a, np.nan)) for a in assets])
        reserves = [pool.reserves.get(a) for a in assets]
        indexes = np.array(
            [
                np.nan if r is None else float(normalized_debt(r, timestamp, pool.version))
                for r in reserves
            ]
        )
        columns = len(assets)
        collateral = self.is_collateral[rows, :columns]
        debt = self.is_debt[rows, :columns]
        health, ltv, margin, _, lowest_bar, highest_bar, highest_ltv = self.floats[rows].T
        with np.errstate(divide="ignore", invalid="ignore"):  # rows not watched: any value
            price_ratio = prices / self.price[rows, :columns]
            debt_ratio = price_ratio * (indexes / self.index[rows, :columns])
            ratios = np.where(collateral, price_ratio, np.where(debt, debt_ratio, 1.0))
            priced = ~np.isnan(ratios).any(axis=1)  # an asset without a price: look
            within = ((ratios >= 1 / MOVE) & (ratios <= MOVE)).all(axis=1)
            lowest = np.where(collateral, price_ratio, np.inf).min(axis=1, initial=np.inf)
            highest = np.where(debt, debt_ratio, 0.0).max(axis=1, initial=0.0)
            move = lowest / highest
            lowest_health = health * move * (1 - margin)
            quiet = (
                self.watched[rows]
                & priced
                & within
                & (lowest_health > lowest_bar)
                & (ltv / move * (1 + margin) < highest_ltv)
            )
            topped = np.isfinite(highest_bar) if self.parking else None
            if topped is not None and topped.any():
                # the most health can rise: collateral up by price and income, debt down by price
                incomes = np.array(
                    [
                        np.nan if r is None else float(normalized_income(r, timestamp))
                        for r in reserves
                    ]
                )
                grown_ratio = price_ratio * (incomes / self.income[rows, :columns])
                rise = np.where(collateral, grown_ratio, 0.0).max(axis=1, initial=0.0) / np.where(
                    debt, debt_ratio, np.inf
                ).min(axis=1, initial=np.inf)
                quiet &= ~topped | (health * rise * (1 + margin) < highest_bar)
            largest_debt = np.zeros(len(rows))
            if debts:
                debt_values = np.where(debt, self.debt_value[rows, :columns] * debt_ratio, 0.0)
                largest_debt = debt_values.max(axis=1, initial=0.0) * (1 + margin)
        return quiet, lowest_health, largest_debt

    def is_quiet(self, account: str, pool: AavePool, timestamp: int) -> bool:
        """One account's answer (for tests and readers): a look now would change nothing."""
        return bool(self._quiet(pool, timestamp, np.array([self.rows[account]]))[0])

    def forget(self, accounts: Iterable[str | None]) -> None:
        """These accounts changed outside their own calls: look at them at the next update."""
        for account in accounts:
            row = self.rows.get(account) if account is not None else None
            if row is not None:
                self.known[row] = self.watched[row] = False

    def follow_terms(self, pool: AavePool) -> None:
        """Forget every look when the Pool's rules moved (version, reserve or eMode parameters)."""
        terms = (
            pool.version,
            tuple(r.config for r in pool.reserves.values()),
            tuple(pool.emode_categories.items()),
        )
        if terms != self.terms:
            self.watched[:] = False
            self.terms = terms
