"""Figures of the Aave differential sequences run in this process (the conftest prints them)."""

from __future__ import annotations

import json
import os
from collections import Counter

from ..artifacts import CACHE

MIN_CALLS = 50  # a sequence counts in the figures when it made at least this many Pool calls
STATS: Counter[str] = Counter()
STATS_DIR = CACHE / "stats-aave"


def flush_stats() -> None:
    """Write this process's figures (also during a long run, so partial figures survive)."""
    if STATS:
        STATS_DIR.mkdir(parents=True, exist_ok=True)
        name = os.environ.get("PYTEST_XDIST_WORKER", "main")
        (STATS_DIR / f"{name}.json").write_text(json.dumps(dict(STATS)))


def finish_sequence(stats: Counter[str]) -> None:
    if stats["calls"] < MIN_CALLS:
        STATS["sequences_under_50_calls"] += 1  # hypothesis stopped the example early
        return
    STATS["sequences"] += 1
    STATS.update(stats)
    STATS["min_calls_per_sequence"] = min(
        STATS.get("min_calls_per_sequence", stats["calls"]), stats["calls"]
    )
    if STATS["sequences"] % 50 == 0:
        flush_stats()
