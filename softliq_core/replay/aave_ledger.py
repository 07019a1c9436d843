"""The Aave V3 position ledger, event-sourced: decoded ``aave_events`` and the price sources' inputs
(``price_updates``: feed proxies' answers from ``oracle_rounds`` and ``feeds``, event-less adapters'
from ``rate_samples``) folded into an ``AavePool`` (scaled balances, indexes and rates as emitted, collateral bits, eMode,
configuration, prices), so the Pool's own views — account data, ``plan_liquidation`` — answer
questions about history exactly.

Scaled balances are rebuilt from the token events by exact inversion (spec §3.4, v3.0.1–v3.4):
``Mint`` adds rayDiv(value − balanceIncrease, index), ``Burn`` removes rayDiv(value +
balanceIncrease, index), ``BalanceTransfer`` moves its (already scaled) value. Rates are exogenous:
each reserve keeps the rates of its last ``ReserveDataUpdated``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import polars as pl

from softliq_core.aave_price_sources import (
    CapoRatioAdapter,
    CapoStableAdapter,
    ChainlinkSource,
    PriceSource,
    PriceSourceError,
    asset_price,
)
from softliq_core.feeds import feed_updates
from softliq_core.protocols.aave.account import UserConfig
from softliq_core.protocols.aave.math import ray_div
from softliq_core.protocols.aave.pool import AavePool
from softliq_core.protocols.aave.reserve import EModeCategory, ReserveConfig
from softliq_core.protocols.aave.version import VersionSchedule
from softliq_core.rate_samples import ADAPTER_CALL, RateInput, rate_updates

Row = Mapping[str, Any]
_CONFIG_FIELDS = {
    "CollateralConfigurationChanged": {
        "ltv": "ltv",
        "liquidation_threshold": "liquidation_threshold",
        "liquidation_bonus": "liquidation_bonus",
    },
    "ReserveFactorChanged": {"reserve_factor": "new_reserve_factor"},
    "LiquidationProtocolFeeChanged": {"liquidation_protocol_fee": "new_fee"},
    "ReserveFrozen": {"frozen": "frozen"},
    "ReservePaused": {"paused": "paused"},
    "ReserveActive": {"active": "active"},
    "ReserveBorrowing": {"borrowing_enabled": "enabled"},
    "EModeAssetCategoryChanged": {"emode_category": "new_category_id"},
}


class AaveLedger:
    def __init__(
        self,
        pool_address: str,
        treasury: str,
        versions: VersionSchedule,
        decimals: Mapping[str, int],
        price_sources: Mapping[str, PriceSource],
    ) -> None:
        self.versions = versions
        self.decimals = decimals
        self.price_sources = dict(price_sources)  # by address; CAPO cap updates replace them
        self.pool = AavePool(pool_address, versions.starts[0][1], treasury)
        self.tokens: dict[str, tuple[str, bool]] = {}  # token -> (asset, is debt token)
        self.asset_source: dict[str, PriceSource] = {}
        self.answers: dict[str, int] = {}
        self.timestamp = 0  # the block's time, which a CAPO source's cap depends on

    # -- prices --------------------------------------------------------------------------------

    def apply_round(self, feed: str, answer: int) -> None:
        self.answers[feed] = answer
        for asset, source in self.asset_source.items():
            if feed in source.inputs:
                self._price(asset, source)

    def _price(self, asset: str, source: PriceSource) -> None:
        """``AaveOracle.getAssetPrice`` now. While its source cannot answer (an input not seen
        yet, or an answer of 0 with no fallback oracle) the asset has no price: a Pool call that
        needs it would revert, and a stale price is never used in its place."""
        try:
            self.pool.prices[asset] = asset_price(asset, source, self.answers, self.timestamp)
        except PriceSourceError:
            self.pool.prices.pop(asset, None)

    # -- events --------------------------------------------------------------------------------

    def at_block(self, block: int, timestamp: int) -> None:
        """Enter ``block``: the Pool version in force, and the prices whose sources move with time
        alone (a CAPO ratio cap grows by the second) at the block's time."""
        version = self.versions.at(block)
        if version != self.pool.version:
            self.pool.upgrade(version)
        if timestamp != self.timestamp:
            self.timestamp = timestamp
            for asset, source in self.asset_source.items():
                if source.time_dependent:
                    self._price(asset, source)

    def apply(self, row: Row) -> None:
        """Fold one decoded ``aave_events`` row (a mapping of its columns)."""
        event = row["event"]
        token = self.tokens.get(row["contract"])
        if token is not None:
            self._apply_token(token, event, row)
        elif event == "ReserveInitialized":
            asset = row["asset"]
            config = ReserveConfig(0, 0, 0, self.decimals[asset])
            # lastUpdateTimestamp stays 0 until the reserve's first updateState, as on chain.
            self.pool.init_reserve(asset, config, None, row["a_token"], row["variable_debt_token"])
            self.tokens[row["a_token"]] = (asset, False)
            self.tokens[row["variable_debt_token"]] = (asset, True)
        elif event in _CONFIG_FIELDS:
            reserve = self.pool.reserves[row["asset"]]
            changes = {k: _value(row[c]) for k, c in _CONFIG_FIELDS[event].items()}
            reserve.config = dataclasses.replace(reserve.config, **changes)
        elif event == "EModeCategoryAdded":
            old = self.pool.emode_categories.get(row["category_id"])
            self.pool.emode_categories[row["category_id"]] = EModeCategory(
                int(row["ltv"]),
                int(row["liquidation_threshold"]),
                int(row["liquidation_bonus"]),
                row["label"],
                old.collateral_assets if old else frozenset(),
                old.borrowable_assets if old else frozenset(),
            )
        elif event in ("AssetCollateralInEModeChanged", "AssetBorrowableInEModeChanged"):
            self._emode_membership(event, row)
        elif event == "AssetSourceUpdated":
            # a source the setup does not describe is read as a feed proxy (its own answers)
            source = self.price_sources.get(row["source"], ChainlinkSource(row["source"]))
            self.asset_source[row["asset"]] = source
            self._price(row["asset"], source)
        elif event in ("CapParametersUpdated", "PriceCapUpdated"):
            self._cap_updated(row)
        elif event == "ReserveDataUpdated":
            reserve = self.pool.reserves[row["reserve"]]
            reserve.liquidity_rate = int(row["liquidity_rate"])
            reserve.stable_borrow_rate = int(row["stable_borrow_rate"])
            reserve.variable_borrow_rate = int(row["variable_borrow_rate"])
            reserve.liquidity_index = int(row["liquidity_index"])
            reserve.variable_borrow_index = int(row["variable_borrow_index"])
            reserve.last_update = row["timestamp"]
        elif event in ("ReserveUsedAsCollateralEnabled", "ReserveUsedAsCollateralDisabled"):
            collateral = self._user(row["user"]).collateral
            if event.endswith("Enabled"):
                collateral.add(row["reserve"])
            else:
                collateral.discard(row["reserve"])
        elif event == "UserEModeSet":
            self._user(row["user"]).emode = row["category_id"]
        elif event == "DeficitCreated":
            self.pool.reserves[row["debt_asset"]].deficit += int(row["amount_created"])

    def _cap_updated(self, row: Row) -> None:
        """A CAPO adapter's cap parameters as its event says, from this log on (the contract
        checked them when they were set; a recipe read by eth_call at a later block holds the
        parameters in force then, and each earlier event puts back the ones in force after it)."""
        adapter = row["contract"]
        recipe = self.price_sources.get(adapter)
        updated: PriceSource
        if isinstance(recipe, CapoRatioAdapter):
            ratio_adapter = dataclasses.replace(
                recipe,
                snapshot_ratio=int(row["snapshot_ratio"]),
                snapshot_timestamp=int(row["snapshot_timestamp"]),
                max_yearly_ratio_growth_percent=int(row["max_yearly_ratio_growth_percent"]),
            )
            stored = int(row["max_ratio_growth_per_second"])
            if ratio_adapter.max_ratio_growth_per_second != stored:
                raise ValueError(
                    f"CapParametersUpdated at block {row['block_number']}: {adapter} stores a "
                    f"growth per second of {stored}, its recipe derives "
                    f"{ratio_adapter.max_ratio_growth_per_second} (another CAPO generation?)"
                )
            updated = ratio_adapter
        elif isinstance(recipe, CapoStableAdapter):
            updated = dataclasses.replace(recipe, price_cap=int(row["price_cap"]))
        else:
            raise ValueError(
                f"{row['event']} at block {row['block_number']} log {row['log_index']}: "
                f"{adapter} is not a CAPO adapter the pool's sources describe"
            )
        self.price_sources[adapter] = updated
        for asset, source in self.asset_source.items():
            if source.address == adapter:
                self.asset_source[asset] = updated
                self._price(asset, updated)

    def _user(self, user: str) -> UserConfig:
        return self.pool.users.setdefault(user, UserConfig())

    def _emode_membership(self, event: str, row: Row) -> None:
        category = self.pool.emode_categories[row["category_id"]]
        collateral = event == "AssetCollateralInEModeChanged"
        members = set(category.collateral_assets if collateral else category.borrowable_assets)
        flag = row["collateral"] if collateral else row["borrowable"]
        (members.add if flag else members.discard)(row["asset"])
        self.pool.emode_categories[row["category_id"]] = (
            dataclasses.replace(category, collateral_assets=frozenset(members))
            if collateral
            else dataclasses.replace(category, borrowable_assets=frozenset(members))
        )

    def _apply_token(self, token: tuple[str, bool], event: str, row: Row) -> None:
        asset, is_debt = token
        reserve = self.pool.reserves[asset]
        scaled = reserve.v_token if is_debt else reserve.a_token
        if event == "Transfer":
            return  # the unscaled ERC20 mirror of the events below
        index = int(row["index"])
        if is_debt:
            self._borrowing_bit(asset, event, row, index)
        if event == "BalanceTransfer":
            value = int(row["value"])
            moves = [(row["from"], -value, index), (row["to"], value, index)]
        elif event == "Mint":
            net = int(row["value"]) - int(row["balance_increase"])
            sign = 1 if net >= 0 else -1
            moves = [(row["on_behalf_of"], sign * ray_div(abs(net), index), index)]
        else:  # Burn
            amount = int(row["value"]) + int(row["balance_increase"])
            moves = [(row["from"], -ray_div(amount, index), index)]
        for user, delta, user_index in moves:
            balance = scaled.scaled_balance(user) + delta
            if balance < 0:
                raise ValueError(
                    f"{event} at block {row['block_number']} log {row['log_index']}: "
                    f"{user}'s scaled balance of {scaled.address} would be negative"
                )
            scaled.total += delta
            scaled.balances[user] = balance
            scaled.previous_index[user] = user_index

    def _borrowing_bit(self, asset: str, event: str, row: Row, index: int) -> None:
        """The borrowing bit as the Pool keeps it, before a debt token event moves the balance.

        It follows the debt's value, not whether the scaled balance is zero: a borrow sets it only
        on an empty scaled balance (``isFirstBorrowing``); a repay or liquidation clears it when the
        amount burned equals the whole debt at the index (``variableDebt == paybackAmount``). So a
        burn's rayDiv can leave scaled dust with the bit cleared (and a later borrow on the dust
        leaves it cleared), or empty the scaled balance with the bit still set (1 scaled wei owed
        as 2 wei, 1 repaid)."""
        token = self.pool.reserves[asset].v_token
        value, interest = int(row["value"]), int(row["balance_increase"])
        if event == "Mint" and value > interest:  # a borrow (a Mint below interest is a repay)
            if token.scaled_balance(row["on_behalf_of"]) == 0:
                self._user(row["on_behalf_of"]).borrowing.add(asset)
        elif event == "Burn" and token.balance(row["from"], index) == value + interest:
            self._user(row["from"]).borrowing.discard(asset)


def _value(word: Any) -> Any:
    return int(word) if isinstance(word, str) else word


def price_updates(
    oracle_rounds: pl.DataFrame, feeds: pl.DataFrame, rate_samples: pl.DataFrame
) -> pl.DataFrame:
    """(block_number, log_index, feed, answer) each time an input of a price source changed, in
    chain order: a proxy's answer as it returns it (``feeds.feed_updates``: in-force rounds at
    their log, aggregator switches from the start of their block, log index 0), an event-less
    adapter's sampled answer from the start of the block after its read (``rate_samples``)."""
    rows = [
        (u.block_number, u.log_index, u.feed, str(u.answer))
        for feed in feeds["feed"].unique(maintain_order=True)
        for u in feed_updates(feed, oracle_rounds, feeds)
    ]
    adapters = rate_samples.filter(pl.col("call") == ADAPTER_CALL)["contract"].unique()
    rows += [
        (block, 0, contract, str(value))
        for contract in adapters
        for block, value in rate_updates(rate_samples, RateInput(contract, ADAPTER_CALL))
    ]
    schema = {"block_number": pl.UInt32, "log_index": pl.UInt32, "feed": pl.String,
              "answer": pl.String}  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row").sort("block_number", "log_index")


def history(
    aave_events: pl.DataFrame, prices: pl.DataFrame
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Aave events and price updates merged in chain order: ("aave" | "price", row); an update
    from the start of a block comes before the block's first log."""
    keys = pl.concat(
        [
            frame.select(
                pl.col("block_number").cast(pl.UInt32),
                pl.col("log_index").cast(pl.UInt32),
                pl.lit(stream).alias("stream"),
                pl.int_range(pl.len()).alias("i"),
            )
            for stream, frame in (("price", prices), ("aave", aave_events))
        ]
    ).sort("block_number", "log_index", "stream", descending=[False, False, True])
    event_rows = aave_events.rows(named=True)
    price_rows = prices.rows(named=True)
    for stream, i in keys.select("stream", "i").iter_rows():
        yield stream, (event_rows[i] if stream == "aave" else price_rows[i])


def replay(
    ledger: AaveLedger,
    aave_events: pl.DataFrame,
    prices: pl.DataFrame,
    before_transaction: Callable[[AaveLedger, dict[str, Any]], None] | None = None,
    after_event: Callable[[AaveLedger, dict[str, Any]], None] | None = None,
) -> AaveLedger:
    """Fold history into ``ledger`` (``prices``: ``price_updates``); the callbacks see it before
    each Aave transaction's first log and after each Aave event."""
    transaction = None
    for source, row in history(aave_events, prices):
        if source == "price":
            # priced at the last event's time; a time-dependent source is priced again at the
            # next event's block, before the event uses it
            ledger.apply_round(row["feed"], int(row["answer"]))
            continue
        ledger.at_block(row["block_number"], row["timestamp"])
        if row["transaction_hash"] != transaction:
            transaction = row["transaction_hash"]
            if before_transaction is not None:
                before_transaction(ledger, row)
        ledger.apply(row)
        if after_event is not None:
            after_event(ledger, row)
    return ledger
