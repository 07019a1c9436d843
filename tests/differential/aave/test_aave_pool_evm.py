"""Differential test: random call sequences on Aave V3's real Pool (npm ``@aave/core-v3@1.19.3``,
Pool v3.0.x, in pyrevm) and on ``softliq_core.protocols.aave.pool.AavePool``.

Each hypothesis example deploys a fresh market (four reserves with 18, 8, 6 and 18 decimals, one
eMode category), opens a book (a lender in every reserve, three borrowers near their limits, one of
them in eMode) and runs a random sequence: supply (also on behalf), withdraw (also max and more
than the balance), borrow, repay (also max, on behalf, with aTokens), setUserUseReserveAsCollateral,
setUserEMode, liquidationCall (partial and max debtToCover, receiveAToken both ways, healthy and
unhealthy borrowers, any collateral/debt pair), each optionally after a time jump or a price move
(30 % crashes among them). After every call ``AaveHarness.call`` asserts the same result or
refusal, the same events and the same state (indexes, scaled and current balances, account data).

Profiles (``SOFTLIQ_EVM_PROFILE``): ``evm-ci`` (default) and ``evm-long`` (``make test-evm-long``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

pytest.importorskip(
    "softliq_core.protocols.aave.pool", reason="softliq's Aave engine (AavePool) is not built yet"
)

from .harness import (
    POSITION_FIELDS,
    AaveHarness,
    finish_sequence,
    liquidation_returns,
)
from .market import EMODE, LIQUIDATORS, MAX_UINT, RESERVES, USERS

STEPS = int(os.environ.get("SOFTLIQ_AAVE_STEPS", "70"))
settings.register_profile(
    "aave-evm-ci",
    # per shard, two shards: >= 100 sequences of >= 50 calls
    max_examples=int(os.environ.get("SOFTLIQ_AAVE_EXAMPLES", "65")),
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "aave-evm-long",
    max_examples=int(os.environ.get("SOFTLIQ_AAVE_EXAMPLES", "2950")),
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
_PROFILE = os.environ.get("SOFTLIQ_EVM_PROFILE", "evm-ci")
PROFILE = settings.get_profile(f"aave-{_PROFILE}")

SYMBOLS = [r.symbol for r in RESERVES]
SPECS = {r.symbol: r for r in RESERVES}
ASSET = st.integers(0, len(SYMBOLS) - 1)
USER = st.integers(0, len(USERS) - 1)
ON_BEHALF = st.sampled_from([None] * 6 + list(range(len(USERS))))
# An amount: per-mille of a reference the rule derives from the state (1000 = all of it, above
# 1000 = more than allowed), a few wei, or the uint128 / uint256 edges.
SIZE = st.one_of(
    st.integers(1, 1000).map(lambda p: ("permille", p)),
    st.sampled_from(
        [
            ("permille", 1000),
            ("permille", 1000),
            ("permille", 1001),
            ("permille", 2000),
            ("wei", 0),
            ("wei", 1),
            ("wei", 2**128),
            ("max", 0),
        ]
    ),
)
BORROW_SIZE = st.one_of(SIZE, st.integers(900, 1000).map(lambda p: ("permille", p)))
LIQUIDATION_SIZE = st.one_of(
    st.integers(1, 500).map(lambda p: ("permille", p)),  # within the 50 % close factor
    st.sampled_from([("permille", 500), ("permille", 1000), ("max", 0), ("max", 0), ("wei", 1)]),
    st.integers(501, 1000).map(lambda p: ("permille", p)),
)
SECONDS = st.one_of(
    st.sampled_from([1, 12, 3_600, 86_400, 7 * 86_400, 30 * 86_400, 365 * 86_400]),
    st.integers(1, 30 * 86_400),
)
PRICE_MOVE = st.one_of(
    st.just(700),  # a 30 % crash
    st.integers(900, 1_100),
    st.sampled_from([500, 800, 950, 1_050, 1_300, 1_500]),
)
PRELUDE = st.integers(0, 9).flatmap(
    lambda k: (
        st.none()
        if k < 4
        else st.tuples(st.just("warp"), SECONDS, st.just(0))
        if k < 7
        else st.tuples(st.just("price"), PRICE_MOVE, ASSET)
    )
)


# v3.0–3.2: the whole debt may be covered at HF <= 0.95 (LiquidationLogic), half above it.
CLOSE_FACTOR_HF_THRESHOLD = 95 * 10**16
HF_BUCKETS = [(50, "0.5"), (80, "0.8"), (95, "0.95"), (100, "1.0")]  # HF in hundredths


def hf_bucket(health: int) -> str:
    """The figures' HF bucket of a liquidation: hf_below_0.5 ... hf_below_1.0, or
    hf_not_below_1 (a success there would be the Pool contradicting its own view; it is counted,
    the call having been compared on both sides, rather than hidden)."""
    return next(
        (f"hf_below_{name}" for cents, name in HF_BUCKETS if health < cents * 10**16),
        "hf_not_below_1",
    )


def scale(reference: int, size: tuple[str, int]) -> int:
    kind, n = size
    if kind == "max":
        return MAX_UINT
    if kind == "wei" or reference <= 0:
        return n
    return reference * n // 1000


class AavePoolDifferential(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = AaveHarness()
        self.m = self.h.m
        self.engine = self.h.engine

    # -- helpers ---------------------------------------------------------------------------

    def asset(self, i: int) -> str:
        return self.m.asset(SYMBOLS[i])

    def position(self, holder: str, symbol: str) -> dict[str, int]:
        """The holder's position in ``symbol`` as the contract had it after the last call."""
        assert self.h.last is not None
        stored = self.h.last.positions[(holder, symbol)]
        return dict(zip(POSITION_FIELDS, stored, strict=True))

    def account(self, holder: str) -> tuple[int, ...]:
        assert self.h.last is not None
        return self.h.last.users[holder]

    def usd_to_units(self, symbol: str, usd_base: int) -> int:
        """An amount worth ``usd_base`` (8 decimals) at the current price."""
        spec = SPECS[symbol]
        return usd_base * 10**spec.decimals // max(self.m.prices[symbol], 1)

    def holder_with(self, start: int, symbol: str, what: str) -> str:
        """The first user from ``start`` (cyclically) with some ``what`` in ``symbol``."""
        for k in range(len(USERS)):
            user = USERS[(start + k) % len(USERS)]
            if self.position(user, symbol)[what]:
                return user
        return USERS[start]

    def call(
        self,
        name: str,
        contract: Callable[[], Any],
        engine: Callable[[], Any],
        returns: Callable[[Any], Any] | None = None,
    ) -> Any:
        return self.h.call(name, contract, engine, returns)

    def prelude(self, pre: tuple[str, int, int] | None) -> None:
        if pre is None:
            return
        kind, amount, i = pre
        if kind == "warp":
            self.h.warp(amount)
            self.h.stats["time_jumps"] += 1
        else:
            symbol = SYMBOLS[i]
            self.h.set_price(symbol, max(self.m.prices[symbol] * amount // 1000, 1))
            self.h.stats["price_moves"] += 1
            if amount <= 700:
                self.h.stats["price_crashes"] += 1
        # Balances, health factors and indexes now, on both sides (the rules read them).
        self.h.compare_state(kind)

    # -- a starting book --------------------------------------------------------------------

    @initialize(
        collateral=st.lists(st.sampled_from([0, 1, 3]), min_size=2, max_size=2),
        debt=st.lists(st.sampled_from([0, 1, 2]), min_size=2, max_size=2),
        loans=st.lists(st.integers(800, 1000), min_size=3, max_size=3),
    )
    def open_book(self, collateral: list[int], debt: list[int], loans: list[int]) -> None:
        """A lender (the last user) in every reserve; users 0 and 1 borrow near their limit
        against one collateral; user 2 supplies wstETH in eMode and borrows WETH near its limit."""
        h, e, m = self.h, self.engine, self.m
        lender = USERS[-1]
        for symbol in SYMBOLS:
            amount = self.usd_to_units(symbol, 10_000_000 * 10**8)
            asset = m.asset(symbol)
            self.call(
                "supply",
                lambda s=symbol, a=amount: m.supply(lender, s, a),
                lambda asset=asset, a=amount: e.supply(asset, a, lender, h.timestamp),
            )
        pairs = [(c, d if d != c else 2) for c, d in zip(collateral, debt, strict=True)]
        pairs.append((3, 0))  # wstETH -> WETH, in eMode
        for b, (c, d) in enumerate(pairs):
            user = USERS[b]
            cs, ds = SYMBOLS[c], SYMBOLS[d]
            amount = self.usd_to_units(cs, 100_000 * 10**8)
            self.call(
                "supply",
                lambda cs=cs, a=amount, u=user: m.supply(u, cs, a),
                lambda c=c, a=amount, u=user: e.supply(self.asset(c), a, u, h.timestamp),
            )
            if b == 2:
                self.call(
                    "setUserEMode",
                    lambda u=user: m.set_emode(u, EMODE.category),
                    lambda u=user: e.set_user_emode(u, EMODE.category, h.timestamp),
                )
            available = self.account(user)[3]
            amount = self.usd_to_units(ds, available) * loans[b] // 1000
            self.call(
                "borrow",
                lambda ds=ds, a=amount, u=user: m.borrow(u, ds, a),
                lambda d=d, a=amount, u=user: e.borrow(self.asset(d), a, u, h.timestamp),
            )

    # -- rules -------------------------------------------------------------------------------

    @rule(pre=PRELUDE, i=ASSET, user=USER, to=ON_BEHALF, size=SIZE)
    def supply(self, pre: Any, i: int, user: int, to: int | None, size: tuple[str, int]) -> None:
        self.prelude(pre)
        symbol, sender = SYMBOLS[i], USERS[user]
        on_behalf = sender if to is None else USERS[to]
        amount = scale(self.usd_to_units(symbol, 50_000 * 10**8), size)
        if amount == MAX_UINT:
            amount = 2**128
        self.call(
            "supply",
            lambda: self.m.supply(sender, symbol, amount, on_behalf),
            lambda: self.engine.supply(
                self.asset(i), amount, on_behalf, self.h.timestamp, sender=sender
            ),
        )

    @rule(pre=PRELUDE, i=ASSET, user=USER, size=SIZE)
    def withdraw(self, pre: Any, i: int, user: int, size: tuple[str, int]) -> None:
        self.prelude(pre)
        symbol = SYMBOLS[i]
        owner = self.holder_with(user, symbol, "a_balance")
        amount = scale(self.position(owner, symbol)["a_balance"], size)
        self.call(
            "withdraw",
            lambda: self.m.withdraw(owner, symbol, amount),
            lambda: self.engine.withdraw(self.asset(i), amount, owner, self.h.timestamp),
            returns=lambda out: out.returned[0],
        )

    @rule(pre=PRELUDE, i=ASSET, user=USER, size=BORROW_SIZE)
    def borrow(self, pre: Any, i: int, user: int, size: tuple[str, int]) -> None:
        self.prelude(pre)
        symbol, owner = SYMBOLS[i], USERS[user]
        room = self.usd_to_units(symbol, self.account(owner)[3])
        amount = scale(room, size)
        self.call(
            "borrow",
            lambda: self.m.borrow(owner, symbol, amount),
            lambda: self.engine.borrow(self.asset(i), amount, owner, self.h.timestamp),
        )

    @rule(pre=PRELUDE, i=ASSET, payer=USER, owner=USER, size=SIZE, on_behalf=st.booleans())
    def repay(
        self, pre: Any, i: int, payer: int, owner: int, size: tuple[str, int], on_behalf: bool
    ) -> None:
        self.prelude(pre)
        symbol = SYMBOLS[i]
        user = self.holder_with(owner, symbol, "v_balance")
        sender = USERS[payer] if on_behalf else user
        amount = scale(self.position(user, symbol)["v_balance"], size)
        self.call(
            "repay",
            lambda: self.m.repay(sender, symbol, amount, user),
            lambda: self.engine.repay(self.asset(i), amount, user, self.h.timestamp, sender=sender),
            returns=lambda out: out.returned[0],
        )

    @rule(pre=PRELUDE, i=ASSET, owner=USER, size=SIZE)
    def repay_with_atokens(self, pre: Any, i: int, owner: int, size: tuple[str, int]) -> None:
        self.prelude(pre)
        symbol = SYMBOLS[i]
        user = self.holder_with(owner, symbol, "v_balance")
        amount = scale(self.position(user, symbol)["v_balance"], size)
        self.call(
            "repayWithATokens",
            lambda: self.m.repay_with_atokens(user, symbol, amount),
            lambda: self.engine.repay(
                self.asset(i), amount, user, self.h.timestamp, with_atokens=True
            ),
            returns=lambda out: out.returned[0],
        )

    @rule(pre=PRELUDE, i=ASSET, user=USER, use=st.booleans())
    def set_collateral(self, pre: Any, i: int, user: int, use: bool) -> None:
        self.prelude(pre)
        symbol, owner = SYMBOLS[i], USERS[user]
        self.call(
            "setUserUseReserveAsCollateral",
            lambda: self.m.set_collateral(owner, symbol, use),
            lambda: self.engine.set_use_reserve_as_collateral(
                owner, self.asset(i), use, self.h.timestamp
            ),
        )

    @rule(pre=PRELUDE, user=USER, category=st.sampled_from([0, 0, EMODE.category] * 3 + [2]))
    def set_emode(self, pre: Any, user: int, category: int) -> None:
        self.prelude(pre)
        owner = USERS[user]
        self.call(
            "setUserEMode",
            lambda: self.m.set_emode(owner, category),
            lambda: self.engine.set_user_emode(owner, category, self.h.timestamp),
        )

    @rule(
        pre=PRELUDE,
        i=ASSET,
        owner=USER,
        to=st.integers(0, len(USERS) + len(LIQUIDATORS) - 1),
        size=SIZE,
    )
    def transfer_atokens(
        self, pre: Any, i: int, owner: int, to: int, size: tuple[str, int]
    ) -> None:
        """AToken.transfer between holders (the sender's health checked if it borrows)."""
        self.prelude(pre)
        symbol = SYMBOLS[i]
        sender = self.holder_with(owner, symbol, "a_balance")
        recipient = [*USERS, *LIQUIDATORS][to]
        amount = scale(self.position(sender, symbol)["a_balance"], size)
        self.call(
            "AToken.transfer",
            lambda: self.m.transfer_atokens(sender, symbol, recipient, amount),
            lambda: self.engine.transfer_atokens(
                self.asset(i), sender, recipient, amount, self.h.timestamp
            ),
            returns=lambda out: None,
        )

    @rule(pre=PRELUDE, which=st.lists(ASSET, min_size=1, max_size=4, unique=True), user=USER)
    def mint_to_treasury(self, pre: Any, which: list[int], user: int) -> None:
        self.prelude(pre)
        symbols = [SYMBOLS[i] for i in which]
        self.call(
            "mintToTreasury",
            lambda: self.m.mint_to_treasury(USERS[user], symbols),
            lambda: self.engine.mint_to_treasury([self.asset(i) for i in which], self.h.timestamp),
        )

    def _liquidate(
        self,
        collateral: int,
        debt: int,
        user: str | None,
        liquidator: int,
        size: tuple[str, int],
        receive_atoken: bool,
    ) -> None:
        """liquidationCall of ``user`` (None: the first unhealthy borrower of the debt asset)."""
        cs, ds = SYMBOLS[collateral], SYMBOLS[debt]
        if user is None:
            user = next(
                (
                    u
                    for u in USERS
                    if self.account(u)[6] < 10**18 and self.position(u, ds)["v_balance"]
                ),
                USERS[0],
            )
        # The HF the Pool checks, read at the call's block (not the last snapshot, which a
        # caller may have let go stale): the figures below classify liquidations by it.
        health = self.m.account_data(user).health_factor
        who = [*LIQUIDATORS, *USERS][liquidator]
        amount = scale(self.position(user, ds)["v_balance"], size)
        out = self.call(
            "liquidationCall",
            lambda: self.m.liquidation_call(who, cs, ds, user, amount, receive_atoken),
            lambda: self.engine.liquidation_call(
                self.asset(collateral),
                self.asset(debt),
                user,
                amount,
                receive_atoken,
                who,
                self.h.timestamp,
            ),
            returns=liquidation_returns(self.m, user, cs),
        )
        if out.ok:
            stats = self.h.stats
            stats["liquidations"] += 1
            stats[f"liquidations:{hf_bucket(health)}"] += 1
            stats[
                "liquidations:close_factor_100"
                if health <= CLOSE_FACTOR_HF_THRESHOLD
                else "liquidations:close_factor_50"
            ] += 1
            stats[
                "liquidations:receive_atoken" if receive_atoken else "liquidations:underlying"
            ] += 1
            stats["liquidations:max" if amount == MAX_UINT else "liquidations:partial"] += 1
            if not self.position(user, cs)["a_balance"]:
                stats["liquidations:all_collateral"] += 1
            if out.events("ReserveUsedAsCollateralDisabled"):
                stats["liquidations:collateral_disabled"] += 1

    @rule(
        pre=PRELUDE,
        collateral=ASSET,
        debt=ASSET,
        borrower=st.integers(0, len(USERS)),  # len(USERS): the first unhealthy borrower
        liquidator=st.integers(0, len(LIQUIDATORS) + len(USERS) - 1),
        size=LIQUIDATION_SIZE,
        receive_atoken=st.booleans(),
        held=st.sampled_from([True, True, True, False]),
    )
    def liquidation_call(
        self,
        pre: Any,
        collateral: int,
        debt: int,
        borrower: int,
        liquidator: int,
        size: tuple[str, int],
        receive_atoken: bool,
        held: bool,
    ) -> None:
        """Any pair of reserves, or (``held``) a collateral and a debt the borrower has."""
        self.prelude(pre)
        user = USERS[borrower] if borrower < len(USERS) else None
        if held:
            user = self.liquidatable_borrower(borrower % len(USERS))
            mine = self.held(user)
            owed = self.owed(user)
            collateral = mine[collateral % len(mine)] if mine else collateral
            debt = owed[debt % len(owed)] if owed else debt
        self._liquidate(collateral, debt, user, liquidator, size, receive_atoken)

    def liquidatable_borrower(self, start: int) -> str:
        """The first user from ``start`` (cyclically) with debt and HF < 1, else with debt."""
        candidates = [USERS[(start + k) % len(USERS)] for k in range(len(USERS))]
        indebted = [u for u in candidates if self.owed(u)]
        unhealthy = [u for u in indebted if self.account(u)[6] < 10**18]
        return (unhealthy or indebted or candidates)[0]

    def held(self, user: str) -> list[int]:
        return [
            i
            for i, s in enumerate(SYMBOLS)
            if self.position(user, s)["collateral"] and self.position(user, s)["a_balance"]
        ]

    def owed(self, user: str) -> list[int]:
        return [i for i, s in enumerate(SYMBOLS) if self.position(user, s)["v_balance"]]

    @rule(
        # a fall in per-mille, or ("hf", h): the fall that takes the borrower's HF to about h/1000
        crash=st.one_of(
            st.sampled_from([700, 800, 900, 950]),
            st.integers(900, 999).map(lambda h: ("hf", h)),
        ),
        borrower=USER,
        liquidator=st.integers(0, len(LIQUIDATORS) - 1),
        size=LIQUIDATION_SIZE,
        receive_atoken=st.booleans(),
        pick=st.integers(0, 2**16),
    )
    def crash_and_liquidate(
        self,
        crash: int | tuple[str, int],
        borrower: int,
        liquidator: int,
        size: tuple[str, int],
        receive_atoken: bool,
        pick: int,
    ) -> None:
        """Drop the price of one of a borrower's collaterals, then liquidate a pair it holds."""
        user = self.liquidatable_borrower(borrower)
        held = self.held(user) or [0]
        owed = self.owed(user) or [2]
        collateral = held[pick % len(held)]
        debt = owed[(pick >> 8) % len(owed)]
        if isinstance(crash, tuple):
            # HF is linear in one collateral's price when it is the only one and not the debt:
            # otherwise this lands somewhere near the target, which is fine too.
            health = self.account(user)[6]
            crash = (
                min(1000, max(1, crash[1] * 10**18 // max(health, 1))) if health < 2**255 else 700
            )
        self.prelude(("price", crash, collateral))
        self._liquidate(collateral, debt, user, liquidator, size, receive_atoken)

    def teardown(self) -> None:
        # The contract's logs through softliq's decoder and AaveLedger, after every call
        # (checked in batches of SOFTLIQ_AAVE_REPLAY_BATCH sequences).
        if not self.h.aborted:  # a sequence that failed a check is reported by hypothesis
            finish_sequence(self.h.replay_case(), self.h.stats)


# Two shards of half the examples each, so that `pytest -n 2` runs the suite on both cores.
class AavePoolDifferentialA(AavePoolDifferential):
    pass


class AavePoolDifferentialB(AavePoolDifferential):
    pass


AavePoolDifferentialA.TestCase.settings = PROFILE
AavePoolDifferentialB.TestCase.settings = PROFILE
TestAavePoolDifferentialA = AavePoolDifferentialA.TestCase
TestAavePoolDifferentialB = AavePoolDifferentialB.TestCase
