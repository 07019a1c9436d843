"""The compiled engine (softliq_core/compiled.py) is the source's engine: the same rows, to the
last bit of every float, and replay snapshots that either one resumes.

``make install`` builds it; CI requires it (``SOFTLIQ_REQUIRE_COMPILED=1``), so the suite runs
compiled there, and this test replays from source in a process of its own to compare."""

from __future__ import annotations

import importlib.machinery
import json
import os
import pickle
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from softliq_core import compiled
from softliq_core.replay import engine
from softliq_core.replay.engine import replay_market
from softliq_core.replay.inputs import MarketHistory
from softliq_core.replay.run import run_scenarios
from tests.integration.test_daily_replay import _after, _comparable
from tests.support.source_replay import SCENARIOS, STOPPED, stopped_half_way

ROOT = Path(__file__).parents[2]


def test_the_engine_runs_compiled_when_built() -> None:
    if not compiled.MANIFEST.exists() and os.environ.get("SOFTLIQ_REQUIRE_COMPILED") != "1":
        pytest.skip("no compiled engine built (make install builds it)")
    assert engine.__file__ and not engine.__file__.endswith(".py"), engine.__file__
    for module in compiled.MODULES:
        __import__(module)
        assert compiled.is_compiled(sys.modules[module]), module


def test_compiled_replays_equal_the_source_replays(
    histories: list[MarketHistory], tmp_path: Path
) -> None:
    if not compiled.is_compiled(engine):
        pytest.skip("the engine runs from source here: nothing to compare")
    (tmp_path / "histories.pickle").write_bytes(pickle.dumps(histories))
    source = subprocess.run(
        [sys.executable, "-m", "tests.support.source_replay", str(tmp_path / "histories.pickle"),
         str(tmp_path)],
        cwd=ROOT, env={**os.environ, "SOFTLIQ_PURE_PYTHON": "1"}, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    assert source.stdout.strip().endswith("engine.py")  # that process ran the source
    outcomes = run_scenarios(histories, SCENARIOS)
    assert outcomes.liquidation_actions.height > 0 and outcomes.clipped_actions.height > 0
    for table in fields(outcomes):
        # every column, floats compared exactly (the LTVs are divided as Python divides)
        assert_frame_equal(
            getattr(outcomes, table.name),
            pl.read_parquet(tmp_path / f"{table.name}.parquet"),
            check_exact=True,
        )
    # a replay pickled half-way by the source engine, resumed compiled: the one-pass outcome
    (actions, clips), stopped = pickle.loads((tmp_path / STOPPED).read_bytes())
    assert compiled.is_compiled(sys.modules[type(stopped).__module__])
    history = histories[0]
    scenario, split = stopped_half_way(history)
    stopped.resume(_after(history, split))
    stopped.advance()
    rest = stopped.finish()
    rest.actions[:0], rest.clips[:0] = actions, clips
    whole = replay_market(history, scenario, scenario.mechanism_for(history.market))
    assert _comparable(rest) == _comparable(whole)


def test_a_build_is_used_only_for_the_sources_it_was_built_from(tmp_path: Path) -> None:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    modules = {
        m: {
            "extension": m.replace(".", "/") + suffix,
            "sha256": compiled._sha256(compiled.source_of(m)),
        }
        for m in compiled.MODULES
    }
    manifest = tmp_path / "manifest.json"
    assert compiled.usable_build(manifest) is None  # nothing built

    def write(**changes: object) -> None:
        manifest.write_text(
            json.dumps({"suffix": suffix, "modules": modules, "shared": {}, **changes})
        )

    write()
    built = compiled.usable_build(manifest)
    assert (
        built is not None
        and built["softliq_core.replay.engine"]
        == tmp_path / modules["softliq_core.replay.engine"]["extension"]
    )
    write(suffix=".cpython-39-x86_64-linux-gnu.so")
    assert compiled.usable_build(manifest) is None  # another Python's
    modules["softliq_core.replay.declines"]["sha256"] = "0" * 64
    write()
    with pytest.warns(UserWarning, match=r"softliq_core/replay/declines\.py changed"):
        assert compiled.usable_build(manifest) is None
