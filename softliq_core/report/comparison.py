"""The report's mechanism comparison (issue 9): each market's history under every design of the
scenario set, with the same liquidator model: one table and one chart, every number a row of
``scenario_market_summary``."""

from __future__ import annotations

from collections.abc import Sequence

from softliq_core.report.data import MarketEvidence, ScenarioResult

COMPARISON_HEADER = (
    "| market | mechanism | scenario | liquidations (soft + hard) | borrower penalty | bad debt | "
    "liquidator profit | keeper incentives paid | protocol reserves change | band conversion loss | "
    "arbitrage profit |\n"
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)
NOTES = (
    "Bad debt is realised plus unrealised at the end of the data (Compound III's is borne by its "
    "reserves, the others' by the market's suppliers). Maker's auctions count each take as a "
    "liquidation; its keeper incentives (tip + chip at each kick and reset) are paid by the protocol, "
    "and its reserves change is the penalty collected net of them. Compound III's reserves change is "
    "the collateral's sale proceeds less the debt absorbed and the surplus credited to borrowers. "
    "LLAMMA's borrowers pay no incentive while their bands convert: what they lose to the "
    "arbitrageurs converting them (each trade at its oracle price, fees netted) is the band "
    "conversion loss, and what the arbitrageurs keep after outside slippage is the arbitrage "
    "profit; its hard liquidations below the health limit are in the other columns. The chart "
    "stacks the band conversion loss on the penalty."
)


def designs(market: MarketEvidence) -> list[ScenarioResult]:
    """History, the Morpho liquidation, then the pre-liquidations and the other designs by
    mechanism and name."""
    first = [r for r in (market.history, market.baseline) if r is not None]
    rest = market.pre_liquidation + market.other_designs
    return first + sorted(rest, key=lambda r: (r.scenario.mechanism, r.name))


def has_comparison(markets: Sequence[MarketEvidence]) -> bool:
    return any(m.other_designs for m in markets)


def _tokens(result: ScenarioResult, amount: int) -> str:
    return f"{result.tokens(amount):,.2f}"


def comparison_row(market: MarketEvidence, r: ScenarioResult) -> str:
    return (
        f"| {market.label} | {r.scenario.mechanism} | `{r.name}` | "
        f"{r.pre_liquidations} + {r.liquidations} | {_tokens(r, r.penalty)} | "
        f"{_tokens(r, r.bad_debt)} | {_tokens(r, r.profit)} | "
        f"{_tokens(r, r.keeper_incentive)} | {_tokens(r, r.reserves_change)} | "
        f"{_tokens(r, r.band_loss)} | {_tokens(r, r.arbitrage_profit)} |"
    )


def comparison_markdown(markets: Sequence[MarketEvidence], chart_file: str) -> list[str]:
    md = [
        "## Mechanism comparison",
        "",
        "The same markets and history under each design, with the same liquidator model. Amounts "
        "in each market's loan token.",
        "",
        COMPARISON_HEADER,
    ]
    md += [comparison_row(m, r) for m in markets for r in designs(m)]
    return [*md, "", NOTES, "", f"![borrower penalty and bad debt by mechanism]({chart_file})"]
