"""AaveOracle prices: each asset's source and how its answer derives from Chainlink feeds (spec §6).

AaveOracle.getAssetPrice returns the source's ``latestAnswer()`` (base currency USD, 8 decimals) with
no staleness check. A source is a feed, or an adapter multiplying a feed by ratio feeds (wstETH:
ETH/USD × stETH/ETH × the wstETH/stETH exchange rate, the synchronicity adapters' shape).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PriceSource:
    """An AaveOracle source: one feed, or a feed times ratio feeds, each (address, decimals), floored
    after each product (wstETH = ETH/USD × stETH/ETH × wstETH/stETH)."""

    address: str
    feed: str
    ratio_feeds: tuple[tuple[str, int], ...] = ()

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.feed, *(feed for feed, _ in self.ratio_feeds))

    def price(self, answers: dict[str, int]) -> int:
        price = answers[self.feed]
        for feed, decimals in self.ratio_feeds:
            price = price * answers[feed] // 10**decimals
        return price
