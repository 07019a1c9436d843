"""Morpho's Chainlink oracles as price recipes (morpho-blue-oracles, spec ``morpho.md`` §3), exact.

Two contract shapes share one recipe:

* ``MorphoChainlinkOracleV2``: ``price = SCALE_FACTOR.mulDiv(baseVault · baseFeed1 · baseFeed2,
  quoteVault · quoteFeed1 · quoteFeed2)``, where a vault term is ``vault.convertToAssets(sample)``
  and a feed term ``latestRoundData().answer``; an absent vault or feed (address 0) contributes 1.
* ``ChainlinkOracle`` (V1, the oracles' v1.0.0 tag): one base ``VAULT`` and no quote vault; the same
  formula with the quote vault term 1.

Solidity's checked arithmetic and OpenZeppelin's ``mulDiv`` revert where this code raises
``OracleError``: a negative answer (``ChainlinkDataFeedLib``: ``NEGATIVE_ANSWER``), a product of
terms above 2**256 − 1, a zero denominator, a result above 2**256 − 1. There are no staleness or
bound checks in the contracts, so there are none here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from softliq_core.protocols.morpho.math import UINT256_MAX

V2 = "MorphoChainlinkOracleV2"
V1 = "ChainlinkOracle"
ORACLE_KINDS = (V2, V1)


class OracleError(ValueError):
    """A price the oracle could not return (missing input, negative answer, a revert)."""


def scale_factor(
    base_token_decimals: int,
    quote_token_decimals: int,
    base_feed_decimals: tuple[int, int] = (0, 0),
    quote_feed_decimals: tuple[int, int] = (0, 0),
    base_vault_conversion_sample: int = 1,
    quote_vault_conversion_sample: int = 1,
) -> int:
    """10^(36 + dQuote + dQF1 + dQF2 − dBase − dBF1 − dBF2) · quoteSample / baseSample.

    An absent feed counts 0 decimals; a vault's token decimals are its underlying's. V1 has no quote
    vault (sample 1) and divides by its vault's sample.
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


def vault_input(vault: str, sample: int) -> str:
    """The key of a vault term among a recipe's inputs: ``<vault>/convertToAssets(<sample>)``."""
    return f"{vault}/convertToAssets({sample})"


@dataclass(frozen=True, slots=True)
class ChainlinkOracleRecipe:
    """The immutables of one Morpho Chainlink oracle ('' = an absent feed or vault).

    Feeds are named by the address the oracle holds (a Chainlink proxy, or an adapter with the
    feed interface); ``inputs`` are the keys ``price`` reads: each feed's address and each vault's
    ``vault_input``."""

    oracle: str
    scale_factor: int
    base_feed_1: str = ""
    base_feed_2: str = ""
    quote_feed_1: str = ""
    quote_feed_2: str = ""
    base_vault: str = ""
    base_vault_conversion_sample: int = 1
    quote_vault: str = ""
    quote_vault_conversion_sample: int = 1
    kind: str = V2

    def __post_init__(self) -> None:
        if self.kind not in ORACLE_KINDS:
            raise OracleError(f"oracle {self.oracle}: unknown oracle shape {self.kind!r}")
        if self.kind == V1 and self.quote_vault:
            raise OracleError(f"oracle {self.oracle}: a V1 ChainlinkOracle has no quote vault")

    @property
    def feeds(self) -> tuple[str, ...]:
        return tuple(
            f
            for f in (self.base_feed_1, self.base_feed_2, self.quote_feed_1, self.quote_feed_2)
            if f
        )

    @property
    def vaults(self) -> tuple[tuple[str, int], ...]:
        """(vault, conversion sample) of each vault term."""
        return tuple(
            (vault, sample)
            for vault, sample in (
                (self.base_vault, self.base_vault_conversion_sample),
                (self.quote_vault, self.quote_vault_conversion_sample),
            )
            if vault
        )

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.feeds + tuple(vault_input(v, s) for v, s in self.vaults)

    def price(self, inputs: Mapping[str, int]) -> int:
        """SCALE_FACTOR.mulDiv(base terms, quote terms), floored, with the contract's reverts."""

        def feed(address: str) -> int:
            if not address:
                return 1
            value = self._input(inputs, address, f"feed {address}")
            if value < 0:
                raise OracleError(f"oracle {self.oracle}: feed {address} answered {value} < 0")
            return value

        def vault(address: str, sample: int) -> int:
            if not address:
                return 1
            return self._input(inputs, vault_input(address, sample), f"vault {address}")

        numerator = _checked_product(
            self.oracle,
            vault(self.base_vault, self.base_vault_conversion_sample),
            feed(self.base_feed_1),
            feed(self.base_feed_2),
        )
        denominator = _checked_product(
            self.oracle,
            vault(self.quote_vault, self.quote_vault_conversion_sample),
            feed(self.quote_feed_1),
            feed(self.quote_feed_2),
        )
        if denominator == 0:
            raise OracleError(f"oracle {self.oracle}: the quote terms are 0 (mulDiv reverts)")
        price = self.scale_factor * numerator // denominator
        if price > UINT256_MAX:
            raise OracleError(f"oracle {self.oracle}: mulDiv result overflows uint256")
        return price

    def _input(self, inputs: Mapping[str, int], key: str, what: str) -> int:
        if key not in inputs:
            raise OracleError(f"oracle {self.oracle}: no value yet for {what}")
        return inputs[key]


def _checked_product(oracle: str, *terms: int) -> int:
    product = 1
    for term in terms:
        product *= term
        if product > UINT256_MAX:
            raise OracleError(f"oracle {oracle}: a product of terms overflows uint256")
    return product
