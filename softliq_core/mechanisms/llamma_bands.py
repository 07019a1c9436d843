"""Band-based soft liquidation, LLAMMA-like (Curve crvUSD / LlamaLend) on Morpho positions.

A position's collateral sits in ``n_bands`` bands (``softliq_core.protocols.llamma.bands``) placed
below the price as LLAMMA's controller places them: the highest band is the one at which converting
all collateral down through the bands, without loss, would yield the debt over
``1 - loan_discount``. With geometric bands this puts the top edge at a fixed LTV of the position,
``top_ltv = (1 - loan_discount) sqrt(r) (1 - r^N) / (N (1 - r))``, ``r = (A - 1) / A``.

At every oracle price the arbitrageurs trade against the position's bands when it pays net of the
AMM fee and the outside slippage (the liquidator model's curve): collateral turns into loan asset as
the price falls through a band and back as it rises. The loan asset stays in the bands (it does not
repay the debt). The position is hard-liquidated when its health is negative:

    sum over bands (x + y x conversion price) x (1 - liquidation_discount) < debt

(LLAMMA's ``health``, each band's remaining collateral counted at the geometric mean of what is
left of its range below the oracle). The hard liquidation repays the whole debt: the bands' loan
asset first, the liquidator the rest, for all the remaining collateral.

Simplifications of LLAMMA (also in the README):

* each position has its own bands, placed (from its current collateral and debt) when the price
  first falls below its top band, and released when every band is back to collateral; LLAMMA places
  them at borrowing and keeps them until the borrower acts. Placement depends only on collateral and
  debt, so the two agree until the borrower acts or a round trip has cost collateral;
* arbitrage is per band and per position (one swap sweeps every borrower's bands in LLAMMA: its
  slippage would be on the combined size), with no gas, at the oracle price as the market price;
* a borrower's historical action while in bands (LLAMMA refuses most of them) is applied as
  history says (DESIGN §4 rule 3, clipped by Morpho's LLTV on the collateral alone), and collateral
  added or withdrawn is spread over / taken from the bands in proportion to what each holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from math import isqrt
from typing import Any

from softliq_core.mechanisms.base import ActionResult
from softliq_core.mechanisms.price_following import PriceStep
from softliq_core.protocols.llamma.bands import (
    Band,
    BandRange,
    arbitrage,
    band_ranges,
    remaining_conversion_price,
    value,
)
from softliq_core.protocols.morpho.health import borrowed_assets, collateral_value
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.math import (
    ORACLE_PRICE_SCALE,
    WAD,
    mul_div_down,
    mul_div_up,
    w_mul_down,
    zero_floor_sub,
)

BAND_FIELDS = ("a", "n_bands", "fee", "loan_discount", "liquidation_discount")
MAX_A = 10_000
MAX_BANDS = 50  # crvUSD's controller allows 4 to 50
MAX_FEE = WAD // 10  # LLAMMA's fee ceiling is below 10 %


@dataclass(frozen=True, slots=True)
class BandParams:
    a: int  # LLAMMA's amplification A: band edges in the ratio (A - 1) / A
    n_bands: int
    fee: int  # WAD, paid by arbitrageurs into the bands
    loan_discount: int  # WAD: where the bands are placed
    liquidation_discount: int  # WAD: the health limit

    @property
    def top_ltv(self) -> int:
        """WAD LTV (debt / collateral value) at which the price reaches the top band's upper edge."""
        a, n = self.a, self.n_bands
        sqrt_ratio = isqrt((a - 1) * WAD * WAD // a)
        # sum_{k<n} r^k = (A^n - (A-1)^n) / (A^(n-1)), exactly, then WAD-floored
        series: int = (a**n - (a - 1) ** n) * WAD // a ** (n - 1)
        return (WAD - self.loan_discount) * sqrt_ratio // WAD * series // (n * WAD)

    def canonical(self) -> dict[str, str]:
        return {f: str(getattr(self, f)) for f in BAND_FIELDS}


def band_parameter_violations(params: BandParams) -> list[str]:
    """Every rule the parameters break, named ``bands.<field>``."""
    problems = []
    if not 2 <= params.a <= MAX_A:
        problems.append(f"bands.a: {params.a} must be an integer from 2 to {MAX_A}")
    if not 1 <= params.n_bands <= MAX_BANDS:
        problems.append(f"bands.n_bands: {params.n_bands} must be an integer from 1 to {MAX_BANDS}")
    if params.fee >= MAX_FEE:
        problems.append(f"bands.fee: {Decimal(params.fee) / WAD} must be below 0.1")
    if not 0 < params.loan_discount < WAD:
        problems.append(
            f"bands.loan_discount: {Decimal(params.loan_discount) / WAD} must be within (0, 1)"
        )
    elif params.liquidation_discount >= params.loan_discount:
        problems.append(
            f"bands.liquidation_discount: {Decimal(params.liquidation_discount) / WAD} must be "
            f"below loan_discount ({Decimal(params.loan_discount) / WAD}), or a new position "
            "is liquidatable"
        )
    return problems


@dataclass(frozen=True, slots=True)
class BandPosition:
    """A position's bands while it is in soft liquidation."""

    ranges: tuple[BandRange, ...]
    bands: tuple[Band, ...]
    deposited: int  # collateral put into the bands (and added or withdrawn since)
    loss: int  # the borrower's loss versus holding ``deposited``, at the last price

    @property
    def collateral(self) -> int:
        return sum(b.collateral for b in self.bands)

    @property
    def loan(self) -> int:
        return sum(b.loan for b in self.bands)

    def value(self, price: int) -> int:
        return sum(b.value(price) for b in self.bands)


@dataclass(frozen=True)
class LlammaBands:
    params: BandParams
    state: BandPosition | None = None  # set by ``bound``: the position this instance judges
    name: str = "llamma_bands"

    # -- the plain mechanism, for a position in a given state ----------------------------------

    @property
    def lowest_trigger_ltv(self) -> int:
        return self.params.top_ltv

    def bound(self, state: Any) -> LlammaBands:
        return replace(self, state=state)

    def loan_assets(self, state: Any) -> int:
        return state.loan if isinstance(state, BandPosition) else 0

    def health_value(self, price: int) -> int:
        """What the bands would yield converting down, less the liquidation discount (0 if none)."""
        if self.state is None:
            return 0
        total = sum(
            band.loan + value(band.collateral, remaining_conversion_price(edges, price))
            for band, edges in zip(self.state.bands, self.state.ranges, strict=True)
        )
        return w_mul_down(total, WAD - self.params.liquidation_discount)

    def triggered(self, market: Market, position: Position, price: int, opted_in: bool) -> bool:
        if self.state is None or position.borrow_shares == 0:
            return False
        return self.health_value(price) < borrowed_assets(position, market)

    def in_soft_zone(self, market: Market, position: Position, price: int) -> bool:
        return self.state is not None and position.borrow_shares > 0

    def act(
        self, market: Market, position: Position, price: int, opted_in: bool
    ) -> ActionResult | None:
        """Hard liquidation: the bands' loan asset and the liquidator repay the whole debt; the
        liquidator takes every band's collateral (and any loan asset beyond the debt)."""
        if self.state is None or not self.triggered(market, position, price, opted_in):
            return None
        debt = borrowed_assets(position, market)
        shares = position.borrow_shares
        loan = self.state.loan
        market.total_borrow_assets = zero_floor_sub(market.total_borrow_assets, debt)
        market.total_borrow_shares -= shares
        seized = position.collateral
        position.borrow_shares = position.collateral = 0
        received = loan + collateral_value(seized, price)
        return ActionResult(
            "liquidation",
            shares,
            debt - loan,
            seized,
            0,
            0,
            mul_div_down(received, WAD, debt),
            band_loan_assets=loan,
        )

    # -- following the price -------------------------------------------------------------------

    def place(self, collateral: int, debt: int) -> BandPosition:
        """The bands for this collateral and debt: the top edge where the LTV is ``top_ltv``, the
        collateral spread evenly (the remainder in the top band)."""
        top = mul_div_up(debt, ORACLE_PRICE_SCALE * WAD, collateral * self.params.top_ltv)
        ranges = band_ranges(top, self.params.a, self.params.n_bands)
        share, rest = divmod(collateral, self.params.n_bands)
        bands = tuple(Band(0, share + (rest if k == 0 else 0)) for k in range(len(ranges)))
        return BandPosition(ranges, bands, collateral, 0)

    def follow_price(
        self,
        state: Any,
        market: Market,
        position: Position,
        price: int,
        impact: Callable[[int], int],
    ) -> tuple[BandPosition | None, PriceStep]:
        if position.borrow_shares == 0 or price == 0:
            return None, PriceStep()  # no debt: no bands (the borrower took what they held)
        if state is None:
            debt = borrowed_assets(position, market)
            value_now = collateral_value(position.collateral, price)
            if position.collateral == 0 or w_mul_down(value_now, self.params.top_ltv) >= debt:
                return None, PriceStep()  # the price is above the top band: nothing to convert
            state = self.place(position.collateral, debt)
        assert isinstance(state, BandPosition)
        state = _reconciled(state, position.collateral)
        bands, sold, fees, gross, net = [], 0, 0, 0, 0
        for band, edges in zip(state.bands, state.ranges, strict=True):
            after, trade = arbitrage(
                band,
                edges,
                self.params.a,
                price,
                price,
                self.params.fee,
                impact(0),  # the outside pool's fee: where arbitrageurs stop trading
                impact,
            )
            bands.append(after)
            if trade is not None:
                sold += trade.collateral_out
                fees += trade.fee if trade.collateral_out > 0 else value(trade.fee, price)
                gross += trade.gross_profit
                net += trade.net_profit
        after_state = BandPosition(state.ranges, tuple(bands), state.deposited, 0)
        loss = value(state.deposited, price) - after_state.value(price)
        after_state = replace(after_state, loss=loss)
        position.collateral = after_state.collateral
        step = PriceStep(sold, loss - state.loss, fees, gross, net)
        if after_state.loan == 0:  # every band is collateral again: released
            return None, step
        return after_state, step


def _reconciled(state: BandPosition, collateral: int) -> BandPosition:
    """The bands after the borrower added (or withdrew) collateral outside the mechanism: the
    difference spread in proportion to what each band holds (evenly when none holds any)."""
    held = state.collateral
    change = collateral - held
    if change == 0:
        return state
    weights = [b.collateral for b in state.bands] if held else [1] * len(state.bands)
    total = sum(weights)
    parts = [change * w // total for w in weights]
    last = max(k for k, w in enumerate(weights) if w)
    parts[last] += change - sum(parts)
    bands = tuple(
        Band(b.loan, b.collateral + part) for b, part in zip(state.bands, parts, strict=True)
    )
    if any(b.collateral < 0 for b in bands):  # rounding on a withdrawal: take it top down
        bands = _drained(state.bands, -change)
    # the loss is unchanged: the change moves the holding and the bands alike
    return BandPosition(state.ranges, bands, state.deposited + change, state.loss)


def _drained(bands: tuple[Band, ...], amount: int) -> tuple[Band, ...]:
    out = []
    for band in bands:
        taken = min(band.collateral, amount)
        amount -= taken
        out.append(Band(band.loan, band.collateral - taken))
    return tuple(out)
