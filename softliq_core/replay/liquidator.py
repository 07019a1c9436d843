"""The liquidator model (DESIGN §4.1): when a liquidator acts, and what it earns.

A liquidator acts ``latency_blocks`` after the oracle round (or the borrower's own action) that made
a (pre-)liquidation possible, at the top of that block, and only when the action is profitable:

    profit = seized collateral valued at the oracle price
             - slippage selling it                     (the collateral's SlippageCurve)
             - repaid assets
             - gas used x (block base fee + priority fee), converted to the loan asset
    acts when profit > min_profit

Gas is paid in ETH; it is converted to loan-asset units with the oracle price of a market whose
collateral is WETH and whose loan token is this market's (or 1:1 when the loan token is WETH).

Pre-liquidation can be called several times in one block: after a slice the position may still be
pre-liquidatable, so a liquidator repeats the largest allowed call while each call pays (the preLCF
manipulation note, spec §4.5). ``pre_liquidation_calls = "greedy"`` models that sequence;
``"single"`` allows one call per block and position. Greedy maximal slices are optimal when preLIF is
constant (each call's profit is linear in what it repays, so fewer, larger calls save gas); with a
preLIF rising in LTV a liquidator could gain slightly more from smaller early slices: not modelled.

Defaults are round numbers, not measurements: gas from Morpho liquidations with a swap (about 300k)
and pre-liquidations through their contract and callback (about 350k), a 1 gwei priority fee, and
price impact linear in size with the depth at which selling moves the price by 1 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final

from softliq_core.compiled import by_fields
from softliq_core.protocols.morpho.math import ORACLE_PRICE_SCALE, WAD, mul_div_down, mul_div_up

GWEI: Final = 10**9
PRE_LIQUIDATION_CALLS: Final = ("greedy", "single")
MAX_IMPACT: Final = (
    WAD // 2
)  # a sale never loses more than half its value: the curve is linear only so far


@dataclass(frozen=True, slots=True)
class SlippageCurve:
    """Price impact of selling ``q`` collateral tokens: ``fee + 1 % x q / depth_1pct`` (WAD).

    ``depth_1pct`` is in whole tokens (e.g. 5000 WETH move the price by 1 %); 0 means no impact
    beyond the fee.
    """

    fee: int = 5 * 10**14  # 0.05 %: a typical DEX pool fee
    depth_1pct: Decimal = Decimal(0)

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)

    def impact(self, seized_assets: int, decimals: int) -> int:
        if self.depth_1pct == 0:
            return min(self.fee, MAX_IMPACT)
        depth_units = _base_units(self.depth_1pct, decimals)
        return min(self.fee + mul_div_up(seized_assets, WAD // 100, depth_units), MAX_IMPACT)

    def canonical(self) -> dict[str, str]:
        return {"fee": str(self.fee), "depth_1pct": str(self.depth_1pct)}


@lru_cache(maxsize=64)
def _base_units(tokens: Decimal, decimals: int) -> int:
    """Whole tokens in base units; cached: every liquidator proposal of a sweep asks (Decimal
    arithmetic is the slow part of pricing a proposal)."""
    return int(tokens * 10**decimals)


DEFAULT_SLIPPAGE: dict[str, SlippageCurve] = {
    "WETH": SlippageCurve(depth_1pct=Decimal(8_000)),
    "wstETH": SlippageCurve(depth_1pct=Decimal(2_500)),
    "WBTC": SlippageCurve(depth_1pct=Decimal(300)),
    "*": SlippageCurve(fee=3 * 10**15, depth_1pct=Decimal(0)),  # unknown collateral: 0.3 % flat
}


@dataclass(slots=True)
class ActionEconomics:
    """What one liquidator call earns, every amount in loan-asset base units."""

    seized_value: Final[int]
    slippage_cost: Final[int]
    gas_used: Final[int]
    gas_cost: Final[int]
    profit: Final[int]

    # (written out, its fields Final: see Quote in replay/declines.py)
    def __init__(
        self, seized_value: int, slippage_cost: int, gas_used: int, gas_cost: int, profit: int
    ) -> None:
        self.seized_value = seized_value
        self.slippage_cost = slippage_cost
        self.gas_used = gas_used
        self.gas_cost = gas_cost
        self.profit = profit

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)


@dataclass(frozen=True)
class LiquidatorModel:
    latency_blocks: int = 1
    gas_liquidation: int = 300_000
    gas_pre_liquidation: int = 350_000
    priority_fee: int = 1 * GWEI  # wei per gas
    min_profit: int = 0  # wei of ETH, converted to the loan asset like gas
    pre_liquidation_calls: str = "greedy"
    max_calls_per_block: int = 20
    slippage: Mapping[str, SlippageCurve] = field(default_factory=lambda: dict(DEFAULT_SLIPPAGE))

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return by_fields(self)

    @property
    def charges_gas(self) -> bool:
        return self.gas_liquidation > 0 or self.gas_pre_liquidation > 0 or self.min_profit > 0

    def curve(self, collateral_symbol: str) -> SlippageCurve:
        return self.slippage.get(collateral_symbol) or self.slippage.get("*") or SlippageCurve()

    def economics(
        self,
        kind: str,
        seized_assets: int,
        repaid_assets: int,
        price: int,
        base_fee: int,
        native_price: int,
        collateral_symbol: str,
        collateral_decimals: int,
        keeper_incentive: int = 0,
    ) -> ActionEconomics:
        """``native_price``: loan base units per wei of ETH, 1e36-scaled like a Morpho oracle;
        ``repaid_assets``: what the liquidator pays; ``keeper_incentive``: what the protocol pays it."""
        seized_value = mul_div_down(seized_assets, price, ORACLE_PRICE_SCALE)
        impact = self.curve(collateral_symbol).impact(seized_assets, collateral_decimals)
        slippage_cost = mul_div_up(seized_value, impact, WAD)
        gas_used, gas_cost = self.gas(kind, base_fee, native_price)
        return ActionEconomics(
            seized_value,
            slippage_cost,
            gas_used,
            gas_cost,
            seized_value - slippage_cost - repaid_assets - gas_cost + keeper_incentive,
        )

    def gas(self, kind: str, base_fee: int, native_price: int) -> tuple[int, int]:
        """Gas one call of ``kind`` uses, and its cost in loan-asset base units."""
        gas_used = self.gas_pre_liquidation if kind == "pre_liquidation" else self.gas_liquidation
        return gas_used, self.to_loan(gas_used * (base_fee + self.priority_fee), native_price)

    @staticmethod
    def to_loan(wei: int, native_price: int) -> int:
        return mul_div_up(wei, native_price, ORACLE_PRICE_SCALE)

    def least_profit(self, native_price: int) -> int:
        """The profit a call must exceed, in loan-asset base units."""
        return self.to_loan(self.min_profit, native_price)

    def profitable(self, economics: ActionEconomics, native_price: int) -> bool:
        return economics.profit > self.least_profit(native_price)

    def canonical(self) -> dict[str, Any]:
        return {
            "latency_blocks": self.latency_blocks,
            "gas_liquidation": self.gas_liquidation,
            "gas_pre_liquidation": self.gas_pre_liquidation,
            "priority_fee": str(self.priority_fee),
            "min_profit": str(self.min_profit),
            "pre_liquidation_calls": self.pre_liquidation_calls,
            "max_calls_per_block": self.max_calls_per_block,
            "slippage": {k: v.canonical() for k, v in sorted(self.slippage.items())},
        }


LIQUIDATOR_FIELDS: Final = (
    "latency_blocks",
    "gas_liquidation",
    "gas_pre_liquidation",
    "priority_fee_gwei",
    "min_profit_eth",
    "pre_liquidation_calls",
    "max_calls_per_block",
    "slippage",
)


def _decimal(value: Any, name: str, problems: list[str]) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        problems.append(f"liquidator.{name}: {value!r} is not a decimal number")
        return None
    if not number.is_finite() or number < 0:
        problems.append(f"liquidator.{name}: {value!r} must be a number >= 0")
        return None
    return number


def _count(
    table: Mapping[str, Any], name: str, default: int, least: int, problems: list[str]
) -> int:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        problems.append(f"liquidator.{name}: {value!r} must be an integer >= {least}")
        return default
    return value


def parse_liquidator(table: Mapping[str, Any]) -> tuple[LiquidatorModel, list[str]]:
    """A scenario's ``liquidator`` table → the model and every problem found (named by field)."""
    problems = [f"liquidator.{key}: unknown field" for key in table if key not in LIQUIDATOR_FIELDS]
    base = LiquidatorModel()
    priority = _decimal(table.get("priority_fee_gwei", 1), "priority_fee_gwei", problems)
    min_profit = _decimal(table.get("min_profit_eth", 0), "min_profit_eth", problems)
    calls = table.get("pre_liquidation_calls", base.pre_liquidation_calls)
    if calls not in PRE_LIQUIDATION_CALLS:
        problems.append(
            f"liquidator.pre_liquidation_calls: {calls!r} is not one of {', '.join(PRE_LIQUIDATION_CALLS)}"
        )
    slippage = dict(DEFAULT_SLIPPAGE)
    given = table.get("slippage", {})
    if not isinstance(given, Mapping):
        problems.append(
            "liquidator.slippage: must be a table of collateral symbol = {fee, depth_1pct}"
        )
        given = {}
    for symbol, curve in given.items():
        where = f"slippage.{symbol}"
        if not isinstance(curve, Mapping) or set(curve) - {"fee", "depth_1pct"}:
            problems.append(f"liquidator.{where}: give a table with fee and/or depth_1pct")
            continue
        fee = _decimal(curve.get("fee", "0.0005"), f"{where}.fee", problems)
        depth = _decimal(curve.get("depth_1pct", 0), f"{where}.depth_1pct", problems)
        if fee is not None and fee >= 1:
            problems.append(f"liquidator.{where}.fee: {fee} must be below 1")
        elif fee is not None and depth is not None:
            slippage[symbol] = SlippageCurve(int(fee * WAD), depth)
    model = LiquidatorModel(
        latency_blocks=_count(table, "latency_blocks", base.latency_blocks, 1, problems),
        gas_liquidation=_count(table, "gas_liquidation", base.gas_liquidation, 0, problems),
        gas_pre_liquidation=_count(
            table, "gas_pre_liquidation", base.gas_pre_liquidation, 0, problems
        ),
        priority_fee=int((priority or 0) * GWEI),
        min_profit=int((min_profit or 0) * 10**18),
        pre_liquidation_calls=calls
        if calls in PRE_LIQUIDATION_CALLS
        else base.pre_liquidation_calls,
        max_calls_per_block=_count(
            table, "max_calls_per_block", base.max_calls_per_block, 1, problems
        ),
        slippage=slippage,
    )
    return model, problems
