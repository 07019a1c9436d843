"""The daily job's reference stages, day after day, build the lake one build over every day builds:
the rate samples read about a day each (not the history again) and the oracle prices rewrite only
the new day's partition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import polars as pl

from softliq_core import steps
from softliq_core.feeds import rounds_read_since
from softliq_core.oracle_checks import stale_intervals
from softliq_core.oracle_prices import oracle_prices
from softliq_core.replay.aave_history import aave_market_ref
from softliq_core.sources.synthetic import SyntheticChainConfig, SyntheticSource
from softliq_core.store.lake import Lake
from softliq_core.tables import (
    AAVE_EVENTS,
    BLOCK_TIMES,
    FEEDS,
    MARKETS,
    ORACLE_PRICES,
    ORACLE_ROUNDS,
    PARTITION_BLOCKS,
    RATE_SAMPLES,
)

SOURCE = SyntheticSource(SyntheticChainConfig(seed=5, days=5, borrowers_per_market=6, crash_day=2))


class CountingSource(SyntheticSource):
    """The synthetic source, counting the blocks its historical eth_calls read."""

    def __init__(self) -> None:
        super().__init__(SOURCE.config)
        self.reads = 0

    def rate_at(
        self, contract: str, call: str, sample: int | None, blocks: Sequence[int]
    ) -> list[int]:
        self.reads += len(blocks)
        return super().rate_at(contract, call, sample, blocks)


def _tables(lake: Lake) -> list[pl.DataFrame]:
    return [
        lake.read("markets", MARKETS, 1),
        lake.read("rate_samples", RATE_SAMPLES, 1),
        lake.read("oracle_prices", ORACLE_PRICES, 1).sort("market_id", "block_number", "log_index"),
    ]


def test_day_after_day_the_reference_tables_equal_one_build(tmp_path: Path) -> None:
    days = SOURCE.days()
    once = Lake(tmp_path / "once")
    steps.build_lake(SOURCE, once, days)
    source, lake = CountingSource(), Lake(tmp_path / "daily")
    steps.build_feeds(source, lake)
    reads, written = [], []
    for day in days:  # what ingest_and_replay_daily runs for each day
        steps.ingest_day(source, lake, day)
        steps.decode_day(lake, 1, day)
        steps.build_reference(source, lake)
        before = source.reads
        built = steps.build_rate_samples(source, lake)
        reads.append(source.reads - before)
        assert built.reads == reads[-1] and built.extended == (day != days[0])
        written.append(steps.build_oracle_prices(lake, 1).days_written)
    for daily, whole in zip(_tables(lake), _tables(once), strict=True):
        assert daily.equals(whole)
    assert not lake.read("rate_samples", RATE_SAMPLES, 1).is_empty()
    assert written[1:] == [[day] for day in days[1:]]  # each day's prices only
    everything = CountingSource()  # a build over every day from scratch, for its reads
    once.storage.delete_dir("rate_sampling")  # how the stored samples were read: unknown now
    steps.build_rate_samples(everything, once)
    assert _tables(once)[1].equals(_tables(lake)[1])
    per_day = everything.reads / len(days)
    assert all(0 < r < 2 * per_day for r in reads[1:]), (reads, everything.reads)
    assert reads[-1] * 3 < everything.reads


def test_a_re_ingested_day_is_priced_again_from_it(tmp_path: Path) -> None:
    """Nothing changed: nothing is priced. An earlier day's rounds replaced (a reorg's re-ingest
    moved an answer): that day and the later ones whose rows move are priced again, the table
    equals one built from scratch over the same lake, and the checks see the days priced after
    the prices in force at their start."""
    lake = Lake(tmp_path / "lake")
    steps.build_lake(SOURCE, lake, SOURCE.days())
    built = _tables(lake)[2]
    again = steps.build_oracle_prices(lake, 1)
    assert again.days_written == [] and again.priced_from is None
    # a switch found by discovery at the head, after the lake's end: not in force, nothing priced
    feeds = lake.read("feeds", FEEDS, 1)
    later = feeds.filter(pl.col("phase_id") == pl.col("phase_id").max()).head(1)
    end = lake.read("partition_blocks", PARTITION_BLOCKS, 1)["last_block"].max()
    lake.write(
        "feeds",
        pl.concat(
            [
                feeds,
                later.with_columns(
                    phase_id=pl.col("phase_id") + 1, first_block=pl.lit(end + 9, pl.UInt32)
                ),
            ]
        ),
        1,
        None,
    )
    assert steps.build_oracle_prices(lake, 1).priced_from is None
    assert _tables(lake)[2].equals(built) and built.height > 500
    assert again.prices.is_empty()  # the rows priced: none
    day = SOURCE.days()[2]
    rounds = lake.read("oracle_rounds", ORACLE_ROUNDS, 1, [day])
    first = pl.int_range(pl.len()) == rounds["in_force"].arg_max()  # its first round in force
    moved = rounds.with_columns(
        pl.when(first).then(pl.col("answer").cast(pl.Int64) + 7).otherwise("answer").cast(pl.String)
    )
    lake.write("oracle_rounds", moved, 1, day)
    rebuilt = steps.build_oracle_prices(lake, 1)
    assert rebuilt.priced_from == day and rebuilt.days_written[0] == day
    incremental = _tables(lake)[2]
    # what the checks saw: the rows from the day, after each market's price in force at its start
    since = pl.col("block_number") >= rebuilt.since_block
    in_force = incremental.filter(~since).group_by("market_id", maintain_order=True).last()
    expected = pl.concat([in_force.select(ORACLE_PRICES.names), incremental.filter(since)])
    assert rebuilt.prices.sort("market_id", "block_number", "log_index").equals(
        expected.sort("market_id", "block_number", "log_index")
    )
    assert in_force.height == incremental["market_id"].n_unique()
    lake.storage.delete_dir("oracle_pricing")  # how the stored prices were built: unknown now
    assert steps.build_oracle_prices(lake, 1).days_written == []  # from scratch: the same rows
    assert _tables(lake)[2].equals(incremental) and not incremental.equals(built)


def test_the_blocks_read_for_a_build_from_any_block_give_what_every_block_gives(
    tmp_path: Path,
) -> None:
    """A build from a block reads the blocks and rounds of the days from it and of the aggregator
    switches' days, and each earlier day's round ends: the rounds it reads, the prices and stale
    stretches from any start (each day's first block, just after the switch, whose answer is then
    in force, past the end) equal those from every block and round."""
    lake = Lake(tmp_path / "lake")
    steps.build_lake(SOURCE, lake, SOURCE.days())
    rounds = lake.read("oracle_rounds", ORACLE_ROUNDS, 1)
    feeds = lake.read("feeds", FEEDS, 1)
    markets = lake.read("markets", MARKETS, 1)
    rates = lake.read("rate_samples", RATE_SAMPLES, 1)
    partitions = lake.read("partition_blocks", PARTITION_BLOCKS, 1)
    every = lake.read("blocks", BLOCK_TIMES, 1)
    switch = int(feeds.filter(pl.col("phase_id") > 1)["first_block"].min())  # type: ignore[arg-type]
    end = int(every["block_number"].max())  # type: ignore[arg-type]
    next_day = int(partitions.filter(pl.col("first_block") > switch)["first_block"].min())  # type: ignore[arg-type]
    # the switched feed silent from the switch to the next day: the switch is in force at its start
    feed = feeds.filter(pl.col("phase_id") > 1)["feed"][0]
    silent = (pl.col("feed") == feed) & pl.col("block_number").is_between(switch, next_day)
    quiet = rounds.filter(~silent)
    starts = [*partitions["first_block"].to_list(), switch, switch + 1, end, end + 1]
    order = ["feed", "block_number", "log_index"]
    for since in starts:  # the days read whole and the earlier days' ends: what every round gives
        assert (
            steps._rounds_read(lake, 1, partitions, since, feeds)
            .sort(order)
            .equals(rounds_read_since(rounds, feeds, since).sort(order))
        )
    for since, answers in [(s, rounds) for s in starts] + [(next_day, quiet)]:
        read = steps._timestamped_blocks(lake, 1, partitions, since, feeds)
        assert read.height < every.height or since == partitions["first_block"].min()
        assert oracle_prices(answers, markets, feeds, read, rates, since).equals(
            oracle_prices(answers, markets, feeds, every, rates, since)
        )
        assert stale_intervals(answers, feeds, read, 1, since).equals(
            stale_intervals(answers, feeds, every, 1, since)
        ), since


def test_a_switch_a_day_after_its_aggregators_first_rounds_is_carried_in(tmp_path: Path) -> None:
    """The new aggregator's rounds before its switch (not in force) a day or more before it: the
    rounds a build reads from any day still hold the last of them, which the switch takes."""
    lake = Lake(tmp_path / "lake")
    steps.build_lake(SOURCE, lake, SOURCE.days())
    feeds = lake.read("feeds", FEEDS, 1)
    later = pl.when(pl.col("phase_id") > 1).then(pl.col("first_block") + 7200 + 100)
    moved = feeds.with_columns(later.otherwise("first_block").alias("first_block"))
    lake.write("feeds", moved, 1, None)
    for day in SOURCE.days():
        steps.decode_day(lake, 1, day)
    rounds = lake.read("oracle_rounds", ORACLE_ROUNDS, 1)
    partitions = lake.read("partition_blocks", PARTITION_BLOCKS, 1)
    order = ["feed", "block_number", "log_index"]
    for since in partitions["first_block"].to_list():
        assert (
            steps._rounds_read(lake, 1, partitions, since, moved)
            .sort(order)
            .equals(rounds_read_since(rounds, moved, since).sort(order))
        ), since


def test_the_aave_pool_reference_through_each_day_equals_one_from_its_events(
    tmp_path: Path,
) -> None:
    """The pool's reference through a day (its events counted and the highest threshold set, per
    day, from their fold) equals the reference computed from every event through that day, as the
    days arrive one by one."""
    setup = steps.aave_setup(SOURCE)
    assert setup is not None
    lake = Lake(tmp_path / "lake")
    steps.build_feeds(SOURCE, lake)
    days = SOURCE.days()
    for day in days:
        steps.ingest_day(SOURCE, lake, day)
        steps.decode_day(lake, 1, day)
        for through in days[: days.index(day) + 1]:
            events = lake.read("aave_events", AAVE_EVENTS, 1, days[: days.index(through) + 1])
            expected = None if events.is_empty() else aave_market_ref(setup, events)
            assert steps.aave_pool_ref(lake, 1, setup, through) == expected
    assert expected is not None and expected.lltv > 0
    assert steps.aave_pool_ref(lake, 1, setup) == expected
    # the last day raises a threshold (a configuration, as governance might): from it on only
    last = lake.read("aave_events", AAVE_EVENTS, 1, days[-1:])
    configured = lake.read("aave_events", AAVE_EVENTS, 1).filter(
        pl.col("event") == "CollateralConfigurationChanged"
    )
    raised = configured.head(1).with_columns(liquidation_threshold=pl.lit("9700"))
    lake.write("aave_events", pl.concat([last, raised]), 1, days[-1])
    assert steps.aave_pool_ref(lake, 1, setup, days[-2]) == expected
    assert steps.aave_pool_ref(lake, 1, setup, days[-1]) == replace(expected, lltv=97 * 10**16)


def test_a_market_created_later_is_priced_from_its_creation_day_only(tmp_path: Path) -> None:
    """A market's prices start at its creation block (the price in force at its start, then each
    change), and its creation is in the digest of its day only: a market added on the fourth day
    prices from that day on, the earlier days are left as written, the table equals a build from
    scratch, and the new market's rows are those of the market with the same oracle from there."""
    lake = Lake(tmp_path / "lake")
    steps.build_lake(SOURCE, lake, SOURCE.days())
    markets = lake.read("markets", MARKETS, 1)
    day = SOURCE.days()[3]
    partitions = lake.read("partition_blocks", PARTITION_BLOCKS, 1)
    created = int(partitions.filter(pl.col("date") == day)["first_block"][0]) + 1234  # type: ignore[arg-type]
    original = markets.row(0, named=True)
    copy = markets.head(1).with_columns(
        market_id=pl.lit("0x" + "ab" * 32), created_block=pl.lit(created, pl.UInt32)
    )
    lake.write("markets", pl.concat([markets, copy]), 1, None)
    built = steps.build_oracle_prices(lake, 1)
    assert built.priced_from == day and built.days_written == SOURCE.days()[3:]
    table = _tables(lake)[2]
    lake.storage.delete_dir("oracle_pricing")
    assert steps.build_oracle_prices(lake, 1).days_written == []  # from scratch: the same rows
    new = table.filter(pl.col("market_id") == copy["market_id"][0])
    assert new["block_number"].min() == created and new["cause"][0] == "created"
    same = table.filter(
        (pl.col("market_id") == original["market_id"]) & (pl.col("block_number") > created)
    )
    columns = ["block_number", "log_index", "price", "feed", "cause"]
    assert new.tail(-1).select(columns).equals(same.select(columns))
    in_force = table.filter(
        (pl.col("market_id") == original["market_id"]) & (pl.col("block_number") < created)
    ).tail(1)
    assert new["price"][0] == in_force["price"][0]
