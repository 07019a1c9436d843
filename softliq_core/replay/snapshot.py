"""The replay's state at the end of a day: what the next day's replay resumes from (DESIGN §6).

A snapshot holds, for one scenario set, every market's history replay and every (scenario, market)
replay as the engine left them at the day's last block (``_MarketReplay.__getstate__``: ledger and
market totals, positions, their stats, the liquidator's due queue, the counterfactual market, the
oracle price), each a pickle of its own so a day unpickles only what it resumes, plus the ETH price
in force for gas at the end of the day (the next day's blocks read it before their first round),
and the Aave pool's replay under each scenario (``_AaveReplay.__getstate__``: the pool with its
counterfactual accounts, the price sources' inputs, the accounts' stats, the liquidator's agenda)
with the highest liquidation threshold the pool has set so far (what its scenarios are validated
against).

Format (``SNAPSHOT_FORMAT`` 3; 2 added the history replay's round log and the parked positions of
``replay/declines.py`` to the pickled replays, 3 the Aave pool's replays): a pickle (protocol 5) of ``DaySnapshot``. It is an internal cache,
rebuilt from the lake by replaying from genesis, not an exchange format: Python objects of this
engine version only. ``replay_version`` names what a snapshot is valid for: the engine version, this
format and the scenario set (its ``scenario_id`` hashes); another version starts from genesis.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from softliq_core.replay.run import ENGINE_VERSION
from softliq_core.replay.scenario import Scenario

SNAPSHOT_FORMAT = 3


def replay_version(scenarios: Sequence[Scenario]) -> str:
    """The version snapshots of this scenario set are stored under (16 hex digits)."""
    document = {
        "engine": ENGINE_VERSION,
        "format": SNAPSHOT_FORMAT,
        "scenarios": sorted(s.scenario_id for s in scenarios),
    }
    return hashlib.sha256(json.dumps(document).encode()).hexdigest()[:16]


@dataclass
class DaySnapshot:
    version: str
    day: date
    last_block: int  # the day's last block: the next day starts at the block after it
    # market id -> its history replay (the baseline every scenario diverges from), pickled
    history: dict[str, bytes] = field(default_factory=dict)
    # (scenario id, market id) -> the scenario's replay of the market, pickled
    scenarios: dict[tuple[str, str], bytes] = field(default_factory=dict)
    # market id -> loan base units per wei of ETH in force after the day (None: no route)
    native_prices: dict[str, int | None] = field(default_factory=dict)
    # scenario id -> the scenario's replay of the Aave pool, pickled (none: no pool replayed yet)
    aave: dict[str, bytes] = field(default_factory=dict)
    aave_lltv: int = 0  # the pool's highest liquidation threshold so far (WAD)
    format: int = SNAPSHOT_FORMAT

    def dumps(self) -> bytes:
        return pickle.dumps(self, protocol=5)

    @staticmethod
    def loads(data: bytes, version: str) -> DaySnapshot:
        """A snapshot read back; refused, with the reason, if it is of another version or format."""
        snapshot = pickle.loads(data)
        if not isinstance(snapshot, DaySnapshot) or snapshot.format != SNAPSHOT_FORMAT:
            raise ValueError(f"replay snapshot: not a format {SNAPSHOT_FORMAT} DaySnapshot")
        if snapshot.version != version:
            raise ValueError(
                f"replay snapshot of {snapshot.day}: version {snapshot.version}, expected {version}"
            )
        return snapshot
