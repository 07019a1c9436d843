"""Price paths with calm periods and a crash, and Chainlink feeds that publish them as rounds.

Feeds follow Chainlink's update rule: a new round when the price deviates from the last answer by
more than the deviation threshold, or when the heartbeat has elapsed since the last round.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from softliq_core.feeds import proxy_round_id

BLOCK_TIME = 12
BLOCKS_PER_DAY = 86_400 // BLOCK_TIME
SECONDS_PER_YEAR = 31_536_000


@dataclass(frozen=True, slots=True)
class FeedSpec:
    name: str
    decimals: int
    deviation: float  # relative threshold, e.g. 0.005 for 0.5 %
    heartbeat: int  # seconds


@dataclass(slots=True)
class Feed:
    """One aggregator: its address, the rule it follows, and the rounds it has published."""

    spec: FeedSpec
    address: str
    round_id: int = 0
    answer: int = 0
    updated_at: int = -(10**12)

    def is_due(self, price: float, now: int) -> bool:
        """Chainlink's rule: deviation beyond the threshold, or the heartbeat elapsed."""
        answer = round(price * 10**self.spec.decimals)
        deviated = self.answer == 0 or abs(answer - self.answer) > self.spec.deviation * self.answer
        return deviated or now - self.updated_at >= self.spec.heartbeat

    def publish(self, price: float, now: int) -> None:
        self.round_id += 1
        self.answer = round(price * 10**self.spec.decimals)
        self.updated_at = now


@dataclass(slots=True)
class FeedProxy:
    """An EACAggregatorProxy: the address oracles name. It forwards to the aggregator of its latest
    phase and emits nothing when it switches (``confirmAggregator``)."""

    spec: FeedSpec
    address: str
    phases: list[tuple[int, Feed, int]] = field(default_factory=list)  # (phase id, agg, 1st block)

    @property
    def aggregator(self) -> Feed:
        return self.phases[-1][1]

    @property
    def answer(self) -> int:
        return self.aggregator.answer

    @property
    def round_id(self) -> int:
        """The round id the proxy returns: its phase and the aggregator's round."""
        phase_id, aggregator, _ = self.phases[-1]
        return proxy_round_id(phase_id, aggregator.round_id)

    def confirm(self, aggregator: Feed, block: int) -> None:
        self.phases.append((len(self.phases) + 1, aggregator, block))


@dataclass(slots=True)
class RateAdapter:
    """A contract with the feed interface whose answer is read from state, emitting no event (e.g.
    Morpho's wstETH/stETH exchange-rate adapter: ``getPooledEthByShares(1e18)``). ``history``:
    (block, answer from the end of that block on)."""

    spec: FeedSpec
    address: str
    answer: int = 0
    history: list[tuple[int, int]] = field(default_factory=list)

    def set(self, answer: int, block: int) -> None:
        self.answer = answer
        self.history.append((block, answer))

    def answer_after(self, block: int) -> int:
        """What ``latestRoundData()`` returns by eth_call at ``block`` (the state after it)."""
        index = bisect.bisect_right(self.history, (block, 2**256)) - 1
        if index < 0:
            raise ValueError(f"adapter {self.address}: no state before block {block}")
        return self.history[index][1]


@dataclass(frozen=True, slots=True)
class CrashSpec:
    day: int  # day index of the crash
    start_hour: float = 14.0
    duration_hours: float = 6.0
    eth_drop: float = 0.25
    btc_drop: float = 0.18
    steth_depeg: float = 0.035
    recovery: float = 0.35  # fraction of the drop recovered over the next day


@dataclass
class PricePaths:
    """Per-block prices: USD prices of ETH, BTC, USDC, USDT, the stETH/ETH market ratio and the
    wstETH/stETH exchange rate."""

    usd: dict[str, np.ndarray] = field(default_factory=dict)


def _crash_profile(n_blocks: int, crash: CrashSpec, drop: float) -> np.ndarray:
    """Log-price offset per block: a fall of ``drop`` over the crash window, a partial recovery."""
    start = int((crash.day * 24 + crash.start_hour) * 3600 / BLOCK_TIME)
    fall = int(crash.duration_hours * 3600 / BLOCK_TIME)
    rebound = BLOCKS_PER_DAY
    offset = np.zeros(n_blocks)
    bottom = np.log(1 - drop)
    recovered = bottom * (1 - crash.recovery)
    for i in range(start, min(n_blocks, start + fall)):
        offset[i] = bottom * (i - start) / fall
    for i in range(start + fall, min(n_blocks, start + fall + rebound)):
        offset[i] = bottom + (recovered - bottom) * (i - start - fall) / rebound
    if start + fall + rebound < n_blocks:
        offset[start + fall + rebound :] = recovered
    return offset


def price_paths(n_blocks: int, rng: np.random.Generator, crash: CrashSpec | None) -> PricePaths:
    per_block = np.sqrt(BLOCK_TIME / SECONDS_PER_YEAR)
    # Volatility regimes: calm most of the time, stormy in bursts.
    regime = np.where(rng.random(n_blocks // 600 + 1) < 0.2, 2.0, 0.6).repeat(600)[:n_blocks]
    z_eth = rng.standard_normal(n_blocks)
    z_btc = 0.8 * z_eth + 0.6 * rng.standard_normal(n_blocks)
    eth = np.cumsum(0.65 * per_block * regime * z_eth)
    btc = np.cumsum(0.50 * per_block * regime * z_btc)
    steth = 0.0005 * np.tanh(np.cumsum(0.02 * per_block * rng.standard_normal(n_blocks)))
    if crash is not None:
        eth = eth + _crash_profile(n_blocks, crash, crash.eth_drop)
        btc = btc + _crash_profile(n_blocks, crash, crash.btc_drop)
        steth = steth + _crash_profile(n_blocks, crash, crash.steth_depeg)
    years = np.arange(n_blocks) * BLOCK_TIME / SECONDS_PER_YEAR
    paths = PricePaths()
    paths.usd["ETH"] = 3_500.0 * np.exp(eth)
    paths.usd["BTC"] = 65_000.0 * np.exp(btc)
    paths.usd["USDC"] = 1.0 + 0.0004 * np.sin(np.arange(n_blocks) / 3_000.0)
    paths.usd["USDT"] = 1.0 - 0.0006 * np.sin(np.arange(n_blocks) / 4_100.0)
    # stETH/ETH: the market ratio (the depeg); wstETH/stETH: the exchange rate, ~3 % a year, which
    # Lido's daily report moves in steps (the chain samples this path at each report).
    paths.usd["STETH_ETH"] = np.exp(steth)
    paths.usd["WSTETH_STETH"] = 1.17 * np.exp(0.03 * years)
    return paths
