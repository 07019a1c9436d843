"""Incremental daily replay: stopping at any block and resuming from a pickled snapshot gives the
uninterrupted replay, and replaying the lake one day at a time from snapshots writes exactly the
DuckDB rows of one full replay; a changed scenario set replays from genesis by itself."""

from __future__ import annotations

import pickle
import shutil
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softliq_core import steps
from softliq_core.replay.aave_engine import AaveOutcome, _AaveReplay, replay_aave
from softliq_core.replay.aave_history import AaveHistory
from softliq_core.replay.engine import MarketOutcome, _MarketReplay, replay_market
from softliq_core.replay.inputs import BlockClock, MarketHistory
from softliq_core.replay.run import HISTORY, Outcomes
from softliq_core.replay.scenario import Scenario, load_scenarios, parse_scenarios
from softliq_core.replay.snapshot import DaySnapshot, replay_version
from softliq_core.sources.synthetic import SyntheticChainConfig, SyntheticSource
from softliq_core.store.lake import Lake
from softliq_core.store.snapshots import TABLE, SnapshotStore
from softliq_core.store.warehouse import OUTCOME_TABLES
from softliq_core.tables import BLOCKS, FEEDS, ORACLE_ROUNDS
from tests.integration.test_divergence import SCENARIOS as DIVERGENCE_SCENARIOS
from tests.support.pipeline import warehouse_rows

DEFAULT_SCENARIOS = Path(__file__).parents[2] / "data" / "scenarios" / "default.toml"
# the divergence test's set, and one whose interest follows its own utilisation (its own totals)
SCENARIOS = [
    *DIVERGENCE_SCENARIOS,
    replace(DIVERGENCE_SCENARIOS[2], name="own_rate", accrual="irm"),
]


def _clock_until(clock: BlockClock, last: int) -> BlockClock:
    cut = last - clock.first_block + 1
    return BlockClock(clock.first_block, clock.timestamps[:cut], clock.base_fees[:cut])


def _clock_after(clock: BlockClock, last: int) -> BlockClock:
    cut = last - clock.first_block + 1
    return BlockClock(last + 1, clock.timestamps[cut:], clock.base_fees[cut:])


def _until(history: MarketHistory, last: int) -> MarketHistory:
    """The history up to block ``last`` (a stretch ending there: a day, or any block)."""
    return replace(
        history,
        events=[e for e in history.events if e["block_number"] <= last],
        prices=[p for p in history.prices if p[0] <= last],
        clock=_clock_until(history.clock, last),
    )


def _after(history: MarketHistory, last: int) -> MarketHistory:
    return replace(
        history,
        events=[e for e in history.events if e["block_number"] > last],
        prices=[p for p in history.prices if p[0] > last],
        clock=_clock_after(history.clock, last),
    )


def _aave_split(history: AaveHistory, last: int) -> tuple[AaveHistory, AaveHistory]:
    """The pool's history up to block ``last`` and after it (what a snapshot's resume reads)."""
    block = pl.col("block_number")
    return (
        replace(
            history,
            events=history.events.filter(block <= last),
            prices=history.prices.filter(block <= last),
            clock=_clock_until(history.clock, last),
        ),
        replace(
            history,
            events=history.events.filter(block > last),
            prices=history.prices.filter(block > last),
            clock=_clock_after(history.clock, last),
        ),
    )


def _comparable(outcome: MarketOutcome) -> tuple[object, ...]:
    return (
        outcome.actions,
        outcome.clips,
        outcome.positions,
        outcome.stats,
        outcome.final_market,
        outcome.final_price,
    )


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_replay_stopped_at_any_block_and_resumed_from_its_pickle_equals_one_pass(
    histories: list[MarketHistory], data: st.DataObject
) -> None:
    history = data.draw(st.sampled_from(histories), label="market")
    scenario = data.draw(st.sampled_from(SCENARIOS[1:]), label="scenario")
    clock = history.clock
    split = data.draw(st.integers(clock.first_block, clock.last_block - 1), label="stop after")
    mechanism = scenario.mechanism_for(history.market)
    whole = replay_market(history, scenario, mechanism)

    first = _MarketReplay(_until(history, split), scenario, mechanism, None)
    first.advance()
    actions, clips = list(first.out.actions), list(first.out.clips)
    resumed: _MarketReplay = pickle.loads(pickle.dumps(first))
    assert resumed.out.actions == [] and resumed.history.events == []
    resumed.resume(_after(history, split))
    resumed.advance()
    rest = resumed.finish()
    rest.actions[:0], rest.clips[:0] = actions, clips
    assert _comparable(rest) == _comparable(whole)


AAVE_SCENARIOS = [
    HISTORY,
    *(s for s in load_scenarios(DEFAULT_SCENARIOS) if s.mechanism.startswith("aave")),
    *parse_scenarios(
        {
            "scenario": [
                {
                    "name": "aave_pre_liq_slow", "mechanism": "aave_pre_liquidation",
                    "pre_hf": "1.08", "pre_lcf1": "0.10", "pre_lcf2": "0.40", "pre_lif1": "1.01",
                    "pre_lif2": "1.04",
                    "liquidator": {"latency_blocks": 40, "pre_liquidation_calls": "single"},
                }
            ]
        }
    ),
]  # fmt: skip


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_the_aave_pools_replay_stopped_at_any_block_and_resumed_from_its_pickle_equals_one_pass(
    aave_pool_history: AaveHistory, data: st.DataObject
) -> None:
    history = aave_pool_history
    scenario = data.draw(st.sampled_from(AAVE_SCENARIOS), label="scenario")
    clock = history.clock
    split = data.draw(st.integers(clock.first_block, clock.last_block - 1), label="stop after")
    mechanism = scenario.aave_mechanism_for(history.market)
    whole = replay_aave(history, scenario, mechanism)

    before, after = _aave_split(history, split)
    first = _AaveReplay(before, scenario, mechanism)
    first.advance()
    actions, clips = list(first.out.actions), list(first.out.clips)
    resumed: _AaveReplay = pickle.loads(pickle.dumps(first))
    assert resumed.out == AaveOutcome() and not hasattr(resumed, "history")
    resumed.resume(after)
    resumed.advance()
    rest = resumed.finish()
    assert (actions + rest.actions, clips + rest.clips) == (whole.actions, whole.clips)
    assert sorted(rest.positions, key=lambda row: row["borrower"]) == sorted(
        whole.positions, key=lambda row: row["borrower"]
    )


SOURCE = SyntheticSource(SyntheticChainConfig(seed=3, days=6, borrowers_per_market=15, crash_day=2))


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Six days with a crash on the third: liquidations and pre-liquidations on several days."""
    source = SOURCE
    lake = Lake(tmp_path_factory.mktemp("daily") / "lake")
    steps.build_lake(source, lake, source.days())
    return lake


def _full(lake: Lake, scenarios: list[Scenario], path: Path) -> Outcomes:
    outcomes = steps.replay_scenarios(lake, 1, scenarios)
    steps.store_outcomes(outcomes, path, lake)
    return outcomes


def test_one_day_at_a_time_from_snapshots_writes_the_rows_of_one_full_replay(
    lake: Lake, tmp_path: Path
) -> None:
    days = lake.days("blocks", 1)
    full = _full(lake, SCENARIOS, tmp_path / "full.duckdb")
    # both Morpho kinds (other mechanisms add their own), on more than one day
    assert {"liquidation", "pre_liquidation"} <= set(full.liquidation_actions["kind"])
    assert full.liquidation_actions["timestamp"].cast(int).unique().len() > 1
    daily = tmp_path / "daily.duckdb"
    for day in days:
        assert steps.replay_through(lake, 1, SCENARIOS, day, daily) == [day]
    assert warehouse_rows(daily) == warehouse_rows(tmp_path / "full.duckdb")
    store = SnapshotStore(lake.root, 1, replay_version(SCENARIOS))
    assert store.days() == days
    # re-running an older day (a backfill) rewrites its rows, leaves positions as of the newest day
    assert steps.replay_through(lake, 1, SCENARIOS, days[2], daily) == [days[2]]
    assert warehouse_rows(daily) == warehouse_rows(tmp_path / "full.duckdb")


def test_the_aave_pools_rows_day_by_day_equal_the_full_replays(lake: Lake, tmp_path: Path) -> None:
    """The pool resumes from each day's snapshot, reading the day's events only, and its rows are
    written day by day with the markets': the stored tables equal one full replay's, Aave rows
    included."""
    aave = steps.aave_setup(SOURCE)
    scenarios = [
        *SCENARIOS[:3],
        *(s for s in load_scenarios(DEFAULT_SCENARIOS) if s.mechanism.startswith("aave")),
    ]
    full = steps.replay_scenarios(lake, 1, scenarios, aave)
    steps.store_outcomes(full, tmp_path / "full.duckdb", lake)
    on_aave = full.liquidation_actions.filter(pl.col("protocol") == "aave_v3")
    assert {"liquidation", "pre_liquidation"} <= set(on_aave["kind"])
    assert on_aave["timestamp"].cast(int).unique().len() > 1  # on more than one day
    daily = tmp_path / "daily.duckdb"
    days = lake.days("blocks", 1)
    store = SnapshotStore(lake.root, 1, replay_version(scenarios))
    aave_ids = {s.scenario_id for s in scenarios if s.mechanism.startswith("aave")}
    whole = steps.load_aave_history(lake, 1, aave)
    assert whole is not None
    for i, day in enumerate(days):
        if i:  # the day before's snapshot holds the pool's replays: the day reads its own blocks
            previous = store.read(days[i - 1])
            assert aave_ids <= previous.aave.keys()
            stretch = steps.load_aave_history(lake, 1, aave, days[: i + 1], previous)
            assert stretch is not None and stretch.clock.first_block == previous.last_block + 1
            assert stretch.events["block_number"].min() > previous.last_block
            # its price inputs are the whole history's of its blocks, an aggregator switch's too
            # (the chain switches one feed's aggregator on the second day)
            in_stretch = pl.col("block_number").is_between(
                stretch.clock.first_block, stretch.clock.last_block
            )
            assert stretch.prices.equals(whole.prices.filter(in_stretch))
        assert steps.replay_through(lake, 1, scenarios, day, daily, aave) == [day]
    assert warehouse_rows(daily) == warehouse_rows(tmp_path / "full.duckdb")


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(split=st.integers(0, 4), subset=st.sets(st.integers(1, 5), min_size=1))
def test_a_changed_set_replays_from_genesis_for_any_split(
    lake: Lake, tmp_path_factory: pytest.TempPathFactory, split: int, subset: set[int]
) -> None:
    """Days up to a random split under one set, then the rest under another: the other set's
    version has no snapshot, so its first run replays every day from genesis, then one a day."""
    tmp = tmp_path_factory.mktemp("split")
    # the snapshots go with the DuckDB file they were written with: a fresh lake for a fresh file
    shutil.copytree(lake.root, tmp / "lake", ignore=shutil.ignore_patterns(TABLE))
    lake = Lake(tmp / "lake")
    days = lake.days("blocks", 1)
    first = SCENARIOS[:2]
    changed = [SCENARIOS[0], *(SCENARIOS[i] for i in sorted(subset))]
    daily = tmp / "daily.duckdb"
    for day in days[: split + 1]:
        assert steps.replay_through(lake, 1, first, day, daily) == [day]
    replayed = steps.replay_through(lake, 1, changed, days[split], daily)
    assert replayed == ([days[split]] if changed == first else days[: split + 1])
    for day in days[split + 1 :]:
        assert steps.replay_through(lake, 1, changed, day, daily) == [day]
    _full(lake, changed, tmp / "full.duckdb")
    rows, expected = warehouse_rows(daily), warehouse_rows(tmp / "full.duckdb")
    for table in OUTCOME_TABLES:
        ids = {r[0] for r in expected["scenarios"]}
        assert [r for r in rows[table] if r[0] in ids] == expected[table], table


def test_a_snapshot_of_another_version_is_refused_by_name() -> None:
    snapshot = DaySnapshot("aaaa", SyntheticChainConfig().start_date, 10)
    assert DaySnapshot.loads(snapshot.dumps(), "aaaa").last_block == 10
    with pytest.raises(ValueError, match="version aaaa, expected bbbb"):
        DaySnapshot.loads(snapshot.dumps(), "bbbb")


def test_the_version_follows_the_set_not_its_order() -> None:
    assert replay_version(SCENARIOS) == replay_version(SCENARIOS[::-1])
    assert replay_version(SCENARIOS) != replay_version(SCENARIOS[1:])


def test_a_switch_day_reads_the_new_aggregators_rounds_of_the_day_before(tmp_path: Path) -> None:
    """ETH/USD's new aggregator reports from 23:02 and the proxy switches to it at 00:02 the next
    day, before its next round: that day's stretch of the pool must price WETH from the new
    aggregator's last round of the day before (load_aave_history reads every day's rounds on a
    switch day)."""
    days_n, per_day = 3, 7_200
    switch_at = (per_day + 10) / (days_n * per_day)
    config = SyntheticChainConfig(
        seed=4, days=days_n, borrowers_per_market=6, aggregator_switch=switch_at
    )
    source = SyntheticSource(config)
    lake = Lake(tmp_path / "lake")
    days = source.days()
    steps.build_lake(source, lake, days)
    phase = lake.read("feeds", FEEDS, 1).filter(pl.col("phase_id") == 2)
    switch_block, new = int(phase["first_block"].item()), phase["aggregator"].item()
    second_day = lake.read("blocks", BLOCKS, 1, [days[1]])["block_number"].min()
    assert second_day < switch_block
    rounds = lake.read("oracle_rounds", ORACLE_ROUNDS, 1)
    before = rounds.filter((pl.col("aggregator") == new) & (pl.col("block_number") < switch_block))
    assert before.height > 0 and before["block_number"].max() < second_day  # all the day before

    aave = steps.aave_setup(source)
    scenarios = [
        HISTORY,
        *(s for s in load_scenarios(DEFAULT_SCENARIOS) if s.mechanism.startswith("aave")),
    ]
    whole = steps.load_aave_history(lake, 1, aave)
    assert whole is not None
    daily = tmp_path / "daily.duckdb"
    store = SnapshotStore(lake.root, 1, replay_version(scenarios))
    for i, day in enumerate(days):
        if i:
            stretch = steps.load_aave_history(lake, 1, aave, days[: i + 1], store.read(days[i - 1]))
            assert stretch is not None
            in_stretch = pl.col("block_number").is_between(
                stretch.clock.first_block, stretch.clock.last_block
            )
            assert stretch.prices.equals(whole.prices.filter(in_stretch)), day
        assert steps.replay_through(lake, 1, scenarios, day, daily, aave) == [day]
    full = steps.replay_scenarios(lake, 1, scenarios, aave)
    steps.store_outcomes(full, tmp_path / "full.duckdb", lake)
    assert warehouse_rows(daily) == warehouse_rows(tmp_path / "full.duckdb")
