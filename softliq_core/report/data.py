"""The report's evidence: each market's scenarios with their outcomes, and the recommendation rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from softliq_core.protocols.morpho.math import WAD
from softliq_core.protocols.morpho.pre_liquidation import PreLiquidationParams
from softliq_core.replay.scenario import MarketRef, Scenario

RULE = (
    "Among the pre-liquidation settings replayed on the market, keep those whose bad debt (realised "
    "plus unrealised) is not above the baseline's (Morpho's liquidation alone, same liquidator model) "
    "and whose liquidators still earn a positive profit after gas and slippage; recommend the one "
    "with the lowest borrower penalty (ties: fewer hard liquidations, then the name)."
)
ALTERNATIVES_RULE = (
    "Alternatives are Pareto-efficient settings that also pass the rule, ranked by how early they "
    "act: conservative = the narrowest window (preLLTV closest to LLTV, then the smallest preLCF2), "
    "aggressive = the widest, moderate = the middle one."
)

PARAM_LABELS = {
    "pre_lltv": "preLLTV",
    "pre_lcf1": "preLCF1",
    "pre_lcf2": "preLCF2",
    "pre_lif1": "preLIF1",
    "pre_lif2": "preLIF2",
}
SUMMARY_SQL = """
SELECT s.scenario_id, s.market_id, m.label, m.loan_symbol, m.loan_decimals, m.lltv,
       s.pre_liquidations, s.liquidations, s.borrower_penalty, s.bad_debt_realised,
       s.bad_debt_unrealised, s.liquidator_profit, s.clipped_actions, s.unprofitable_skips,
       s.keeper_incentive, s.reserves_change, s.band_loss, s.arbitrage_profit
FROM scenario_market_summary s JOIN lake_markets m USING (market_id)
WHERE s.scenario_id IN (SELECT unnest($ids))
ORDER BY m.label
"""


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    params: PreLiquidationParams | None
    decimals: int
    pre_liquidations: int
    liquidations: int
    penalty: int  # loan base units, exact
    bad_debt: int  # realised + unrealised
    profit: int
    clipped: int
    unprofitable: int
    keeper_incentive: int = 0  # paid by the protocol (Maker)
    reserves_change: int = 0  # the protocol's own balance (Maker, Compound III)
    band_loss: int = 0  # what borrowers' bands lost to conversion (LLAMMA)
    arbitrage_profit: int = 0  # what arbitrageurs of the bands kept (LLAMMA)

    @property
    def name(self) -> str:
        return self.scenario.name

    def tokens(self, amount: int) -> float:
        return float(amount) / float(10**self.decimals)

    @property
    def borrower_penalty(self) -> float:
        return self.tokens(self.penalty)

    @property
    def borrower_cost(self) -> float:
        """Penalty plus band conversion loss: what borrowers gave up, whatever the design."""
        return self.tokens(self.penalty + self.band_loss)

    def param(self, name: str) -> float:
        assert self.params is not None
        return int(getattr(self.params, name)) / WAD

    def params_label(self, group: str) -> str:
        names = {"lcf_lif": ("pre_lcf2", "pre_lif2"), "lltv_lif": ("pre_lltv", "pre_lif2")}[group]
        return ", ".join(f"{PARAM_LABELS[n]}={self.param(n):g}" for n in names)


@dataclass
class MarketEvidence:
    market_id: str
    label: str
    unit: str
    lltv: float
    history: ScenarioResult | None = None
    baseline: ScenarioResult | None = None
    pre_liquidation: list[ScenarioResult] = field(default_factory=list)
    other_designs: list[ScenarioResult] = field(default_factory=list)  # Maker, Compound, Euler
    pareto: list[ScenarioResult] = field(default_factory=list)
    feasible: list[ScenarioResult] = field(default_factory=list)
    recommended: ScenarioResult | None = None
    alternatives: dict[str, ScenarioResult] = field(default_factory=dict)


def _dominates(a: ScenarioResult, b: ScenarioResult) -> bool:
    no_worse = a.penalty <= b.penalty and a.bad_debt <= b.bad_debt and a.profit >= b.profit
    better = a.penalty < b.penalty or a.bad_debt < b.bad_debt or a.profit > b.profit
    return no_worse and better


def pareto_front(results: Sequence[ScenarioResult]) -> list[ScenarioResult]:
    return [r for r in results if not any(_dominates(o, r) for o in results if o is not r)]


def choose(market: MarketEvidence) -> None:
    """Apply RULE and ALTERNATIVES_RULE to the market's scenarios."""
    market.pareto = pareto_front(market.pre_liquidation)
    ceiling = market.baseline.bad_debt if market.baseline else None
    market.feasible = [
        r
        for r in market.pre_liquidation
        if (ceiling is None or r.bad_debt <= ceiling) and r.profit > 0
    ]
    if market.feasible:
        market.recommended = min(market.feasible, key=lambda r: (r.penalty, r.liquidations, r.name))
    ranked = sorted(
        (r for r in market.pareto if r in market.feasible),
        key=lambda r: (r.param("pre_lltv"), -r.param("pre_lcf2")),
        reverse=True,
    )
    if ranked:
        market.alternatives = {
            "conservative": ranked[0],
            "moderate": ranked[len(ranked) // 2],
            "aggressive": ranked[-1],
        }


def market_evidence(summary: pl.DataFrame, scenarios: Sequence[Scenario]) -> list[MarketEvidence]:
    """``summary``: rows of SUMMARY_SQL for the scenarios."""
    by_id = {s.scenario_id: s for s in scenarios}
    markets: dict[str, MarketEvidence] = {}
    for row in summary.iter_rows(named=True):
        scenario = by_id[row["scenario_id"]]
        lltv = int(row["lltv"])
        market = markets.setdefault(
            row["market_id"],
            MarketEvidence(row["market_id"], row["label"], row["loan_symbol"], lltv / WAD),
        )
        ref = MarketRef(row["market_id"], row["label"], lltv)
        result = ScenarioResult(
            scenario=scenario,
            params=scenario.pre_liquidation_params_for(ref)
            if scenario.mechanism == "morpho_pre_liquidation"
            else None,
            decimals=int(row["loan_decimals"]),
            pre_liquidations=int(row["pre_liquidations"]),
            liquidations=int(row["liquidations"]),
            penalty=int(row["borrower_penalty"]),
            bad_debt=int(row["bad_debt_realised"]) + int(row["bad_debt_unrealised"]),
            profit=int(row["liquidator_profit"]),
            clipped=int(row["clipped_actions"]),
            unprofitable=int(row["unprofitable_skips"]),
            keeper_incentive=int(row["keeper_incentive"]),
            reserves_change=int(row["reserves_change"]),
            band_loss=int(row["band_loss"]),
            arbitrage_profit=int(row["arbitrage_profit"]),
        )
        if scenario.is_history:
            market.history = result
        elif scenario.mechanism == "morpho_liquidation":
            if market.baseline is None or scenario.name == "baseline":
                market.baseline = result
        elif scenario.mechanism == "morpho_pre_liquidation":
            market.pre_liquidation.append(result)
        else:
            market.other_designs.append(result)
    for market in markets.values():
        choose(market)
    return [m for m in markets.values() if m.pre_liquidation]
