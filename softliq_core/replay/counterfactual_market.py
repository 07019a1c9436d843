"""A market's totals under a scenario whose interest follows its own utilisation (``accrual = "irm"``).

By default (``accrual = "history"``, DESIGN §4 rule 1) the borrow share price is history's. With
``"irm"`` the scenario's market keeps its own totals:

* other users are exogenous *in shares*: each historical Supply/Withdraw/Borrow/Repay of a position
  the engine does not simulate moves the totals by its shares, converted to assets at the
  counterfactual share price with the operation's rounding (supply and repay round up, withdraw and
  borrow down, as Morpho rounds in its own favour);
* simulated borrowers move them by what their counterfactual positions actually took, and the
  engine's (pre-)liquidations by what they repaid and the bad debt they realised;
* interest accrues at every historical accrual (and at the engine's actions) with the
  AdaptiveCurveIRM on the counterfactual utilisation, fee shares included.

So a scenario that keeps more debt open pays, and earns suppliers, more interest, and its rate at
target adapts as the contract's would. The market's IRM is taken to be the AdaptiveCurveIRM.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from softliq_core.protocols.morpho.accrual import accrue_interest, expected_market
from softliq_core.protocols.morpho.irm import adaptive_curve_borrow_rate
from softliq_core.protocols.morpho.market import Market
from softliq_core.protocols.morpho.math import zero_floor_sub
from softliq_core.protocols.morpho.shares import to_assets_down, to_assets_up

ACCRUALS = ("history", "irm")


class CounterfactualMarket:
    def __init__(self) -> None:
        self.market = Market()
        self.rate_at_target = 0
        self.has_irm = False

    def accrued(self, now: int) -> Market:
        """The totals a call at ``now`` would see, without committing the accrual."""
        if not self.has_irm or now <= self.market.last_update:
            return self.market.copy()
        rate = adaptive_curve_borrow_rate(self.market, self.rate_at_target, now)
        return expected_market(self.market, rate.avg_borrow_rate, now)

    def accrue(self, now: int) -> None:
        if not self.has_irm or now <= self.market.last_update:
            self.market.last_update = max(self.market.last_update, now)
            return
        rate = adaptive_curve_borrow_rate(self.market, self.rate_at_target, now)
        accrue_interest(self.market, rate.avg_borrow_rate, now)
        self.rate_at_target = rate.end_rate_at_target

    def move_borrow_shares(self, shares: int) -> None:
        """A simulated position borrowed (``shares`` > 0) or repaid (< 0) at the current price."""
        m = self.market
        if shares > 0:
            m.total_borrow_assets += to_assets_down(
                shares, m.total_borrow_assets, m.total_borrow_shares
            )
            m.total_borrow_shares += shares
        elif shares < 0:
            assets = to_assets_up(-shares, m.total_borrow_assets, m.total_borrow_shares)
            m.total_borrow_assets = zero_floor_sub(m.total_borrow_assets, assets)
            m.total_borrow_shares += shares

    def apply_history(self, event: Mapping[str, Any]) -> None:
        """An event of history that the scenario does not change (see the module docstring)."""
        name = event["event"]
        m = self.market
        if name == "CreateMarket":
            self.market = Market(last_update=int(event["timestamp"]))
            self.has_irm = int(event["irm"], 16) != 0
            return
        if name in ("AccrueInterest", "SetFee"):
            self.accrue(int(event["timestamp"]))
            if name == "SetFee":
                m.fee = int(event["new_fee"])
            return
        if name not in ("Supply", "Withdraw", "Borrow", "Repay"):
            return
        shares = int(event["shares"])
        if name == "Supply":
            m.total_supply_assets += to_assets_up(
                shares, m.total_supply_assets, m.total_supply_shares
            )
            m.total_supply_shares += shares
        elif name == "Withdraw":
            assets = to_assets_down(shares, m.total_supply_assets, m.total_supply_shares)
            m.total_supply_assets = zero_floor_sub(m.total_supply_assets, assets)
            m.total_supply_shares = zero_floor_sub(m.total_supply_shares, shares)
        else:
            self.move_borrow_shares(shares if name == "Borrow" else -shares)
