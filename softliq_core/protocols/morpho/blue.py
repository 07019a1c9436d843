"""Morpho Blue as a state machine with the contract's checks, reverts and events (Morpho.sol).

The synthetic chain drives it to produce history exactly as the contract would emit it. The replay
engine does not use it: history is replayed from events (spec §1.6 replay rule).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from softliq_core.protocols.morpho import errors
from softliq_core.protocols.morpho.accrual import accrue_interest
from softliq_core.protocols.morpho.errors import MorphoRevert
from softliq_core.protocols.morpho.health import is_healthy
from softliq_core.protocols.morpho.irm import adaptive_curve_borrow_rate
from softliq_core.protocols.morpho.liquidation import liquidate
from softliq_core.protocols.morpho.market import Market, MarketParams, Position
from softliq_core.protocols.morpho.math import UINT128_MAX, WAD, zero_floor_sub
from softliq_core.protocols.morpho.shares import (
    to_assets_down,
    to_assets_up,
    to_shares_down,
    to_shares_up,
)

ZERO_ADDRESS = "0x" + "00" * 20
MAX_FEE = WAD // 4

Event = dict[str, Any]
# IIrm.borrowRate(marketParams, market) of an IRM other than AdaptiveCurve: the per-second borrow
# rate (WAD) from the market's pre-accrual state; such an IRM emits no BorrowRateUpdate.
BorrowRateHook = Callable[[MarketParams, Market], int]
P = ParamSpec("P")
R = TypeVar("R")


def _reverts_atomically(call: Callable[P, R]) -> Callable[P, R]:
    """Undo accrual, fee shares and events when a call reverts after accruing, as the EVM does.

    Every call checks before it mutates a position, so only what accrual touches is saved.
    """

    @functools.wraps(call)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        blue = args[0]
        assert isinstance(blue, MorphoBlue)
        markets = {key: market.copy() for key, market in blue.markets.items()}
        rates = dict(blue.rate_at_target)
        n_events = len(blue.events)
        fee_positions = {
            (market_id, blue.fee_recipient): blue.position(market_id, blue.fee_recipient).copy()
            for market_id in blue.markets
        }
        try:
            return call(*args, **kwargs)
        except MorphoRevert:
            blue.markets.update(markets)
            blue.rate_at_target = rates
            del blue.events[n_events:]
            blue.positions.update(fee_positions)
            raise

    return wrapper


@dataclass
class MorphoBlue:
    """One Morpho Blue deployment. ``oracle_price(oracle)`` answers IOracle.price() at ``timestamp``."""

    address: str
    owner: str
    oracle_price: Callable[[str], int]
    timestamp: int = 0
    fee_recipient: str = ZERO_ADDRESS
    markets: dict[str, Market] = field(default_factory=dict)
    params: dict[str, MarketParams] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    rate_at_target: dict[str, int] = field(default_factory=dict)
    enabled_irms: set[str] = field(default_factory=set)
    enabled_lltvs: set[int] = field(default_factory=set)
    authorizations: dict[tuple[str, str], bool] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    # IRM address -> its borrow rate; any other non-zero IRM is the AdaptiveCurveIRM.
    borrow_rate_hooks: dict[str, BorrowRateHook] = field(default_factory=dict)

    # -- helpers -------------------------------------------------------------------------------

    def position(self, market_id: str, user: str) -> Position:
        key = (market_id, user)
        if key not in self.positions:
            self.positions[key] = Position()
        return self.positions[key]

    def _emit(self, event: str, contract: str | None = None, **fields: Any) -> None:
        self.events.append({"event": event, "contract": contract or self.address, **fields})

    def _market(self, params: MarketParams) -> Market:
        market = self.markets.get(params.id)
        if market is None or market.last_update == 0:
            raise MorphoRevert(errors.MARKET_NOT_CREATED)
        return market

    def _is_sender_authorized(self, sender: str, on_behalf: str) -> bool:
        return sender == on_behalf or self.authorizations.get((on_behalf, sender), False)

    @staticmethod
    def _add_uint128(total: int, amount: int) -> int:
        """``total += amount.toUint128()`` on a uint128 slot, in the contract's order: the cast
        reverts "max uint128 exceeded" (UtilsLib.toUint128), then the checked sum panics 0x11
        (errors.UNDERFLOW is Panic(0x11), overflow included). Found by tests/differential.
        """
        if amount > UINT128_MAX:
            raise MorphoRevert(errors.MAX_UINT128_EXCEEDED)
        if total + amount > UINT128_MAX:
            raise MorphoRevert(errors.UNDERFLOW)
        return total + amount

    @staticmethod
    def _to_uint128(amount: int) -> None:
        if amount > UINT128_MAX:
            raise MorphoRevert(errors.MAX_UINT128_EXCEEDED)

    @staticmethod
    def _exactly_one_zero(assets: int, shares: int) -> None:
        if (assets == 0) == (shares == 0):
            raise MorphoRevert(errors.INCONSISTENT_INPUT)

    def _borrow_rate(self, params: MarketParams, market: Market) -> int:
        hook = self.borrow_rate_hooks.get(params.irm)
        if hook is not None:
            return hook(params, market.copy())
        rate = adaptive_curve_borrow_rate(
            market, self.rate_at_target.get(params.id, 0), self.timestamp
        )
        self.rate_at_target[params.id] = rate.end_rate_at_target
        self._emit(
            "BorrowRateUpdate",
            contract=params.irm,
            market_id=params.id,
            avg_borrow_rate=rate.avg_borrow_rate,
            rate_at_target=rate.end_rate_at_target,
        )
        return rate.avg_borrow_rate

    def _accrue(self, params: MarketParams, market: Market) -> None:
        elapsed = self.timestamp - market.last_update
        if elapsed == 0:
            return
        if params.irm != ZERO_ADDRESS:
            borrow_rate = self._borrow_rate(params, market)
            accrual = accrue_interest(market, borrow_rate, self.timestamp)
            if accrual.fee_shares:
                self.position(params.id, self.fee_recipient).supply_shares += accrual.fee_shares
            self._emit(
                "AccrueInterest",
                market_id=params.id,
                prev_borrow_rate=borrow_rate,
                interest=accrual.interest,
                fee_shares=accrual.fee_shares,
            )
        market.last_update = self.timestamp

    def _inflow_checks(
        self, params: MarketParams, assets: int, shares: int, on_behalf: str
    ) -> Market:
        """supply and repay: anyone may pay on behalf of anyone."""
        market = self._market(params)
        self._exactly_one_zero(assets, shares)
        if on_behalf == ZERO_ADDRESS:
            raise MorphoRevert(errors.ZERO_ADDRESS)
        self._accrue(params, market)
        return market

    def _outflow_checks(
        self,
        sender: str,
        params: MarketParams,
        assets: int,
        shares: int,
        on_behalf: str,
        receiver: str,
    ) -> Market:
        """withdraw and borrow: only the owner or an address it authorised may take assets out."""
        market = self._market(params)
        self._exactly_one_zero(assets, shares)
        if receiver == ZERO_ADDRESS:
            raise MorphoRevert(errors.ZERO_ADDRESS)
        if not self._is_sender_authorized(sender, on_behalf):
            raise MorphoRevert(errors.UNAUTHORIZED)
        self._accrue(params, market)
        return market

    # -- owner ---------------------------------------------------------------------------------

    def enable_irm(self, sender: str, irm: str) -> None:
        if sender != self.owner:
            raise MorphoRevert(errors.NOT_OWNER)
        if irm in self.enabled_irms:
            raise MorphoRevert(errors.ALREADY_SET)
        self.enabled_irms.add(irm)
        self._emit("EnableIrm", irm=irm)

    def enable_lltv(self, sender: str, lltv: int) -> None:
        if sender != self.owner:
            raise MorphoRevert(errors.NOT_OWNER)
        if lltv in self.enabled_lltvs:
            raise MorphoRevert(errors.ALREADY_SET)
        if lltv >= WAD:
            raise MorphoRevert(errors.MAX_LLTV_EXCEEDED)
        self.enabled_lltvs.add(lltv)
        self._emit("EnableLltv", lltv=lltv)

    @_reverts_atomically
    def set_fee(self, sender: str, params: MarketParams, new_fee: int) -> None:
        if sender != self.owner:
            raise MorphoRevert(errors.NOT_OWNER)
        market = self._market(params)
        if new_fee == market.fee:
            raise MorphoRevert(errors.ALREADY_SET)
        if new_fee > MAX_FEE:
            raise MorphoRevert(errors.MAX_FEE_EXCEEDED)
        self._accrue(params, market)  # interest so far is charged at the old fee
        market.fee = new_fee
        self._emit("SetFee", market_id=params.id, new_fee=new_fee)

    def set_fee_recipient(self, sender: str, new_fee_recipient: str) -> None:
        if sender != self.owner:
            raise MorphoRevert(errors.NOT_OWNER)
        if new_fee_recipient == self.fee_recipient:
            raise MorphoRevert(errors.ALREADY_SET)
        self.fee_recipient = new_fee_recipient
        self._emit("SetFeeRecipient", new_fee_recipient=new_fee_recipient)

    # -- markets -------------------------------------------------------------------------------

    def create_market(self, sender: str, params: MarketParams) -> str:
        if params.irm not in self.enabled_irms:
            raise MorphoRevert(errors.IRM_NOT_ENABLED)
        if params.lltv not in self.enabled_lltvs:
            raise MorphoRevert(errors.LLTV_NOT_ENABLED)
        market_id = params.id
        if market_id in self.markets:
            raise MorphoRevert(errors.MARKET_ALREADY_CREATED)
        self.markets[market_id] = Market(last_update=self.timestamp)
        self.params[market_id] = params
        self._emit(
            "CreateMarket",
            market_id=market_id,
            loan_token=params.loan_token,
            collateral_token=params.collateral_token,
            oracle=params.oracle,
            irm=params.irm,
            lltv=params.lltv,
        )
        if params.irm != ZERO_ADDRESS:  # AdaptiveCurve initialises its rate at target
            self._borrow_rate(params, self.markets[market_id])
        return market_id

    @_reverts_atomically
    def accrue_interest(self, params: MarketParams) -> None:
        self._accrue(params, self._market(params))

    # -- lending -------------------------------------------------------------------------------

    @_reverts_atomically
    def supply(
        self, sender: str, params: MarketParams, assets: int, shares: int, on_behalf: str
    ) -> tuple[int, int]:
        market = self._inflow_checks(params, assets, shares, on_behalf)
        if assets > 0:
            shares = to_shares_down(assets, market.total_supply_assets, market.total_supply_shares)
        else:
            assets = to_assets_up(shares, market.total_supply_assets, market.total_supply_shares)
        total_supply_shares = self._add_uint128(market.total_supply_shares, shares)
        total_supply_assets = self._add_uint128(market.total_supply_assets, assets)
        market.total_supply_shares = total_supply_shares
        market.total_supply_assets = total_supply_assets
        self.position(params.id, on_behalf).supply_shares += shares
        self._emit(
            "Supply",
            market_id=params.id,
            caller=sender,
            on_behalf=on_behalf,
            assets=assets,
            shares=shares,
        )
        return assets, shares

    @_reverts_atomically
    def withdraw(
        self,
        sender: str,
        params: MarketParams,
        assets: int,
        shares: int,
        on_behalf: str,
        receiver: str,
    ) -> tuple[int, int]:
        market = self._outflow_checks(sender, params, assets, shares, on_behalf, receiver)
        if assets > 0:
            shares = to_shares_up(assets, market.total_supply_assets, market.total_supply_shares)
        else:
            assets = to_assets_down(shares, market.total_supply_assets, market.total_supply_shares)
        position = self.position(params.id, on_behalf)
        if shares > position.supply_shares:
            raise MorphoRevert(errors.UNDERFLOW)
        self._to_uint128(assets)
        if assets > market.total_supply_assets:
            raise MorphoRevert(errors.UNDERFLOW)
        if market.total_borrow_assets > market.total_supply_assets - assets:
            raise MorphoRevert(errors.INSUFFICIENT_LIQUIDITY)
        position.supply_shares -= shares
        market.total_supply_shares -= shares
        market.total_supply_assets -= assets
        self._emit(
            "Withdraw",
            market_id=params.id,
            caller=sender,
            on_behalf=on_behalf,
            receiver=receiver,
            assets=assets,
            shares=shares,
        )
        return assets, shares

    @_reverts_atomically
    def borrow(
        self,
        sender: str,
        params: MarketParams,
        assets: int,
        shares: int,
        on_behalf: str,
        receiver: str,
    ) -> tuple[int, int]:
        market = self._outflow_checks(sender, params, assets, shares, on_behalf, receiver)
        if assets > 0:
            shares = to_shares_up(assets, market.total_borrow_assets, market.total_borrow_shares)
        else:
            assets = to_assets_down(shares, market.total_borrow_assets, market.total_borrow_shares)
        position = self.position(params.id, on_behalf)
        after_position = position.copy()
        after_market = market.copy()
        after_position.borrow_shares = self._add_uint128(position.borrow_shares, shares)
        after_market.total_borrow_shares = self._add_uint128(market.total_borrow_shares, shares)
        after_market.total_borrow_assets = self._add_uint128(market.total_borrow_assets, assets)
        price = self.oracle_price(params.oracle)
        if not is_healthy(after_position, after_market, price, params.lltv):
            raise MorphoRevert(errors.INSUFFICIENT_COLLATERAL)
        if after_market.total_borrow_assets > after_market.total_supply_assets:
            raise MorphoRevert(errors.INSUFFICIENT_LIQUIDITY)
        position.borrow_shares = after_position.borrow_shares
        market.total_borrow_shares = after_market.total_borrow_shares
        market.total_borrow_assets = after_market.total_borrow_assets
        self._emit(
            "Borrow",
            market_id=params.id,
            caller=sender,
            on_behalf=on_behalf,
            receiver=receiver,
            assets=assets,
            shares=shares,
        )
        return assets, shares

    @_reverts_atomically
    def repay(
        self, sender: str, params: MarketParams, assets: int, shares: int, on_behalf: str
    ) -> tuple[int, int]:
        market = self._inflow_checks(params, assets, shares, on_behalf)
        if assets > 0:
            shares = to_shares_down(assets, market.total_borrow_assets, market.total_borrow_shares)
        else:
            assets = to_assets_up(shares, market.total_borrow_assets, market.total_borrow_shares)
        position = self.position(params.id, on_behalf)
        self._to_uint128(shares)  # borrowShares -= shares.toUint128(): the cast comes first
        if shares > position.borrow_shares:
            raise MorphoRevert(errors.UNDERFLOW)
        position.borrow_shares -= shares
        market.total_borrow_shares -= shares
        market.total_borrow_assets = zero_floor_sub(market.total_borrow_assets, assets)
        self._emit(
            "Repay",
            market_id=params.id,
            caller=sender,
            on_behalf=on_behalf,
            assets=assets,
            shares=shares,
        )
        return assets, shares

    # -- collateral ----------------------------------------------------------------------------

    def supply_collateral(
        self, sender: str, params: MarketParams, assets: int, on_behalf: str
    ) -> None:
        self._market(params)
        if assets == 0:
            raise MorphoRevert(errors.ZERO_ASSETS)
        if on_behalf == ZERO_ADDRESS:
            raise MorphoRevert(errors.ZERO_ADDRESS)
        position = self.position(params.id, on_behalf)
        # collateral += assets.toUint128(); no accrual: collateral earns nothing
        position.collateral = self._add_uint128(position.collateral, assets)
        self._emit(
            "SupplyCollateral",
            market_id=params.id,
            caller=sender,
            on_behalf=on_behalf,
            assets=assets,
        )

    @_reverts_atomically
    def withdraw_collateral(
        self, sender: str, params: MarketParams, assets: int, on_behalf: str, receiver: str
    ) -> None:
        market = self._market(params)
        if assets == 0:
            raise MorphoRevert(errors.ZERO_ASSETS)
        if receiver == ZERO_ADDRESS:
            raise MorphoRevert(errors.ZERO_ADDRESS)
        if not self._is_sender_authorized(sender, on_behalf):
            raise MorphoRevert(errors.UNAUTHORIZED)
        self._accrue(params, market)
        position = self.position(params.id, on_behalf)
        self._to_uint128(assets)  # collateral -= assets.toUint128(): the cast comes first
        if assets > position.collateral:
            raise MorphoRevert(errors.UNDERFLOW)
        after = position.copy()
        after.collateral -= assets
        if not is_healthy(after, market, self.oracle_price(params.oracle), params.lltv):
            raise MorphoRevert(errors.INSUFFICIENT_COLLATERAL)
        position.collateral = after.collateral
        self._emit(
            "WithdrawCollateral",
            market_id=params.id,
            caller=sender,
            on_behalf=on_behalf,
            receiver=receiver,
            assets=assets,
        )

    # -- liquidation ---------------------------------------------------------------------------

    @_reverts_atomically
    def liquidate(
        self,
        sender: str,
        params: MarketParams,
        borrower: str,
        seized_assets: int,
        repaid_shares: int,
    ) -> tuple[int, int]:
        market = self._market(params)
        self._exactly_one_zero(seized_assets, repaid_shares)
        self._accrue(params, market)
        price = self.oracle_price(params.oracle)
        result = liquidate(
            market,
            self.position(params.id, borrower),
            params.lltv,
            price,
            seized_assets,
            repaid_shares,
        )
        self._emit(
            "Liquidate",
            market_id=params.id,
            caller=sender,
            borrower=borrower,
            repaid_assets=result.repaid_assets,
            repaid_shares=result.repaid_shares,
            seized_assets=result.seized_assets,
            bad_debt_assets=result.bad_debt_assets,
            bad_debt_shares=result.bad_debt_shares,
        )
        return result.seized_assets, result.repaid_assets

    # -- authorization and flash loans ---------------------------------------------------------

    def set_authorization(self, sender: str, authorized: str, new_is_authorized: bool) -> None:
        if self.authorizations.get((sender, authorized), False) == new_is_authorized:
            raise MorphoRevert(errors.ALREADY_SET)
        self.authorizations[(sender, authorized)] = new_is_authorized
        self._emit(
            "SetAuthorization",
            caller=sender,
            authorizer=sender,
            authorized=authorized,
            new_is_authorized=new_is_authorized,
        )

    def flash_loan(self, sender: str, token: str, assets: int) -> None:
        if assets == 0:
            raise MorphoRevert(errors.ZERO_ASSETS)
        self._emit("FlashLoan", caller=sender, token=token, assets=assets)
