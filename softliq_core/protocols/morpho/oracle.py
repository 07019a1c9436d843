"""MorphoChainlinkOracleV2's price recipe (morpho-blue-oracles, spec §3), exact integer math."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class OracleError(ValueError):
    """A price the oracle could not return (missing feed history, negative answer)."""


def scale_factor(
    base_token_decimals: int,
    quote_token_decimals: int,
    base_feed_decimals: tuple[int, int] = (0, 0),
    quote_feed_decimals: tuple[int, int] = (0, 0),
    base_vault_conversion_sample: int = 1,
    quote_vault_conversion_sample: int = 1,
) -> int:
    """10^(36 + dQuote + dQF1 + dQF2 − dBase − dBF1 − dBF2) · quoteSample / baseSample.

    An absent feed counts 0 decimals; a vault's token decimals are its underlying's.
    """
    exponent = (
        36
        + quote_token_decimals
        + sum(quote_feed_decimals)
        - base_token_decimals
        - sum(base_feed_decimals)
    )
    if exponent < 0:
        raise OracleError(f"scale factor exponent {exponent} < 0: the contract would revert")
    return int(10**exponent) * quote_vault_conversion_sample // base_vault_conversion_sample


@dataclass(frozen=True, slots=True)
class ChainlinkOracleRecipe:
    """The immutables of one MorphoChainlinkOracleV2 (feeds by aggregator address, '' = absent)."""

    oracle: str
    scale_factor: int
    base_feed_1: str = ""
    base_feed_2: str = ""
    quote_feed_1: str = ""
    quote_feed_2: str = ""

    @property
    def feeds(self) -> tuple[str, ...]:
        return tuple(
            f
            for f in (self.base_feed_1, self.base_feed_2, self.quote_feed_1, self.quote_feed_2)
            if f
        )

    def price(self, answers: Mapping[str, int]) -> int:
        """mulDiv(SCALE_FACTOR, baseFeed1·baseFeed2, quoteFeed1·quoteFeed2), floored."""

        def answer(feed: str) -> int:
            if not feed:
                return 1
            if feed not in answers:
                raise OracleError(f"oracle {self.oracle}: no answer yet from feed {feed}")
            value = answers[feed]
            if value < 0:
                raise OracleError(f"oracle {self.oracle}: feed {feed} answered {value} < 0")
            return value

        numerator = answer(self.base_feed_1) * answer(self.base_feed_2)
        denominator = answer(self.quote_feed_1) * answer(self.quote_feed_2)
        if denominator == 0:
            raise OracleError(f"oracle {self.oracle}: a quote feed answered 0")
        return self.scale_factor * numerator // denominator
