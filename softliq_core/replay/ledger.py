"""The event-sourced Morpho ledger: the fold of decoded events into market and position state.

History is applied from the events' own fields, never recomputed (spec §1.6 replay rule); the only
state change without its own event, fee shares minted to the fee recipient, comes from
``AccrueInterest.fee_shares`` and the recipient set by the last ``SetFeeRecipient``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from softliq_core.compiled import by_fields
from softliq_core.protocols.morpho.accrual import expected_market
from softliq_core.protocols.morpho.irm import adaptive_curve_borrow_rate
from softliq_core.protocols.morpho.market import Market, MarketParams, Position
from softliq_core.protocols.morpho.math import zero_floor_sub
from softliq_core.protocols.morpho.pre_liquidation import PreLiquidationParams

ZERO_ADDRESS: Final = "0x" + "00" * 20

# Events that run Morpho's accrual, so the market's last_update moves to the block's timestamp.
ACCRUING_EVENTS: Final = frozenset(
    {
        "AccrueInterest",
        "Supply",
        "Withdraw",
        "Borrow",
        "Repay",
        "WithdrawCollateral",
        "Liquidate",
        "SetFee",
    }
)
# Events that change a borrower's position (the counterfactual treats them as intents).
POSITION_EVENTS: Final = frozenset(
    {"Borrow", "Repay", "SupplyCollateral", "WithdrawCollateral", "Liquidate"}
)


@dataclass(frozen=True, slots=True)
class PreLiquidationContract:
    """A PreLiquidation contract deployed by the factory (``CreatePreLiquidation``)."""

    address: str
    market_id: str
    params: PreLiquidationParams
    oracle: str

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)


class ReplayError(ValueError):
    """History that cannot have happened on chain (e.g. a balance would go negative)."""


def _int(event: Mapping[str, Any], column: str) -> int:
    return int(event[column])


@dataclass
class Ledger:
    markets: dict[str, Market] = field(default_factory=dict)
    params: dict[str, MarketParams] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    rate_at_target: dict[str, int] = field(default_factory=dict)
    authorizations: dict[tuple[str, str], bool] = field(default_factory=dict)
    pre_liquidations: dict[str, PreLiquidationContract] = field(default_factory=dict)
    enabled_irms: set[str] = field(default_factory=set)
    enabled_lltvs: set[int] = field(default_factory=set)
    owner: str | None = None  # known once a SetOwner is seen (the constructor's emits one)
    fee_recipient: str = ZERO_ADDRESS

    def position(self, market_id: str, user: str) -> Position:
        key = (market_id, user)
        if key not in self.positions:
            self.positions[key] = Position()
        return self.positions[key]

    def accrued_market(self, market_id: str, now: int) -> Market:
        """The market's totals as a call at ``now`` sees them after Morpho accrues interest.

        The rate is the AdaptiveCurveIRM's from the last ``BorrowRateUpdate`` (history's own
        rate at target), so this equals what the next ``AccrueInterest`` will report.
        """
        market = self.markets[market_id]
        if self.params[market_id].irm == ZERO_ADDRESS or now <= market.last_update:
            return market.copy()
        rate = adaptive_curve_borrow_rate(market, self.rate_at_target.get(market_id, 0), now)
        return expected_market(market, rate.avg_borrow_rate, now)

    def apply(self, event: Mapping[str, Any]) -> None:
        """Apply one decoded ``morpho_events`` row (a mapping of its columns)."""
        handler = _HANDLERS.get(event["event"])
        if handler is not None:
            handler(self, event)
        if event["event"] in ACCRUING_EVENTS:
            self.markets[event["market_id"]].last_update = int(event["timestamp"])


def _where(event: Mapping[str, Any]) -> str:
    return f"{event['event']} at block {event['block_number']} log {event['log_index']}"


def _subtract(event: Mapping[str, Any], what: str, have: int, amount: int) -> int:
    if amount > have:
        raise ReplayError(f"{_where(event)}: {what} {have} - {amount} would be negative")
    return have - amount


def _create_market(ledger: Ledger, e: Mapping[str, Any]) -> None:
    params = MarketParams(
        e["loan_token"], e["collateral_token"], e["oracle"], e["irm"], _int(e, "lltv")
    )
    if params.id != e["market_id"]:
        raise ReplayError(
            f"{_where(e)}: id {e['market_id']} is not keccak of its params ({params.id})"
        )
    ledger.markets[e["market_id"]] = Market(last_update=int(e["timestamp"]))
    ledger.params[e["market_id"]] = params


def _accrue_interest(ledger: Ledger, e: Mapping[str, Any]) -> None:
    market = ledger.markets[e["market_id"]]
    interest, fee_shares = _int(e, "interest"), _int(e, "fee_shares")
    market.total_borrow_assets += interest
    market.total_supply_assets += interest
    market.total_supply_shares += fee_shares
    if fee_shares:
        ledger.position(e["market_id"], ledger.fee_recipient).supply_shares += fee_shares


def _supply(ledger: Ledger, e: Mapping[str, Any]) -> None:
    market = ledger.markets[e["market_id"]]
    assets, shares = _int(e, "assets"), _int(e, "shares")
    ledger.position(e["market_id"], e["on_behalf"]).supply_shares += shares
    market.total_supply_shares += shares
    market.total_supply_assets += assets


def _withdraw(ledger: Ledger, e: Mapping[str, Any]) -> None:
    market = ledger.markets[e["market_id"]]
    assets, shares = _int(e, "assets"), _int(e, "shares")
    position = ledger.position(e["market_id"], e["on_behalf"])
    position.supply_shares = _subtract(e, "supply_shares", position.supply_shares, shares)
    market.total_supply_shares = _subtract(
        e, "total_supply_shares", market.total_supply_shares, shares
    )
    market.total_supply_assets = _subtract(
        e, "total_supply_assets", market.total_supply_assets, assets
    )


def _borrow(ledger: Ledger, e: Mapping[str, Any]) -> None:
    market = ledger.markets[e["market_id"]]
    assets, shares = _int(e, "assets"), _int(e, "shares")
    ledger.position(e["market_id"], e["on_behalf"]).borrow_shares += shares
    market.total_borrow_shares += shares
    market.total_borrow_assets += assets


def _repay(ledger: Ledger, e: Mapping[str, Any]) -> None:
    market = ledger.markets[e["market_id"]]
    assets, shares = _int(e, "assets"), _int(e, "shares")
    position = ledger.position(e["market_id"], e["on_behalf"])
    position.borrow_shares = _subtract(e, "borrow_shares", position.borrow_shares, shares)
    market.total_borrow_shares = _subtract(
        e, "total_borrow_shares", market.total_borrow_shares, shares
    )
    # Rounding up can make the repaid assets exceed the total by one: the contract floors at zero.
    market.total_borrow_assets = zero_floor_sub(market.total_borrow_assets, assets)


def _supply_collateral(ledger: Ledger, e: Mapping[str, Any]) -> None:
    ledger.position(e["market_id"], e["on_behalf"]).collateral += _int(e, "assets")


def _withdraw_collateral(ledger: Ledger, e: Mapping[str, Any]) -> None:
    position = ledger.position(e["market_id"], e["on_behalf"])
    position.collateral = _subtract(e, "collateral", position.collateral, _int(e, "assets"))


def _liquidate(ledger: Ledger, e: Mapping[str, Any]) -> None:
    market = ledger.markets[e["market_id"]]
    position = ledger.position(e["market_id"], e["borrower"])
    repaid_shares, seized = _int(e, "repaid_shares"), _int(e, "seized_assets")
    bad_debt_assets, bad_debt_shares = _int(e, "bad_debt_assets"), _int(e, "bad_debt_shares")
    position.borrow_shares = _subtract(e, "borrow_shares", position.borrow_shares, repaid_shares)
    market.total_borrow_shares = _subtract(
        e, "total_borrow_shares", market.total_borrow_shares, repaid_shares
    )
    market.total_borrow_assets = zero_floor_sub(
        market.total_borrow_assets, _int(e, "repaid_assets")
    )
    position.collateral = _subtract(e, "collateral", position.collateral, seized)
    if bad_debt_shares or bad_debt_assets:
        position.borrow_shares = _subtract(
            e, "borrow_shares", position.borrow_shares, bad_debt_shares
        )
        market.total_borrow_shares = _subtract(
            e, "total_borrow_shares", market.total_borrow_shares, bad_debt_shares
        )
        market.total_borrow_assets = _subtract(
            e, "total_borrow_assets", market.total_borrow_assets, bad_debt_assets
        )
        market.total_supply_assets = _subtract(
            e, "total_supply_assets", market.total_supply_assets, bad_debt_assets
        )


def _set_fee(ledger: Ledger, e: Mapping[str, Any]) -> None:
    ledger.markets[e["market_id"]].fee = _int(e, "new_fee")


def _set_fee_recipient(ledger: Ledger, e: Mapping[str, Any]) -> None:
    ledger.fee_recipient = e["new_fee_recipient"]


def _borrow_rate_update(ledger: Ledger, e: Mapping[str, Any]) -> None:
    ledger.rate_at_target[e["market_id"]] = _int(e, "rate_at_target")


def _set_authorization(ledger: Ledger, e: Mapping[str, Any]) -> None:
    ledger.authorizations[(e["authorizer"], e["authorized"])] = bool(e["new_is_authorized"])


def _create_pre_liquidation(ledger: Ledger, e: Mapping[str, Any]) -> None:
    params = PreLiquidationParams(
        *(_int(e, f) for f in ("pre_lltv", "pre_lcf1", "pre_lcf2", "pre_lif1", "pre_lif2"))
    )
    ledger.pre_liquidations[e["pre_liquidation"]] = PreLiquidationContract(
        e["pre_liquidation"], e["market_id"], params, e["pre_liquidation_oracle"]
    )


def _pre_liquidate(ledger: Ledger, e: Mapping[str, Any]) -> None:
    # State moved with the Repay and WithdrawCollateral the contract made just before; the event
    # only labels them. It must come from a contract the factory deployed, for this market.
    contract = ledger.pre_liquidations.get(e["contract"])
    if contract is None or contract.market_id != e["market_id"]:
        raise ReplayError(
            f"{_where(e)}: {e['contract']} is not a PreLiquidation contract of this market"
        )


def _enable_irm(ledger: Ledger, e: Mapping[str, Any]) -> None:
    ledger.enabled_irms.add(e["irm"])


def _enable_lltv(ledger: Ledger, e: Mapping[str, Any]) -> None:
    ledger.enabled_lltvs.add(_int(e, "lltv"))


def _set_owner(ledger: Ledger, e: Mapping[str, Any]) -> None:
    ledger.owner = e["new_owner"]


_HANDLERS: dict[str, Callable[[Ledger, Mapping[str, Any]], None]] = {
    "CreateMarket": _create_market,
    "AccrueInterest": _accrue_interest,
    "Supply": _supply,
    "Withdraw": _withdraw,
    "Borrow": _borrow,
    "Repay": _repay,
    "SupplyCollateral": _supply_collateral,
    "WithdrawCollateral": _withdraw_collateral,
    "Liquidate": _liquidate,
    "SetFee": _set_fee,
    "SetFeeRecipient": _set_fee_recipient,
    "BorrowRateUpdate": _borrow_rate_update,
    "SetAuthorization": _set_authorization,
    "EnableIrm": _enable_irm,
    "EnableLltv": _enable_lltv,
    "SetOwner": _set_owner,
    "CreatePreLiquidation": _create_pre_liquidation,
    "PreLiquidate": _pre_liquidate,
}


def position_owner(event: Mapping[str, Any]) -> str | None:
    """The borrower whose position an event changes (onBehalf, or borrower for liquidations)."""
    return event.get("borrower") or event.get("on_behalf")
