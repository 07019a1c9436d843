"""The synthetic chain's aggregator switch, end to end: feeds table, oracle_rounds, oracle_prices."""

from __future__ import annotations

import itertools

import polars as pl

from softliq_core.decode import DecodedLogs
from softliq_core.feeds import feed_updates, split_round_id
from softliq_core.sources.synthetic import SyntheticChain
from softliq_core.sources.synthetic.chain import SWITCHED_FEED


def test_the_switched_feed_has_two_phases_and_the_rest_one(chain: SyntheticChain) -> None:
    feeds = chain.feeds_table()
    phases = dict(feeds.group_by("description").len().iter_rows())
    assert phases.pop("ETH / USD") == 2
    assert set(phases.values()) == {1}
    eth = feeds.filter(pl.col("description") == "ETH / USD").sort("phase_id")
    assert eth["first_block"][0] == chain.config.first_block < eth["first_block"][1]
    assert eth["aggregator"].n_unique() == 2


def test_switch_has_no_gap_and_no_duplicate_rounds(
    chain: SyntheticChain, decoded: DecodedLogs
) -> None:
    feeds = chain.feeds_table()
    rounds = decoded.oracle_rounds
    # the table's key: one row per proxy round; round ids of the two phases never collide
    assert rounds.select("feed", "round_id").n_unique() == rounds.height
    proxy = chain.proxies[next(a for a, p in chain.proxies.items() if p.spec.name == "ETH / USD")]
    (_, old, _), (_, new, switch_block) = proxy.phases
    eth = rounds.filter(pl.col("feed") == proxy.address)
    # both aggregators reported around the switch; only the serving one's rounds are in force
    overlap = eth.filter(pl.col("block_number").is_between(switch_block - 600, switch_block + 300))
    assert set(overlap["aggregator"]) == {old.address, new.address}
    assert (eth["in_force"] == ((eth["aggregator"] == new.address) == (eth["block_number"] >= switch_block))).all()  # fmt: skip

    updates = feed_updates(proxy.address, rounds, feeds)
    keys = [(u.block_number, u.log_index) for u in updates]
    ids = [u.round_id for u in updates]
    assert keys == sorted(set(keys))  # strictly increasing: no update twice
    assert ids == sorted(set(ids))  # proxy round ids strictly increase across the switch
    (switch,) = [u for u in updates if u.cause == "phase_switch"]
    assert (switch.block_number, switch.log_index) == (switch_block, 0)
    before = eth.filter(
        (pl.col("aggregator") == new.address) & (pl.col("block_number") < switch_block)
    )
    assert switch.answer == int(before["answer"][-1])
    assert split_round_id(switch.round_id) == (2, int(before["aggregator_round_id"][-1]))
    # no gap: the answer in force never ages past the heartbeat across the switch
    timestamps = dict(chain.blocks.select("block_number", "timestamp").iter_rows())
    times = [timestamps[u.block_number] for u in updates]
    assert max(b - a for a, b in itertools.pairwise(times)) <= proxy.spec.heartbeat
    last_old = max(u.block_number for u in updates if split_round_id(u.round_id)[0] == 1)
    first_new = min(u.block_number for u in updates if u.cause == "round" and split_round_id(u.round_id)[0] == 2)  # fmt: skip
    assert last_old < switch_block <= first_new


def test_oracle_prices_follow_the_proxy_not_the_retired_aggregator(
    chain: SyntheticChain, decoded: DecodedLogs, in_memory
) -> None:  # type: ignore[no-untyped-def]
    assert SWITCHED_FEED == "ETH"
    proxy = next(p for p in chain.proxies.values() if p.spec.name == "ETH / USD")
    stale = decoded.oracle_rounds.filter(~pl.col("in_force")).select("block_number", "log_index")
    eth_markets = [m.params.id for m in chain.markets if proxy.address in m.recipe.feeds]
    prices = in_memory.prices.filter(pl.col("market_id").is_in(eth_markets))
    assert prices.join(stale, on=["block_number", "log_index"]).is_empty()
    switched = prices.filter(pl.col("cause") == "phase_switch")
    assert sorted(switched["market_id"]) == sorted(eth_markets)
    assert set(switched["block_number"]) == {proxy.phases[1][2]}
