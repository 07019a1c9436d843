"""Differential test: random call sequences on the real Morpho Blue bytecode and on softliq's engine.

Each hypothesis example deploys Morpho Blue 1.0.0 (npm, solc 0.8.19 via-IR) in pyrevm with three
IrmMock markets, then runs a random sequence of calls on both the contract and
``softliq_core.protocols.morpho.blue.MorphoBlue``. After every call: same return values or the same
revert reason, and equal markets, positions, authorisations and fee recipient. After the sequence,
the contract's logs go through softliq's decoder and baseline ledger, which must reproduce the
contract's storage after every call, and the engine's events must equal the decoded logs.

Profiles (``SOFTLIQ_EVM_PROFILE``): ``evm-ci`` (default) and ``evm-long`` (``make test-evm-long``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from softliq_core.protocols.morpho.errors import MorphoRevert
from softliq_core.protocols.morpho.health import borrowed_assets, max_borrow
from softliq_core.protocols.morpho.liquidation import max_liquidation_inputs
from softliq_core.protocols.morpho.market import Market, MarketParams, Position
from softliq_core.protocols.morpho.math import WAD
from softliq_core.protocols.morpho.shares import (
    to_assets_down,
    to_assets_up,
    to_shares_down,
)

from .harness import OWNER, TREASURIES, USERS, ZERO, Harness, finish_sequence

T = TypeVar("T")

# Rules per example (hypothesis counts the opening book as one): each rule is one Morpho call,
# optionally preceded by a time jump or an oracle move. The opening book makes 21 more calls.
STEPS = int(os.environ.get("SOFTLIQ_EVM_STEPS", "75"))
settings.register_profile(
    "evm-ci",
    # per shard, two shards: >= 200 sequences of >= 50 calls
    max_examples=int(os.environ.get("SOFTLIQ_EVM_EXAMPLES", "135")),
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "evm-long",
    # per shard, two shards; a few examples hypothesis stops under 50 calls do not count
    max_examples=int(os.environ.get("SOFTLIQ_EVM_EXAMPLES", "6000")),
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
PROFILE = settings.get_profile(os.environ.get("SOFTLIQ_EVM_PROFILE", "evm-ci"))

MARKET = st.sampled_from([0] * 6 + [1] * 6 + [2] * 6 + [3])  # 3: params never created
USER = st.integers(0, len(USERS) - 1)
# Who sends a withdraw/borrow/withdrawCollateral: mostly the owner itself (None), else a user who
# may or may not be authorised.
DELEGATE = st.sampled_from([None] * 5 + list(range(len(USERS))))
RECEIVER = st.sampled_from(USERS * 4 + [ZERO])
ON_BEHALF = st.sampled_from([None] * 6 + list(range(len(USERS))) + [-1])  # -1: zero address
UINT128_MAX = 2**128 - 1
# An amount: per-mille of a reference the rule derives from the state (1000 = all of it, above
# 1000 = more than allowed), a few wei, or the uint128 edge (Morpho's totals and positions are
# uint128: toUint128 reverts past it, and a sum past it overflows).
SIZE = st.one_of(
    st.integers(1, 1000).map(lambda p: ("permille", p)),
    st.sampled_from(
        [
            ("permille", 1000),
            ("permille", 1000),
            ("permille", 1001),
            ("wei", 0),
            ("wei", 1),
            ("wei", UINT128_MAX),
            ("wei", UINT128_MAX + 1),
        ]
    ),
)
# Borrow amounts: often close to the position's limit, so that price moves make it liquidatable.
BORROW_SIZE = st.one_of(SIZE, st.integers(850, 1000).map(lambda p: ("permille", p)))
SECONDS = st.one_of(
    st.sampled_from([1, 12, 60, 3_600, 86_400, 7 * 86_400, 30 * 86_400]),
    st.integers(1, 10 * 86_400),
)
PRICE_MOVE = st.one_of(
    st.just(700),  # a 30 % crash
    st.integers(900, 1_100),
    st.sampled_from([500, 1_300, 999, 1_001]),
)
# Before each call: nothing, a time jump, or an oracle move (a 30 % crash among them).
PRELUDE = st.integers(0, 9).flatmap(
    lambda k: (
        st.none()
        if k < 5
        else st.tuples(st.just("warp"), SECONDS, st.just(0))
        if k < 8
        else st.tuples(st.just("price"), PRICE_MOVE, st.integers(0, 2))
    )
)
FEES = st.sampled_from([0, WAD // 100, WAD // 20, WAD // 10, WAD // 4, WAD // 4 + 1])


def _or_none(compute: Callable[[], T]) -> T | None:
    """A reference amount from softliq's math, or None where the contract's would overflow."""
    try:
        return compute()
    except MorphoRevert:
        return None


def scale(reference: int, size: tuple[str, int]) -> int:
    """Per-mille of ``reference`` (n wei when the reference is 0), or n wei."""
    kind, n = size
    if kind == "wei" or reference <= 0:
        return n
    return reference * n // 1000


class MorphoBlueDifferential(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = Harness()
        self.h.stats.clear()  # count the sequence's calls, not the deployment's
        self.engine = self.h.engine
        self.steps = 0

    # -- helpers ---------------------------------------------------------------------------

    def params(self, i: int) -> MarketParams:
        return self.h.params[i] if i < len(self.h.params) else self.h.uncreated

    def loan_unit(self, i: int) -> int:
        return 10 ** self.h.specs[min(i, len(self.h.specs) - 1)].loan_decimals

    def market(self, i: int) -> Market:
        return self.engine.markets.get(self.params(i).id) or Market()

    def position(self, i: int, user: str) -> Position:
        return self.engine.positions.get((self.params(i).id, user)) or Position()

    def price(self, i: int) -> int:
        return self.h.prices.get(self.params(i).oracle, 10**36)

    def holder(self, m: int, start: int, has: str) -> str:
        """The first user from ``start`` on (cyclically) whose position in ``m`` has some ``has``
        (``"unhealthy"``: borrow shares and liquidatable at the stored totals), else USERS[start].
        """
        for k in range(len(USERS)):
            user = USERS[(start + k) % len(USERS)]
            position = self.position(m, user)
            if has == "unhealthy":
                if position.borrow_shares and _or_none(
                    lambda position=position: (  # type: ignore[misc]
                        max_borrow(position.collateral, self.price(m), self.params(m).lltv)
                        < borrowed_assets(position, self.market(m))
                    )
                ):
                    return user
            elif getattr(position, has):
                return user
        return USERS[start]

    @staticmethod
    def on_behalf(sender: str, choice: int | None) -> str:
        if choice is None:
            return sender
        return ZERO if choice < 0 else USERS[choice]

    # -- a starting book --------------------------------------------------------------------

    @initialize(
        liquidity=st.lists(st.integers(1, 1000), min_size=3, max_size=3),
        loans=st.lists(st.integers(500, 1000), min_size=9, max_size=9),
    )
    def open_book(self, liquidity: list[int], loans: list[int]) -> None:
        """Every market starts with a lender (the last user) and three borrowers near their LLTV,
        through the same checked calls as the rules (they count as calls of the sequence).
        """
        lender = USERS[-1]
        for m in range(len(self.h.params)):
            params = self.params(m)
            assets = 10**6 * self.loan_unit(m) * liquidity[m] // 1000
            self.h.call(
                "supply",
                lender,
                (params, assets, 0, lender, b""),
                lambda params=params, assets=assets: self.engine.supply(
                    lender, params, assets, 0, lender
                ),
            )
            for b, borrower in enumerate(USERS[:3]):
                collateral = 10**5 * self.loan_unit(m) * 10**36 // self.price(m)
                self.h.call(
                    "supplyCollateral",
                    borrower,
                    (params, collateral, borrower, b""),
                    lambda params=params, borrower=borrower, collateral=collateral: (
                        self.engine.supply_collateral(borrower, params, collateral, borrower)
                    ),
                )
                assets = (
                    max_borrow(collateral, self.price(m), params.lltv) * loans[3 * m + b] // 1000
                )
                self.h.call(
                    "borrow",
                    borrower,
                    (params, assets, 0, borrower, borrower),
                    lambda params=params, borrower=borrower, assets=assets: self.engine.borrow(
                        borrower, params, assets, 0, borrower, borrower
                    ),
                )

    # -- lending ---------------------------------------------------------------------------

    @rule(pre=PRELUDE, m=MARKET, user=USER, to=ON_BEHALF, by_shares=st.booleans(), size=SIZE)
    def supply(
        self,
        pre: tuple[str, int, int] | None,
        m: int,
        user: int,
        to: int | None,
        by_shares: bool,
        size: tuple[str, int],
    ) -> None:
        self.prelude(pre)
        params, sender = self.params(m), USERS[user]
        on_behalf = self.on_behalf(sender, to)
        assets = scale(10**6 * self.loan_unit(m), size)
        shares = 0
        if by_shares:
            market = self.market(m)
            assets, shares = (
                0,
                to_shares_down(assets, market.total_supply_assets, market.total_supply_shares),
            )
        self.h.call(
            "supply",
            sender,
            (params, assets, shares, on_behalf, b""),
            lambda: self.engine.supply(sender, params, assets, shares, on_behalf),
        )

    @rule(
        pre=PRELUDE,
        m=MARKET,
        owner=USER,
        delegate=DELEGATE,
        by_shares=st.booleans(),
        size=SIZE,
        receiver=RECEIVER,
    )
    def withdraw(
        self,
        pre: tuple[str, int, int] | None,
        m: int,
        owner: int,
        delegate: int | None,
        by_shares: bool,
        size: tuple[str, int],
        receiver: str,
    ) -> None:
        self.prelude(pre)
        params, on_behalf = self.params(m), self.holder(m, owner, "supply_shares")
        sender = on_behalf if delegate is None else USERS[delegate]
        market, position = self.market(m), self.position(m, on_behalf)
        shares = scale(position.supply_shares, size)
        assets = 0
        if not by_shares:
            assets, shares = (
                to_assets_down(shares, market.total_supply_assets, market.total_supply_shares),
                0,
            )
        self.h.call(
            "withdraw",
            sender,
            (params, assets, shares, on_behalf, receiver),
            lambda: self.engine.withdraw(sender, params, assets, shares, on_behalf, receiver),
        )

    @rule(
        pre=PRELUDE,
        m=MARKET,
        owner=USER,
        delegate=DELEGATE,
        by_shares=st.booleans(),
        size=BORROW_SIZE,
        receiver=RECEIVER,
    )
    def borrow(
        self,
        pre: tuple[str, int, int] | None,
        m: int,
        owner: int,
        delegate: int | None,
        by_shares: bool,
        size: tuple[str, int],
        receiver: str,
    ) -> None:
        self.prelude(pre)
        params, on_behalf = self.params(m), self.holder(m, owner, "collateral")
        sender = on_behalf if delegate is None else USERS[delegate]
        market, position = self.market(m), self.position(m, on_behalf)
        room = _or_none(
            lambda: (
                max_borrow(position.collateral, self.price(m), params.lltv)
                - borrowed_assets(position, market)
            )
        )
        room = 10**6 if room is None else room
        assets = scale(room, size)
        shares = 0
        if by_shares:
            assets, shares = (
                0,
                to_shares_down(assets, market.total_borrow_assets, market.total_borrow_shares),
            )
        self.h.call(
            "borrow",
            sender,
            (params, assets, shares, on_behalf, receiver),
            lambda: self.engine.borrow(sender, params, assets, shares, on_behalf, receiver),
        )

    @rule(pre=PRELUDE, m=MARKET, payer=USER, owner=USER, by_shares=st.booleans(), size=SIZE)
    def repay(
        self,
        pre: tuple[str, int, int] | None,
        m: int,
        payer: int,
        owner: int,
        by_shares: bool,
        size: tuple[str, int],
    ) -> None:
        self.prelude(pre)
        params, sender = self.params(m), USERS[payer]
        on_behalf = self.holder(m, owner, "borrow_shares")
        market, position = self.market(m), self.position(m, on_behalf)
        shares = scale(position.borrow_shares, size)
        assets = 0
        if not by_shares:
            assets, shares = (
                to_assets_up(shares, market.total_borrow_assets, market.total_borrow_shares),
                0,
            )
        self.h.call(
            "repay",
            sender,
            (params, assets, shares, on_behalf, b""),
            lambda: self.engine.repay(sender, params, assets, shares, on_behalf),
        )

    # -- collateral ------------------------------------------------------------------------

    @rule(pre=PRELUDE, m=MARKET, user=USER, to=ON_BEHALF, size=SIZE)
    def supply_collateral(
        self,
        pre: tuple[str, int, int] | None,
        m: int,
        user: int,
        to: int | None,
        size: tuple[str, int],
    ) -> None:
        self.prelude(pre)
        params, sender = self.params(m), USERS[user]
        on_behalf = self.on_behalf(sender, to)
        # Collateral worth 100,000 loan tokens at the current price.
        reference = 10**5 * self.loan_unit(m) * 10**36 // max(self.price(m), 1)
        assets = scale(reference, size)
        self.h.call(
            "supplyCollateral",
            sender,
            (params, assets, on_behalf, b""),
            lambda: self.engine.supply_collateral(sender, params, assets, on_behalf),
        )

    @rule(pre=PRELUDE, m=MARKET, owner=USER, delegate=DELEGATE, size=SIZE, receiver=RECEIVER)
    def withdraw_collateral(
        self,
        pre: tuple[str, int, int] | None,
        m: int,
        owner: int,
        delegate: int | None,
        size: tuple[str, int],
        receiver: str,
    ) -> None:
        self.prelude(pre)
        params, on_behalf = self.params(m), self.holder(m, owner, "collateral")
        sender = on_behalf if delegate is None else USERS[delegate]
        assets = scale(self.position(m, on_behalf).collateral, size)
        self.h.call(
            "withdrawCollateral",
            sender,
            (params, assets, on_behalf, receiver),
            lambda: self.engine.withdraw_collateral(sender, params, assets, on_behalf, receiver),
        )

    # -- liquidation -----------------------------------------------------------------------

    @rule(
        pre=PRELUDE,
        m=MARKET,
        liquidator=USER,
        borrower=USER,
        mode=st.sampled_from(["seized", "repaid", "max"]),
        size=SIZE,
    )
    def liquidate(
        self,
        pre: tuple[str, int, int] | None,
        m: int,
        liquidator: int,
        borrower: int,
        mode: str,
        size: tuple[str, int],
    ) -> None:
        self.prelude(pre)
        self._liquidate(m, liquidator, borrower, mode, size)

    def _liquidate(
        self, m: int, liquidator: int, borrower: int, mode: str, size: tuple[str, int]
    ) -> None:
        params, sender = self.params(m), USERS[liquidator]
        owner = self.holder(m, borrower, "unhealthy")
        if owner == USERS[borrower]:
            owner = self.holder(m, borrower, "borrow_shares")
        market, position = self.market(m), self.position(m, owner)
        seized = repaid_shares = 0
        if mode == "seized":
            seized = scale(position.collateral, size)
        elif mode == "repaid":
            repaid_shares = scale(position.borrow_shares, size)
        else:
            # softliq's largest liquidation on the stored (not yet accrued) totals.
            largest = _or_none(
                lambda: max_liquidation_inputs(market, position, params.lltv, self.price(m))
            )
            seized, repaid_shares = largest or (scale(position.collateral, size), 0)
        n_events = len(self.engine.events)
        out = self.h.call(
            "liquidate",
            sender,
            (params, owner, seized, repaid_shares, b""),
            lambda: self.engine.liquidate(sender, params, owner, seized, repaid_shares),
        )
        if out is not None:
            (event,) = [e for e in self.engine.events[n_events:] if e["event"] == "Liquidate"]
            self.h.stats["liquidations"] += 1
            self.h.stats[f"liquidations:{mode}"] += 1
            if event["bad_debt_shares"] or event["bad_debt_assets"]:
                self.h.stats["bad_debt_liquidations"] += 1

    # -- time, oracle, interest --------------------------------------------------------------

    @rule(pre=PRELUDE, m=st.integers(0, 2), liquidator=USER, borrower=USER)
    def liquidate_largest(
        self, pre: tuple[str, int, int] | None, m: int, liquidator: int, borrower: int
    ) -> None:
        """softliq's largest liquidation (repay all, or seize all: bad debt) of a bad position."""
        self.prelude(pre)
        self._liquidate(m, liquidator, borrower, "max", ("permille", 1000))

    def prelude(self, pre: tuple[str, int, int] | None) -> None:
        """A time jump or an oracle move before the call (not a Morpho call itself)."""
        self.steps += 1
        if pre is None:
            return
        kind, amount, m = pre
        if kind == "warp":
            self.h.warp(amount)
            self.h.stats["time_jumps"] += 1
            return
        oracle = self.h.oracles[m]
        self.h.set_price(oracle, max(self.h.prices[oracle.address] * amount // 1000, 1))
        self.h.stats["price_moves"] += 1
        if amount <= 700:
            self.h.stats["price_crashes"] += 1

    @rule(pre=PRELUDE, m=MARKET, user=USER)
    def accrue_interest(self, pre: tuple[str, int, int] | None, m: int, user: int) -> None:
        self.prelude(pre)
        params = self.params(m)
        self.h.call(
            "accrueInterest", USERS[user], (params,), lambda: self.engine.accrue_interest(params)
        )

    # -- governance, authorisation, flash loans ------------------------------------------------

    @rule(pre=PRELUDE, m=MARKET, by_owner=st.sampled_from([True] * 4 + [False]), fee=FEES)
    def set_fee(self, pre: tuple[str, int, int] | None, m: int, by_owner: bool, fee: int) -> None:
        self.prelude(pre)
        params, sender = self.params(m), OWNER if by_owner else USERS[0]
        self.h.call(
            "setFee", sender, (params, fee), lambda: self.engine.set_fee(sender, params, fee)
        )

    @rule(
        pre=PRELUDE,
        by_owner=st.sampled_from([True] * 4 + [False]),
        recipient=st.sampled_from(TREASURIES),
    )
    def set_fee_recipient(
        self, pre: tuple[str, int, int] | None, by_owner: bool, recipient: str
    ) -> None:
        self.prelude(pre)
        sender = OWNER if by_owner else USERS[1]
        self.h.call(
            "setFeeRecipient",
            sender,
            (recipient,),
            lambda: self.engine.set_fee_recipient(sender, recipient),
        )

    @rule(pre=PRELUDE, user=USER, other=USER, flag=st.booleans())
    def set_authorization(
        self, pre: tuple[str, int, int] | None, user: int, other: int, flag: bool
    ) -> None:
        self.prelude(pre)
        sender, authorized = USERS[user], USERS[other]
        self.h.call(
            "setAuthorization",
            sender,
            (authorized, flag),
            lambda: self.engine.set_authorization(sender, authorized, flag),
        )

    @rule(pre=PRELUDE, token=st.integers(0, 5), user=USER, size=SIZE)
    def flash_loan(
        self, pre: tuple[str, int, int] | None, token: int, user: int, size: tuple[str, int]
    ) -> None:
        self.prelude(pre)
        contract = self.h.tokens[token]
        assets = scale(10**24, size)
        borrower = self.h.flash_borrower
        args: tuple[Any, ...] = (
            contract.address,
            assets,
            b"\x00" * 12 + bytes.fromhex(contract.address[2:]),
        )
        self.h.call(
            "flashLoan",
            USERS[user],
            args,
            lambda: self.engine.flash_loan(borrower.address, contract.address, assets),
            to=borrower,
        )

    # -- after the sequence ------------------------------------------------------------------

    def teardown(self) -> None:
        # The replay check of the contract's logs (at once, or batched in the long profile).
        finish_sequence(self.h.replay_case(), self.h.stats)


# Two shards of half the examples each, so that `pytest -n 2` runs the suite on both cores.
class MorphoBlueDifferentialA(MorphoBlueDifferential):
    pass


class MorphoBlueDifferentialB(MorphoBlueDifferential):
    pass


MorphoBlueDifferentialA.TestCase.settings = PROFILE
MorphoBlueDifferentialB.TestCase.settings = PROFILE
TestMorphoBlueDifferentialA = MorphoBlueDifferentialA.TestCase
TestMorphoBlueDifferentialB = MorphoBlueDifferentialB.TestCase
