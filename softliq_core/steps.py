"""The pipeline's steps as plain functions over a source, a lake and a warehouse.

Dagster assets (``pipelines/``) call these one to one; a notebook can call them the same way.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import astuple, dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from softliq_core.decode import decode_logs
from softliq_core.feeds import FeedError, check_phases, round_ends, rounds_read_since
from softliq_core.markets import build_markets
from softliq_core.oracle_checks import (
    DEFAULT_JUMP_THRESHOLD,
    DEFAULT_STALE_GRACE,
    price_jumps,
    recipe_problems,
    stale_intervals,
)
from softliq_core.oracle_prices import input_digests, oracle_prices, recipe_of, round_digests
from softliq_core.protocols.morpho.oracle import OracleError
from softliq_core.rate_samples import (
    DEFAULT_CADENCE,
    DEFAULT_REFINE_BUDGET,
    RateInput,
    RateSampling,
    sample_rates,
)
from softliq_core.reorgs import broken_links, partition_record, stale_partitions
from softliq_core.replay.aave_history import (
    AaveHistory,
    AavePoolSetup,
    aave_event_days,
    aave_history,
    aave_pool_market,
)
from softliq_core.replay.baseline_validation import baseline_validation
from softliq_core.replay.daily import replay_day
from softliq_core.replay.inputs import MarketHistory, market_histories, market_refs
from softliq_core.replay.run import Outcomes, concat_outcomes, run_scenarios
from softliq_core.replay.scenario import (
    MarketRef,
    Scenario,
    ScenarioError,
    load_scenarios,
    scenario_chunks,
    validate_scenarios,
)
from softliq_core.replay.snapshot import DaySnapshot, replay_version
from softliq_core.report.governance import build_report
from softliq_core.sources.base import ChainSource, KnowsAavePool, RejectsRows
from softliq_core.store.lake import Lake, with_date
from softliq_core.store.reports import report_inputs, write_report
from softliq_core.store.snapshots import SnapshotStore
from softliq_core.store.warehouse import Warehouse
from softliq_core.tables import (
    AAVE_EVENT_DAYS,
    AAVE_EVENTS,
    BLOCK_CLOCK,
    BLOCK_TIMES,
    BLOCKS,
    FEEDS,
    MARKET_CREATIONS,
    MARKETS,
    MORPHO_EVENTS,
    ORACLE_PRICES,
    ORACLE_PRICING,
    ORACLE_ROUND_DIGESTS,
    ORACLE_ROUND_ENDS,
    ORACLE_ROUNDS,
    PARTITION_BLOCKS,
    PARTITION_INDEX,
    RATE_SAMPLES,
    RATE_SAMPLING,
    RAW_LOGS,
)

if TYPE_CHECKING:
    from softliq_core.replay.float_sweep import FloatSweep, MarketWork


@dataclass(frozen=True)
class DayCounts:
    day: date
    first_block: int | None
    last_block: int | None
    logs: int
    blocks: int
    seconds: float = 0.0


def ingest_day(source: ChainSource, lake: Lake, day: date) -> DayCounts:
    """Copy one UTC day of logs and blocks from the source into the lake's raw layer, and record the
    blocks at its ends in ``partition_blocks`` (written last: a day with a record is whole)."""
    started = time.perf_counter()
    block_range = source.day_block_range(day)
    if block_range is None:
        logs = pl.DataFrame(schema=pl.Schema(RAW_LOGS))
        blocks = pl.DataFrame(schema=pl.Schema(BLOCKS))
    else:
        logs = source.logs(*block_range)
        blocks = source.blocks(*block_range)
    lake.write("raw_logs", logs, source.chain_id, day)
    lake.write("blocks", blocks, source.chain_id, day)
    record = partition_record(source.chain_id, day, blocks, logs.height)
    lake.write("partition_blocks", record, source.chain_id, day)
    first, last = block_range if block_range else (None, None)
    return DayCounts(day, first, last, logs.height, blocks.height, time.perf_counter() - started)


def record_rejected_rows(source: ChainSource, lake: Lake) -> int:
    """Write the rows a file source refused to ``import_quarantine`` (one table per chain); 0 and
    nothing written for a source that refuses none by construction."""
    if not isinstance(source, RejectsRows):
        return 0
    rejected = source.rejected()
    lake.write("import_quarantine", rejected, source.chain_id, None)
    return rejected.height


@dataclass(frozen=True)
class ReorgRepair:
    broken_links: list[tuple[date, date]]  # (earlier day, later day) found not chaining
    reingested: list[date]
    remaining: list[tuple[date, date]]  # links still broken after the repair


def repair_reorgs(source: ChainSource, lake: Lake, days: Sequence[date]) -> ReorgRepair:
    """Ingest and decode again every partition a reorg replaced since it was written.

    Suspects are ``days``, the newest partition, and both sides of every broken link between
    consecutive partitions; a suspect whose end blocks are not the source's canonical ones is
    ingested again, which may break its link to the day before: that day is checked next, and so on
    back to where the chain forked.
    """

    def canonical(number: int) -> tuple[bytes, bytes] | None:
        block = source.blocks(number, number)
        if block.is_empty():
            return None
        return block["block_hash"][0], block["parent_hash"][0]

    chain_id = source.chain_id
    records = partition_records(lake, chain_id)
    suspects: set[date] = set(days) | set(records.sort("date")["date"].tail(1))
    checked: set[date] = set()
    found: list[tuple[date, date]] = []
    reingested: list[date] = []
    while True:
        links = broken_links(records)
        found += [link for link in links if link not in found]
        suspects |= {day for link in links for day in link}
        if not suspects - checked:
            break
        stale = stale_partitions(records, suspects - checked, canonical)
        checked |= suspects
        for day in stale:
            ingest_day(source, lake, day)
            decode_day(lake, chain_id, day)
            reingested.append(day)
        records = partition_records(lake, chain_id)
    return ReorgRepair(found, sorted(reingested), links)


def build_lake(source: ChainSource, lake: Lake, days: Sequence[date]) -> None:
    """The days ingested and decoded, then the reference tables and oracle prices:
    the lake a replay reads (what the Dagster jobs materialise, in one call)."""
    build_feeds(source, lake)
    for day in days:
        ingest_day(source, lake, day)
        decode_day(lake, source.chain_id, day)
    build_reference(source, lake)
    build_rate_samples(source, lake)
    build_oracle_prices(lake, source.chain_id)


def build_feeds(source: ChainSource, lake: Lake) -> pl.DataFrame:
    """The ``feeds`` reference table (proxies and their phases) from the source."""
    feeds = source.feeds()
    problems = check_phases(feeds)
    if problems:
        raise FeedError("; ".join(problems))
    lake.write("feeds", feeds, source.chain_id, None)
    return feeds


def decode_day(lake: Lake, chain_id: int, day: date) -> dict[str, int]:
    """Decode one day of raw logs into morpho_events, aave_events, oracle_rounds and quarantine.

    ``oracle_round_logs`` counts the logs behind ``oracle_rounds`` (an aggregator serving two
    proxies gives two rows for one log)."""
    raw = lake.read("raw_logs", RAW_LOGS, chain_id, [day])
    blocks = lake.read("blocks", BLOCKS, chain_id, [day])
    decoded = decode_logs(raw, blocks, lake.read("feeds", FEEDS, chain_id))
    lake.write("morpho_events", decoded.morpho_events, chain_id, day)
    lake.write("aave_events", decoded.aave_events, chain_id, day)
    lake.write("oracle_rounds", decoded.oracle_rounds, chain_id, day)
    lake.write("quarantine", decoded.quarantine, chain_id, day)
    return {
        "raw_logs": raw.height,
        "morpho_events": decoded.morpho_events.height,
        "aave_events": decoded.aave_events.height,
        "oracle_rounds": decoded.oracle_rounds.height,
        "oracle_round_logs": decoded.oracle_rounds.select("block_number", "log_index")
        .unique()
        .height,
        "quarantine": decoded.quarantine.height,
    }


def _with_date(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.from_epoch(pl.col("timestamp").cast(pl.Int64), time_unit="s").dt.date().alias("date")
    )


def build_reference(source: ChainSource, lake: Lake) -> pl.DataFrame:
    """The ``markets`` table from every CreateMarket in the lake (kept in ``market_creations``,
    read again from the days whose events changed) and the source's descriptions."""
    creations = lake.fold_days(
        "morpho_events", with_date(MORPHO_EVENTS), source.chain_id, "market_creations",
        MARKET_CREATIONS,
        lambda rows: rows.filter(pl.col("event") == "CreateMarket").rename({"date": "day"}),
    )  # fmt: skip
    markets = build_markets(creations.drop("day"), source.tokens(), source.oracles())
    lake.write("markets", markets, source.chain_id, None)
    return markets


@dataclass(frozen=True)
class RateSamples:
    """``rate_samples`` as built, and what the build cost the node."""

    table: pl.DataFrame
    reads: int  # blocks read by historical eth_call in this build
    extended: bool  # the stored samples of a shorter range were kept where final


def build_rate_samples(
    source: ChainSource,
    lake: Lake,
    cadence: int = DEFAULT_CADENCE,
    refine_budget: int = DEFAULT_REFINE_BUDGET,
) -> RateSamples:
    """Sample every event-less oracle input the markets' recipes read (vault terms, adapter feeds)
    over the lake's block range, by historical eth_call (``rate_samples.py``). The stored samples
    of a shorter range read the same way (``rate_sampling``) are kept where final: a daily run
    reads about a day per input."""
    markets = lake.read("markets", MARKETS, source.chain_id)
    first_block, last_block = block_span(lake, source.chain_id) or (0, 0)
    sampling = RateSampling(first_block, last_block, cadence, refine_budget)
    extended = any(sampling.extends(e) for e in _rate_sampling(lake, source.chain_id))
    reads = [0]

    def read(rate: RateInput, blocks: Sequence[int]) -> list[int]:
        reads[0] += len(blocks)
        return source.rate_at(rate.contract, rate.call, rate.sample, blocks)

    table = sample_rates(
        read,
        [recipe_of(m) for m in markets.iter_rows(named=True)],
        set(lake.read("feeds", FEEDS, source.chain_id)["feed"].to_list()),
        sampling.first_block, sampling.last_block, source.chain_id, cadence, refine_budget,
        lake.read("rate_samples", RATE_SAMPLES, source.chain_id) if extended else None,
    )  # fmt: skip
    lake.write("rate_samples", table, source.chain_id, None)
    lake.write(
        "rate_sampling",
        pl.DataFrame(
            [(source.chain_id, *astuple(sampling))], pl.Schema(RATE_SAMPLING), orient="row"
        ),
        source.chain_id,
        None,
    )
    return RateSamples(table, reads[0], extended)


def block_span(lake: Lake, chain_id: int) -> tuple[int, int] | None:
    """The lake's first and last block (None without blocks), from the partitions at its two ends:
    blocks are ordered across days, so a daily run need not read a year of them."""
    days = lake.days("blocks", chain_id)

    def numbers(day: date) -> list[int]:
        return lake.read("blocks", BLOCK_TIMES, chain_id, [day])["block_number"].to_list()

    first = next((min(n) for n in map(numbers, days) if n), None)  # past days without blocks
    if first is None:
        return None
    return first, next(max(n) for n in map(numbers, reversed(days)) if n)


def _rate_sampling(lake: Lake, chain_id: int) -> list[RateSampling]:
    """How the stored rate_samples were read (none when the lake predates the table)."""
    stored = lake.read("rate_sampling", RATE_SAMPLING, chain_id).drop("chain_id")
    return [RateSampling(*row) for row in stored.iter_rows()]


@dataclass(frozen=True)
class OraclePrices:
    """What a build of ``oracle_prices`` priced, what kept markets out of it, and what the checks
    flag in the days it priced."""

    prices: pl.DataFrame  # the rows from since_block on, after each market's price in force then
    unpriced: dict[str, str]  # market id -> why it has no prices (unknown shape, no history)
    stale: pl.DataFrame  # oracle_checks.stale_intervals reaching the days priced
    jumps: pl.DataFrame  # oracle_checks.price_jumps in ``prices``
    days_written: list[date]  # the day partitions whose rows changed (Lake.write_by_day)
    priced_from: date | None  # the first day priced again (None: every day's inputs as before)
    since_block: int  # the first block priced again (past the lake's end when none was)


def build_oracle_prices(
    lake: Lake,
    chain_id: int,
    strict: bool = True,
    jump_threshold: float = DEFAULT_JUMP_THRESHOLD,
    stale_grace_seconds: int = DEFAULT_STALE_GRACE,
) -> OraclePrices:
    """Every market's oracle price at each change of its inputs, partitioned by day.

    Incremental: ``oracle_pricing`` keeps a digest of each day's inputs (``input_digests``), and
    only the days from the first one whose digest differs (a new day, a re-ingested one, the day of
    an added aggregator switch, a market's creation day when it is added or changed; every day
    when a feed's first phase or ``PRICING_VERSION`` changed) are priced again, from each input's value in force when that day
    starts; the table equals a build from scratch. Blocks and stored prices are read for those days
    only (and the days of aggregator switches, whose blocks' timestamps a price may take); the
    checks (stale answers, jumps) look at those days, ``prices`` being their rows.

    A market whose oracle shape is unknown or which reads an input with no history raises
    ``OracleError`` naming the market and the input; with ``strict`` False it is left out of the
    table instead and named in ``unpriced`` (the Dagster check fails on it and blocks the replay).
    """
    markets = lake.read("markets", MARKETS, chain_id)
    lake_end = (block_span(lake, chain_id) or (0, 0))[1]
    all_feeds = lake.read("feeds", FEEDS, chain_id)
    # Phases that begin after the lake's last block are not in force within it (a backfill day by
    # day knows switches from feed discovery at the head, before their aggregators' rounds).
    feeds = all_feeds.filter(pl.col("first_block") <= lake_end)
    rates = lake.read("rate_samples", RATE_SAMPLES, chain_id)
    partitions = partition_records(lake, chain_id)
    rounds_by_day = lake.fold_days(
        "oracle_rounds", with_date(ORACLE_ROUNDS), chain_id, "oracle_round_digests",
        ORACLE_ROUND_DIGESTS, lambda rows: round_digests(rows).rename({"date": "day"}),
    )  # fmt: skip
    digests = input_digests(
        markets, all_feeds, rounds_by_day.rename({"day": "date"}), rates, partitions
    )
    stored = lake.read("oracle_pricing", ORACLE_PRICING, chain_id).select(
        pl.col("day").alias("date"), "inputs"
    )
    changed = digests.join(stored, on="date", how="left", suffix="_stored").filter(
        pl.col("inputs_stored").is_null() | (pl.col("inputs") != pl.col("inputs_stored"))
    )
    since_day: date | None = min(changed["date"].to_list(), default=None)
    # from that day's first block; when nothing changed, past the lake's end: no price to compute
    starts = partitions.filter(pl.col("date") >= since_day) if since_day else partitions.clear()
    since_block = min((int(b) for b in starts["first_block"].drop_nulls()), default=lake_end + 1)
    rounds = _rounds_read(lake, chain_id, partitions, since_block, feeds)
    unpriced = recipe_problems(markets, rounds, feeds, rates, since_block)
    if unpriced and strict:
        raise OracleError("; ".join(unpriced.values()))
    priced = markets.filter(~pl.col("market_id").is_in(list(unpriced)))
    blocks = _timestamped_blocks(lake, chain_id, partitions, since_block, feeds)
    prices = oracle_prices(rounds, priced, feeds, blocks, rates, since_block)
    written = (
        lake.write_by_day("oracle_prices", _with_date(prices), chain_id, ORACLE_PRICES, since_day)
        if since_day is not None
        else []  # every day as built
    )
    lake.write("oracle_pricing", digests.rename({"date": "day"}), chain_id, None)
    in_force = pl.concat(
        [_last_prices_before(lake, chain_id, since_day, set(prices["market_id"])), prices]
    )
    return OraclePrices(
        in_force,
        unpriced,
        stale_intervals(rounds, feeds, blocks, stale_grace_seconds, since_block),
        price_jumps(in_force, jump_threshold),
        written,
        since_day,
        since_block,
    )


def partition_records(lake: Lake, chain_id: int) -> pl.DataFrame:
    """Every day's ``partition_blocks`` record, from ``partition_index`` (one file, brought up to
    date from the days whose record changed: ``Lake.fold_days``)."""
    return lake.fold_days(
        "partition_blocks", PARTITION_BLOCKS, chain_id, "partition_index", PARTITION_INDEX,
        lambda rows: rows.rename({"date": "day"}),
    ).rename({"day": "date"})  # fmt: skip


def _days_from(partitions: pl.DataFrame, since_block: int, feeds: pl.DataFrame) -> list[date]:
    """The days a build from ``since_block`` reads whole: those from it on, the last (the lake's
    end, which the checks read), and those in which a phase switch takes effect (a switch before
    ``since_block`` can be the answer in force at its start, from a block of its day and its
    aggregator's last round before it)."""
    days = partitions.filter(pl.col("last_block").is_not_null()).sort("first_block")
    holding = pl.lit(False)
    switches = feeds.filter(pl.col("phase_id") > pl.col("phase_id").min().over("feed"))
    for block in [since_block, *switches["first_block"].to_list()]:
        holding = holding | (pl.col("first_block").le(block) & pl.col("last_block").ge(block))
    last_day = pl.col("date") == pl.col("date").last()
    wanted = days.filter(holding | (pl.col("first_block") >= since_block) | last_day)
    return list(wanted["date"])


def _timestamped_blocks(
    lake: Lake, chain_id: int, partitions: pl.DataFrame, since_block: int, feeds: pl.DataFrame
) -> pl.DataFrame:
    """The blocks whose timestamps a build from ``since_block`` may look up (``_days_from``)."""
    return lake.read("blocks", BLOCK_TIMES, chain_id, _days_from(partitions, since_block, feeds))


def _rounds_read(
    lake: Lake, chain_id: int, partitions: pl.DataFrame, since_block: int, feeds: pl.DataFrame
) -> pl.DataFrame:
    """The rounds a build from ``since_block`` reads (``rounds_read_since``): those of the days it
    reads whole (``_days_from``), and of each earlier day the rounds kept in ``oracle_round_ends``
    (``feeds.round_ends``), which hold every earlier round it carries in."""
    whole = _days_from(partitions, since_block, feeds)
    ends = lake.fold_days(
        "oracle_rounds", with_date(ORACLE_ROUNDS), chain_id, "oracle_round_ends",
        ORACLE_ROUND_ENDS, lambda rows: round_ends(rows).rename({"date": "day"}),
    )  # fmt: skip
    earlier = ends.filter(~pl.col("day").is_in(whole)).drop("day")
    read = pl.concat([earlier, lake.read("oracle_rounds", ORACLE_ROUNDS, chain_id, whole)])
    return rounds_read_since(read, feeds, since_block)


def _last_prices_before(
    lake: Lake, chain_id: int, day: date | None, markets: set[str]
) -> pl.DataFrame:
    """Each of ``markets``' last stored price before ``day``, read back from the day before it in
    batches of 1, 2, 4... days (inputs change at least every heartbeat: usually one day)."""
    earlier = [d for d in lake.days("oracle_prices", chain_id) if day is not None and d < day]
    found, batch = [], 1
    while markets and earlier:
        days, earlier = earlier[-batch:], earlier[:-batch]
        last = (
            lake.read("oracle_prices", ORACLE_PRICES, chain_id, days)
            .filter(pl.col("market_id").is_in(list(markets)))
            .sort("block_number", "log_index")
            .group_by("market_id", maintain_order=True)
            .last()
            .select(ORACLE_PRICES.names)
        )
        found.append(last)
        markets = markets - set(last["market_id"].to_list())
        batch *= 2
    return pl.concat([pl.DataFrame(schema=pl.Schema(ORACLE_PRICES)), *found])


def load_histories(lake: Lake, chain_id: int) -> list[MarketHistory]:
    """Every market's events, oracle prices and block clock, from the lake."""
    return market_histories(
        lake.read("morpho_events", MORPHO_EVENTS, chain_id),
        lake.read("oracle_prices", ORACLE_PRICES, chain_id),
        lake.read("markets", MARKETS, chain_id),
        lake.read("blocks", BLOCK_CLOCK, chain_id),
    )


def sweep_floats(
    lake: Lake,
    chain_id: int,
    scenarios: Sequence[Scenario],
    progress: Callable[[list[MarketWork]], Iterable[MarketWork]] = iter,
) -> FloatSweep:
    """The scenarios swept over the lake's Morpho markets in the float kernel (``float_sweep``:
    ``progress`` wraps its markets)."""
    from softliq_core.replay.float_sweep import float_sweep  # (numba: only where a sweep runs)

    return float_sweep(load_histories(lake, chain_id), scenarios, progress)


def plan_sweep_chunks(
    lake: Lake, chain_id: int, scenarios: Sequence[Scenario], chunks: int
) -> list[list[Scenario]]:
    """Check the whole set (the float sweep runs it, and it is valid on the lake's markets) before
    any work, then split it into chunks swept in parallel, each on its own process or machine."""
    from softliq_core.replay.float_sweep import float_sweep_problems

    problems = float_sweep_problems(scenarios)
    if problems:
        raise ScenarioError(problems)
    return plan_scenario_chunks(lake, chain_id, scenarios, chunks)


def aave_setup(source: ChainSource) -> AavePoolSetup | None:
    """The source's Aave pool configuration, if it knows one (the synthetic chain does)."""
    return source.aave_pool() if isinstance(source, KnowsAavePool) else None


def aave_pool_ref(
    lake: Lake, chain_id: int, setup: AavePoolSetup | None, through: date | None = None
) -> MarketRef | None:
    """The Aave pool as scenarios are validated against, from its events (through the day
    ``through``; each day's count and highest liquidation threshold kept in ``aave_event_days``,
    read again from the days whose events changed); None without a pool configuration or without
    Aave events."""
    if setup is None or not lake.exists("aave_events"):
        return None
    days = lake.fold_days(
        "aave_events", with_date(AAVE_EVENTS), chain_id, "aave_event_days", AAVE_EVENT_DAYS,
        lambda rows: aave_event_days(rows).rename({"date": "day"}),
    )  # fmt: skip
    if through is not None:
        days = days.filter(pl.col("day") <= through)
    if not days["events"].sum():
        return None
    return aave_pool_market(setup, int(days["highest_threshold"].max() or 0))  # type: ignore[arg-type]


def load_aave_history(
    lake: Lake,
    chain_id: int,
    setup: AavePoolSetup | None,
    days: list[date] | None = None,
    previous: DaySnapshot | None = None,
) -> AaveHistory | None:
    """The Aave pool's events, its price sources' inputs and the block clock, from the lake (None
    without a pool configuration or without Aave events); ``days``: through those days only (the
    rate samples, one table for every day, are cut at their last block). ``previous``: a daily
    stretch resumed from that snapshot's replay of the pool: the events, blocks and feed rounds of
    the days after it, the price inputs after its last block; every day's rounds when an aggregator
    switch falls in the stretch (it replays the new aggregator's last earlier round, which can be
    on any earlier day)."""
    if setup is None or not lake.exists("aave_events"):
        return None
    resumed = previous if previous is not None and previous.aave else None
    stretch = days
    if resumed is not None and days is not None:
        stretch = [d for d in days if d > resumed.day]
    events = lake.read("aave_events", AAVE_EVENTS, chain_id, stretch)
    if events.is_empty() and resumed is None:
        return None
    blocks = lake.read("blocks", BLOCK_CLOCK, chain_id, stretch)
    feeds = lake.read("feeds", FEEDS, chain_id)
    rounds_of = days
    if resumed is not None:
        last_block = blocks["block_number"].max()
        switches = feeds.filter(
            pl.col("first_block").is_between(resumed.last_block + 1, last_block)
        )
        rounds_of = stretch if switches.is_empty() else days
    return aave_history(
        setup, events, lake.read("oracle_rounds", ORACLE_ROUNDS, chain_id, rounds_of), feeds,
        lake.read("rate_samples", RATE_SAMPLES, chain_id), blocks,
        resumed.last_block if resumed else -1, resumed.aave_lltv if resumed else 0,
    )  # fmt: skip


def replay_scenarios(
    lake: Lake, chain_id: int, scenarios: Sequence[Scenario], aave: AavePoolSetup | None = None
) -> Outcomes:
    """Replay every market of the lake (and the Aave pool, given its configuration) under the
    scenario set (validated before any work)."""
    return run_scenarios(
        load_histories(lake, chain_id), scenarios, aave=load_aave_history(lake, chain_id, aave)
    )


@dataclass(frozen=True)
class ReplayedStretch:
    """A scenario set's (or chunk's) replay of the days through the one asked for: the rows to
    write (``store_replayed``), the stretch's blocks, and whether it is the newest day replayed."""

    days: list[date]
    outcomes: Outcomes
    first_block: int
    last_block: int
    newest: bool


def replay_through(
    lake: Lake,
    chain_id: int,
    scenarios: Sequence[Scenario],
    day: date,
    warehouse_path: str | Path,
    aave: AavePoolSetup | None = None,
    keep_snapshot_days: int = 0,
) -> list[date]:
    """The incremental daily replay of ``day`` (``replay_stretch``), its rows written to DuckDB;
    returns the days replayed."""
    stretch = replay_stretch(lake, chain_id, scenarios, day, aave, keep_snapshot_days)
    store_replayed([stretch], warehouse_path, lake)
    return stretch.days


def replay_stretch(
    lake: Lake,
    chain_id: int,
    scenarios: Sequence[Scenario],
    day: date,
    aave: AavePoolSetup | None = None,
    keep_snapshot_days: int = 0,
) -> ReplayedStretch:
    """The incremental daily replay of ``day`` (replay/daily.py): from the snapshot of the lake's
    day before, written by the previous run. When that snapshot is missing (first run, or another
    scenario set or engine version: snapshots are per version) the days since the newest snapshot of
    this version, or since the lake's first day (genesis), are replayed with it in one stretch, so a
    changed set replays from the start by itself. Writes the snapshot of ``day`` and then keeps
    only the newest ``keep_snapshot_days`` and the month-ends (0: every one; ``SnapshotStore.prune``);
    returns the stretch's rows. With the Aave pool's configuration (``aave``), the pool resumes
    likewise. A chunk of a set (``plan_day_chunks``) is a set of its own here, with its own
    snapshots."""
    days = _days_through(lake, chain_id, day)
    snapshots = SnapshotStore(lake.root, chain_id, replay_version(scenarios))
    done = set(snapshots.days())
    start = len(days) - 1
    while start > 0 and days[start - 1] not in done:
        start -= 1
    previous = snapshots.read(days[start - 1]) if start else None
    stretch = days[start:]
    markets = lake.read("markets", MARKETS, chain_id)
    # A long stretch (a backfill, a catch-up from genesis) stops at each month's end to leave a
    # snapshot there, as day-by-day runs would: a later re-run of a day in it resumes from the
    # month-end before it, not from the start of the stretch.
    segments = _month_segments(stretch)
    if len(segments) > 1:
        # what a later month's pool would refuse is refused before any work (one segment:
        # replay_day checks before it replays)
        pool_ref = aave_pool_ref(lake, chain_id, aave, day)
        validate_scenarios(scenarios, market_refs(markets) + ([pool_ref] if pool_ref else []))
    number = pl.col("block_number").cast(pl.Int64)
    parts: list[Outcomes] = []
    first_block: int | None = None
    for segment in segments:
        blocks = lake.read("blocks", BLOCK_CLOCK, chain_id, segment)
        first, last_block = blocks.select(number.min().alias("first"), number.max()).row(0)
        first_block = first if first_block is None else first_block
        through = [d for d in days if d <= segment[-1]]
        pool = load_aave_history(lake, chain_id, aave, through, previous)
        histories = _stretch_histories(lake, chain_id, markets, blocks, segment, previous)
        outcomes, previous = replay_day(
            histories, scenarios, previous, segment[-1], last_block, pool
        )
        snapshots.write(previous)
        parts.append(outcomes)
    newest = day >= snapshots.days()[-1]
    snapshots.prune(keep_snapshot_days)
    assert first_block is not None
    return ReplayedStretch(stretch, _joined(parts), first_block, last_block, newest)


def _month_segments(days: list[date]) -> list[list[date]]:
    """Consecutive days cut after each month's last day among them."""
    return [list(group) for _, group in itertools.groupby(days, key=lambda d: (d.year, d.month))]


def _joined(parts: list[Outcomes]) -> Outcomes:
    """The rows of consecutive segments as one stretch's: every segment's actions and clips, the
    positions as of the last one's end (the summary is recomputed by the store)."""
    last = parts[-1]
    return replace(
        last,
        liquidation_actions=pl.concat([p.liquidation_actions for p in parts]),
        clipped_actions=pl.concat([p.clipped_actions for p in parts]),
    )


def plan_day_chunks(
    lake: Lake,
    chain_id: int,
    scenarios: Sequence[Scenario],
    chunks: int,
    day: date,
    aave: AavePoolSetup | None = None,
) -> list[list[Scenario]]:
    """Check the whole set against the markets and the Aave pool as of ``day`` (before any work),
    then split it, in ``scenario_id`` order so the file's order does not matter, into chunks whose
    daily replays (``replay_stretch``) run in parallel, each resuming its own snapshots; another
    chunk count or set makes other chunks, which replay from genesis by themselves."""
    pool = aave_pool_ref(lake, chain_id, aave, day)
    markets = market_refs(lake.read("markets", MARKETS, chain_id))
    validate_scenarios(scenarios, markets + ([pool] if pool is not None else []))
    return scenario_chunks(sorted(scenarios, key=lambda s: s.scenario_id), chunks)


def store_replayed(
    stretches: Sequence[ReplayedStretch], warehouse_path: str | Path, lake: Lake
) -> None:
    """Write the stretches' rows (a set's, or every chunk's of one day) in one transaction."""
    Warehouse(warehouse_path).write_day_outcomes(
        [(s.outcomes, s.first_block, s.last_block, s.newest) for s in stretches], lake.root
    )


def _days_through(lake: Lake, chain_id: int, day: date) -> list[date]:
    days = [d for d in lake.days("blocks", chain_id) if d <= day]
    if day not in days:
        raise ValueError(f"replay of {day}: the lake has no blocks of that day; ingest it first")
    return days


def _stretch_histories(
    lake: Lake,
    chain_id: int,
    markets: pl.DataFrame,
    blocks: pl.DataFrame,
    days: list[date],
    previous: DaySnapshot | None,
) -> list[MarketHistory]:
    """Every market's events, prices and blocks of some consecutive days; a market the previous
    snapshot lacks (new in ``markets``) also gets every earlier price, as a full replay sees them."""
    events = lake.read("morpho_events", MORPHO_EVENTS, chain_id, days)
    histories = market_histories(
        events, lake.read("oracle_prices", ORACLE_PRICES, chain_id, days), markets, blocks
    )
    new = (
        {h.market.market_id for h in histories} - previous.native_prices.keys()
        if previous
        else set()
    )
    if not new:
        return histories
    earlier = lake.read("oracle_prices", ORACLE_PRICES, chain_id).filter(
        pl.col("block_number") <= blocks["block_number"].max()
    )
    whole = {h.market.market_id: h for h in market_histories(events, earlier, markets, blocks)}
    return [whole[h.market.market_id] if h.market.market_id in new else h for h in histories]


def validate_baseline(lake: Lake, chain_id: int, warehouse_path: str | Path) -> pl.DataFrame:
    """Check every historical liquidation with the engine's rule and store ``baseline_validation``."""
    table = baseline_validation(load_histories(lake, chain_id))
    Warehouse(warehouse_path).replace_table("baseline_validation", table, lake.root)
    return table


def plan_scenario_chunks(
    lake: Lake,
    chain_id: int,
    scenarios: Sequence[Scenario],
    chunks: int,
    aave: AavePoolSetup | None = None,
) -> list[list[Scenario]]:
    """Check the whole set against the lake's markets and Aave pool (before any work), then split
    it into chunks that replay in parallel, each on its own process or machine."""
    pool = aave_pool_ref(lake, chain_id, aave)
    markets = market_refs(lake.read("markets", MARKETS, chain_id))
    validate_scenarios(scenarios, markets + ([pool] if pool is not None else []))
    return scenario_chunks(scenarios, chunks)


def store_outcomes(
    outcomes: Outcomes | Sequence[Outcomes], warehouse_path: str | Path, lake: Lake
) -> None:
    """Write the outcomes (or every chunk's) to DuckDB in one transaction: the single writer."""
    whole = outcomes if isinstance(outcomes, Outcomes) else concat_outcomes(outcomes)
    Warehouse(warehouse_path).write_outcomes(whole, lake.root)


def write_governance_report(
    lake: Lake,
    chain_id: int,
    warehouse_path: str | Path,
    scenario_file: str | Path,
    out_dir: str | Path,
) -> Path:
    """The governance report of a replayed scenario set (``report.md`` and PNG charts)."""
    inputs = report_inputs(
        Warehouse(warehouse_path),
        load_histories(lake, chain_id),
        load_scenarios(scenario_file),
        scenario_file,
    )
    return write_report(build_report(inputs), out_dir)
