"""Aave V3 on the embedded synthetic chain: five reserves (WETH, wstETH, WBTC, USDC, USDT) with
2023 Ethereum parameters, the ETH-correlated eMode, lenders, multi-collateral and eMode borrowers,
and a liquidator acting 1–3 blocks after a round makes a position liquidatable — under the Pool
version in force (v3.0, then v3.3 from ``upgrade_block``).

Every call goes through ``AavePool`` (the contract's checks, amounts and events), so the logs are
what the Pool, its tokens, the configurator and the oracle would emit. After each transaction the
scaled balances it touched are recorded (``truth``) for the baseline replay to be checked against.
It draws from its own random stream, so adding it leaves the Morpho history unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from softliq_core.aave_price_sources import (
    CAPO_SCALING,
    CapoRatioAdapter,
    CapoStableAdapter,
    ChainlinkSource,
    PriceSource,
)
from softliq_core.mechanisms.aave_liquidation import liquidation_choices
from softliq_core.protocols.aave.errors import AaveRevert
from softliq_core.protocols.aave.math import RAY
from softliq_core.protocols.aave.pool import AavePool
from softliq_core.protocols.aave.rates import RateStrategy
from softliq_core.protocols.aave.reserve import EModeCategory, ReserveConfig
from softliq_core.protocols.aave.version import V3_0, V3_3, VersionSchedule

AAVE_POOL = "0x87870bca3f3fd6335c3f4ce8392d69350b4fa4e2"
AAVE_CONFIGURATOR = "0x64b761d848206f447fe2dd461b0c635ec39ebb27"
AAVE_ORACLE = "0x54586be62e3c3580375ae3723c145253060ca0c2"
AAVE_TREASURY = "0x464c71f6c2f760dda6093dcb91c24c39e5d6e18c"
ZERO = "0x" + "00" * 20
ETH_EMODE = 1

# symbol -> (LTV, LT, LB, reserve factor, protocol fee, eMode); the 2023-10-31 snapshot (spec §7).
RESERVE_PARAMS = {
    "WETH": (8050, 8300, 10500, 1500, 1000, ETH_EMODE),
    "wstETH": (7850, 8100, 10600, 1500, 1000, ETH_EMODE),
    "WBTC": (7300, 7800, 10500, 2000, 1000, 0),
    "USDC": (7700, 8000, 10450, 1000, 1000, 0),
    "USDT": (7400, 7600, 10450, 1000, 1000, 0),
}
EMODE = EModeCategory(9000, 9300, 10100, "ETH correlated")
# AaveOracle sources as on Ethereum since 2024-02-27: wstETH by a CAPO ratio adapter (ETH/USD x the
# wstETH/stETH rate, stETH taken as ETH; 9.68 % a year from a snapshot 7 days old), the stablecoins
# moved from their feeds to CAPO stable adapters (cap 1.04 USD) part-way through the history.
WSTETH_CAPO_GROWTH_BPS = 968
WSTETH_CAPO_SNAPSHOT_DELAY = 7 * 86_400
STABLE_CAP = 104_000_000
STABLE_CAPO_AT = 0.4  # share of the history at which USDC and USDT switch source
# later the risk admin moves wstETH's snapshot (and its yearly growth) and lowers USDC's cap
CAP_UPDATES_AT = 0.7
WSTETH_CAPO_NEW_GROWTH_BPS = 850
USDC_NEW_CAP = 102_000_000


def _strategy(symbol: str) -> RateStrategy:
    stable = symbol in ("USDC", "USDT")
    return RateStrategy(
        optimal_usage_ratio=RAY * (90 if stable else 80) // 100,
        base_variable_borrow_rate=0,
        variable_rate_slope1=RAY * (4 if stable else 3) // 100,
        variable_rate_slope2=RAY * (60 if stable else 80) // 100,
    )


@dataclass
class SyntheticAave:
    """Driven by the chain builder: ``setup`` at block 0, ``on_block`` at the top of each block."""

    seed: int
    first_block: int
    n_blocks: int
    n_borrowers: int
    tokens: dict[str, tuple[str, int]]  # symbol -> (address, decimals)
    feeds: dict[str, Any]  # feed name -> FeedProxy (address, answer, round_id): what sources name
    rates: dict[str, Any]  # adapter name -> RateAdapter (address, answer): no rounds, no logs
    address: Callable[[str, int], str]
    transact: Callable[[list[dict[str, Any]]], int]  # writes one tx's logs; its last log index
    outage: tuple[int, int] | None
    rng: np.random.Generator = field(init=False)
    pool: AavePool = field(init=False)
    sources: dict[str, PriceSource] = field(default_factory=dict)  # symbol -> source in force
    # every source by address, as first set: what an eth_call read at deployment would give
    recipes: dict[str, PriceSource] = field(default_factory=dict)
    upgrade_block: int = field(init=False)
    truth: list[tuple[Any, ...]] = field(default_factory=list)
    plans: dict[int, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    queue: dict[int, list[str]] = field(default_factory=dict)
    borrowers: list[dict[str, Any]] = field(default_factory=list)
    last_rounds: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng([self.seed, 0xAAFE])
        self.pool = AavePool(AAVE_POOL, V3_0, AAVE_TREASURY)
        # The upgrade to v3.3 lands half an hour after the liquidators' mid-crash outage: the
        # backlog is liquidated under v3.0's rules, the rest of the crash under v3.3's.
        self.upgrade_block = self.outage[1] + 150 if self.outage else int(self.n_blocks * 0.6)

    @property
    def versions(self) -> VersionSchedule:
        """The Pool version in force from each block (configuration, as the proxy's upgrades)."""
        return VersionSchedule(
            ((self.first_block, V3_0), (self.first_block + self.upgrade_block, V3_3))
        )

    @property
    def price_sources(self) -> dict[str, PriceSource]:
        """AaveOracle source address -> its recipe as deployed, for every source the history
        names (later cap updates are in the adapters' logs)."""
        return dict(self.recipes)

    # -- transactions --------------------------------------------------------------------------

    def _conf(self, event: str, **fields: Any) -> dict[str, Any]:
        return {
            "event": event,
            "contract": AAVE_CONFIGURATOR,
            "kind": "aave_pool_configurator",
            **fields,
        }

    def _call(self, block: int, timestamp: int, call: Callable[..., Any], *args: Any) -> bool:
        """One transaction through the Pool; a revert writes nothing (a failed transaction)."""
        n = len(self.pool.events)
        try:
            call(*args)
        except AaveRevert:
            return False
        events = self.pool.events[n:]
        log_index = self.transact(events)
        self._record(block, log_index, events)
        return True

    def _record(self, block: int, log_index: int, events: list[dict[str, Any]]) -> None:
        touched = {
            (e["contract"], e[k])
            for e in events
            if e["kind"] == "aave_scaled_token" and e["event"] != "Transfer"
            for k in ("on_behalf_of", "from", "to")
            if k in e
        }
        balances = {
            t.address: t for r in self.pool.reserves.values() for t in (r.a_token, r.v_token)
        }
        for token, user in sorted(touched):
            scaled = balances[token].scaled_balance(user)
            self.truth.append((block, log_index, token, user, str(scaled)))

    # -- the simulation ------------------------------------------------------------------------

    def setup(self, block: int, timestamp: int) -> None:
        events: list[dict[str, Any]] = []
        for i, (symbol, (ltv, lt, lb, rf, fee, emode)) in enumerate(RESERVE_PARAMS.items()):
            asset, decimals = self.tokens[symbol]
            config = ReserveConfig(ltv, lt, lb, decimals, rf, fee, emode_category=emode)
            a_token, v_token = self.address("aave-atoken", i), self.address("aave-vtoken", i)
            strategy_address = self.address("aave-strategy", i)
            self.pool.init_reserve(asset, config, _strategy(symbol), a_token, v_token, timestamp)
            events += [
                self._conf("ReserveInitialized", asset=asset, a_token=a_token, stable_debt_token=ZERO,
                           variable_debt_token=v_token, interest_rate_strategy_address=strategy_address),
                self._conf("CollateralConfigurationChanged", asset=asset, ltv=ltv,
                           liquidation_threshold=lt, liquidation_bonus=lb),
                self._conf("ReserveFactorChanged", asset=asset, old_reserve_factor=0, new_reserve_factor=rf),
                self._conf("LiquidationProtocolFeeChanged", asset=asset, old_fee=0, new_fee=fee),
            ]  # fmt: skip
        self.pool.set_emode_category(ETH_EMODE, EMODE)
        events.append(
            self._conf("EModeCategoryAdded", category_id=ETH_EMODE, ltv=EMODE.ltv,
                       liquidation_threshold=EMODE.liquidation_threshold,
                       liquidation_bonus=EMODE.liquidation_bonus, oracle=ZERO, label=EMODE.label)
        )  # fmt: skip
        for symbol in ("WETH", "wstETH"):
            events.append(
                self._conf("EModeAssetCategoryChanged", asset=self.tokens[symbol][0],
                           old_category_id=0, new_category_id=ETH_EMODE)
            )  # fmt: skip
        feed = {name: f.address for name, f in self.feeds.items()}
        rate = self.rates["WSTETH_STETH"]
        wsteth = CapoRatioAdapter(
            self.address("aave-wsteth-capo", 0), feed["ETH"], rate.address, 18, rate.answer,
            timestamp - WSTETH_CAPO_SNAPSHOT_DELAY, WSTETH_CAPO_GROWTH_BPS, CAPO_SCALING,
        )  # fmt: skip
        sources: dict[str, PriceSource] = {
            symbol: ChainlinkSource(feed[name])
            for symbol, name in (("WETH", "ETH"), ("WBTC", "BTC"), ("USDC", "USDC"), ("USDT", "USDT"))
        }  # fmt: skip
        events += self._set_sources(sources | {"wstETH": wsteth})
        self.transact(events)
        self._refresh_prices(timestamp)
        self._plan()

    def _set_sources(self, sources: dict[str, PriceSource]) -> list[dict[str, Any]]:
        """AaveOracle.setAssetSources: the sources in force from now, and their events."""
        self.sources |= sources
        self.recipes |= {source.address: source for source in sources.values()}
        return [
            {"event": "AssetSourceUpdated", "contract": AAVE_ORACLE, "kind": "aave_oracle",
             "asset": self.tokens[symbol][0], "source": source.address}
            for symbol, source in sources.items()
        ]  # fmt: skip

    def _capped_stablecoins(self) -> None:
        stable = {
            symbol: CapoStableAdapter(
                self.address("aave-capo-stable", i), self.feeds[symbol].address, STABLE_CAP
            )
            for i, symbol in enumerate(("USDC", "USDT"))
        }
        self.transact(self._set_sources(dict(stable)))

    def _cap_updates(self, timestamp: int) -> None:
        """setCapParameters on the wstETH adapter (a snapshot of the rate 7 days old, slower
        growth) and setPriceCap on USDC's: the recipes change, and their adapters' events."""
        wsteth = self.sources["wstETH"]
        usdc = self.sources["USDC"]
        assert isinstance(wsteth, CapoRatioAdapter) and isinstance(usdc, CapoStableAdapter)
        wsteth = wsteth.with_cap_parameters(
            self.rates["WSTETH_STETH"].answer,
            timestamp - WSTETH_CAPO_SNAPSHOT_DELAY,
            WSTETH_CAPO_NEW_GROWTH_BPS,
        )
        usdc = replace(usdc, price_cap=USDC_NEW_CAP)
        self.sources |= {"wstETH": wsteth, "USDC": usdc}
        self.transact(
            [
                {"event": "CapParametersUpdated", "contract": wsteth.address, "kind": "aave_capo",
                 "snapshot_ratio": wsteth.snapshot_ratio,
                 "snapshot_timestamp": wsteth.snapshot_timestamp,
                 "max_ratio_growth_per_second": wsteth.max_ratio_growth_per_second,
                 "max_yearly_ratio_growth_percent": wsteth.max_yearly_ratio_growth_percent},
                {"event": "PriceCapUpdated", "contract": usdc.address, "kind": "aave_capo",
                 "price_cap": usdc.price_cap},
            ]
        )  # fmt: skip

    def _refresh_prices(self, timestamp: int) -> None:
        answers = {f.address: f.answer for f in (*self.feeds.values(), *self.rates.values())}
        for symbol, source in self.sources.items():
            self.pool.set_price(self.tokens[symbol][0], source.latest_answer(answers, timestamp))

    def _usd(self, symbol: str) -> float:
        return self.pool.prices[self.tokens[symbol][0]] / 1e8

    def _plan(self) -> None:
        """Actions by block offset: the lender first, then each borrower opens and adjusts."""
        rng = self.rng
        lender = self.address("aave-lender", 0)
        self.plans.setdefault(1, []).append(("lend", {"address": lender}))
        opening = max(int(self.n_blocks * 0.2), 3)
        for i in range(self.n_borrowers):
            emode = bool(rng.random() < 0.25)
            collateral = (
                ["wstETH"]
                if emode
                else list(
                    rng.choice(
                        ["WETH", "wstETH", "WBTC"], size=int(rng.integers(1, 3)), replace=False
                    )
                )
            )
            borrower = {
                "address": self.address("aave-borrower", i),
                "emode": emode,
                "collateral": collateral,
                "debt": "WETH" if emode else str(rng.choice(["USDC", "USDT"])),
                "size_usd": float(min(rng.lognormal(math.log(30_000), 1.0), 1_500_000)),
                "target_hf": float(rng.uniform(1.01, 1.06) if emode else rng.uniform(1.04, 1.4)),
            }
            self.borrowers.append(borrower)
            start = 2 + int(rng.integers(0, opening))
            self.plans.setdefault(start, []).append(("open", borrower))
            for _ in range(int(rng.integers(1, 4))):
                when = start + int(rng.integers(1, self.n_blocks))
                if when < self.n_blocks:
                    self.plans.setdefault(when, []).append(("adjust", borrower))

    def on_block(self, offset: int, block: int, timestamp: int) -> None:
        if offset == self.upgrade_block:
            self._upgrade()
        if offset == int(self.n_blocks * STABLE_CAPO_AT):
            self._capped_stablecoins()
        if offset == int(self.n_blocks * CAP_UPDATES_AT):
            self._cap_updates(timestamp)
        self._refresh_prices(timestamp)
        for user in self.queue.pop(offset, []):
            self._liquidate(user, block, timestamp)
        for kind, actor in self.plans.pop(offset, []):
            self._act(kind, actor, block, timestamp)
        # the rounds the proxies forward (an aggregator switch too), and the exchange rate's moves
        rounds = {f.address: f.round_id for f in self.feeds.values()}
        rounds |= {r.address: r.answer for r in self.rates.values()}
        if rounds != self.last_rounds:
            self.last_rounds = rounds
            self._schedule(offset, timestamp)

    def _upgrade(self) -> None:
        """v3.3 (through v3.2's eMode bitmaps): the category's assets become bitmap members."""
        self.pool.upgrade(V3_3)
        members = frozenset(self.tokens[s][0] for s in ("WETH", "wstETH"))
        self.pool.set_emode_category(
            ETH_EMODE,
            EModeCategory(EMODE.ltv, EMODE.liquidation_threshold, EMODE.liquidation_bonus,
                          EMODE.label, collateral_assets=members, borrowable_assets=members),
        )  # fmt: skip
        events = []
        for asset in sorted(members):
            events.append(
                self._conf(
                    "AssetCollateralInEModeChanged",
                    asset=asset,
                    category_id=ETH_EMODE,
                    collateral=True,
                )
            )
            events.append(self._conf("AssetBorrowableInEModeChanged", asset=asset,
                                     category_id=ETH_EMODE, borrowable=True))  # fmt: skip
        self.transact(events)

    def _units(self, symbol: str, usd: float) -> int:
        return int(usd / self._usd(symbol) * 10 ** self.tokens[symbol][1])

    def _act(self, kind: str, actor: dict[str, Any], block: int, timestamp: int) -> None:
        pool, user = self.pool, actor["address"]
        if kind == "lend":
            for symbol, usd in (
                ("USDC", 6e7),
                ("USDT", 4e7),
                ("WETH", 5e7),
                ("wstETH", 2e7),
                ("WBTC", 2e7),
            ):
                self._call(
                    block,
                    timestamp,
                    pool.supply,
                    self.tokens[symbol][0],
                    self._units(symbol, usd),
                    user,
                    timestamp,
                )
            return  # fmt: skip
        debt_asset = self.tokens[actor["debt"]][0]
        if kind == "open":
            share = actor["size_usd"] / len(actor["collateral"])
            for symbol in actor["collateral"]:
                self._call(block, timestamp, pool.supply, self.tokens[symbol][0], self._units(symbol, share), user, timestamp)  # fmt: skip
            if actor["emode"]:
                self._call(block, timestamp, pool.set_user_emode, user, ETH_EMODE, timestamp)
            self._borrow_to_target(actor, block, timestamp)
            return
        # adjust: repay part, or borrow back towards the target
        if self.rng.random() < 0.4 and pool.debt_balance(debt_asset, user, timestamp) > 0:
            debt = pool.debt_balance(debt_asset, user, timestamp)
            amount = int(debt * float(self.rng.uniform(0.1, 0.6)))
            if amount:
                self._call(block, timestamp, pool.repay, debt_asset, amount, user, timestamp)
        else:
            self._borrow_to_target(actor, block, timestamp)

    def _borrow_to_target(self, actor: dict[str, Any], block: int, timestamp: int) -> None:
        pool, user = self.pool, actor["address"]
        data = pool.user_account_data(user, timestamp)
        if data.total_collateral_base == 0:
            return
        room = data.total_collateral_base * data.liquidation_threshold / 1e4 / actor["target_hf"]
        room = min(room, data.available_borrows_base * 0.995 + data.total_debt_base)
        usd = (room - data.total_debt_base) / 1e8
        if usd > 1:
            self._call(block, timestamp, pool.borrow, self.tokens[actor["debt"]][0], self._units(actor["debt"], usd), user, timestamp)  # fmt: skip

    def _schedule(self, offset: int, timestamp: int) -> None:
        for borrower in self.borrowers:
            user = borrower["address"]
            if not self.pool.user_config(user).borrowing:
                continue
            if self.pool.user_account_data(user, timestamp).liquidatable:
                when = offset + int(self.rng.integers(1, 4))
                if self.outage is not None and self.outage[0] <= when < self.outage[1]:
                    when = self.outage[1] + int(self.rng.integers(0, 50))
                if user not in self.queue.get(when, []):
                    self.queue.setdefault(when, []).append(user)

    def _liquidate(self, user: str, block: int, timestamp: int) -> None:
        choices = liquidation_choices(self.pool, user, timestamp)
        if not choices:
            return
        choice = choices[0]
        liquidator = self.address("aave-liquidator", int(self.rng.integers(0, 3)))
        receive = bool(self.rng.random() < 0.2)
        self._call(block, timestamp, self.pool.liquidation_call, choice.collateral, choice.debt,
                   user, choice.debt_to_cover, receive, liquidator, timestamp)  # fmt: skip

    def truth_table(self) -> pl.DataFrame:
        return pl.DataFrame(
            self.truth,
            schema=["block_number", "log_index", "token", "user", "scaled_balance"],
            orient="row",
        )
