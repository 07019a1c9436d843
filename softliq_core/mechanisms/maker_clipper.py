"""MakerDAO Liquidations 2.0 on a Morpho market's positions: Dog.bark starts a Dutch auction of the
position's collateral (Clipper.kick), its price decays with the abacus, takers buy when it pays, the
auction restarts (Clipper.redo) after ``tail`` seconds or below ``cusp``.

Mapping: ``art`` is the position's borrow shares and ``rate`` the market's share price, ``spot`` is
price / ``mat`` with 1 / ``mat`` the market's LLTV (so unsafe = Morpho's unhealthy); amounts are in
loan and collateral base units, prices 1e36-scaled like a Morpho oracle. The debt leaves the position
at the bark (``vat.grab``); the tab (debt x ``chop``) is fixed while the auction runs. Each take's
payment is split into the debt it repays (``owe / chop``) and the penalty, which the protocol keeps;
the debt left when the lot runs out is bad debt; the lot left when the tab is paid returns to the
borrower. The keeper's ``tip + chip x tab`` at each kick and redo is paid by the protocol.

Not modelled: ``dust``/``chost`` (minimum debt), the global ``Hole`` across markets (each market is
replayed alone: ``hole`` and ``ilk_hole`` both bound this market's debt in auction), and a second
auction on a position while its first runs (a new bark waits for the first to end).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from softliq_core.mechanisms.base import ActionResult, Outstanding, PositionAt
from softliq_core.protocols.maker.abacus import Abacus, rdiv, rmul
from softliq_core.protocols.morpho.health import is_healthy
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.math import ORACLE_PRICE_SCALE, WAD, mul_div_up, w_mul_down
from softliq_core.protocols.morpho.shares import to_assets_up, to_shares_down


@dataclass(frozen=True)
class ClipperParams:
    buf: int  # RAY: the auction starts at the oracle price x buf
    calc: Abacus
    tail: int  # seconds after which the auction must be reset
    cusp: int  # RAY: price / top below which the auction must be reset
    chip: int  # WAD: keeper incentive, share of the tab
    tip: int  # loan base units: flat keeper incentive
    chop: int  # WAD: liquidation penalty on the debt (1.13 = 13 %)
    hole: int | None = None  # loan base units of tab in auction at most (None: no limit)
    ilk_hole: int | None = None


@dataclass(frozen=True, slots=True)
class Sale:
    """A running auction (Clipper.sales), with the debt it still has to recover."""

    tab: int  # loan units to raise, penalty included
    lot: int  # collateral units for sale
    top: int  # starting price
    tic: int  # start time
    due: int  # debt (without penalty) not yet recovered


class MakerClipper:
    name = "maker_clipper"

    def __init__(self, lltv: int, params: ClipperParams):
        self.lltv = lltv
        self.params = params
        self.sales: dict[str, Sale] = {}
        self.dirt = 0  # tab in auction (Dog.Dirt / ilk.dirt)
        self._proposal: tuple[str, Sale | None, int] | None = None

    @property
    def lowest_trigger_ltv(self) -> int:
        return self.lltv

    def triggered(self, market: Market, position: Position, price: int, opted_in: bool) -> bool:
        return not is_healthy(position, market, price, self.lltv)

    def in_soft_zone(self, market: Market, position: Position, price: int) -> bool:
        return False

    def holds(self, borrower: str) -> bool:
        return borrower in self.sales

    def outstanding(self) -> dict[str, Outstanding]:
        """Running auctions: the debt they have not recovered and the lot they have not sold."""
        return {b: Outstanding(sale.due, sale.lot) for b, sale in self.sales.items()}

    def position_changed(self, borrower: str, timestamp: int) -> None:
        """The auction does not depend on the borrower's later actions."""

    def accept(self, borrower: str) -> None:
        assert self._proposal is not None and self._proposal[0] == borrower
        _, sale, dirt = self._proposal
        if sale is None:
            self.sales.pop(borrower, None)
        else:
            self.sales[borrower] = sale
        self.dirt = dirt
        self._proposal = None

    def _coin(self, tab: int) -> int:
        return self.params.tip + w_mul_down(tab, self.params.chip)

    def _bark(
        self, market: Market, position: Position, price: int
    ) -> tuple[ActionResult, Sale] | None:
        """Dog.bark: move (part of) the debt and collateral of an unsafe position into an auction
        (Clipper.kick); the sale it starts has ``tic`` 0, set by the caller."""
        p = self.params
        if not self.triggered(market, position, price, False):
            return None
        limits = [h for h in (p.hole, p.ilk_hole) if h is not None]
        art = position.borrow_shares
        dart = art
        if limits:
            room = min(limits) - self.dirt
            if room <= 0:
                return None  # Dog/liquidation-limit-hit
            # dart = min(art, room * WAD / rate / chop)
            dart = min(
                art,
                to_shares_down(
                    room * WAD // p.chop, market.total_borrow_assets, market.total_borrow_shares
                ),
            )
        dink = position.collateral * dart // art
        top = rmul(price, p.buf)
        if dink == 0 or top == 0:
            return None  # Dog/null-auction, Clipper/zero-top-price
        due = to_assets_up(dart, market.total_borrow_assets, market.total_borrow_shares)
        tab = due * p.chop // WAD
        position.borrow_shares -= dart
        position.collateral -= dink
        coin = self._coin(tab)
        result = ActionResult(
            "auction_start", dart, 0, 0, 0, 0, p.chop, keeper_incentive=coin, reserves_change=-coin
        )
        return result, Sale(tab, dink, top, 0, due)

    def act(
        self, market: Market, position: Position, price: int, opted_in: bool
    ) -> ActionResult | None:
        """The bark alone, as a stateless mechanism would see it."""
        barked = self._bark(market, position, price)
        return None if barked is None else barked[0]

    def act_on(self, at: PositionAt) -> ActionResult | None:
        sale = self.sales.get(at.borrower)
        if sale is None:
            barked = self._bark(at.market, at.position, at.price)
            if barked is None:
                return None
            result, started = barked
            self._proposal = (
                at.borrower,
                replace(started, tic=at.timestamp),
                self.dirt + started.tab,
            )
            return result
        dur = at.timestamp - sale.tic
        auction_price = self.params.calc.price(sale.top, dur)
        if dur > self.params.tail or rdiv(auction_price, sale.top) < self.params.cusp:
            return self._redo(at.borrower, sale, at.timestamp, at.price)
        return self._take(at.borrower, sale, auction_price, at.position)

    def _redo(self, borrower: str, sale: Sale, timestamp: int, price: int) -> ActionResult | None:
        """Clipper.redo: restart from the current oracle price x buf; the keeper is paid again."""
        top = rmul(price, self.params.buf)
        if top == 0:
            return None
        coin = self._coin(sale.tab)
        self._proposal = (borrower, replace(sale, top=top, tic=timestamp), self.dirt)
        return ActionResult(
            "auction_reset",
            0,
            0,
            0,
            0,
            0,
            self.params.chop,
            keeper_incentive=coin,
            reserves_change=-coin,
        )

    def _take(
        self, borrower: str, sale: Sale, auction_price: int, position: Position
    ) -> ActionResult:
        """Clipper.take of the whole lot: pay ``slice x price``, at most the tab."""
        slice_ = sale.lot
        # owe = slice * price (exact RAD in the contract; rounded up here, the protocol's way)
        owe = mul_div_up(slice_, auction_price, ORACLE_PRICE_SCALE)
        if owe > sale.tab:
            owe = sale.tab
            slice_ = owe * ORACLE_PRICE_SCALE // auction_price  # slice = owe / price
        tab, lot = sale.tab - owe, sale.lot - slice_
        repaid = sale.due if tab == 0 else min(sale.due, owe * WAD // self.params.chop)
        due = sale.due - repaid
        bad_debt = due if lot == 0 else 0
        # Dog.digs: the tab leaves the limit as it is paid, all of it when the lot is gone.
        dirt = self.dirt - (tab + owe if lot == 0 else owe)
        if lot == 0 or tab == 0:
            position.collateral += lot  # Clipper returns what is left of the lot to the owner
            self._proposal = (borrower, None, dirt)
        else:
            self._proposal = (borrower, replace(sale, tab=tab, lot=lot, due=due), dirt)
        return ActionResult(
            "liquidation",
            0,
            repaid,
            slice_,
            0,
            bad_debt,
            self.params.chop,
            taker_paid=owe,
            reserves_change=owe - repaid,
        )
