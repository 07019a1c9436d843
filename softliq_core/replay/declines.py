"""Declined positions, screened in floats until they might not be declined again.

In a sweep most of the liquidator's work is re-pricing, at every oracle round, positions that sit in
a pre-liquidation window, or under water with little collateral, and whose call does not pay: the
exact engine checks each one (LTV, soft zone, trigger), schedules the liquidator, derives its largest
call, prices it and declines it, tens of microseconds of integer Python each, for nothing.

Every due call is screened first (below); a position whose call is declined, by the screen or by
the exact engine, is *parked* with its ``Regime``: in the window (soft-zone
spell open, opted in, so a pre-liquidation is tried) or under water (a standard liquidation is
tried). While it is parked and its shares and collateral do not move, a round is screened here:
when the position is surely still in its regime, the exact check would leave the spell as it is and
schedule the call, so the engine only schedules it (and computes the exact LTV when the bound could
reach the position's record). A due call is screened too: when a bound on what it could earn, less
that block's exact gas, surely does not exceed the liquidator's minimum profit, the engine counts a
decline without deriving the call. Whatever the bounds cannot settle (near a trigger, near a
profitable call, a call that might not exist) runs the exact engine at that very step and unparks
the position; the position's own event unparks it too. A position in a window it has not opted into
is parked the same way after a check that scheduled nothing (``Regime.IDLE``: the spell runs on, no
call to screen). The outcome is the exact engine's, row for row and stat for stat
(``tests/integration/test_declines.py`` replays with and without parking).

The bounds. D is the debt (``toAssetsUp``) and V the collateral value (floored), in loan-asset base
units. Each float here is within a relative 1e-15 of the real quotient it stands for and each
contract rounding moves an amount by at most a unit, so a comparison is *sure* only with a relative
margin ``REL`` and an absolute ``ABS`` on both sides. A call's profit is

    seized_value − slippage − repaid − gas,    slippage ≥ seized_value · impact(0),
    repaid ≥ seized_value / IF   (IF the incentive factor: every step of seizing floors)

so profit ≤ seized_value · (1 − impact(0) − 1/IF) − gas, where seized_value ≤ min(V, D · LIF) for a
liquidation and ≤ repayable shares · share price · preLIF for a pre-liquidation (preLCF and preLIF
rise with the LTV, so the LTV's upper bound gives theirs).

Only replays whose positions do not interact qualify (``screen_for``): totals from history, no
market-impact feedback, Morpho's liquidation or pre-liquidation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from softliq_core.compiled import by_fields
from softliq_core.mechanisms import Mechanism
from softliq_core.mechanisms.morpho_liquidation import MorphoLiquidation
from softliq_core.mechanisms.morpho_pre_liquidation import MorphoPreLiquidation
from softliq_core.protocols.morpho.liquidation import liquidation_incentive_factor
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.math import ORACLE_PRICE_SCALE, WAD
from softliq_core.protocols.morpho.shares import VIRTUAL_ASSETS, VIRTUAL_SHARES
from softliq_core.replay.liquidator import SlippageCurve

REL: Final = 1e-9
ABS: Final = 16.0
LOW: Final = 1 - REL
HIGH: Final = 1 + REL
OVERFLOW: Final = (
    2.0**255
)  # collateral x price at or above this: the contract's health check may overflow


class Regime(Enum):
    WINDOW = "window"  # preLLTV < LTV <= LLTV and opted in: the liquidator tries a pre-liquidation
    UNDERWATER = "underwater"  # LTV > LLTV: it tries the standard liquidation
    IDLE = "idle"  # preLLTV < LTV <= LLTV, not opted in: nothing is tried, the spell runs on


def surely_above(a: float, b: float) -> bool:
    """a > b for the exact amounts these floats stand for, whatever the roundings."""
    return a * LOW - ABS > b * HIGH + ABS


@dataclass(slots=True)
class Quote:
    """A market's totals and oracle price as the screen reads them (once per round or block)."""

    share_price: Final[float]  # loan base units per borrow share, as toAssets rounds it
    token_value: Final[float]  # loan base units per collateral base unit
    price: Final[float]

    # Fields Final rather than the class frozen, and __init__ written out: compiled
    # (softliq_core/compiled.py), a dataclass's generated __init__ runs as Python (frozen: a
    # setattr per field), and this value is made at every call the liquidator weighs.
    def __init__(self, share_price: float, token_value: float, price: float) -> None:
        self.share_price = share_price
        self.token_value = token_value
        self.price = price

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)

    @classmethod
    def of(cls, market: Market, price: int) -> Quote:
        share_price = (market.total_borrow_assets + VIRTUAL_ASSETS) / (
            market.total_borrow_shares + VIRTUAL_SHARES
        )
        return cls(share_price, price / ORACLE_PRICE_SCALE, float(price))


@dataclass(slots=True)
class Parked:
    """A parked position: its regime, and its shares and collateral (fixed while parked)."""

    regime: Final[Regime]
    shares: Final[float]
    collateral: Final[float]

    # (written out, its fields Final: as Quote's)
    def __init__(self, regime: Regime, shares: float, collateral: float) -> None:
        self.regime = regime
        self.shares = shares
        self.collateral = collateral

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)


def _ltv_range(debt: float, value: float) -> tuple[float, float]:
    """Where the exact LTV (a fraction) of this debt and collateral value lies."""
    low_value = value * LOW - ABS
    high = (debt * HIGH + ABS) / low_value if low_value > 0 else math.inf
    return (debt * LOW - ABS) / (value * HIGH + ABS), high


@dataclass(frozen=True, slots=True)
class DeclineScreen:
    """A mechanism's terms as floats, and the liquidator's least price impact."""

    lltv: float
    lif: float
    least_impact: float  # slippage of selling nothing: the fee
    pre_lltv: float | None = None  # None: no pre-liquidation
    pre_lcf: tuple[float, float] = (0.0, 0.0)
    pre_lif: tuple[float, float] = (0.0, 0.0)

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)

    def park(self, position: Position, market: Market, price: int, opted_in: bool) -> Parked | None:
        """The position parked in its regime, if it is surely in one."""
        if position.borrow_shares == 0 or position.collateral == 0:
            return None
        parked = Parked(Regime.WINDOW, float(position.borrow_shares), float(position.collateral))
        regime = self._regime(parked, Quote.of(market, price), opted_in)
        return None if regime is None else Parked(regime, parked.shares, parked.collateral)

    def still(self, parked: Parked, quote: Quote, opted_in: bool) -> bool:
        """The position is surely still in its regime."""
        return self._regime(parked, quote, opted_in) is parked.regime

    def _regime(self, parked: Parked, quote: Quote, opted_in: bool) -> Regime | None:
        if parked.collateral * quote.price >= OVERFLOW:
            return None
        debt = parked.shares * quote.share_price
        value = parked.collateral * quote.token_value
        if surely_above(debt, value * self.lltv):
            return Regime.UNDERWATER
        if (
            self.pre_lltv is not None
            and surely_above(debt, value * self.pre_lltv)
            and surely_above(value * self.lltv, debt)
        ):
            return Regime.WINDOW if opted_in else Regime.IDLE
        return None

    def may_reach(self, parked: Parked, quote: Quote, record: int) -> bool:
        """Whether the exact LTV (WAD) may be at or above ``record``."""
        debt = parked.shares * quote.share_price
        high = _ltv_range(debt, parked.collateral * quote.token_value)[1]
        return high * WAD * HIGH + 1 >= record

    def gain_bound(self, parked: Parked, quote: Quote, opted_in: bool) -> float | None:
        """An upper bound of the liquidator's call's seized value less its slippage and what it
        repays, if the position is surely still in its regime and the call surely exists (None
        otherwise: the exact engine decides)."""
        if parked.regime is Regime.IDLE or not self.still(parked, quote, opted_in):
            return None
        if parked.regime is Regime.UNDERWATER:
            seized_value, factor = self._liquidation_size(parked, quote)
        else:
            seized_value, factor = self._pre_liquidation_size(parked, quote)
        if seized_value is None:
            return None
        return seized_value * HIGH * max(0.0, 1 - self.least_impact - 1 / factor) * HIGH + ABS

    def _liquidation_size(self, parked: Parked, quote: Quote) -> tuple[float | None, float]:
        """The largest liquidation's seized value bound, when it surely exists: every share repaid
        (the collateral covers them), or else all the collateral seized for fewer shares than owed
        (``max_liquidation_inputs`` tries them in that order)."""
        debt = parked.shares * quote.share_price
        value = parked.collateral * quote.token_value
        repay_all = surely_above(value, debt * self.lif)
        seize_all = surely_above(debt, value / self.lif + 2 * quote.share_price)
        if not (repay_all or seize_all):
            return None, self.lif
        return min(value, debt * self.lif), self.lif

    def _pre_liquidation_size(self, parked: Parked, quote: Quote) -> tuple[float | None, float]:
        """The largest pre-liquidation's seized value bound, when its call surely exists (some
        shares repayable, no more than the position owes, some collateral seized)."""
        pre_lltv = self.pre_lltv
        assert pre_lltv is not None
        shares, share_price = parked.shares, quote.share_price
        low_ltv, high_ltv = _ltv_range(shares * share_price, parked.collateral * quote.token_value)
        span = self.lltv - pre_lltv

        def linear(terms: tuple[float, float], ltv: float) -> float:
            return terms[0] + (ltv - pre_lltv) / span * (terms[1] - terms[0])

        lcf_low, lcf_high = linear(self.pre_lcf, low_ltv), linear(self.pre_lcf, high_ltv)
        lif_low, lif_high = linear(self.pre_lif, low_ltv), linear(self.pre_lif, high_ltv)
        if not (
            surely_above(shares * lcf_low, 1.0)
            and surely_above(shares, shares * lcf_high)
            and surely_above(
                shares * lcf_low * share_price * lif_low,
                2 * (quote.token_value + share_price * lif_low),
            )
        ):
            return None, lif_high
        return shares * lcf_high * share_price * lif_high, lif_high


def screen_for(
    mechanism: Mechanism | None, curve: SlippageCurve, decimals: int
) -> DeclineScreen | None:
    """The screen of a Morpho liquidation or pre-liquidation, else None (no float model)."""
    least_impact = curve.impact(0, decimals) / WAD
    if isinstance(mechanism, MorphoPreLiquidation):
        params = mechanism.params
        return DeclineScreen(
            mechanism.lltv / WAD,
            liquidation_incentive_factor(mechanism.lltv) / WAD,
            least_impact,
            params.pre_lltv / WAD,
            (params.pre_lcf1 / WAD, params.pre_lcf2 / WAD),
            (params.pre_lif1 / WAD, params.pre_lif2 / WAD),
        )
    if isinstance(mechanism, MorphoLiquidation):
        return DeclineScreen(
            mechanism.lltv / WAD, liquidation_incentive_factor(mechanism.lltv) / WAD, least_impact
        )
    return None
