"""What one market's replay reads: its events, its prices and the block clock, from lake tables."""

from __future__ import annotations

import bisect
import heapq
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl

from softliq_core.protocols.morpho.math import ORACLE_PRICE_SCALE
from softliq_core.replay.scenario import MarketRef

# Wrapped native token per chain id: gas is paid in ETH, priced through WETH markets.
WRAPPED_NATIVE = {1: "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"}


@dataclass(frozen=True)
class BlockClock:
    """Timestamp and base fee of every block in the replayed range (from ``blocks``)."""

    first_block: int
    timestamps: np.ndarray
    base_fees: np.ndarray

    @classmethod
    def from_blocks(cls, blocks: pl.DataFrame) -> BlockClock:
        blocks = blocks.sort("block_number")
        numbers = blocks["block_number"].to_numpy().astype(np.int64)
        first = int(numbers[0])
        if not np.array_equal(numbers, np.arange(first, first + len(numbers))):
            raise ValueError("blocks: the block range has gaps; ingest the missing blocks first")
        return cls(
            first,
            blocks["timestamp"].to_numpy(),
            blocks["base_fee_per_gas"].fill_null(0).to_numpy(),
        )

    @property
    def last_block(self) -> int:
        return self.first_block + len(self.timestamps) - 1

    def timestamp(self, block: int) -> int:
        return int(self.timestamps[block - self.first_block])

    def base_fee(self, block: int) -> int:
        """The block's base fee per gas in wei (0 before EIP-1559)."""
        return int(self.base_fees[block - self.first_block])


@dataclass(frozen=True)
class NativePrice:
    """Loan base units per wei of ETH, 1e36-scaled, to convert gas costs into the loan asset.

    1:1 when the loan token is WETH; otherwise the oracle price of a market with WETH as collateral
    and the same loan token (``source`` names it); ``None`` when the chain has no such market.
    """

    source: str | None
    keys: tuple[tuple[int, int], ...] = ()
    prices: tuple[int, ...] = ()

    @classmethod
    def one_to_one(cls) -> NativePrice:
        return cls("loan token is WETH", ((0, 0),), (ORACLE_PRICE_SCALE,))

    def before_block(self, block: int) -> int | None:
        """The price in force at the top of ``block`` (None before the first round)."""
        index = bisect.bisect_left(self.keys, (block, 0))
        return self.prices[index - 1] if index else None


class Event(dict[str, Any]):
    """A decoded log holding only the fields its event has; any other reads as None, as it does in
    the wide ``morpho_events`` table. That table has a column for every event's every field, most
    of them null in any row: as full rows, a two-year chain's histories took about 4 GiB in each
    process."""

    __slots__ = ()

    def __missing__(self, field: str) -> None:
        return None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Event:
        """The row's non-null fields; its strings interned, since addresses, market ids and event
        names repeat over millions of events (a history then pickles to a third of the size)."""
        return cls(
            (field, sys.intern(value) if isinstance(value, str) else value)
            for field, value in row.items()
            if value is not None
        )


@dataclass(frozen=True)
class MarketHistory:
    market: MarketRef
    irm: str
    loan_decimals: int
    collateral_decimals: int
    collateral_symbol: str
    events: list[Mapping[str, Any]]  # this market's events and the global ones, in log order
    prices: list[tuple[int, int, int]]  # (block_number, log_index, price)
    clock: BlockClock
    native_price: NativePrice = NativePrice(None)

    def terms(self) -> MarketHistory:
        """The market and its tokens without this stretch's events, prices and blocks: what a
        replay is made with before it resumes from a snapshot (``_MarketReplay.__reduce__``)."""
        empty = np.empty(0, dtype=np.int64)
        return replace(
            self,
            events=[],
            prices=[],
            clock=BlockClock(self.clock.first_block, empty, empty),
            native_price=NativePrice(self.native_price.source),
        )

    def timeline(self) -> Iterator[tuple[tuple[int, int, int] | None, Mapping[str, Any] | None]]:
        """Prices and events merged in (block, log index) order: ``(price, None)`` or
        ``(None, event)``; a price published earlier in a block is in force for the logs after it."""
        prices = ((p, None) for p in self.prices)
        events = ((None, e) for e in self.events)
        return heapq.merge(prices, events, key=_log_key)


def _log_key(item: tuple[tuple[int, int, int] | None, Mapping[str, Any] | None]) -> tuple[int, int]:
    price, event = item
    if price is not None:
        return price[0], price[1]
    assert event is not None
    return event["block_number"], event["log_index"]


def market_refs(markets: pl.DataFrame) -> list[MarketRef]:
    return [
        MarketRef(
            row["market_id"],
            f"{row['collateral_symbol']}/{row['loan_symbol']}",
            int(row["lltv"]),
            int(row["loan_decimals"]),
        )
        for row in markets.iter_rows(named=True)
    ]


def market_histories(
    morpho_events: pl.DataFrame,
    oracle_prices: pl.DataFrame,
    markets: pl.DataFrame,
    blocks: pl.DataFrame,
) -> list[MarketHistory]:
    clock = BlockClock.from_blocks(blocks)
    events = morpho_events.sort("block_number", "log_index")
    global_events = events.filter(pl.col("market_id").is_null())
    histories = []
    for ref, row in zip(market_refs(markets), markets.iter_rows(named=True), strict=True):
        own = events.filter(pl.col("market_id") == ref.market_id)
        stream = pl.concat([own, global_events]).sort("block_number", "log_index")
        prices = (
            oracle_prices.filter(pl.col("market_id") == ref.market_id)
            .sort("block_number", "log_index")
            .select("block_number", "log_index", "price")
        )
        histories.append(
            MarketHistory(
                market=ref,
                irm=row["irm"],
                loan_decimals=int(row["loan_decimals"]),
                collateral_decimals=int(row["collateral_decimals"]),
                collateral_symbol=row["collateral_symbol"],
                events=[Event.of(log) for log in stream.iter_rows(named=True)],
                prices=[(b, i, int(p)) for b, i, p in prices.iter_rows()],
                clock=clock,
                native_price=_native_price(row, markets, oracle_prices),
            )
        )
    return histories


def _native_price(
    market: Mapping[str, Any], markets: pl.DataFrame, oracle_prices: pl.DataFrame
) -> NativePrice:
    weth = WRAPPED_NATIVE.get(int(market["chain_id"]))
    if market["loan_token"] == weth:
        return NativePrice.one_to_one()
    routes = markets.filter(
        (pl.col("collateral_token") == weth) & (pl.col("loan_token") == market["loan_token"])
    ).sort("created_block")
    if routes.is_empty():
        return NativePrice(None)
    route = routes.row(0, named=True)
    prices = oracle_prices.filter(pl.col("market_id") == route["market_id"]).sort(
        "block_number", "log_index"
    )
    return NativePrice(
        f"oracle of {route['collateral_symbol']}/{route['loan_symbol']} {route['market_id']}",
        tuple(zip(prices["block_number"].to_list(), prices["log_index"].to_list(), strict=True)),
        tuple(int(p) for p in prices["price"].to_list()),
    )
