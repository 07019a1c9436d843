"""Scaled balances of aTokens and variable debt tokens: conversions per version and the tokens'
Mint / Burn / BalanceTransfer events (ScaledBalanceTokenBase, spec §3.3).

Up to v3.4 every conversion is half-up (rayDiv to scale, rayMul to unscale); from v3.5 each
operation rounds in the protocol's favour (TokenMath).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from softliq_core.protocols.aave.errors import PANIC_UNDERFLOW, SAFECAST_OVERFLOW, AaveRevert
from softliq_core.protocols.aave.math import (
    UINT128_MAX,
    ray_div,
    ray_div_ceil,
    ray_div_floor,
    ray_mul,
    ray_mul_ceil,
    ray_mul_floor,
)
from softliq_core.protocols.aave.version import PoolVersion


def a_mint_scaled(amount: int, index: int, version: PoolVersion) -> int:
    return ray_div_floor(amount, index) if version.directional_rounding else ray_div(amount, index)


def a_burn_scaled(amount: int, index: int, version: PoolVersion) -> int:
    """Withdraw, repay with aTokens, liquidation burn; transfers (liquidation fee) round the same."""
    return ray_div_ceil(amount, index) if version.directional_rounding else ray_div(amount, index)


def a_balance(scaled: int, index: int, version: PoolVersion) -> int:
    return ray_mul_floor(scaled, index) if version.directional_rounding else ray_mul(scaled, index)


def v_mint_scaled(amount: int, index: int, version: PoolVersion) -> int:
    return ray_div_ceil(amount, index) if version.directional_rounding else ray_div(amount, index)


def v_burn_scaled(amount: int, index: int, version: PoolVersion) -> int:
    return ray_div_floor(amount, index) if version.directional_rounding else ray_div(amount, index)


def v_balance(scaled: int, index: int, version: PoolVersion) -> int:
    return ray_mul_ceil(scaled, index) if version.directional_rounding else ray_mul(scaled, index)


Event = dict[str, Any]


@dataclass
class ScaledToken:
    """An aToken or variable debt token: scaled balances and each holder's last index."""

    address: str
    is_debt: bool
    version: PoolVersion
    balances: dict[str, int] = field(default_factory=dict)
    previous_index: dict[str, int] = field(default_factory=dict)
    total: int = 0
    events: list[Event] = field(default_factory=list)
    # Inside a Pool transaction: each written holder's (scaled balance, index) before its first
    # write, so a revert undoes only what the call touched (None outside a transaction).
    undo: dict[str, tuple[int | None, int | None]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def kind(self) -> str:
        return "aave_scaled_token"  # the ABI kind; aTokens and debt tokens share it

    def scaled_balance(self, user: str) -> int:
        return self.balances.get(user, 0)

    def balance(self, user: str, index: int) -> int:
        return self._upscaled(self.scaled_balance(user), index)

    def _upscaled(self, scaled: int, index: int) -> int:
        if self.is_debt:
            return v_balance(scaled, index, self.version)
        return a_balance(scaled, index, self.version)

    def _emit(self, event: str, **fields: Any) -> None:
        self.events.append({"event": event, "contract": self.address, "kind": self.kind, **fields})

    def _balance_increase(self, user: str, index: int) -> int:
        scaled = self.scaled_balance(user)
        return self._upscaled(scaled, index) - self._upscaled(
            scaled, self.previous_index.get(user, 0)
        )

    def _check_uint128(self, index: int, scaled_amount: int, *balances: int) -> None:
        """The contract's order: index.toUint128() and amountScaled.toUint128() (SafeCast), then
        the uint128 balance arithmetic, checked (Panic 0x11 on under- or overflow)."""
        if index > UINT128_MAX or scaled_amount > UINT128_MAX:
            raise AaveRevert(SAFECAST_OVERFLOW, self.version)
        if any(not 0 <= b <= UINT128_MAX for b in balances):
            raise AaveRevert(PANIC_UNDERFLOW, self.version)

    def rollback(self) -> None:
        """Put back every holder the transaction wrote (the total is restored by the caller)."""
        assert self.undo is not None
        for user, (scaled, index) in self.undo.items():
            for values, value in ((self.balances, scaled), (self.previous_index, index)):
                if value is None:
                    values.pop(user, None)
                else:
                    values[user] = value

    def _set(self, user: str, scaled: int, index: int) -> None:
        if self.undo is not None and user not in self.undo:
            self.undo[user] = (self.balances.get(user), self.previous_index.get(user))
        self.previous_index[user] = index
        self.total += scaled - self.scaled_balance(user)
        self.balances[user] = scaled

    def mint(
        self, caller: str, on_behalf_of: str, amount: int, scaled_amount: int, index: int
    ) -> bool:
        """_mintScaled with the scaled amount the caller computed; True on a first balance."""
        if scaled_amount == 0:
            raise AaveRevert("INVALID_MINT_AMOUNT", self.version)
        before = self.scaled_balance(on_behalf_of)
        old_index = self.previous_index.get(on_behalf_of, 0)
        balance_increase = self._balance_increase(on_behalf_of, index)
        self._check_uint128(index, scaled_amount, before + scaled_amount)
        self._set(on_behalf_of, before + scaled_amount, index)
        if self.version.directional_rounding:
            value = self._upscaled(before + scaled_amount, index) - self._upscaled(
                before, old_index
            )
        else:
            value = amount + balance_increase
        self._emit("Transfer", **{"from": ZERO, "to": on_behalf_of, "value": value})
        self._emit(
            "Mint",
            caller=caller,
            on_behalf_of=on_behalf_of,
            value=value,
            balance_increase=balance_increase,
            index=index,
        )
        return before == 0

    def burn(self, user: str, target: str, amount: int, scaled_amount: int, index: int) -> None:
        """_burnScaled: a Mint when accrued interest exceeds the amount burned, else a Burn."""
        if scaled_amount == 0:
            raise AaveRevert("INVALID_BURN_AMOUNT", self.version)
        before = self.scaled_balance(user)
        old_index = self.previous_index.get(user, 0)
        balance_increase = self._balance_increase(user, index)
        self._check_uint128(index, scaled_amount, before - scaled_amount)
        self._set(user, before - scaled_amount, index)
        if self.version.directional_rounding:
            net = self._upscaled(before - scaled_amount, index) - self._upscaled(before, old_index)
        else:
            net = balance_increase - amount
        if net > 0:
            self._emit("Transfer", **{"from": ZERO, "to": user, "value": net})
            self._emit(
                "Mint",
                caller=user,
                on_behalf_of=user,
                value=net,
                balance_increase=balance_increase,
                index=index,
            )
        else:
            self._emit("Transfer", **{"from": user, "to": ZERO, "value": -net})
            self._emit(
                "Burn",
                **{"from": user},
                target=target,
                value=-net,
                balance_increase=balance_increase,
                index=index,
            )

    def transfer(
        self,
        caller: str,
        sender: str,
        recipient: str,
        amount: int,
        scaled_amount: int,
        index: int,
        finalize: Callable[[], None] | None = None,
    ) -> None:
        """aToken _transfer at ``index``: interest notices, the move (Transfer), then ``finalize``
        (AToken.transfer's Pool.finalizeTransfer: its checks and collateral events come before the
        token's last event), then BalanceTransfer (scaled)."""
        sender_before = self.scaled_balance(sender)
        sender_increase = self._balance_increase(sender, index)
        recipient_increase = self._balance_increase(recipient, index)
        recipient_after = self.scaled_balance(recipient) + (
            scaled_amount if sender != recipient else 0
        )
        self._check_uint128(index, scaled_amount, sender_before - scaled_amount, recipient_after)
        self._set(sender, sender_before - scaled_amount, index)
        self._set(recipient, self.scaled_balance(recipient) + scaled_amount, index)
        notices = [(sender, sender_increase)]
        if sender != recipient:
            notices.append((recipient, recipient_increase))
        for user, increase in notices:
            if increase > 0:
                self._emit("Transfer", **{"from": ZERO, "to": user, "value": increase})
                self._emit(
                    "Mint",
                    caller=caller,
                    on_behalf_of=user,
                    value=increase,
                    balance_increase=increase,
                    index=index,
                )
        self._emit("Transfer", **{"from": sender, "to": recipient, "value": amount})
        if finalize is not None:
            finalize()
        self._emit(
            "BalanceTransfer",
            **{"from": sender, "to": recipient, "value": scaled_amount, "index": index},
        )


ZERO = "0x" + "00" * 20
