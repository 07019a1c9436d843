"""The replay run from source in a process of its own (``SOFTLIQ_PURE_PYTHON=1``), for
``tests/integration/test_compiled.py``: every outcome table of ``SCENARIOS`` as Parquet, and a
replay stopped half-way through a market, pickled, for the compiled engine to resume.

    SOFTLIQ_PURE_PYTHON=1 python -m tests.support.source_replay HISTORIES_PICKLE OUT_DIR
"""

from __future__ import annotations

import pickle
import sys
from dataclasses import fields
from pathlib import Path

from softliq_core.replay import engine
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.run import run_scenarios
from softliq_core.replay.scenario import Scenario, load_scenarios
from tests.integration.test_daily_replay import _until

ROOT = Path(__file__).parents[2]
# the default set (every mechanism) and three points of the sweep's pre-liquidation grid
SCENARIOS: list[Scenario] = [
    *load_scenarios(ROOT / "data" / "scenarios" / "default.toml"),
    *load_scenarios(ROOT / "data" / "scenarios" / "sweep_1000.toml")[2::400],
]
STOPPED = "stopped.pickle"


def stopped_half_way(history: MarketHistory) -> tuple[Scenario, int]:
    """The pre-liquidation scenario and the block the resumed replay stops after."""
    clock = history.clock
    return SCENARIOS[-1], (clock.first_block + clock.last_block) // 2


def main(histories_file: str, out: str) -> None:
    histories: list[MarketHistory] = pickle.loads(Path(histories_file).read_bytes())
    outcomes = run_scenarios(histories, SCENARIOS)
    for table in fields(outcomes):
        getattr(outcomes, table.name).write_parquet(Path(out) / f"{table.name}.parquet")
    history = histories[0]
    scenario, split = stopped_half_way(history)
    replay = engine._MarketReplay(
        _until(history, split), scenario, scenario.mechanism_for(history.market), None
    )
    replay.advance()
    rows = (replay.out.actions, replay.out.clips)
    (Path(out) / STOPPED).write_bytes(pickle.dumps((rows, replay)))
    print(engine.__file__)


if __name__ == "__main__":
    main(*sys.argv[1:])
