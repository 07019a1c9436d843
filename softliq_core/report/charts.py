"""PNG charts of the report (matplotlib, no screen needed)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from softliq_core.report.comparison import designs
from softliq_core.report.data import MarketEvidence, ScenarioResult

DPI = 110


def _pyplot() -> Any:
    """pyplot on the files-only backend (CI and servers have no display), imported when a chart is
    drawn: its import takes about a second, which every pipeline process would pay otherwise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    _pyplot().close(fig)
    return buffer.getvalue()


def _series(
    results: Sequence[ScenarioResult], group: str, x: str
) -> dict[str, list[tuple[float, ScenarioResult]]]:
    lines: dict[str, list[tuple[float, ScenarioResult]]] = {}
    for r in results:
        lines.setdefault(r.params_label(group), []).append((r.param(x), r))
    return {k: sorted(v, key=lambda point: point[0]) for k, v in sorted(lines.items())}


def penalty_vs_pre_lltv(market: MarketEvidence) -> bytes:
    fig, ax = _pyplot().subplots(figsize=(7, 4.2))
    for label, points in _series(market.pre_liquidation, "lcf_lif", "pre_lltv").items():
        ax.plot(
            [x for x, _ in points], [r.borrower_penalty for _, r in points], marker="o", label=label
        )
    if market.baseline is not None:
        ax.axhline(
            market.baseline.borrower_penalty,
            color="black",
            linestyle="--",
            label="baseline (liquidation only)",
        )
    ax.set_xlabel("preLLTV")
    ax.set_ylabel(f"borrower penalty ({market.unit})")
    ax.set_title(f"{market.label}: penalty paid by borrowers vs preLLTV")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)


def liquidations_avoided_vs_pre_lcf(market: MarketEvidence) -> bytes:
    fig, ax = _pyplot().subplots(figsize=(7, 4.2))
    base = market.baseline.liquidations if market.baseline else 0
    for label, points in _series(market.pre_liquidation, "lltv_lif", "pre_lcf2").items():
        ax.plot(
            [x for x, _ in points],
            [base - r.liquidations for _, r in points],
            marker="s",
            label=label,
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("preLCF2 (close factor at LLTV)")
    ax.set_ylabel("hard liquidations avoided vs baseline")
    ax.set_title(f"{market.label}: hard liquidations avoided vs preLCF")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)


def ltv_paths(
    market: MarketEvidence,
    paths: dict[str, dict[str, list[tuple[float, float]]]],
) -> bytes:
    """``paths[borrower][scenario name]`` = [(hours since start, LTV)]."""
    fig, axes = _pyplot().subplots(len(paths), 1, figsize=(7, 2.6 * len(paths)), squeeze=False)
    for ax, (borrower, by_scenario) in zip(axes[:, 0], paths.items(), strict=True):
        for name, points in by_scenario.items():
            ax.step([h for h, _ in points], [v for _, v in points], where="post", label=name)
        ax.axhline(market.lltv, color="red", linestyle="--", linewidth=0.8, label="LLTV")
        if market.recommended is not None:
            ax.axhline(
                market.recommended.param("pre_lltv"),
                color="orange",
                linestyle=":",
                linewidth=0.8,
                label="preLLTV (recommended)",
            )
        ax.set_title(f"{borrower[:10]}…", fontsize=9)
        ax.set_ylabel("LTV")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("hours since the start of the data")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{market.label}: LTV of the most affected positions")
    return _png(fig)


def mechanism_comparison(markets: Sequence[MarketEvidence]) -> bytes:
    """Borrowers' cost (penalty, band conversion loss stacked on it) and bad debt of every design,
    one panel per market (its loan token)."""
    fig, axes = _pyplot().subplots(len(markets), 1, figsize=(8, 3.2 * len(markets)), squeeze=False)
    for ax, market in zip(axes[:, 0], markets, strict=True):
        results = designs(market)
        xs = range(len(results))
        width = 0.4
        left = [x - width / 2 for x in xs]
        penalties = [r.borrower_penalty for r in results]
        ax.bar(left, penalties, width, label="borrower penalty")
        band_losses = [r.tokens(r.band_loss) for r in results]
        ax.bar(left, band_losses, width, bottom=penalties, label="band conversion loss")
        ax.bar(
            [x + width / 2 for x in xs],
            [r.tokens(r.bad_debt) for r in results],
            width,
            label="bad debt",
        )
        ax.set_xticks(list(xs), [r.name for r in results], rotation=20, ha="right", fontsize=7)
        ax.set_ylabel(market.unit)
        ax.set_title(f"{market.label}: borrowers' cost and bad debt by mechanism")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, axis="y")
    return _png(fig)
