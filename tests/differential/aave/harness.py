"""Aave V3's Pool in pyrevm and softliq's ``AavePool`` side by side, call by call.

``AaveHarness`` deploys the market (``market.AaveMarket``: npm ``@aave/core-v3@1.19.3``'s bytecode)
and configures an ``AavePool`` (Pool v3.0) with the same reserves, rate strategies, eMode category,
token addresses and prices. ``call`` runs one operation on both: the same return values (withdrawn,
repaid, and for a liquidation the debt covered, the collateral to the liquidator and the protocol
fee), or the same revert code; then the whole state must be equal (``compare_state``): per reserve
the stored liquidity and variable-borrow indexes, rates, last update, accrued-to-treasury, scaled
totals and the normalised income and debt now; per holder and reserve the scaled and current
aToken and debt balances and the previous indexes; per holder the collateral and borrowing bits,
the eMode category and getUserAccountData (totals in base, available borrows, LT, LTV, HF). The
events the engine emits must equal, field by field and in order, the logs the Pool and its tokens
emitted in the same call. ``check_replays`` runs the contract's own logs through softliq's decoder
and ``AaveLedger`` and compares the fold with the contract's state after every call.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl
from eth_utils.crypto import keccak

from softliq_core.decode.events import decode_logs
from softliq_core.feeds import feeds_table
from softliq_core.protocols.aave.errors import AaveRevert
from softliq_core.protocols.aave.math import RAY
from softliq_core.protocols.aave.pool import AavePool
from softliq_core.protocols.aave.rates import RateStrategy
from softliq_core.protocols.aave.reserve import EModeCategory, ReserveConfig
from softliq_core.protocols.aave.version import V3_0, VersionSchedule
from softliq_core.replay.aave_ledger import AaveLedger, history, price_updates
from softliq_core.tables import BLOCKS, RATE_SAMPLES, RAW_LOGS

from ..evm import CHAIN_ID
from . import stats as aave_stats
from .market import (
    EMODE,
    LIQUIDATORS,
    RESERVES,
    TREASURY,
    USERS,
    AaveMarket,
    Outcome,
)
from .reference import ray_mul

HOLDERS = [*USERS, *LIQUIDATORS, TREASURY]


# Logs of the Pool, its tokens, configurator and oracle that softliq's decoder does not decode
# (they carry nothing the ledger needs): the tokens' proxy initialisation.
UNDECODED = {"Initialized"}


class Mismatch(AssertionError):
    pass


# -- the contract's state -------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    reserves: dict[str, tuple[int, ...]]
    positions: dict[tuple[str, str], tuple[int, ...]]
    users: dict[str, tuple[int, ...]]


RESERVE_FIELDS = (
    "liquidity_index",
    "variable_borrow_index",
    "liquidity_rate",
    "variable_borrow_rate",
    "stable_borrow_rate",
    "last_update",
    "accrued_to_treasury",
    "a_scaled_total",
    "v_scaled_total",
    "normalized_income",
    "normalized_debt",
)
POSITION_FIELDS = (
    "a_scaled",
    "v_scaled",
    "a_previous_index",
    "v_previous_index",
    "a_balance",
    "v_balance",
    "collateral",
    "borrowing",
)
USER_FIELDS = (
    "emode",
    "total_collateral_base",
    "total_debt_base",
    "available_borrows_base",
    "liquidation_threshold",
    "ltv",
    "health_factor",
)


def _word(data: bytes, i: int) -> int:
    return int.from_bytes(data[32 * i : 32 * i + 32], "big")


def _address_arg(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def mapping_slot(key: str, slot: int) -> int:
    """The storage slot of ``mapping(address => ...)[key]`` declared at ``slot``."""
    return int.from_bytes(keccak(_address_arg(key) + slot.to_bytes(32, "big")), "big")


class ContractReader:
    """The contract's state as tuples in the orders above. The Pool's reserves and
    getUserAccountData through static calls (calldata encoded once); the tokens' scaled balances
    and previous indexes (``_userState``: uint128 balance, uint128 additionalData), their scaled
    totals, the Pool's ``_usersConfig`` and ``_usersEModeCategory`` straight from storage, at the
    slots of the compiler's storage layout (``test_harness_reads_what_the_views_return`` checks
    them against the views). Current balances are rayMul(scaled, normalised index), which is what
    AToken/VariableDebtToken.balanceOf return in v3.0."""

    def __init__(self, m: AaveMarket) -> None:
        self.m = m
        pool = m.pool
        contracts = m.artifacts["contracts"]
        self.evm = m.chain.evm
        self.reserve_calls = []
        for spec in RESERVES:
            s = spec.symbol
            asset = _address_arg(m.asset(s))
            self.reserve_calls.append(
                (
                    s,
                    pool.abi["getReserveData"].selector + asset,
                    pool.abi["getReserveNormalizedIncome"].selector + asset,
                    pool.abi["getReserveNormalizedVariableDebt"].selector + asset,
                    m.a_tokens[s].address,
                    m.v_tokens[s].address,
                )
            )
        self.ids = {spec.symbol: m.reserve_data(spec.symbol).id for spec in RESERVES}
        a_layout, v_layout = (
            contracts["AToken"]["storage"],
            contracts["VariableDebtToken"]["storage"],
        )
        pool_layout = contracts["Pool"]["storage"]
        self.a_total_slot, self.v_total_slot = a_layout["_totalSupply"], v_layout["_totalSupply"]
        self.holder_slots = {
            h: (
                mapping_slot(h, a_layout["_userState"]),
                mapping_slot(h, v_layout["_userState"]),
                mapping_slot(h, pool_layout["_usersConfig"]),
                mapping_slot(h, pool_layout["_usersEModeCategory"]),
                pool.abi["getUserAccountData"].selector + _address_arg(h),
            )
            for h in HOLDERS
        }

    def snapshot(self) -> Snapshot:
        pool, storage = self.m.pool, self.evm.storage
        reserves = {}
        indexes = {}
        for s, data_call, income_call, debt_call, a_token, v_token in self.reserve_calls:
            data = pool.raw_view(data_call)
            income = _word(pool.raw_view(income_call), 0)
            debt = _word(pool.raw_view(debt_call), 0)
            indexes[s] = (income, debt, a_token, v_token)
            reserves[s] = (
                _word(data, 1),  # liquidityIndex
                _word(data, 3),  # variableBorrowIndex
                _word(data, 2),  # currentLiquidityRate
                _word(data, 4),  # currentVariableBorrowRate
                _word(data, 5),  # currentStableBorrowRate
                _word(data, 6),  # lastUpdateTimestamp
                _word(data, 12),  # accruedToTreasury
                storage(a_token, self.a_total_slot),
                storage(v_token, self.v_total_slot),
                income,
                debt,
            )
        positions = {}
        users = {}
        low = 2**128 - 1
        for holder, (
            a_slot,
            v_slot,
            config_slot,
            emode_slot,
            account_call,
        ) in self.holder_slots.items():
            config = storage(pool.address, config_slot)
            for s, (income, debt, a_token, v_token) in indexes.items():
                a_state, v_state = storage(a_token, a_slot), storage(v_token, v_slot)
                rid = self.ids[s]
                positions[(holder, s)] = (
                    a_state & low,
                    v_state & low,
                    a_state >> 128,
                    v_state >> 128,
                    ray_mul(a_state & low, income),
                    ray_mul(v_state & low, debt),
                    config >> (2 * rid + 1) & 1,
                    config >> (2 * rid) & 1,
                )
            account = pool.raw_view(account_call)
            users[holder] = (
                storage(pool.address, emode_slot) & 0xFF,
                *(_word(account, i) for i in range(6)),
            )
        return Snapshot(reserves, positions, users)

    def snapshot_by_views(self) -> Snapshot:
        """The same through the public views only (slow): balanceOf, scaledBalanceOf,
        getPreviousIndex, scaledTotalSupply, getUserConfiguration, getUserEMode."""
        m = self.m
        fast = self.snapshot()
        reserves = {
            s: (*row[:7], m.scaled_total_supply(s), m.scaled_total_debt(s), *row[9:])
            for s, row in fast.reserves.items()
        }
        positions = {}
        for holder in HOLDERS:
            config = m.user_configuration(holder)
            for s in self.ids:
                rid = self.ids[s]
                positions[(holder, s)] = (
                    m.scaled_balance(s, holder),
                    m.scaled_debt(s, holder),
                    m.previous_index(s, holder),
                    m.previous_index(s, holder, debt=True),
                    m.balance(s, holder),
                    m.debt(s, holder),
                    config >> (2 * rid + 1) & 1,
                    config >> (2 * rid) & 1,
                )
        users = {h: (m.user_emode(h), *fast.users[h][1:]) for h in HOLDERS}
        return Snapshot(reserves, positions, users)


# -- the engine ------------------------------------------------------------------------------


def build_engine(m: AaveMarket) -> AavePool:
    """An AavePool (v3.0) configured as the deployed market is."""
    engine = AavePool(address=m.pool.address, version=V3_0, treasury=TREASURY)
    for spec in RESERVES:
        r = spec.rate
        engine.init_reserve(
            m.asset(spec.symbol),
            ReserveConfig(
                ltv=spec.ltv,
                liquidation_threshold=spec.liquidation_threshold,
                liquidation_bonus=spec.liquidation_bonus,
                decimals=spec.decimals,
                reserve_factor=spec.reserve_factor,
                liquidation_protocol_fee=spec.liquidation_protocol_fee,
                emode_category=spec.emode,
            ),
            RateStrategy(
                optimal_usage_ratio=r.optimal_usage * RAY // 10_000,
                base_variable_borrow_rate=r.base * RAY // 10_000,
                variable_rate_slope1=r.slope1 * RAY // 10_000,
                variable_rate_slope2=r.slope2 * RAY // 10_000,
                stable_rate_slope1=0,
                stable_rate_slope2=0,
                base_stable_rate_offset=200 * RAY // 10_000,
                stable_rate_excess_offset=800 * RAY // 10_000,
                optimal_stable_to_total_debt_ratio=2_000 * RAY // 10_000,
            ),
            m.a_tokens[spec.symbol].address,
            m.v_tokens[spec.symbol].address,
        )
        engine.set_price(m.asset(spec.symbol), m.prices[spec.symbol])
    engine.set_emode_category(
        EMODE.category,
        EModeCategory(EMODE.ltv, EMODE.liquidation_threshold, EMODE.liquidation_bonus, EMODE.label),
    )
    return engine


def engine_snapshot(engine: AavePool, m: AaveMarket, timestamp: int) -> Snapshot:
    from softliq_core.protocols.aave.reserve import normalized_debt, normalized_income

    reserves = {}
    for spec in RESERVES:
        r = engine.reserves[m.asset(spec.symbol)]
        reserves[spec.symbol] = (
            r.liquidity_index,
            r.variable_borrow_index,
            r.liquidity_rate,
            r.variable_borrow_rate,
            r.stable_borrow_rate,
            r.last_update,
            r.accrued_to_treasury,
            r.a_token.total,
            r.v_token.total,
            normalized_income(r, timestamp),
            normalized_debt(r, timestamp, engine.version),
        )
    positions = {}
    users = {}
    for holder in HOLDERS:
        config = engine.user_config(holder)
        for spec in RESERVES:
            asset = m.asset(spec.symbol)
            r = engine.reserves[asset]
            positions[(holder, spec.symbol)] = (
                r.a_token.scaled_balance(holder),
                r.v_token.scaled_balance(holder),
                r.a_token.previous_index.get(holder, 0),
                r.v_token.previous_index.get(holder, 0),
                engine.collateral_balance(asset, holder, timestamp),
                engine.debt_balance(asset, holder, timestamp),
                int(asset in config.collateral),
                int(asset in config.borrowing),
            )
        data = engine.user_account_data(holder, timestamp)
        users[holder] = (
            config.emode,
            data.total_collateral_base,
            data.total_debt_base,
            data.available_borrows_base,
            data.liquidation_threshold,
            data.ltv,
            data.health_factor,
        )
    return Snapshot(reserves, positions, users)


# -- events ------------------------------------------------------------------------------------

_WORD = re.compile(r"(.)([A-Z][a-z]+)")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")


def snake(name: str) -> str:
    """ABI parameter names in softliq's event fields: onBehalfOf -> on_behalf_of,
    receiveAToken -> receive_a_token."""
    return _CAMEL.sub(r"\1_\2", _WORD.sub(r"\1_\2", name)).lower()


def contract_events(outcome: Outcome, engine_contracts: set[str]) -> list[dict[str, Any]]:
    """The call's logs emitted by the Pool and its aTokens/debt tokens, fields in snake_case."""
    found = []
    for log in outcome.logs:
        if log["address"] not in engine_contracts:
            continue
        event = {"event": log["event"], "contract": log["address"]}
        for key, value in log.items():
            if key not in ("contract", "address", "block_number", "log_index", "event"):
                event[snake(key)] = value
        found.append(event)
    return found


def compare_events(mine: list[dict[str, Any]], theirs: list[dict[str, Any]], where: str) -> None:
    names = [e["event"] for e in mine], [e["event"] for e in theirs]
    if names[0] != names[1]:
        raise Mismatch(f"{where}: engine events {names[0]}, contract logs {names[1]}")
    for ours, log in zip(mine, theirs, strict=True):
        for key, value in log.items():
            got = ours.get(key)
            if isinstance(got, str) and got.startswith("0x"):
                got = got.lower()
            if got != value:
                raise Mismatch(
                    f"{where}: {log['event']} of {log['contract']}: {key} engine {got!r}, "
                    f"contract log {value!r}"
                )


# -- both sides ------------------------------------------------------------------------------


class AaveHarness:
    def __init__(self) -> None:
        self.m = AaveMarket()
        self.engine = build_engine(self.m)
        self.reader = ContractReader(self.m)
        self.contracts = {self.m.pool.address} | {
            t.address for t in [*self.m.a_tokens.values(), *self.m.v_tokens.values()]
        }
        self.stats: Counter[str] = Counter()
        self.aborted = False
        self.last: Snapshot | None = None
        # (block, timestamp, contract snapshot) after every call, for the replay check
        self.snapshots: list[tuple[int, int, Snapshot]] = []
        self.compare_state("deployment")

    @property
    def timestamp(self) -> int:
        return self.m.timestamp

    def warp(self, seconds: int) -> None:
        self.m.warp(seconds)

    def set_price(self, symbol: str, price: int) -> None:
        self.m.set_price(symbol, price)
        self.engine.set_price(self.m.asset(symbol), price)

    def call(
        self,
        name: str,
        contract: Callable[[], Outcome],
        engine: Callable[[], Any],
        returns: Callable[[Outcome], Any] | None = None,
    ) -> Outcome:
        """One call on both sides: same result or same refusal, same events, same state."""
        self.aborted = True  # until the call's checks are done (a failing sequence is not replayed)
        self.stats["calls"] += 1
        self.stats[f"call:{name}"] += 1
        outcome = contract()
        n_events = len(self.engine.events)
        try:
            engine_out = engine()
            engine_error = None
        except AaveRevert as exc:
            engine_out, engine_error = None, exc.code
        where = f"{name} at {self.timestamp}"
        if outcome.reason != engine_error:
            raise Mismatch(
                f"{where}: contract "
                + (
                    f"reverted {outcome.reason!r}"
                    if not outcome.ok
                    else f"returned {outcome.returned}"
                )
                + ", engine "
                + (
                    f"reverted {engine_error!r}"
                    if engine_error is not None
                    else f"returned {engine_out}"
                )
            )
        if not outcome.ok:
            self.stats["reverts"] += 1
            self.stats[f"revert:{outcome.reason or 'empty'}"] += 1
        else:
            expected = returns(outcome) if returns else None
            if expected != engine_out:
                raise Mismatch(f"{where}: contract returned {expected}, engine {engine_out}")
            compare_events(
                self.engine.events[n_events:],
                contract_events(outcome, self.contracts),
                where,
            )
            self.stats["events"] += len(self.engine.events) - n_events
        self.compare_state(where)
        self.aborted = False
        return outcome

    def compare_state(self, where: str) -> None:
        contract = self.reader.snapshot()
        engine = engine_snapshot(self.engine, self.m, self.timestamp)
        for parts, fields in (
            ("reserves", RESERVE_FIELDS),
            ("positions", POSITION_FIELDS),
            ("users", USER_FIELDS),
        ):
            theirs, mine = getattr(contract, parts), getattr(engine, parts)
            for key, stored in theirs.items():
                if mine[key] != stored:
                    diff = {
                        f: (s, e)
                        for f, s, e in zip(fields, stored, mine[key], strict=True)
                        if s != e
                    }
                    raise Mismatch(f"after {where}: {parts[:-1]} {key}: (contract, engine) {diff}")
        self.last = contract
        self.snapshots.append((self.m.chain.block_number - 1, self.timestamp, contract))

    def replay_case(self) -> ReplayCase:
        return ReplayCase(self.m, list(self.snapshots), self.m.trace[self.m.deployed_calls :])

    def check_replay(self) -> int:
        """``check_replays`` of this sequence alone; the number of Aave events folded."""
        return check_replays([self.replay_case()])[0]


@dataclass
class ReplayCase:
    """What the replay check needs of one sequence: its chain (logs, blocks, addresses), the
    contract's state after every call, and the calls made (shown when the check fails)."""

    m: AaveMarket
    snapshots: list[tuple[int, int, Snapshot]]
    trace: list[str]


_BLOCK_OFFSET = 1_000_000  # sequences decoded together sit in disjoint block ranges


def check_replays(cases: list[ReplayCase]) -> list[int]:
    """The contract's own logs, through softliq's decoder and ``AaveLedger``, rebuild the
    contract's state after every call: indexes, rates, last update and scaled totals of every
    reserve; every holder's scaled balances, previous indexes, collateral and borrowing bits and
    eMode; and, from the ledger's pool with its prices from the oracle's logs, every holder's
    current balances and getUserAccountData. (accruedToTreasury has no event until mintToTreasury
    and is not compared.)

    The logs of several sequences are decoded at once (the decoder's cost is mostly fixed per
    call), then each sequence is folded and checked on its own. Returns each one's number of Aave
    events folded."""
    logs, blocks = [], []
    for i, case in enumerate(cases):
        offset = i * _BLOCK_OFFSET
        logs += [{**log, "block_number": log["block_number"] + offset} for log in case.m.chain.logs]
        blocks += [{**b, "block_number": b["block_number"] + offset} for b in case.m.chain.blocks]
    # Each MockAggregator is its own feed (AaveOracle reads it directly, no proxy): one phase,
    # from the start. Sequences deploy at the same addresses, so the table is their union.
    feeds = feeds_table(
        (CHAIN_ID, feed, "mock", 8, None, 1, feed, 0)
        for feed in sorted({feed for case in cases for feed in case.m.feeds})
    )
    decoded = decode_logs(
        pl.DataFrame(logs, schema=pl.Schema(RAW_LOGS)),  # type: ignore[arg-type]
        pl.DataFrame(blocks, schema=pl.Schema(BLOCKS)),  # type: ignore[arg-type]
        feeds,
    )
    prices = price_updates(
        decoded.oracle_rounds, feeds, pl.DataFrame(schema=pl.Schema(RATE_SAMPLES))
    )

    def split(frame: pl.DataFrame, i: int) -> pl.DataFrame:
        return frame.filter(pl.col("block_number") // _BLOCK_OFFSET == i).with_columns(
            pl.col("block_number") % _BLOCK_OFFSET
        )

    counts = []
    for i, case in enumerate(cases):
        try:
            counts.append(
                _check_case(
                    case,
                    split(decoded.aave_events, i),
                    split(prices, i),
                    split(decoded.quarantine, i),
                )
            )
        except Mismatch as exc:
            calls = "\n  ".join(case.trace)
            raise Mismatch(f"{exc}\nthe sequence's calls after deployment:\n  {calls}") from None
    return counts


def _check_case(
    case: ReplayCase, events: pl.DataFrame, prices: pl.DataFrame, quarantine: pl.DataFrame
) -> int:
    m = case.m
    aave = {m.pool.address, m.configurator.address, m.oracle.address} | {
        t.address for t in [*m.a_tokens.values(), *m.v_tokens.values()]
    }
    for log in quarantine.filter(pl.col("address").is_in(sorted(aave))).to_dicts():
        name = m.event_name(log["address"], log["topic0"])
        if name not in UNDECODED:
            raise Mismatch(f"{m.labels[log['address']]} {name} quarantined: {log}")
    ledger = AaveLedger(
        m.pool.address,
        TREASURY,
        VersionSchedule.single(V3_0),
        {m.asset(spec.symbol): spec.decimals for spec in RESERVES},
        {},
    )
    rows = list(history(events, prices))
    i = folded = 0
    for block, timestamp, snapshot in case.snapshots:
        while i < len(rows) and rows[i][1]["block_number"] <= block:
            stream, row = rows[i]
            i += 1
            if stream == "price":
                ledger.apply_round(row["feed"], int(row["answer"]))
                continue
            ledger.at_block(row["block_number"], row["timestamp"])
            ledger.apply(row)
            folded += 1
        mine = engine_snapshot(ledger.pool, m, timestamp)
        for parts, fields in (
            ("reserves", RESERVE_FIELDS),
            ("positions", POSITION_FIELDS),
            ("users", USER_FIELDS),
        ):
            for key, stored in getattr(snapshot, parts).items():
                ours = getattr(mine, parts)[key]
                diff = {
                    f: (s, e)
                    for f, s, e in zip(fields, stored, ours, strict=True)
                    if s != e and f != "accrued_to_treasury"
                }
                if diff:
                    raise Mismatch(
                        f"replay after block {block}: {parts[:-1]} {key}: (contract, ledger) {diff}"
                    )
    if i != len(rows):
        raise Mismatch(f"{len(rows) - i} logs after the last call")
    return folded


# Sequences whose replay check waits for a batch (SOFTLIQ_AAVE_REPLAY_BATCH; 1 = at once).
REPLAY_BATCH = int(os.environ.get("SOFTLIQ_AAVE_REPLAY_BATCH", "10"))
PENDING: list[tuple[ReplayCase, Counter[str]]] = []


def finish_sequence(case: ReplayCase, stats: Counter[str]) -> None:
    """Queue a finished sequence's replay check; check the queue once it holds a batch."""
    PENDING.append((case, stats))
    if len(PENDING) >= REPLAY_BATCH:
        flush_replays()


def flush_replays() -> None:
    """Check every queued sequence's replay, then add their figures to the run's."""
    if not PENDING:
        return
    batch = list(PENDING)
    PENDING.clear()
    counts = check_replays([case for case, _ in batch])
    for (_, stats), events in zip(batch, counts, strict=True):
        stats["events_replayed"] += events
        aave_stats.finish_sequence(stats)


def liquidation_returns(m: AaveMarket, user: str, collateral: str) -> Callable[[Outcome], Any]:
    """The contract's liquidation amounts: LiquidationCall's debtToCover and
    liquidatedCollateralAmount, and the protocol fee (the collateral aToken's Transfer from the
    user to the treasury); v3.0 has no deficit."""
    from softliq_core.protocols.aave.pool import LiquidationOutcome

    a_token = m.a_tokens[collateral].address

    def returns(outcome: Outcome) -> Any:
        (event,) = outcome.events("LiquidationCall")
        fee = sum(
            log["value"]
            for log in outcome.logs
            if log["address"] == a_token
            and log["event"] == "Transfer"
            and log["from"] == user
            and log["to"] == TREASURY
        )
        return LiquidationOutcome(event["debtToCover"], event["liquidatedCollateralAmount"], fee, 0)

    return returns
