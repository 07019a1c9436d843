"""What two replays of a market are compared on, when a shortcut must change no outcome."""

from __future__ import annotations

from typing import Any

from softliq_core.replay.engine import _MarketReplay


def replay_outcome(replay: _MarketReplay) -> dict[str, Any]:
    """Run the replay: its actions, clips, positions, per-position stats and final totals."""
    out = replay.run()
    return {
        "actions": out.actions,
        "clips": out.clips,
        "positions": out.positions,
        "stats": out.stats,
        "market": out.final_market,
    }
