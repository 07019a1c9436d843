"""AaveOracle prices: each asset's source and how its answer derives from Chainlink feeds (spec §6).

AaveOracle.getAssetPrice returns the source's ``latestAnswer()`` (base currency USD, 8 decimals) with
no staleness check. A source is a feed, or an adapter multiplying a feed by a ratio feed (wstETH:
ETH/USD × wstETH/ETH, the synchronicity adapters' shape).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PriceSource:
    """An AaveOracle source: one feed, or a feed times a ratio feed (wstETH = ETH/USD × wstETH/ETH)."""

    address: str
    feed: str
    ratio_feed: str | None = None
    ratio_decimals: int = 0

    def price(self, answers: dict[str, int]) -> int:
        if self.ratio_feed is None:
            return answers[self.feed]
        return answers[self.feed] * answers[self.ratio_feed] // int(10**self.ratio_decimals)
