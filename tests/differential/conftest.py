"""The EVM differential suite needs node and npm (to fetch and compile the contract).

Without them the suite is skipped with the reason shown in pytest's summary, unless
``SOFTLIQ_REQUIRE_EVM=1`` (set by ``.ci/run``), which turns the missing toolchain into a failure.
At the end the figures of the sequences run are printed and written to ``.cache/evm/stats.json``.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from .aave import stats as aave_stats
from .artifacts import CACHE, node_toolchain
from .harness import STATS_DIR as _STATS_DIR
from .harness import flush_replays, flush_stats

_HERE = Path(__file__).resolve().parent
_STARTED = time.monotonic()


def _require() -> bool:
    return os.environ.get("SOFTLIQ_REQUIRE_EVM", "") not in ("", "0")


def _worker(config: pytest.Config) -> str | None:
    workerinput = getattr(config, "workerinput", None)
    return None if workerinput is None else str(workerinput["workerid"])


def _spread_shards(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the state-machine shards (the long tests: two Morpho, two Aave) where pytest-xdist's
    load scheduling starts each worker, so that no worker runs two shards of one suite while
    another idles: xdist sends each worker a first chunk of consecutive items of
    max(2, n // workers // 4); shard k goes to worker k % workers, at the front of its chunk.
    """
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return
    workers = int(workerinput["workercount"])
    shards = [
        item
        for item in items
        if item.name == "runTest" and _HERE in Path(str(item.path)).resolve().parents
    ]
    if workers < 2 or not shards or len(items) < 2 * workers:
        return
    rest = [item for item in items if item not in shards]
    chunk = max(2, len(items) // workers // 4)
    slots = {(k % workers) * chunk + k // workers: shard for k, shard in enumerate(shards)}
    if max(slots) >= len(items) or any(k // workers >= chunk for k in range(len(shards))):
        return
    spread: list[pytest.Item] = []
    for position in range(len(items)):
        spread.append(slots[position] if position in slots else rest.pop(0))
    items[:] = spread


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _spread_shards(config, items)
    reason = node_toolchain()
    if reason is None:
        return
    if _require():
        return  # each test fails in _toolchain_required instead of being skipped
    skip = pytest.mark.skip(reason=f"EVM differential suite skipped: {reason}")
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _toolchain_required() -> None:
    """With SOFTLIQ_REQUIRE_EVM=1 (CI), a missing node or npm fails every test of the suite."""
    reason = node_toolchain()
    if reason is not None and _require():
        pytest.fail(
            f"SOFTLIQ_REQUIRE_EVM is set but the EVM differential suite cannot run: {reason}"
        )


@pytest.fixture(scope="session", autouse=True)
def _replay_the_last_batch() -> Iterator[None]:
    """Batched replay checks (long profile): the sequences still queued are checked at the end."""
    yield
    flush_replays()
    try:
        from .aave.harness import flush_replays as flush_aave_replays
    except ImportError:  # softliq's Aave engine is missing: its tests are skipped
        return
    flush_aave_replays()


def pytest_sessionstart(session: pytest.Session) -> None:
    if _worker(session.config) is None:
        for folder in (_STATS_DIR, aave_stats.STATS_DIR):
            for old in folder.glob("*.json") if folder.exists() else ():
                old.unlink()


def pytest_sessionfinish(session: pytest.Session) -> None:
    flush_stats()
    aave_stats.flush_stats()


def _gather(folder: Path) -> tuple[Counter[str], int | None]:
    total: Counter[str] = Counter()
    minimum: int | None = None
    for part in sorted(folder.glob("*.json")) if folder.exists() else ():
        data = json.loads(part.read_text())
        low = data.pop("min_calls_per_sequence", None)
        if low is not None:
            minimum = low if minimum is None else min(minimum, low)
        total.update(data)
    return total, minimum


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _worker(terminalreporter.config) is not None:
        return
    wall = round(time.monotonic() - _STARTED, 1)
    total, minimum = _gather(_STATS_DIR)
    if total:
        summary = {
            "sequences": total["sequences"],
            "sequences_under_50_calls": total["sequences_under_50_calls"],
            "morpho_calls": total["calls"],
            "min_calls_per_sequence": minimum,
            "reverts_matched": total["reverts"],
            "liquidations": total["liquidations"],
            "bad_debt_liquidations": total["bad_debt_liquidations"],
            "price_crashes_30pct": total["price_crashes"],
            "events_replayed": total["events_replayed"],
            "wall_seconds": wall,
        }
        (CACHE / "stats.json").write_text(json.dumps({"summary": summary, "all": total}, indent=1))
        terminalreporter.section("Morpho Blue EVM differential")
        terminalreporter.write_line(", ".join(f"{k}={v}" for k, v in summary.items()))
        detail = sorted((k, v) for k, v in total.items() if ":" in k)
        terminalreporter.write_line(", ".join(f"{k}={v}" for k, v in detail))
    total, minimum = _gather(aave_stats.STATS_DIR)
    if total:
        summary = {
            "sequences": total["sequences"],
            "sequences_under_50_calls": total["sequences_under_50_calls"],
            "pool_calls": total["calls"],
            "min_calls_per_sequence": minimum,
            "reverts_matched": total["reverts"],
            "liquidations": total["liquidations"],
            "liquidations_close_factor_50": total["liquidations:close_factor_50"],
            "liquidations_close_factor_100": total["liquidations:close_factor_100"],
            "liquidations_max_debt_to_cover": total["liquidations:max"],
            "liquidations_receive_atoken": total["liquidations:receive_atoken"],
            "price_crashes_30pct": total["price_crashes"],
            "time_jumps": total["time_jumps"],
            "events_compared": total["events"],
            "events_replayed": total["events_replayed"],
            "wall_seconds": wall,
        }
        (CACHE / "stats-aave.json").write_text(
            json.dumps({"summary": summary, "all": total}, indent=1)
        )
        terminalreporter.section("Aave V3 EVM differential")
        terminalreporter.write_line(", ".join(f"{k}={v}" for k, v in summary.items()))
        detail = sorted((k, v) for k, v in total.items() if ":" in k)
        terminalreporter.write_line(", ".join(f"{k}={v}" for k, v in detail))
