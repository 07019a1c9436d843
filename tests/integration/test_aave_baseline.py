"""Aave on the synthetic chain: the event-sourced ledger equals the chain's scaled balances after
every event, and every historical LiquidationCall is found liquidatable by the engine in its block
with equal amounts, under the Pool version in force (v3.0 and v3.3 both occur)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import polars as pl

from softliq_core.decode import DecodedLogs
from softliq_core.replay.aave_baseline_validation import validate_aave_liquidations
from softliq_core.replay.aave_ledger import AaveLedger, price_updates, replay
from softliq_core.sources.synthetic import SyntheticChain
from softliq_core.sources.synthetic.aave import AAVE_POOL, AAVE_TREASURY


def _prices(chain: SyntheticChain, decoded: DecodedLogs) -> pl.DataFrame:
    """The price sources' inputs as the lake gives them: proxies' rounds and switches, and the
    wstETH/stETH exchange rate sampled by eth_call."""
    return price_updates(decoded.oracle_rounds, chain.feeds_table(), chain.rate_samples())


def _ledger(chain: SyntheticChain) -> AaveLedger:
    assert chain.aave is not None
    decimals = {t.address: t.decimals for t in chain.tokens.values()}
    return AaveLedger(
        AAVE_POOL, AAVE_TREASURY, chain.aave.versions, decimals, chain.aave.price_sources
    )


def test_ledger_equals_the_chain_after_every_event(
    chain: SyntheticChain, decoded: DecodedLogs
) -> None:
    assert chain.aave is not None
    truth = chain.aave.truth_table()
    assert truth.height > 50
    expected: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for row in truth.iter_rows(named=True):
        expected[(row["block_number"], row["log_index"])].append(row)
    checked = []

    def compare(ledger: AaveLedger, row: dict[str, Any]) -> None:
        for want in expected.get((row["block_number"], row["log_index"]), []):
            asset, is_debt = ledger.tokens[want["token"]]
            reserve = ledger.pool.reserves[asset]
            token = reserve.v_token if is_debt else reserve.a_token
            assert token.scaled_balance(want["user"]) == int(want["scaled_balance"]), want
            checked.append(want)

    ledger = replay(
        _ledger(chain), decoded.aave_events, _prices(chain, decoded), after_event=compare
    )
    assert len(checked) == truth.height
    # The whole final state too: every balance, index and collateral bit.
    final = chain.aave.pool
    for asset, reserve in final.reserves.items():
        mine = ledger.pool.reserves[asset]
        for theirs, ours in ((reserve.a_token, mine.a_token), (reserve.v_token, mine.v_token)):
            assert {u: b for u, b in theirs.balances.items() if b} == {
                u: b for u, b in ours.balances.items() if b
            }
            assert theirs.total == ours.total
        assert (reserve.liquidity_index, reserve.variable_borrow_index) == (
            mine.liquidity_index,
            mine.variable_borrow_index,
        )
    for user, config in final.users.items():
        assert ledger.pool.user_config(user).collateral == config.collateral
        assert ledger.pool.user_config(user).emode == config.emode
    # the prices came from the sources' recipes: the stablecoins moved to CAPO stable adapters
    # part-way through, wstETH is a CAPO ratio adapter, and every price is the chain's
    switches = decoded.aave_events.filter(pl.col("event") == "AssetSourceUpdated")
    assert switches["block_number"].n_unique() == 2
    kinds = {type(source).__name__ for source in ledger.asset_source.values()}
    assert kinds == {"ChainlinkSource", "CapoStableAdapter", "CapoRatioAdapter"}
    # later the adapters' own cap updates (decoded from their logs) changed the recipes
    updates = decoded.aave_events.filter(
        pl.col("event").is_in(["CapParametersUpdated", "PriceCapUpdated"])
    )
    assert updates.height == 2
    assert set(ledger.asset_source.values()) == set(chain.aave.sources.values())
    assert ledger.pool.prices == final.prices


def test_every_historical_liquidation_is_reproduced(
    chain: SyntheticChain, decoded: DecodedLogs
) -> None:
    checks = validate_aave_liquidations(
        _ledger(chain), decoded.aave_events, _prices(chain, decoded)
    )
    calls = decoded.aave_events.filter(pl.col("event") == "LiquidationCall")
    assert checks.height == calls.height > 0
    assert checks["liquidatable"].all(), checks.filter(~pl.col("liquidatable"))
    assert checks["equal"].all(), checks.filter(~pl.col("equal"))
    assert set(checks["pool_version"]) == {"3.0", "3.3"}


def test_a_wrong_amount_is_reported(chain: SyntheticChain, decoded: DecodedLogs) -> None:
    """The check can fail: a LiquidationCall whose collateral amount is off by one wei."""
    events = decoded.aave_events
    first = events.filter(pl.col("event") == "LiquidationCall").row(0, named=True)
    forged = events.with_columns(
        pl.when(
            (pl.col("block_number") == first["block_number"])
            & (pl.col("log_index") == first["log_index"])
        )
        .then(pl.lit(str(int(first["liquidated_collateral_amount"]) + 1)))
        .otherwise(pl.col("liquidated_collateral_amount"))
        .alias("liquidated_collateral_amount")
    )
    checks = validate_aave_liquidations(_ledger(chain), forged, _prices(chain, decoded))
    assert checks.filter(~pl.col("equal"))["block_number"].to_list() == [first["block_number"]]
