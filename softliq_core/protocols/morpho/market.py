"""Market parameters, market id, and the mutable state of a market and of a position (spec §1.2–1.3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from softliq_core.compiled import by_fields


@dataclass(frozen=True, slots=True)
class MarketParams:
    loan_token: str
    collateral_token: str
    oracle: str
    irm: str
    lltv: int
    id: str = field(init=False, compare=False)

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)

    def __post_init__(self) -> None:
        # id = keccak256(abi.encode(loanToken, collateralToken, oracle, irm, lltv)), as 0x-hex.
        encoded = encode(
            ["address", "address", "address", "address", "uint256"],
            [self.loan_token, self.collateral_token, self.oracle, self.irm, self.lltv],
        )
        object.__setattr__(self, "id", "0x" + keccak(encoded).hex())


@dataclass(slots=True)
class Market:
    """Totals as stored by Morpho: they exclude interest accrued since ``last_update``."""

    total_supply_assets: int = 0
    total_supply_shares: int = 0
    total_borrow_assets: int = 0
    total_borrow_shares: int = 0
    last_update: int = 0
    fee: int = 0

    # Written out (the dataclass's own would be the same): compiled (softliq_core/compiled.py), a
    # generated __init__ stays Python and made up a few per cent of a scenario's replay.
    def __init__(
        self,
        total_supply_assets: int = 0,
        total_supply_shares: int = 0,
        total_borrow_assets: int = 0,
        total_borrow_shares: int = 0,
        last_update: int = 0,
        fee: int = 0,
    ) -> None:
        self.total_supply_assets = total_supply_assets
        self.total_supply_shares = total_supply_shares
        self.total_borrow_assets = total_borrow_assets
        self.total_borrow_shares = total_borrow_shares
        self.last_update = last_update
        self.fee = fee

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)

    def copy(self) -> Market:
        return Market(
            self.total_supply_assets,
            self.total_supply_shares,
            self.total_borrow_assets,
            self.total_borrow_shares,
            self.last_update,
            self.fee,
        )


@dataclass(slots=True)
class Position:
    supply_shares: int = 0
    borrow_shares: int = 0
    collateral: int = 0

    def __init__(self, supply_shares: int = 0, borrow_shares: int = 0, collateral: int = 0) -> None:
        self.supply_shares = supply_shares  # written out, as Market's
        self.borrow_shares = borrow_shares
        self.collateral = collateral

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)

    def copy(self) -> Position:
        return Position(self.supply_shares, self.borrow_shares, self.collateral)
