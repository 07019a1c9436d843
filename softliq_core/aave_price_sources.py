"""Aave V3 price sources as pure recipes: what ``AaveOracle.getAssetPrice`` returned, exactly.

``AaveOracle`` (spec ``aave_chainlink.md`` §6.1) prices every asset in its base currency: on the
Ethereum markets USD with 8 decimals (``BASE_CURRENCY`` = address 0, ``BASE_CURRENCY_UNIT`` = 1e8).
For an asset it calls its source's ``latestAnswer()`` — no staleness check — and returns it if
positive; otherwise (or with no source) it asks the fallback oracle, which Ethereum does not set.
Sources change over time by ``AssetSourceUpdated`` (decoded with the Aave events elsewhere); each
source is one of the recipes below, over inputs named like Morpho recipes' (a feed proxy's address
for its answer, or the key of a sampled rate such as ``stETH.getPooledEthByShares(1e18)``):

* ``ChainlinkSource``: a feed proxy's answer as is (WETH on ETH/USD, cbBTC on BTC/USD).
* ``PegToBaseAdapter`` (BGD ``CLSynchronicityPriceAdapterPegToBase``): asset/peg × peg/base, at the
  adapter's decimals; 0 when either answer is not positive (WBTC: WBTC/BTC × BTC/USD).
* ``CapoRatioAdapter`` (``aave-capo`` ``PriceCapAdapterBase``): base price × min(ratio, maxRatio) /
  10^ratioDecimals, where maxRatio grows linearly from a snapshot: ``snapshotRatio +
  growthPerSecond · (t − snapshotTimestamp)`` and ``growthPerSecond = snapshotRatio ·
  maxYearlyGrowthBps / 1e4 / 365 days``. The first generation (2024) stores that growth as an
  integer per second; later ones keep it scaled by 1e6 (``scaling``) and divide after the
  multiplication, so small growths are not truncated to zero. 0 when either input is not positive.
* ``CapoStableAdapter`` (``PriceCapAdapterStable``): min(answer, priceCap); 0 when the answer is not
  positive ("all stablecoins are capped at 4 %": cap 1.04e8).

Every division is Solidity's: integer, truncating (all operands are non-negative where it happens).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import ClassVar, Protocol

BASE_CURRENCY = "0x" + "00" * 20  # USD
BASE_CURRENCY_UNIT = 10**8
PERCENTAGE_FACTOR = 10**4
SECONDS_PER_YEAR = 365 * 86_400
CAPO_SCALING = 10**6  # aave-capo's SCALING_FACTOR in later adapters; 1 for the first generation
MAX_STABLE_CAP = 2 * 10**8  # PriceCapAdapterStable.MAX_STABLE_CAP_VALUE


class PriceSourceError(ValueError):
    """A price AaveOracle would not return (no positive answer and no fallback, missing input)."""


def _input(inputs: Mapping[str, int], key: str, source: str) -> int:
    if key not in inputs:
        raise PriceSourceError(f"price source {source}: no value yet for {key}")
    return inputs[key]


class PriceSource(Protocol):
    # whether the answer moves with the block's time alone (a CAPO cap grows by the second)
    time_dependent: ClassVar[bool]

    @property
    def address(self) -> str: ...  # read-only: the recipes are frozen dataclasses

    @property
    def inputs(self) -> tuple[str, ...]: ...

    def latest_answer(self, inputs: Mapping[str, int], timestamp: int) -> int: ...


@dataclass(frozen=True, slots=True)
class ChainlinkSource:
    time_dependent: ClassVar[bool] = False
    address: str  # the feed proxy itself

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.address,)

    def latest_answer(self, inputs: Mapping[str, int], timestamp: int) -> int:
        return _input(inputs, self.address, self.address)


@dataclass(frozen=True, slots=True)
class PegToBaseAdapter:
    time_dependent: ClassVar[bool] = False
    address: str
    asset_to_peg: str
    peg_to_base: str
    asset_to_peg_decimals: int
    peg_to_base_decimals: int
    decimals: int = 8

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.asset_to_peg, self.peg_to_base)

    def latest_answer(self, inputs: Mapping[str, int], timestamp: int) -> int:
        asset = _input(inputs, self.asset_to_peg, self.address)
        peg = _input(inputs, self.peg_to_base, self.address)
        if asset <= 0 or peg <= 0:
            return 0
        denominator = int(10 ** (self.asset_to_peg_decimals + self.peg_to_base_decimals))
        return asset * peg * int(10**self.decimals) // denominator


@dataclass(frozen=True, slots=True)
class CapoRatioAdapter:
    time_dependent: ClassVar[bool] = True
    address: str
    base_feed: str  # (underlying / USD), e.g. ETH/USD
    ratio: str  # the input giving (lst / underlying), e.g. getPooledEthByShares(1e18)
    ratio_decimals: int
    snapshot_ratio: int
    snapshot_timestamp: int
    max_yearly_ratio_growth_percent: int  # bps: 968 = 9.68 %
    scaling: int = CAPO_SCALING

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.base_feed, self.ratio)

    @property
    def max_ratio_growth_per_second(self) -> int:
        """As stored: scaled by ``scaling`` (1 for the first generation)."""
        return (
            self.snapshot_ratio
            * self.max_yearly_ratio_growth_percent
            * self.scaling
            // PERCENTAGE_FACTOR
            // SECONDS_PER_YEAR
        )

    def max_ratio(self, timestamp: int) -> int:
        if timestamp < self.snapshot_timestamp:
            raise PriceSourceError(
                f"price source {self.address}: block time {timestamp} before the snapshot "
                f"{self.snapshot_timestamp} (the contract's subtraction reverts)"
            )
        elapsed = timestamp - self.snapshot_timestamp
        return self.snapshot_ratio + self.max_ratio_growth_per_second * elapsed // self.scaling

    def latest_answer(self, inputs: Mapping[str, int], timestamp: int) -> int:
        ratio = _input(inputs, self.ratio, self.address)
        base = _input(inputs, self.base_feed, self.address)
        if base <= 0 or ratio <= 0:
            return 0
        ratio = min(ratio, self.max_ratio(timestamp))
        return base * ratio // int(10**self.ratio_decimals)

    def is_capped(self, inputs: Mapping[str, int], timestamp: int) -> bool:
        return _input(inputs, self.ratio, self.address) > self.max_ratio(timestamp)

    def with_cap_parameters(
        self, snapshot_ratio: int, snapshot_timestamp: int, max_yearly_ratio_growth_percent: int
    ) -> CapoRatioAdapter:
        """After ``CapParametersUpdated`` (``setCapParameters`` by the risk admin)."""
        if snapshot_ratio == 0:
            raise PriceSourceError(f"price source {self.address}: snapshot ratio 0 reverts")
        if snapshot_timestamp <= self.snapshot_timestamp:
            raise PriceSourceError(
                f"price source {self.address}: a new snapshot must be newer than the stored one"
            )
        return replace(
            self,
            snapshot_ratio=snapshot_ratio,
            snapshot_timestamp=snapshot_timestamp,
            max_yearly_ratio_growth_percent=max_yearly_ratio_growth_percent,
        )


@dataclass(frozen=True, slots=True)
class CapoStableAdapter:
    time_dependent: ClassVar[bool] = False
    address: str
    feed: str  # (asset / USD)
    price_cap: int  # base units, e.g. 1.04e8

    def __post_init__(self) -> None:
        if self.price_cap > MAX_STABLE_CAP:
            raise PriceSourceError(f"price source {self.address}: cap above 2 USD reverts")

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.feed,)

    def latest_answer(self, inputs: Mapping[str, int], timestamp: int) -> int:
        answer = _input(inputs, self.feed, self.address)
        if answer > self.price_cap:
            return self.price_cap
        return max(answer, 0)


def asset_price(
    asset: str,
    source: PriceSource | None,
    inputs: Mapping[str, int],
    timestamp: int,
    fallback: int | None = None,
    base_currency: str = BASE_CURRENCY,
    base_currency_unit: int = BASE_CURRENCY_UNIT,
) -> int:
    """``AaveOracle.getAssetPrice(asset)`` in base currency units (USD, 8 decimals)."""
    if asset == base_currency:
        return base_currency_unit
    price = source.latest_answer(inputs, timestamp) if source is not None else 0
    if price > 0:
        return price
    if fallback is None:
        what = f"source {source.address} answered {price}" if source else "no source"
        raise PriceSourceError(
            f"asset {asset}: {what} and there is no fallback oracle (getAssetPrice reverts)"
        )
    return fallback
