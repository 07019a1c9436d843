"""oracle_prices on the synthetic chain against the price its oracle actually returned."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softliq_core.decode import decode_logs
from softliq_core.feeds import FeedError, feed_updates, rounds_read_since
from softliq_core.markets import MarketReferenceError, build_markets
from softliq_core.oracle_checks import price_in_force, stale_intervals, truth_mismatches
from softliq_core.oracle_prices import oracle_prices
from softliq_core.protocols.morpho.oracle import OracleError
from softliq_core.sources.synthetic import SyntheticChain, SyntheticChainConfig, generate_chain
from tests.support.pipeline import InMemory, run_in_memory


def test_every_oracle_read_of_history_used_the_price_oracle_prices_has_in_force(
    chain: SyntheticChain, in_memory: InMemory
) -> None:
    truth = chain.truth_prices
    kinds = dict(truth.group_by("kind").len().iter_rows())
    events = dict(
        in_memory.decoded.morpho_events.filter(pl.col("event").is_in(["Liquidate", "PreLiquidate"]))
        .group_by("event").len().iter_rows()
    )  # fmt: skip
    # every liquidation and pre-liquidation read the oracle, and so did borrows and withdrawals
    assert kinds["Liquidate"] == events["Liquidate"] > 10
    assert kinds["PreLiquidate"] == events["PreLiquidate"] > 10
    assert kinds["Borrow"] > 100 and kinds["WithdrawCollateral"] > 10
    assert truth_mismatches(in_memory.prices, truth).is_empty()


def test_the_truth_check_can_fail(chain: SyntheticChain, in_memory: InMemory) -> None:
    """One price row off by one unit is caught."""
    prices = in_memory.prices
    first = price_in_force(prices, chain.truth_prices.head(1))
    key = (pl.col("market_id") == first["market_id"][0]) & (
        pl.col("price") == first["price_in_force"][0]
    )
    nudged = prices.with_columns(
        pl.when(key).then(pl.col("price").map_elements(lambda p: str(int(p) + 1), pl.String))
        .otherwise(pl.col("price")).alias("price")
    )  # fmt: skip
    assert truth_mismatches(nudged, chain.truth_prices).height >= 1


def test_the_wsteth_market_prices_move_with_the_exchange_rate(
    chain: SyntheticChain, in_memory: InMemory
) -> None:
    (market,) = [m for m in chain.markets if m.collateral.symbol == "wstETH"]
    (adapter,) = chain.adapters.values()
    prices = in_memory.prices.filter(pl.col("market_id") == market.params.id)
    rate_rows = prices.filter(pl.col("cause") == "rate")
    reports = [block for block, _ in adapter.history[1:]]
    assert rate_rows["block_number"].to_list() == [b + 1 for b in reports]  # from the next block
    assert (rate_rows["log_index"] == 0).all()
    assert set(rate_rows["feed"]) == {adapter.address}
    for row in rate_rows.iter_rows(named=True):  # the rate moved, the stETH/ETH answer did not
        before = prices.filter(pl.col("block_number") < row["block_number"])["price"][-1]
        rate_before = adapter.answer_after(row["block_number"] - 2)
        rate_after = adapter.answer_after(row["block_number"] - 1)
        assert int(row["price"]) * rate_before == int(before) * rate_after


@pytest.mark.parametrize("seed", [3, 21])
def test_truth_holds_on_other_chains_and_needs_the_rate_and_the_switch(seed: int) -> None:
    chain = generate_chain(
        SyntheticChainConfig(seed=seed, days=3, borrowers_per_market=30, crash_day=1)
    )
    ours = run_in_memory(chain)
    truth = chain.truth_prices
    assert truth_mismatches(ours.prices, truth).is_empty()
    (wsteth,) = [m.params.id for m in chain.markets if m.collateral.symbol == "wstETH"]
    assert truth.filter(pl.col("market_id") == wsteth).height > 0

    def prices(feeds: pl.DataFrame, rates: pl.DataFrame) -> pl.DataFrame:
        rounds = decode_logs(chain.raw_logs, chain.blocks, feeds).oracle_rounds
        return oracle_prices(rounds, ours.markets, feeds, chain.blocks, rates)

    # the exchange rate frozen at its first sample: the wstETH liquidations are mispriced
    frozen = ours.rate_samples.head(1)
    wrong = truth_mismatches(prices(chain.feeds_table(), frozen), truth)
    assert wrong.height > 0 and set(wrong["market_id"]) == {wsteth}
    # the proxy's switch not known (the old aggregator taken as serving throughout): mispriced
    feeds = chain.feeds_table()
    old_only = feeds.filter(pl.col("phase_id") == 1)
    renamed = feeds.filter(pl.col("phase_id") == 2).with_columns(
        pl.lit("0x" + "99" * 20).alias("feed"), pl.lit(1, pl.UInt16).alias("phase_id"),
        pl.lit(chain.config.first_block, pl.UInt32).alias("first_block"),
    )  # fmt: skip
    wrong = truth_mismatches(prices(pl.concat([old_only, renamed]), ours.rate_samples), truth)
    assert wrong.height > 0
    assert wrong["block_number"].min() >= feeds["first_block"].max()


def _market(chain: SyntheticChain, collateral: str, loan: str) -> str:
    (market,) = [
        m.params.id
        for m in chain.markets
        if (m.collateral.symbol, m.loan.symbol) == (collateral, loan)
    ]
    return market


def test_missing_feed_history_is_an_error_naming_market_and_feed(
    chain: SyntheticChain, in_memory: InMemory
) -> None:
    feeds = chain.feeds_table()
    rounds = in_memory.decoded.oracle_rounds
    btc = feeds.filter(pl.col("description") == "BTC / USD")["feed"][0]
    with pytest.raises(OracleError) as error:
        oracle_prices(
            rounds.filter(pl.col("feed") != btc), in_memory.markets, feeds, chain.blocks,
            in_memory.rate_samples,
        )  # fmt: skip
    assert str(error.value).startswith(f"market {_market(chain, 'WBTC', 'USDC')}: oracle ")
    assert f"reads feed {btc}: no round in the lake" in str(error.value)


def test_missing_rate_samples_are_an_error_naming_market_and_feed(
    chain: SyntheticChain, in_memory: InMemory
) -> None:
    (adapter,) = chain.adapters
    with pytest.raises(OracleError) as error:
        oracle_prices(
            in_memory.decoded.oracle_rounds, in_memory.markets, chain.feeds_table(), chain.blocks,
            in_memory.rate_samples.clear(),
        )  # fmt: skip
    assert str(error.value).startswith(f"market {_market(chain, 'wstETH', 'WETH')}: ")
    assert (
        f"reads feed {adapter}: not a Chainlink proxy in feeds, and no latestRoundData samples"
        in str(error.value)
    )


def test_a_switch_without_the_new_aggregators_rounds_is_an_error(
    chain: SyntheticChain, in_memory: InMemory
) -> None:
    feeds = chain.feeds_table()
    _, new, switch = (
        feeds.filter(pl.col("phase_id") == 2).select("feed", "aggregator", "first_block").row(0)
    )
    rounds = in_memory.decoded.oracle_rounds.filter(
        (pl.col("aggregator") != new) | (pl.col("block_number") >= switch)
    )
    with pytest.raises(OracleError) as error:
        oracle_prices(rounds, in_memory.markets, feeds, chain.blocks, in_memory.rate_samples)
    message = str(error.value)
    assert message.startswith(f"market {_market(chain, 'WETH', 'USDC')}: feed ")
    assert f"phase 2 (aggregator {new}) serves from block {switch}" in message


def test_an_unknown_oracle_shape_is_an_error_naming_market_and_oracle(
    chain: SyntheticChain, in_memory: InMemory
) -> None:
    market = chain.markets[1]
    oracles = chain.oracles_table().with_columns(
        pl.when(pl.col("oracle") == market.params.oracle)
        .then(pl.lit("unknown: BASE_VAULT() reverts"))
        .otherwise(pl.col("oracle_kind"))
        .alias("oracle_kind")
    )
    with pytest.raises(MarketReferenceError) as error:
        build_markets(in_memory.decoded.morpho_events, chain.tokens_table(), oracles)
    assert str(error.value) == (
        f"market {market.params.id}: oracle {market.params.oracle} has an unknown shape (neither "
        "MorphoChainlinkOracleV2 nor ChainlinkOracle: unknown: BASE_VAULT() reverts)"
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.floats(0, 1.02))
def test_prices_since_a_block_are_the_whole_tables_rows_from_it(
    chain: SyntheticChain, in_memory: InMemory, position: float
) -> None:
    """Priced from any block on (each input's value at its start carried in), the rows are the
    whole table's from that block: across the aggregator switch and the rate's reports too."""
    first = chain.config.first_block
    since = first + int(position * chain.config.n_blocks)
    rounds, feeds = in_memory.decoded.oracle_rounds, chain.feeds_table()
    args = (rounds, in_memory.markets, feeds, chain.blocks, in_memory.rate_samples)
    whole = in_memory.prices.filter(pl.col("block_number") >= since)
    assert oracle_prices(*args, since_block=since).equals(whole)
    read = rounds_read_since(rounds, feeds, since)  # what a build from it reads
    assert oracle_prices(read, *args[1:], since_block=since).equals(whole)
    assert read.filter(pl.col("block_number") >= since).equals(
        rounds.filter(pl.col("block_number") >= since)
    )
    for feed in feeds["feed"].unique():
        updates = feed_updates(feed, rounds, feeds)
        later = [u for u in updates if u.block_number >= since]
        carried = [u for u in updates if u.block_number < since][-1:]
        assert feed_updates(feed, rounds, feeds, since) == carried + later
        assert feed_updates(feed, read, feeds, since) == carried + later
    stale = stale_intervals(rounds, feeds, chain.blocks, 0)
    for answers in (rounds, read):
        assert stale_intervals(answers, feeds, chain.blocks, 0, since).equals(
            stale.filter(pl.col("until_block") >= since)
        )


def _updates_or_error(feed: str, rounds: pl.DataFrame, feeds: pl.DataFrame, since: int) -> object:
    try:
        return feed_updates(feed, rounds, feeds, since)
    except FeedError as error:
        return str(error)


def test_the_rounds_a_build_reads_give_every_feeds_updates_at_the_switchs_edges(
    chain: SyntheticChain, in_memory: InMemory
) -> None:
    """From each block where a round's being in force changes (around the aggregator switch: the
    new aggregator's first rounds, the old one's last, reporting after the switch) and the block
    after it, the rounds a build reads give what every round gives: the same updates, or the same
    error when the new aggregator's rounds before the switch are missing."""
    feeds = chain.feeds_table()
    _, new, switch = (
        feeds.filter(pl.col("phase_id") == 2).select("feed", "aggregator", "first_block").row(0)
    )
    whole = in_memory.decoded.oracle_rounds
    missing = whole.filter((pl.col("aggregator") != new) | (pl.col("block_number") >= switch))
    ordered = whole.sort("feed", "block_number", "log_index")
    flips = ordered.filter(
        pl.col("in_force") != pl.col("in_force").shift(1).over("feed").fill_null(False)
    )["block_number"].to_list()
    later_old = ordered.filter((pl.col("block_number") >= switch) & ~pl.col("in_force"))
    edges = {*flips, switch, *later_old["block_number"].head(3).to_list()}
    assert later_old.height and len(flips) >= 3  # the old aggregator reports after the switch
    errors = 0
    for rounds in (whole, missing):
        for since in sorted({b + d for b in edges for d in (0, 1)}):
            read = rounds_read_since(rounds, feeds, since)
            for feed in feeds["feed"].unique():
                expected = _updates_or_error(feed, rounds, feeds, since)
                assert _updates_or_error(feed, read, feeds, since) == expected, (feed, since)
                errors += isinstance(expected, str)
    assert errors  # the missing rounds are an error from some start


def test_the_since_property_sees_the_switch_and_the_rates(chain: SyntheticChain) -> None:
    """The chain the property draws blocks over has what makes carrying state in delicate."""
    feeds = chain.feeds_table()
    assert feeds.group_by("feed").len()["len"].max() >= 2  # a proxy with an aggregator switch
    assert chain.adapters  # an event-less input (sampled rates)
