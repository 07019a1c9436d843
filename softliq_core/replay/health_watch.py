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

    HF ≥ HF⁰ · m,   LTV ≤ LTV⁰ / m,   m = min_a r_a / max_b s_b.

The Pool's integers differ from the real values by at most one token unit and one base unit per
reserve (``err``: price/unit + 2 each) and, up to v3.4 with several collaterals, by the floor of the
average liquidation threshold (relative 1/LT). An account is watched only while its totals are at
least ``SIZE`` times ``err`` and every ratio stays within [1/2, 2]: then each side's rounding is
within 1e-6 of it, and a margin of 1e-5 (plus 1/LT where the average is floored) covers both looks
and the float arithmetic. A skipped look is one whose exact health factor is provably at or above
the account's record and the trigger, and whose LTV is at or below its record (hypothesis-tested
against the Pool's own account data); everything outside these premises is looked at as before:
accounts in or near the trigger zone, without debt, nearly insolvent, small, or after a big move.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from softliq_core.protocols.aave.account import AccountData, in_emode_as_collateral
from softliq_core.protocols.aave.math import WAD
from softliq_core.protocols.aave.pool import AavePool
from softliq_core.protocols.aave.reserve import normalized_debt

SIZE = 4_000_000  # totals at least this many times their rounding error
MARGIN = 1e-5
MOVE = 2.0  # ratios beyond [1/MOVE, MOVE] since the last look: look again
LOWEST_HEALTH = WAD // 1000  # below a health factor of 0.001 the wad division's rounding counts


@dataclass(frozen=True, slots=True)
class Look:
    """What the last look at an account saw: health (HF / WAD), LTV, and its reserves' marks."""

    health_factor: float
    ltv: float
    margin: float
    collateral: tuple[tuple[str, int], ...]  # (asset, price)
    debt: tuple[tuple[str, int, int], ...]  # (asset, price, normalized variable debt index)


class HealthWatch:
    def __init__(self) -> None:
        self.looks: dict[str, Look] = {}
        self.terms: tuple[Any, ...] = ()

    def observed(
        self, pool: AavePool, account: str, data: AccountData, timestamp: int, near: bool
    ) -> None:
        """Remember a look at ``account`` (``near``: within the mechanism's reach, always looked
        at), or forget it when the look is outside the bound's premises."""
        self.looks.pop(account, None)
        if near or not data.total_debt_base or data.health_factor < LOWEST_HEALTH:
            return
        config = pool.user_config(account)
        version = pool.version
        category = pool.emode_categories.get(config.emode) if config.emode else None
        collateral, debt, err, lowest_threshold = [], [], 0, 10_000
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
            collateral.append((asset, price))
            err += price // reserve.config.unit + 2
            if threshold:
                lowest_threshold = min(lowest_threshold, threshold)
        for asset in config.borrowing:
            reserve = pool.reserves[asset]
            price = pool.prices.get(asset)
            if price is None:
                return
            debt.append((asset, price, normalized_debt(reserve, timestamp, version)))
            err += price // reserve.config.unit + 2
        if min(data.total_debt_base, data.total_collateral_base) < SIZE * err:
            return
        floored_average = not version.directional_rounding and len(collateral) > 1
        self.looks[account] = Look(
            data.health_factor / WAD,
            data.total_debt_base / data.total_collateral_base,
            MARGIN + (1 / lowest_threshold if floored_average else 0.0),
            tuple(collateral),
            tuple(debt),
        )

    def quiet(
        self,
        account: str,
        prices: Mapping[str, int],
        debt_index: Callable[[str], int],
        lowest_health: int,
        highest_ltv: float,
    ) -> bool:
        """True when a look now would find a health factor at or above ``lowest_health`` (WAD)
        and an LTV at or below ``highest_ltv``: the look can be skipped."""
        look = self.looks.get(account)
        if look is None:
            return False
        try:
            collateral = [prices[asset] / price for asset, price in look.collateral]
            debt = [prices[a] / price * (debt_index(a) / index) for a, price, index in look.debt]
        except KeyError:  # an asset without a price: the look tells what the Pool does
            return False
        lowest, highest = min(collateral), max(debt)
        if min(lowest, min(debt)) < 1 / MOVE or max(highest, max(collateral)) > MOVE:
            return False
        move = lowest / highest
        return (
            look.health_factor * move * (1 - look.margin) > lowest_health / WAD
            and look.ltv / move * (1 + look.margin) < highest_ltv
        )

    def forget(self, accounts: Iterable[str | None]) -> None:
        for account in accounts:
            if account is not None:
                self.looks.pop(account, None)

    def follow_terms(self, pool: AavePool) -> None:
        """Forget every look when the Pool's rules moved (version, reserve or eMode parameters)."""
        terms = (
            pool.version,
            tuple(r.config for r in pool.reserves.values()),
            tuple(pool.emode_categories.items()),
        )
        if terms != self.terms:
            self.looks.clear()
            self.terms = terms


def debt_indexes(pool: AavePool, timestamp: int) -> Callable[[str], int]:
    """Each reserve's normalized variable debt index at ``timestamp``, computed once on demand."""
    cache: dict[str, int] = {}

    def index(asset: str) -> int:
        if asset not in cache:
            cache[asset] = normalized_debt(pool.reserves[asset], timestamp, pool.version)
        return cache[asset]

    return index
