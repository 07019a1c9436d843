"""The embedded synthetic chain: Morpho Blue markets, Chainlink feeds, borrowers and a liquidator.

Deterministic from a seed. Every Morpho call goes through ``MorphoBlue`` (the contract's checks and
events) and every log is ABI-encoded with the real signatures, so the raw layer looks exactly like a
real chain's cryo export. The chain also keeps the contract state after every transaction (``truth``)
so the baseline replay can be checked against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any

import numpy as np
import polars as pl
from eth_utils.crypto import keccak

from softliq_core.abi import encode_log
from softliq_core.feeds import feeds_table
from softliq_core.markets import ORACLES_SCHEMA, TOKENS_SCHEMA
from softliq_core.protocols.morpho.accrual import expected_market
from softliq_core.protocols.morpho.blue import MorphoBlue
from softliq_core.protocols.morpho.errors import MorphoRevert
from softliq_core.protocols.morpho.health import borrowed_assets, collateral_value, is_healthy, ltv
from softliq_core.protocols.morpho.irm import adaptive_curve_borrow_rate
from softliq_core.protocols.morpho.liquidation import max_liquidation_inputs
from softliq_core.protocols.morpho.market import MarketParams, Position
from softliq_core.protocols.morpho.math import WAD
from softliq_core.protocols.morpho.oracle import ChainlinkOracleRecipe, scale_factor
from softliq_core.protocols.morpho.pre_liquidation import (
    DEFAULT_PRE_LIQUIDATION_PARAMS,
    PreLiquidationParams,
    pre_liquidate,
    pre_liquidation_terms,
)
from softliq_core.rate_samples import DEFAULT_CADENCE, DEFAULT_REFINE_BUDGET, sample_rates
from softliq_core.sources.synthetic.aave import SyntheticAave
from softliq_core.sources.synthetic.prices import (
    BLOCK_TIME,
    BLOCKS_PER_DAY,
    CrashSpec,
    Feed,
    FeedProxy,
    FeedSpec,
    RateAdapter,
    price_paths,
)
from softliq_core.tables import BLOCKS, RAW_LOGS


@dataclass(frozen=True, slots=True)
class SyntheticChainConfig:
    seed: int = 7
    days: int = 10
    start_date: date = date(2024, 3, 1)
    borrowers_per_market: int = 80
    size: int = 1  # multiplies borrowers (benchmarks); 1 is the demo
    # Benchmarks at scale: each of the four market templates is created this many times (each
    # copy with its own oracle contract, hence its own market id), and borrowers act this often.
    market_copies: int = 1
    attentive_actions_per_day: float = 2.0
    casual_actions_per_day: float = 0.15
    chain_id: int = 1
    first_block: int = 19_300_000
    crash_day: int | None = None  # default: the middle day
    # ETH/USD's proxy switches to a new aggregator at this fraction of the history (None: never;
    # also never when that leaves less than two hours before it for the new aggregator to report).
    aggregator_switch: float | None = 0.3

    @property
    def n_blocks(self) -> int:
        return self.days * BLOCKS_PER_DAY

    @property
    def genesis_timestamp(self) -> int:
        return int(datetime(*self.start_date.timetuple()[:3], tzinfo=UTC).timestamp())


@dataclass(frozen=True, slots=True)
class Token:
    address: str
    symbol: str
    decimals: int
    usd_path: str  # which price path gives its USD value


@dataclass(frozen=True, slots=True)
class SyntheticMarket:
    params: MarketParams
    loan: Token
    collateral: Token
    recipe: ChainlinkOracleRecipe


@dataclass
class SyntheticChain:
    config: SyntheticChainConfig
    raw_logs: pl.DataFrame
    blocks: pl.DataFrame
    tokens: dict[str, Token]
    markets: list[SyntheticMarket]
    morpho: MorphoBlue
    truth_markets: pl.DataFrame  # market totals after each transaction that touched the market
    truth_positions: pl.DataFrame  # each touched position after each transaction
    morpho_address: str
    proxies: dict[str, FeedProxy] = field(default_factory=dict)  # by proxy address
    adapters: dict[str, RateAdapter] = field(default_factory=dict)  # by address
    # (block_number, log_index, market_id, kind, price): the oracle price every transaction that
    # read its market's oracle used (kind: its last event: Borrow, WithdrawCollateral, Liquidate,
    # PreLiquidate), at that event's log
    truth_prices: pl.DataFrame = field(default_factory=pl.DataFrame)
    aave: SyntheticAave | None = None  # the Aave V3 pool's history (sources/synthetic/aave.py)

    def tokens_table(self) -> pl.DataFrame:
        """What an RPC source reads with symbol() and decimals()."""
        return pl.DataFrame(
            [(t.address, t.symbol, t.decimals) for t in self.tokens.values()],
            schema=TOKENS_SCHEMA,
            orient="row",
        )

    def feeds_table(self) -> pl.DataFrame:
        """The proxies and their phases: what an RPC source discovers with phaseId() calls."""
        return feeds_table(
            (self.config.chain_id, p.address, p.spec.name, p.spec.decimals, p.spec.heartbeat,
             phase_id, aggregator.address, first_block)
            for p in self.proxies.values()
            for phase_id, aggregator, first_block in p.phases
        )  # fmt: skip

    def oracles_table(self) -> pl.DataFrame:
        """What an RPC source reads from each oracle's immutables."""
        return pl.DataFrame(
            [
                (r.oracle, r.kind, r.base_feed_1 or None, r.base_feed_2 or None,
                 r.quote_feed_1 or None, r.quote_feed_2 or None, r.base_vault or None,
                 str(r.base_vault_conversion_sample), r.quote_vault or None,
                 str(r.quote_vault_conversion_sample), str(r.scale_factor))
                for r in (m.recipe for m in self.markets)
            ],
            schema=ORACLES_SCHEMA,
            orient="row",
        )  # fmt: skip

    def rate_samples(
        self, cadence: int = DEFAULT_CADENCE, refine_budget: int = DEFAULT_REFINE_BUDGET
    ) -> pl.DataFrame:
        """The ``rate_samples`` table the pipeline builds from this chain (``rate_samples.py``)."""
        return sample_rates(
            lambda rate, blocks: [
                self.rate_at(rate.contract, rate.call, rate.sample, b) for b in blocks
            ],
            [m.recipe for m in self.markets],
            set(self.proxies),
            self.config.first_block,
            self.config.first_block + self.config.n_blocks - 1,
            self.config.chain_id,
            cadence,
            refine_budget,
        )

    def rate_at(self, contract: str, call: str, sample: int | None, block: int) -> int:
        """An event-less oracle input as ``eth_call`` at ``block`` returns it (state after it)."""
        adapter = self.adapters.get(contract)
        if adapter is None or call != "latestRoundData":
            raise ValueError(f"the synthetic chain has no {call} on {contract}")
        return adapter.answer_after(block)


def _address(seed: int, role: str, index: int = 0) -> str:
    return "0x" + keccak(text=f"softliq:{seed}:{role}:{index}")[-20:].hex()


MORPHO = "0xbbbbbbbbbb9cc5e90e3b3af64bdaf62c37eeffcb"
PRE_LIQUIDATION_FACTORY = "0x6ff33615e792e35ed1026ea7cacccf43d6f0f3f7"
PRE_LIQUIDATION_BOT_MIN_USD = 20.0  # the historical pre-liquidation bot skips smaller incentives
ADAPTIVE_CURVE_IRM = "0x870ac11d48b15db9a138cf899d20f13f79ba00bc"

SWITCHED_FEED = "ETH"
FEED_SPECS = {
    "ETH": FeedSpec("ETH / USD", 8, 0.005, 3_600),
    "BTC": FeedSpec("BTC / USD", 8, 0.005, 3_600),
    "USDC": FeedSpec("USDC / USD", 8, 0.0025, 86_400),
    "USDT": FeedSpec("USDT / USD", 8, 0.0025, 86_400),
    "STETH_ETH": FeedSpec("stETH / ETH", 18, 0.005, 86_400),
}
# Feed-interface adapters that read state and emit nothing (Morpho's wstETH/stETH exchange-rate
# adapter); Lido's oracle report moves the rate once a day, as the last transaction of its block.
ADAPTER_SPECS = {"WSTETH_STETH": FeedSpec("wstETH / stETH exchange rate", 18, 0.0, 86_400)}
LIDO_REPORT_HOUR = 12
SAME_BLOCK_PROBABILITY = 0.3  # a round shares its block with an adjustment of a market reading it


class _Builder:
    """Runs the simulation block by block and writes logs as the chain would."""

    def __init__(self, config: SyntheticChainConfig) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        seed = config.seed
        self.owner = _address(seed, "owner")
        self.fee_recipient = _address(seed, "fee-recipient")
        self.adapters = {
            name: RateAdapter(spec, _address(seed, "rate-adapter", i))
            for i, (name, spec) in enumerate(ADAPTER_SPECS.items())
        }
        self.proxies: dict[str, FeedProxy] = {}
        self.live: list[tuple[str, Feed]] = []  # aggregators reporting, with their feed's name
        for i, (name, spec) in enumerate(FEED_SPECS.items()):
            proxy = FeedProxy(spec, _address(seed, "feed-proxy", i))
            proxy.confirm(Feed(spec, _address(seed, "aggregator", i)), config.first_block)
            self.proxies[name] = proxy
            self.live.append((name, proxy.aggregator))
        # The switch: the new aggregator reports for two hours before the proxy confirms it, and
        # the old one goes on reporting for an hour after (as on mainnet); the proxy emits nothing.
        self.switch: tuple[int, int, int, Feed] | None = None  # deploy, confirm, retire offsets
        confirm = int(config.n_blocks * (config.aggregator_switch or 0))
        if config.aggregator_switch is not None and 600 < confirm < config.n_blocks:
            new = Feed(FEED_SPECS[SWITCHED_FEED], _address(seed, "aggregator", len(FEED_SPECS)))
            self.switch = (confirm - 600, confirm, confirm + 300, new)
        self.tokens = {
            "WETH": Token("0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2", "WETH", 18, "ETH"),
            "WBTC": Token("0x2260fac5e5542a773aa44fbcfedf7c193bc2c599", "WBTC", 8, "BTC"),
            "wstETH": Token("0x7f39c581f595b53c5cb19bd0b3f8da6c935e2ca0", "wstETH", 18, "WSTETH"),
            "USDC": Token("0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", "USDC", 6, "USDC"),
            "USDT": Token("0xdac17f958d2ee523a2206206994597c13d831ec7", "USDT", 6, "USDT"),
        }
        templates = [
            ("WETH", "USDC", 860, ("ETH",), ("USDC",)),
            ("WBTC", "USDC", 860, ("BTC",), ("USDC",)),
            ("wstETH", "WETH", 945, ("WSTETH_STETH", "STETH_ETH"), ()),
            ("WETH", "USDT", 915, ("ETH",), ("USDT",)),
        ]
        self.markets = [
            self._market(*template, copy * len(templates) + i)
            for copy in range(config.market_copies)
            for i, template in enumerate(templates)
        ]
        self.oracles = {m.params.oracle: m.recipe for m in self.markets}
        # One PreLiquidation contract (blue-sdk default parameters) on each 86 % market.
        self.pre_liquidations: dict[str, tuple[str, PreLiquidationParams]] = {
            m.params.id: (
                _address(config.seed, "pre-liquidation", i),
                DEFAULT_PRE_LIQUIDATION_PARAMS[m.params.lltv],
            )
            for i, m in enumerate(self.markets)
            if m.params.lltv == 860 * WAD // 1000
        }
        self.morpho = MorphoBlue(MORPHO, self.owner, self._read_oracle)
        self.oracle_reads: list[tuple[str, int]] = []  # IOracle.price() calls of the current tx
        self.market_of_oracle = {m.params.oracle: m.params.id for m in self.markets}
        crash_day = config.crash_day if config.crash_day is not None else config.days // 2
        self.crash = CrashSpec(day=crash_day) if 0 <= crash_day < config.days else None
        self.paths = price_paths(config.n_blocks, self.rng, self.crash).usd
        for name, adapter in self.adapters.items():  # the state before the first block
            adapter.set(self._adapter_answer(name, 0), config.first_block - 1)
        # The oracle price every transaction read (liquidations, borrows, withdrawals): ground truth.
        self.truth_prices: list[tuple[Any, ...]] = []
        # Liquidation bots go down for the middle of the crash (congestion, failed bundles): the
        # positions they find afterwards are deep under water and liquidating them realises bad debt.
        self.outage: tuple[int, int] | None = None
        if self.crash is not None:
            start = int((self.crash.day * 24 + self.crash.start_hour + 1) * 3600 / BLOCK_TIME)
            self.outage = (start, start + int(3 * 3600 / BLOCK_TIME))
        self.logs: list[tuple[Any, ...]] = []
        self.users_by_market: dict[str, list[str]] = {}
        self.indexed_positions = 0
        self.truth_markets: list[tuple[Any, ...]] = []
        self.truth_positions: list[tuple[Any, ...]] = []
        self.block_number = config.first_block
        self.timestamp = config.genesis_timestamp
        self.log_index = 0
        self.tx_index = 0
        self.block_hash = b""
        self.aave = SyntheticAave(
            seed=config.seed,
            first_block=config.first_block,
            n_blocks=config.n_blocks,
            n_borrowers=max(config.borrowers_per_market, 4) * config.size,
            tokens={t.symbol: (t.address, t.decimals) for t in self.tokens.values()},
            feeds=self.proxies,
            rates=self.adapters,
            address=lambda role, i: _address(config.seed, role, i),
            transact=self._aave_transaction,
            outage=self.outage,
        )

    # -- setup ---------------------------------------------------------------------------------

    def _market(
        self,
        collateral: str,
        loan: str,
        lltv_permille: int,
        base_feeds: tuple[str, ...],
        quote_feeds: tuple[str, ...],
        index: int,
    ) -> SyntheticMarket:
        c, q = self.tokens[collateral], self.tokens[loan]
        oracle = _address(self.config.seed, "oracle", index)
        specs = FEED_SPECS | ADAPTER_SPECS
        contracts = {n: p.address for n, p in self.proxies.items()} | {
            n: a.address for n, a in self.adapters.items()
        }

        def decimals(names: tuple[str, ...]) -> tuple[int, int]:
            padded = [specs[n].decimals for n in names] + [0, 0]
            return padded[0], padded[1]

        def address(names: tuple[str, ...], i: int) -> str:
            return contracts[names[i]] if len(names) > i else ""

        recipe = ChainlinkOracleRecipe(
            oracle=oracle,
            scale_factor=scale_factor(
                c.decimals, q.decimals, decimals(base_feeds), decimals(quote_feeds)
            ),
            base_feed_1=address(base_feeds, 0),
            base_feed_2=address(base_feeds, 1),
            quote_feed_1=address(quote_feeds, 0),
            quote_feed_2=address(quote_feeds, 1),
        )
        params = MarketParams(
            q.address, c.address, oracle, ADAPTIVE_CURVE_IRM, lltv_permille * WAD // 1000
        )
        return SyntheticMarket(params, q, c, recipe)

    def _oracle_price(self, oracle: str) -> int:
        return self.oracles[oracle].price(
            {p.address: p.answer for p in self.proxies.values()}
            | {a.address: a.answer for a in self.adapters.values()}
        )

    def _adapter_answer(self, name: str, offset: int) -> int:
        return round(float(self.paths[name][offset]) * 10.0 ** ADAPTER_SPECS[name].decimals)

    def _usd(self, token: Token, block: int) -> float:
        if token.usd_path == "WSTETH":
            rate = self.adapters["WSTETH_STETH"].answer / 10**18
            return float(rate * self.paths["STETH_ETH"][block] * self.paths["ETH"][block])
        return float(self.paths[token.usd_path][block])

    # -- writing logs --------------------------------------------------------------------------

    def _begin_block(self, offset: int) -> None:
        self.block_number = self.config.first_block + offset
        self.timestamp = self.config.genesis_timestamp + offset * BLOCK_TIME
        self.morpho.timestamp = self.timestamp
        self.block_hash = self._block_hash(self.block_number)
        self.log_index = 0
        self.tx_index = 0

    def _block_hash(self, block_number: int) -> bytes:
        return keccak(text=f"softliq:{self.config.seed}:block:{block_number}")

    def _blocks(self) -> pl.DataFrame:
        """Every block's row, the idle ones included: the chain has no gaps."""
        cfg = self.config
        numbers = range(cfg.first_block, cfg.first_block + cfg.n_blocks)
        hashes = [self._block_hash(n) for n in numbers]
        genesis_parent = keccak(text=f"softliq:{cfg.seed}:genesis-parent")
        return pl.DataFrame(
            {
                "block_number": numbers,
                "block_hash": hashes,
                "parent_hash": [genesis_parent, *hashes[:-1]],
                "timestamp": [cfg.genesis_timestamp + i * BLOCK_TIME for i in range(cfg.n_blocks)],
                "base_fee_per_gas": [self._base_fee(i) for i in range(cfg.n_blocks)],
                "chain_id": [cfg.chain_id] * cfg.n_blocks,
            },
            schema=pl.Schema(BLOCKS),
        )

    def _base_fee(self, offset: int) -> int:
        # 10–20 gwei normally, up to ~10x while the crash is under way (gas wars).
        calm = 12e9 + 6e9 * math.sin(offset / 2_000.0)
        stress = 1.0
        if self.crash is not None:
            start = int((self.crash.day * 24 + self.crash.start_hour) * 3600 / BLOCK_TIME)
            distance = abs(offset - start - 900)
            stress += 9.0 * math.exp(-distance / 600.0)
        return int(calm * stress)

    def _aave_transaction(self, events: list[dict[str, Any]]) -> int:
        """One Aave transaction's logs (their ABI kind names the contract); its last log index."""
        for event in events:
            self._write(event["contract"], event["event"], event)
        self.tx_index += 1
        return self.log_index - 1

    def _write(self, contract: str, event: str, values: dict[str, Any]) -> None:
        topics, data = encode_log(event, values, values.get("kind"))
        topics = topics + [None] * (4 - len(topics))  # type: ignore[list-item]
        tx_hash = keccak(text=f"softliq:{self.config.seed}:tx:{self.block_number}:{self.tx_index}")
        self.logs.append(
            (
                self.block_number,
                self.block_hash,
                self.tx_index,
                self.log_index,
                tx_hash,
                bytes.fromhex(contract[2:]),
                *topics,
                data,
                len(data),
                self.config.chain_id,
            )
        )
        self.log_index += 1

    def _transact(self, call: Any, *args: Any) -> bool:
        """One transaction: run a MorphoBlue call; on revert nothing is written (failed tx)."""
        before = len(self.morpho.events)
        self.oracle_reads = []
        try:
            call(*args)
        except MorphoRevert:
            return False
        new_events = self.morpho.events[before:]
        for event in new_events:
            self._write(event["contract"], event["event"], event)
        self._record_truth(new_events)
        for oracle, price in dict.fromkeys(self.oracle_reads):
            # the price this transaction read, at its last log (the call's own event)
            self.truth_prices.append(
                (self.block_number, self.log_index - 1, self.market_of_oracle[oracle],
                 new_events[-1]["event"], str(price))
            )  # fmt: skip
        self.tx_index += 1
        return True

    def _read_oracle(self, oracle: str) -> int:
        """IOracle.price() as a contract calls it: recorded as ground truth for the checks."""
        price = self._oracle_price(oracle)
        self.oracle_reads.append((oracle, price))
        return price

    def _record_truth(self, events: list[dict[str, Any]]) -> None:
        log_index = self.log_index - 1
        market_ids = {e["market_id"] for e in events if "market_id" in e}
        users = {e[k] for e in events for k in ("on_behalf", "borrower") if k in e}
        for market_id in market_ids:
            m = self.morpho.markets[market_id]
            self.truth_markets.append(
                (
                    self.block_number,
                    log_index,
                    market_id,
                    str(m.total_supply_assets),
                    str(m.total_supply_shares),
                    str(m.total_borrow_assets),
                    str(m.total_borrow_shares),
                    m.last_update,
                    str(m.fee),
                )
            )
            for user in users | {self.fee_recipient}:
                p = self.morpho.positions.get((market_id, user))
                if p is not None:
                    self.truth_positions.append(
                        (
                            self.block_number,
                            log_index,
                            market_id,
                            user,
                            str(p.supply_shares),
                            str(p.borrow_shares),
                            str(p.collateral),
                        )
                    )

    def _publish_round(self, feed: Feed) -> None:
        self._write(
            feed.address,
            "AnswerUpdated",
            {"current": feed.answer, "round_id": feed.round_id, "updated_at": self.timestamp},
        )
        self.tx_index += 1

    # -- the simulation ------------------------------------------------------------------------

    def run(self) -> SyntheticChain:
        cfg = self.config
        rng = self.rng
        self._begin_block(0)
        for name, feed in self.live:
            feed.publish(self._feed_price(name, 0), self.timestamp)
            self._publish_round(feed)
        m = self.morpho
        self._transact(m.enable_irm, self.owner, ADAPTIVE_CURVE_IRM)
        for lltv in sorted({mk.params.lltv for mk in self.markets}):
            self._transact(m.enable_lltv, self.owner, lltv)
        self._transact(m.set_fee_recipient, self.owner, self.fee_recipient)
        for mk in self.markets:
            self._transact(m.create_market, self.owner, mk.params)
        for market_id, (contract, params) in self.pre_liquidations.items():
            self._emit_only(
                PRE_LIQUIDATION_FACTORY,
                "CreatePreLiquidation",
                pre_liquidation=contract,
                market_id=market_id,
                pre_lltv=params.pre_lltv,
                pre_lcf1=params.pre_lcf1,
                pre_lcf2=params.pre_lcf2,
                pre_lif1=params.pre_lif1,
                pre_lif2=params.pre_lif2,
                pre_liquidation_oracle=self._market_by_id(market_id).params.oracle,
            )

        self.aave.setup(self.block_number, self.timestamp)
        n_borrowers = cfg.borrowers_per_market * cfg.size
        borrowers = self._plan_borrowers(n_borrowers)
        lenders = self._plan_lenders(borrowers)
        actions = self._plan_actions(borrowers, lenders)
        liquidator_queue: dict[int, list[tuple[str, SyntheticMarket, str]]] = {}
        liquidators = [_address(cfg.seed, "liquidator", i) for i in range(3)]
        fee_block = cfg.n_blocks // 3
        watching = {  # attentive borrowers by the feed proxies their market's oracle reads
            feed: [b for b in borrowers if b["attentive"] and feed in b["market"].recipe.feeds]
            for feed in (p.address for p in self.proxies.values())
        }

        # Every block is visited: a live aggregator may be due at any block (is_due over the paths),
        # the ETH/USD switch, the daily Lido report and the Aave pool's actions have their own
        # offsets, and busy blocks draw from rng; `_finish` writes every block's row.
        for offset in range(1, cfg.n_blocks):
            self._begin_block(offset)
            self._aggregator_switch(offset, liquidator_queue)
            # (after a switch: the Aave pool prices from the proxies at the block's start)
            self.aave.on_block(offset, self.block_number, self.timestamp)
            # Liquidators' transactions come first: they bid for the top of the block.
            for kind, market, borrower in liquidator_queue.pop(offset, []):
                if kind == "liquidation":
                    self._historical_liquidation(market, borrower, rng.choice(liquidators))
                else:
                    self._historical_pre_liquidation(market, borrower, rng.choice(liquidators))
            txs: list[tuple[str, Any]] = [("user", a) for a in actions.get(offset, [])]
            txs += [
                ("feed", (name, feed))
                for name, feed in self.live
                if feed.is_due(self._feed_price(name, offset), self.timestamp)
            ]
            # busy blocks: a round often shares its block with a borrower of a market that reads
            # the feed, before or after it (the order inside the block matters to both)
            for _, (name, feed) in [t for t in txs if t[0] == "feed"]:
                watchers = watching[self.proxies[name].address]
                forwarded = feed is self.proxies[name].aggregator
                if watchers and forwarded and rng.random() < SAME_BLOCK_PROBABILITY:
                    txs.append(("user", ("adjust", watchers[int(rng.integers(len(watchers)))])))
            if offset == fee_block:
                txs.append(("fee", None))
            rng.shuffle(txs)
            for kind, payload in txs:
                if kind == "feed":
                    name, feed = payload
                    feed.publish(self._feed_price(name, offset), self.timestamp)
                    self._publish_round(feed)
                    proxy = self.proxies[name]
                    if feed is proxy.aggregator:  # a round the proxy forwards
                        self._schedule_liquidations(proxy.address, offset, liquidator_queue)
                elif kind == "fee":
                    self._transact(m.set_fee, self.owner, self.markets[0].params, WAD // 10)
                else:
                    self._user_action(*payload)
            if offset % BLOCKS_PER_DAY == LIDO_REPORT_HOUR * 3600 // BLOCK_TIME:
                self._lido_report(offset, liquidator_queue)
        return self._finish(borrowers)

    def _lido_report(
        self, offset: int, queue: dict[int, list[tuple[str, SyntheticMarket, str]]]
    ) -> None:
        """The rate adapters' state moves (the block's last transaction, no log we watch)."""
        for name, adapter in self.adapters.items():
            adapter.set(self._adapter_answer(name, offset), self.block_number)
            self.tx_index += 1
            self._schedule_liquidations(adapter.address, offset, queue)

    def _aggregator_switch(
        self, offset: int, queue: dict[int, list[tuple[str, SyntheticMarket, str]]]
    ) -> None:
        if self.switch is None:
            return
        deploy, confirm, retire, new = self.switch
        proxy = self.proxies[SWITCHED_FEED]
        if offset == deploy:
            self.live.append((SWITCHED_FEED, new))
        elif offset == confirm:  # confirmAggregator: the block's first transaction, no log
            old = proxy.aggregator
            proxy.confirm(new, self.block_number)
            self.tx_index += 1
            if new.answer != old.answer:
                self._schedule_liquidations(proxy.address, offset, queue)
        elif offset == retire:
            self.live = [(n, f) for n, f in self.live if f is not proxy.phases[-2][1]]

    def _feed_price(self, name: str, offset: int) -> float:
        return float(self.paths[name][offset])

    def _plan_borrowers(self, n: int) -> list[dict[str, Any]]:
        rng = self.rng
        borrowers = []
        for i in range(n * len(self.markets)):
            market = self.markets[i % len(self.markets)]
            lltv = market.params.lltv / WAD
            borrowers.append(
                {
                    "address": _address(self.config.seed, "borrower", i),
                    "market": market,
                    # Many borrowers run close to the LLTV: that is where liquidations happen.
                    "target_ltv": lltv * float(rng.uniform(0.82, 0.985)),
                    "attentive": bool(rng.random() < 0.6),
                    "size_usd": float(min(rng.lognormal(math.log(40_000), 1.0), 2_000_000)),
                }
            )
        return borrowers

    def _plan_lenders(self, borrowers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        lenders = []
        for mi, market in enumerate(self.markets):
            demand = sum(
                b["size_usd"] * b["target_ltv"] for b in borrowers if b["market"] is market
            )
            for j in range(4):
                lenders.append(
                    {
                        "address": _address(self.config.seed, "lender", mi * 4 + j),
                        "market": market,
                        "size_usd": demand * 1.25 / 4,
                    }
                )
        return lenders

    def _plan_actions(
        self, borrowers: list[dict[str, Any]], lenders: list[dict[str, Any]]
    ) -> dict[int, list[tuple[str, dict[str, Any]]]]:
        rng = self.rng
        n_blocks = self.config.n_blocks
        plan: dict[int, list[tuple[str, dict[str, Any]]]] = {}

        def add(offset: int, kind: str, actor: dict[str, Any]) -> None:
            plan.setdefault(int(offset), []).append((kind, actor))

        for lender in lenders:
            add(1 + int(rng.integers(0, 50)), "lend", lender)
            for offset in rng.integers(100, n_blocks, size=rng.poisson(0.4 * self.config.days)):
                add(offset, "lender_adjust", lender)
        for b in borrowers:
            opened = int(rng.integers(60, max(61, int(n_blocks * 0.4))))
            add(opened, "open", b)
            rate_per_day = (
                self.config.attentive_actions_per_day
                if b["attentive"]
                else self.config.casual_actions_per_day
            )
            count = rng.poisson(rate_per_day * (n_blocks - opened) / BLOCKS_PER_DAY)
            for offset in rng.integers(opened + 1, n_blocks, size=count):
                add(offset, "adjust", b)
            if rng.random() < 0.1:
                add(int(rng.integers(opened + 1, n_blocks)), "flash_loan", b)
            if rng.random() < 0.2:
                add(int(rng.integers(opened + 1, n_blocks)), "authorize", b)
            if b["market"].params.id in self.pre_liquidations and rng.random() < 0.35:
                # opt in to pre-liquidation when opening; a few revoke later
                add(opened, "opt_in_pre_liquidation", b)
                if rng.random() < 0.2:
                    add(int(rng.integers(opened + 1, n_blocks)), "opt_out_pre_liquidation", b)
        return plan

    # -- actors --------------------------------------------------------------------------------

    def _units(self, token: Token, usd: float) -> int:
        return int(
            usd / self._usd(token, self.block_number - self.config.first_block) * 10**token.decimals
        )

    def _user_action(self, kind: str, actor: dict[str, Any]) -> None:
        m = self.morpho
        market: SyntheticMarket = actor["market"]
        params = market.params
        who = actor["address"]
        rng = self.rng
        if kind == "lend":
            self._transact(
                m.supply, who, params, self._units(market.loan, actor["size_usd"]), 0, who
            )
            return
        if kind == "lender_adjust":
            amount = self._units(market.loan, actor["size_usd"] * float(rng.uniform(0.02, 0.15)))
            if rng.random() < 0.5:
                self._transact(m.supply, who, params, amount, 0, who)
            else:
                self._transact(m.withdraw, who, params, amount, 0, who, who)
            return
        if kind == "flash_loan":
            self._transact(m.flash_loan, who, params.loan_token, self._units(market.loan, 10_000))
            return
        if kind in ("opt_in_pre_liquidation", "opt_out_pre_liquidation"):
            contract, _ = self.pre_liquidations[params.id]
            self._transact(m.set_authorization, who, contract, kind == "opt_in_pre_liquidation")
            return
        if kind == "authorize":
            bundler = _address(self.config.seed, "bundler")
            authorized = m.authorizations.get((who, bundler), False)
            self._transact(m.set_authorization, who, bundler, not authorized)
            return
        position = m.position(params.id, who)
        price = self._oracle_price(params.oracle)
        target = actor["target_ltv"]
        if kind == "open" or (position.collateral == 0 and rng.random() < 0.3):
            collateral = self._units(market.collateral, actor["size_usd"])
            if collateral == 0:
                return
            self._transact(m.supply_collateral, who, params, collateral, who)
            self._borrow_to(params, who, position, price, target)
            return
        if position.borrow_shares == 0 and position.collateral == 0:
            return
        if rng.random() < 0.04:  # close the position
            if position.borrow_shares:
                self._transact(m.repay, who, params, 0, position.borrow_shares, who)
            if position.collateral:
                self._transact(m.withdraw_collateral, who, params, position.collateral, who, who)
            return
        current = ltv(position, m.markets[params.id], price)
        if current is None:
            return
        current_ltv = current / WAD
        if current_ltv > target + 0.015:
            if rng.random() < 0.5:
                self._repay_to(params, who, position, price, target)
            else:
                value = collateral_value(position.collateral, price)
                needed = borrowed_assets(position, m.markets[params.id]) / target - value
                extra = int(needed * position.collateral / max(value, 1))
                if extra > 0:
                    self._transact(m.supply_collateral, who, params, extra, who)
        elif current_ltv < target - 0.03:
            if rng.random() < 0.65:
                self._borrow_to(params, who, position, price, target)
            else:
                value = collateral_value(position.collateral, price)
                keep = borrowed_assets(position, m.markets[params.id]) / target
                surplus = int((value - keep) * position.collateral / max(value, 1))
                if 0 < surplus < position.collateral:
                    self._transact(m.withdraw_collateral, who, params, surplus, who, who)
        elif position.borrow_shares and rng.random() < 0.5:
            repay = int(
                borrowed_assets(position, m.markets[params.id]) * float(rng.uniform(0.01, 0.1))
            )
            if repay > 0:
                self._transact(m.repay, who, params, repay, 0, who)

    def _borrow_to(
        self, params: MarketParams, who: str, position: Position, price: int, target: float
    ) -> None:
        market = self.morpho.markets[params.id]
        wanted = int(collateral_value(position.collateral, price) * target) - borrowed_assets(
            position, market
        )
        liquidity = market.total_supply_assets - market.total_borrow_assets
        amount = min(wanted, int(liquidity * 0.98))
        if amount > 0:
            self._transact(self.morpho.borrow, who, params, amount, 0, who, who)

    def _repay_to(
        self, params: MarketParams, who: str, position: Position, price: int, target: float
    ) -> None:
        market = self.morpho.markets[params.id]
        excess = borrowed_assets(position, market) - int(
            collateral_value(position.collateral, price) * target
        )
        if excess <= 0:
            return
        if excess >= borrowed_assets(position, market):
            self._transact(self.morpho.repay, who, params, 0, position.borrow_shares, who)
        else:
            self._transact(self.morpho.repay, who, params, excess, 0, who)

    def _schedule_liquidations(
        self, feed: str, offset: int, queue: dict[int, list[tuple[str, SyntheticMarket, str]]]
    ) -> None:
        """After a round, liquidators find newly liquidatable positions and act 1–3 blocks later;
        pre-liquidation bots find opted-in positions in the pre-liquidation window likewise."""
        m = self.morpho
        for market in self.markets:
            if feed not in market.recipe.feeds:
                continue
            price = self._oracle_price(market.params.oracle)
            state = m.markets[market.params.id]
            pre = self.pre_liquidations.get(market.params.id)
            for user in self._users_of(market.params.id):
                position = m.positions[(market.params.id, user)]
                if position.borrow_shares == 0:
                    continue
                kind = None
                if not is_healthy(position, state, price, market.params.lltv):
                    kind = "liquidation"
                elif pre is not None and m.authorizations.get((user, pre[0]), False):
                    try:
                        pre_liquidation_terms(state, position, market.params.lltv, pre[1], price)
                        kind = "pre_liquidation"
                    except MorphoRevert:
                        pass
                if kind is not None:
                    when = offset + int(self.rng.integers(1, 4))
                    if self.outage is not None and self.outage[0] <= when < self.outage[1]:
                        when = self.outage[1] + int(self.rng.integers(0, 50))
                    queue.setdefault(when, []).append((kind, market, user))

    def _users_of(self, market_id: str) -> list[str]:
        """The market's position holders in the order MorphoBlue created the positions, indexed
        as they appear: scanning every market's positions after each round is quadratic at scale."""
        positions = self.morpho.positions
        added = len(positions) - self.indexed_positions
        if added:
            for key_market, user in list(islice(reversed(positions), added))[::-1]:
                self.users_by_market.setdefault(key_market, []).append(user)
            self.indexed_positions = len(positions)
        return self.users_by_market.get(market_id, [])

    def _historical_liquidation(self, market: SyntheticMarket, borrower: str, caller: str) -> None:
        m = self.morpho
        params = market.params
        position = m.position(params.id, borrower)
        if position.borrow_shares == 0:
            return
        # The liquidator quotes against totals accrued to now, as the contract will see them.
        price = self._oracle_price(params.oracle)
        state = m.markets[params.id]
        rate = adaptive_curve_borrow_rate(state, m.rate_at_target.get(params.id, 0), self.timestamp)
        accrued = expected_market(state, rate.avg_borrow_rate, self.timestamp)
        inputs = max_liquidation_inputs(accrued, position, params.lltv, price)
        if inputs is None:
            return
        seized, repaid_shares = inputs
        if repaid_shares and self.rng.random() < 0.25:
            repaid_shares = max(1, repaid_shares // 2)  # some liquidators close half
        self._transact(m.liquidate, caller, params, borrower, seized, repaid_shares)

    def _historical_pre_liquidation(
        self, market: SyntheticMarket, borrower: str, liquidator: str
    ) -> None:
        """PreLiquidation.preLiquidate with the largest repayable shares (spec §4.2): the contract
        accrues, repays on the borrower's behalf, withdraws the seized collateral to the
        liquidator, and emits PreLiquidate last."""
        m = self.morpho
        params = market.params
        contract, pre_params = self.pre_liquidations[params.id]
        position = m.position(params.id, borrower)
        if position.borrow_shares == 0 or not m.authorizations.get((borrower, contract), False):
            return
        price = self._oracle_price(params.oracle)
        state = m.markets[params.id]
        rate = adaptive_curve_borrow_rate(state, m.rate_at_target.get(params.id, 0), self.timestamp)
        accrued = expected_market(state, rate.avg_borrow_rate, self.timestamp)
        try:  # the contract's own checks, on copies: a call that would revert is not sent
            terms = pre_liquidation_terms(accrued, position, params.lltv, pre_params, price)
            result = pre_liquidate(
                accrued.copy(), position.copy(), params.lltv, pre_params, price, price,
                authorized=True, repaid_shares=terms.repayable_shares,
            )  # fmt: skip
        except MorphoRevert:
            return
        incentive = result.repaid_assets * (result.pre_lif - WAD) // WAD / 10**market.loan.decimals
        offset = self.block_number - self.config.first_block
        if incentive * self._usd(market.loan, offset) < PRE_LIQUIDATION_BOT_MIN_USD:
            return  # not worth the gas

        def call() -> None:
            self._read_oracle(params.oracle)  # PreLiquidation reads its oracle first
            m.accrue_interest(params)
            m.repay(contract, params, 0, result.repaid_shares, borrower)
            m.withdraw_collateral(contract, params, result.seized_assets, borrower, liquidator)
            m.events.append(
                {
                    "event": "PreLiquidate",
                    "contract": contract,
                    "market_id": params.id,
                    "liquidator": liquidator,
                    "borrower": borrower,
                    "repaid_assets": result.repaid_assets,
                    "repaid_shares": result.repaid_shares,
                    "seized_assets": result.seized_assets,
                }
            )

        self._transact(call)

    def _emit_only(self, contract: str, event: str, **fields: Any) -> None:
        """A transaction of a contract the chain does not model beyond its event (the factory)."""
        self._transact(self.morpho.events.append, {"event": event, "contract": contract, **fields})

    def _market_by_id(self, market_id: str) -> SyntheticMarket:
        return next(m for m in self.markets if m.params.id == market_id)

    def _finish(self, borrowers: list[dict[str, Any]]) -> SyntheticChain:
        raw_logs = pl.DataFrame(self.logs, schema=pl.Schema(RAW_LOGS), orient="row")
        blocks = self._blocks()
        truth_markets = pl.DataFrame(
            self.truth_markets,
            schema=[
                "block_number",
                "log_index",
                "market_id",
                "total_supply_assets",
                "total_supply_shares",
                "total_borrow_assets",
                "total_borrow_shares",
                "last_update",
                "fee",
            ],
            orient="row",
        )
        truth_positions = pl.DataFrame(
            self.truth_positions,
            schema=[
                "block_number",
                "log_index",
                "market_id",
                "user",
                "supply_shares",
                "borrow_shares",
                "collateral",
            ],
            orient="row",
        )
        return SyntheticChain(
            config=self.config,
            raw_logs=raw_logs,
            blocks=blocks,
            tokens={t.address: t for t in self.tokens.values()},
            markets=self.markets,
            morpho=self.morpho,
            truth_markets=truth_markets,
            truth_positions=truth_positions,
            morpho_address=MORPHO,
            proxies={p.address: p for p in self.proxies.values()},
            adapters={a.address: a for a in self.adapters.values()},
            truth_prices=pl.DataFrame(
                self.truth_prices,
                schema={
                    "block_number": pl.UInt32,
                    "log_index": pl.UInt32,
                    "market_id": pl.String,
                    "kind": pl.String,
                    "price": pl.String,
                },
                orient="row",
            ),
            aave=self.aave,
        )


def generate_chain(config: SyntheticChainConfig | None = None) -> SyntheticChain:
    return _Builder(config or SyntheticChainConfig()).run()
