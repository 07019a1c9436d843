"""Morpho Blue in pyrevm and softliq's ``MorphoBlue`` side by side, call by call.

``Harness`` deploys the contract (npm ``@morpho-org/morpho-blue@1.0.0``) with its mocks, creates the
markets on both sides, and ``call`` runs one operation on both: the same return values, or the same
revert reason; then every market, position, authorisation and the fee recipient must be equal.
``check_replay`` runs the contract's own logs through softliq's decoder and baseline ledger and
checks the fold reproduces the contract's storage after every call.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from softliq_core.decode.events import decode_logs
from softliq_core.protocols.morpho import errors
from softliq_core.protocols.morpho.blue import MorphoBlue
from softliq_core.protocols.morpho.errors import MorphoRevert
from softliq_core.protocols.morpho.market import Market, MarketParams, Position
from softliq_core.protocols.morpho.math import WAD, w_div_down
from softliq_core.replay.ledger import Ledger
from softliq_core.tables import BLOCKS, RAW_LOGS

from . import artifacts
from .evm import Chain, Contract, Reverted

ZERO = "0x" + "00" * 20
OWNER = "0x" + "0a" * 20
USERS = ["0x" + f"{0xA1 + i:02x}" * 20 for i in range(4)]
TREASURIES = [ZERO, "0x" + "7e" * 20, "0x" + "7f" * 20]
HUGE = 10**50  # every token balance and allowance: transfers never fail
MIN_CALLS = 50  # a sequence counts in the figures when it made at least this many Morpho calls

# Cumulative figures of every sequence run in this process (the conftest prints them).
STATS: Counter[str] = Counter()
STATS_DIR = artifacts.CACHE / "stats"


# Sequences whose replay check waits for a batch (SOFTLIQ_EVM_REPLAY_BATCH; 1 = at once).
REPLAY_BATCH = int(os.environ.get("SOFTLIQ_EVM_REPLAY_BATCH", "1"))
PENDING: list[tuple[ReplayCase, Counter[str]]] = []


def finish_sequence(case: ReplayCase, stats: Counter[str]) -> None:
    """Queue a finished sequence's replay check; check the queue once it holds a batch."""
    PENDING.append((case, stats))
    if len(PENDING) >= REPLAY_BATCH:
        flush_replays()


def flush_replays() -> None:
    """Check every queued sequence's replay, then add their figures to STATS."""
    if not PENDING:
        return
    batch = list(PENDING)
    PENDING.clear()
    counts = check_replays([case for case, _ in batch])
    for (_, stats), events in zip(batch, counts, strict=True):
        stats["events_replayed"] += events
        if stats["calls"] < MIN_CALLS:
            # hypothesis stopped the example early (it does when its choice buffer fills up)
            STATS["sequences_under_50_calls"] += 1
            continue
        stats["sequences"] += 1
        STATS.update(stats)
        STATS["min_calls_per_sequence"] = min(
            STATS.get("min_calls_per_sequence", stats["calls"]), stats["calls"]
        )
    if STATS["sequences"] % 100 < len(batch):
        flush_stats()


def flush_stats() -> None:
    """Write this process's figures (also during a long run, so partial figures survive)."""
    if STATS:
        STATS_DIR.mkdir(parents=True, exist_ok=True)
        name = os.environ.get("PYTEST_XDIST_WORKER", "main")
        (STATS_DIR / f"{name}.json").write_text(json.dumps(dict(STATS)))


def irm_mock_rate(_params: MarketParams, market: Market) -> int:
    """IrmMock.borrowRateView (morpho-blue src/mocks/IrmMock.sol): x % utilisation = x % APR."""
    if market.total_supply_assets == 0:
        return 0
    return w_div_down(market.total_borrow_assets, market.total_supply_assets) // (365 * 86400)


@dataclass(frozen=True)
class MarketSpec:
    name: str
    loan_decimals: int
    collateral_decimals: int
    lltv: int
    price: int  # IOracle.price(): loan base units per collateral base unit × 1e36


MARKETS = [
    # loan 6 decimals, collateral 18: WETH/USDC at 3,000
    MarketSpec("WETH/USDC", 6, 18, 86 * WAD // 100, 3_000 * 10**6 * 10**36 // 10**18),
    # loan 18, collateral 18: wstETH/WETH at 1.17
    MarketSpec("wstETH/WETH", 18, 18, 945 * WAD // 1000, 117 * 10**36 // 100),
    # loan 6, collateral 8: WBTC/USDT at 60,000
    MarketSpec("WBTC/USDT", 6, 8, 915 * WAD // 1000, 60_000 * 10**6 * 10**36 // 10**8),
]
LLTVS = sorted({m.lltv for m in MARKETS})


def _position_tuple(p: Position) -> tuple[int, int, int]:
    return (p.supply_shares, p.borrow_shares, p.collateral)


def _market_tuple(m: Market) -> tuple[int, ...]:
    return (
        m.total_supply_assets,
        m.total_supply_shares,
        m.total_borrow_assets,
        m.total_borrow_shares,
        m.last_update,
        m.fee,
    )


@dataclass(frozen=True)
class Snapshot:
    block_number: int
    markets: dict[str, tuple[int, ...]]
    positions: dict[tuple[str, str], tuple[int, int, int]]
    authorizations: dict[tuple[str, str], bool]
    fee_recipient: str


class Mismatch(AssertionError):
    pass


class Harness:
    def __init__(self) -> None:
        self.chain = Chain(artifacts.load())
        chain = self.chain
        chain.evm.set_balance(OWNER, 10**30)
        self.morpho = chain.deploy("Morpho", ("address", OWNER), sender=OWNER)
        self.irm = chain.deploy("IrmMock", sender=OWNER)
        self.flash_borrower = chain.deploy(
            "FlashBorrowerMock", ("address", self.morpho.address), sender=OWNER
        )
        self.prices: dict[str, int] = {}
        self.engine = MorphoBlue(
            address=self.morpho.address,
            owner=OWNER,
            oracle_price=lambda oracle: self.prices[oracle],
            timestamp=chain.timestamp,
            borrow_rate_hooks={self.irm.address: irm_mock_rate},
        )
        self.tokens: list[Contract] = []
        self.oracles: list[Contract] = []
        self.params: list[MarketParams] = []
        self.specs = MARKETS
        for spec in MARKETS:
            loan = self._token()
            collateral = self._token()
            oracle = chain.deploy("OracleMock", sender=OWNER)
            self.oracles.append(oracle)
            self.params.append(
                MarketParams(
                    loan.address, collateral.address, oracle.address, self.irm.address, spec.lltv
                )
            )
        # Params never created: every call on them reverts "market not created".
        self.uncreated = MarketParams(
            self.tokens[0].address, self.tokens[1].address, ZERO, ZERO, LLTVS[0]
        )
        self.snapshots: list[Snapshot] = []
        self.calls = 0
        self.fee_recipients = set(TREASURIES)
        self.stats: Counter[str] = Counter()
        engine = self.engine
        for irm in (self.irm.address, ZERO):
            self.call("enableIrm", OWNER, (irm,), lambda irm=irm: engine.enable_irm(OWNER, irm))
        for lltv in LLTVS:
            self.call(
                "enableLltv", OWNER, (lltv,), lambda lltv=lltv: engine.enable_lltv(OWNER, lltv)
            )
        for spec, params, oracle in zip(MARKETS, self.params, self.oracles, strict=True):
            self.set_price(oracle, spec.price)
            self.call(
                "createMarket",
                OWNER,
                (params,),
                lambda params=params: engine.create_market(OWNER, params),
                returns=lambda _, params=params: params.id,
            )

    def _token(self) -> Contract:
        token = self.chain.deploy("ERC20Mock", sender=OWNER)
        self.tokens.append(token)
        for holder in [*USERS, self.morpho.address]:
            token.call(OWNER, "setBalance", holder, HUGE)
        for user in USERS:
            token.call(user, "approve", self.morpho.address, HUGE)
        return token

    # -- driving both sides ----------------------------------------------------------------

    def set_price(self, oracle: Contract, price: int) -> None:
        oracle.call(OWNER, "setPrice", price)
        self.prices[oracle.address] = price

    def warp(self, seconds: int) -> None:
        self.chain.warp(seconds)
        self.engine.timestamp = self.chain.timestamp

    def call(
        self,
        contract_function: str,
        sender: str,
        args: tuple[Any, ...],
        engine: Callable[[], Any],
        *,
        to: Contract | None = None,
        returns: Callable[[tuple[Any, ...]], Any] | None = None,
    ) -> Any:
        """Run one call on both sides and compare its outcome and the whole resulting state.

        ``args`` go to the contract (``to``, Morpho by default); ``engine`` makes the same call on
        softliq's engine; ``returns`` maps the contract's decoded return data to what the engine
        returns (default: the tuple itself, or None when the function returns nothing).
        """
        self.calls += 1
        self.stats["calls"] += 1
        self.stats[f"call:{contract_function}"] += 1
        contract = to or self.morpho
        try:
            out: Any = contract.call(sender, contract_function, *(_abi_arg(a) for a in args))
            contract_error = None
        except Reverted as exc:
            out, contract_error = None, exc.reason
        try:
            engine_out = engine()
            engine_error = None
        except MorphoRevert as exc:
            engine_out, engine_error = None, exc.reason
        if contract_error != engine_error:
            raise Mismatch(
                f"{contract_function}{args}: contract "
                + (f"reverted {contract_error!r}" if contract_error else f"returned {out}")
                + ", engine "
                + (f"reverted {engine_error!r}" if engine_error else f"returned {engine_out}")
            )
        if contract_error is not None:
            self.stats["reverts"] += 1
            self.stats[f"revert:{contract_error}"] += 1
        else:
            expected = returns(out) if returns else (out if out else None)
            if expected != engine_out:
                raise Mismatch(
                    f"{contract_function}{args}: contract returned {out}, engine {engine_out}"
                )
        if contract_error is not None:
            changed: str | None = ""  # a reverted call changes nothing: re-read nothing
        else:
            market = next((a for a in args if isinstance(a, MarketParams)), None)
            changed = None if market is None else market.id
        self.compare_state(changed, authorizations=contract_function == "setAuthorization")
        return None if contract_error else out

    # -- state -----------------------------------------------------------------------------

    def contract_snapshot(self, changed: str | None, authorizations: bool) -> Snapshot:
        """Morpho's storage through its view functions: market(id), position(id, user),
        isAuthorized and feeRecipient.

        Only what the last call can have changed is read again: the market ``changed`` (every
        market when None, none when "") and the authorisations when ``authorizations``; the rest
        is the previous snapshot's.
        """
        previous = self.snapshots[-1] if self.snapshots else None
        abi = self.morpho.abi
        view = self.morpho.raw_view
        market_sel, position_sel = abi["market"].selector, abi["position"].selector
        markets = dict(previous.markets) if previous else {}
        positions = dict(previous.positions) if previous else {}
        (fee_recipient,) = self.morpho.view("feeRecipient")
        fee_recipient = fee_recipient.lower()
        holders = [*USERS, *sorted(self.fee_recipients | {fee_recipient})]
        for params in self.params:
            if previous is not None and changed is not None and params.id != changed:
                continue
            market_id = bytes.fromhex(params.id[2:])
            markets[params.id] = _words(view(market_sel + market_id))
            for holder in holders:
                word = bytes(12) + bytes.fromhex(holder[2:])
                positions[(params.id, holder)] = _words(view(position_sel + market_id + word))  # type: ignore[assignment]
        if authorizations or previous is None:
            auth_sel = abi["isAuthorized"].selector
            flags = {
                (a, b): bool(
                    _words(
                        view(
                            auth_sel
                            + bytes(12)
                            + bytes.fromhex(a[2:])
                            + bytes(12)
                            + bytes.fromhex(b[2:])
                        )
                    )[0]
                )
                for a in USERS
                for b in USERS
                if a != b
            }
        else:
            flags = previous.authorizations
        return Snapshot(self.chain.block_number - 1, markets, positions, flags, fee_recipient)

    def compare_state(self, changed: str | None = None, authorizations: bool = True) -> None:
        snap = self.contract_snapshot(changed, authorizations)
        self.snapshots.append(snap)
        engine = self.engine
        for market_id, stored in snap.markets.items():
            mine = engine.markets.get(market_id)
            if stored[4] == 0 and mine is None:
                continue
            if mine is None or _market_tuple(mine) != stored:
                raise Mismatch(f"market {market_id}: contract {stored}, engine {mine}")
        for (market_id, user), stored in snap.positions.items():
            position = engine.positions.get((market_id, user), Position())
            if _position_tuple(position) != stored:
                raise Mismatch(
                    f"position {user} in {market_id}: contract {stored}, engine {position}"
                )
        for pair, flag in snap.authorizations.items():
            if engine.authorizations.get(pair, False) != flag:
                raise Mismatch(f"authorization {pair}: contract {flag}")
        if engine.fee_recipient != snap.fee_recipient:
            raise Mismatch(f"fee recipient: contract {snap.fee_recipient}, {engine.fee_recipient}")

    def replay_case(self) -> ReplayCase:
        (owner,) = self.morpho.view("owner")
        irms = [self.irm.address, ZERO, self.flash_borrower.address]
        lltvs = [*LLTVS, WAD // 2]
        return ReplayCase(
            list(self.chain.logs),
            list(self.chain.blocks),
            list(self.snapshots),
            self.morpho.address,
            [e for e in self.engine.events if e["contract"] == self.morpho.address],
            owner.lower(),
            {irm: bool(self.morpho.view("isIrmEnabled", irm)[0]) for irm in irms},
            {lltv: bool(self.morpho.view("isLltvEnabled", lltv)[0]) for lltv in lltvs},
        )

    def check_replay(self) -> int:
        """The contract's logs through decode + ledger equal its storage after every call.

        Returns the number of Morpho events replayed.
        """
        return check_replays([self.replay_case()])[0]


@dataclass
class ReplayCase:
    """What the replay check needs of one sequence: its chain's logs and blocks, the contract's
    storage after every call, and the engine's events."""

    logs: list[dict[str, Any]]
    blocks: list[dict[str, Any]]
    snapshots: list[Snapshot]
    morpho: str
    engine_events: list[dict[str, Any]]
    owner: str  # owner(), isIrmEnabled and isLltvEnabled at the end of the sequence
    irms: dict[str, bool]
    lltvs: dict[int, bool]


_BLOCK_OFFSET = 1_000_000  # sequences decoded together sit in disjoint block ranges


def check_replays(cases: list[ReplayCase]) -> list[int]:
    """Decode the logs of several sequences at once (softliq's decoder has a fixed cost per call),
    then fold and check each sequence on its own. Returns each sequence's number of events.
    """
    logs, blocks = [], []
    for i, case in enumerate(cases):
        offset = i * _BLOCK_OFFSET
        logs += [{**log, "block_number": log["block_number"] + offset} for log in case.logs]
        blocks += [{**b, "block_number": b["block_number"] + offset} for b in case.blocks]
    decoded = decode_logs(
        pl.DataFrame(logs, schema=pl.Schema(RAW_LOGS)),  # type: ignore[arg-type]
        pl.DataFrame(blocks, schema=pl.Schema(BLOCKS)),  # type: ignore[arg-type]
    )
    quarantined_morpho = decoded.quarantine.filter(
        pl.col("address").is_in([case.morpho for case in cases])
    )
    if quarantined_morpho.height:
        raise Mismatch(f"Morpho logs quarantined: {quarantined_morpho.to_dicts()}")
    events = decoded.morpho_events.with_columns(
        (pl.col("block_number") // _BLOCK_OFFSET).alias("case"),
        (pl.col("block_number") % _BLOCK_OFFSET).alias("block_number"),
    )
    counts = []
    for i, case in enumerate(cases):
        # Only Morpho's own events are folded (the mocks' ERC20 Approval/Transfer are not).
        mine = events.filter((pl.col("case") == i) & (pl.col("contract") == case.morpho))
        counts.append(_check_case(case, mine.drop("case").to_dicts()))
    return counts


def _check_case(case: ReplayCase, events: list[dict[str, Any]]) -> int:
    ledger = Ledger()
    i = 0
    for snap in case.snapshots:
        while i < len(events) and events[i]["block_number"] <= snap.block_number:
            ledger.apply(events[i])
            i += 1
        _compare_ledger(ledger, snap)
    if i != len(events):
        raise Mismatch(f"{len(events) - i} events after the last call")
    enabled = (
        ledger.owner,
        {irm: irm in ledger.enabled_irms for irm in case.irms},
        {lltv: lltv in ledger.enabled_lltvs for lltv in case.lltvs},
    )
    if enabled != (case.owner, case.irms, case.lltvs):
        raise Mismatch(f"replay: owner/IRMs/LLTVs {enabled}, contract {case}")
    # The constructor's SetOwner has no counterpart in MorphoBlue (it starts with its owner).
    _compare_events(case.engine_events, [e for e in events if e["event"] != "SetOwner"])
    return len(events)


def _compare_ledger(ledger: Ledger, snap: Snapshot) -> None:
    where = f"after the call in block {snap.block_number}"
    for market_id, stored in snap.markets.items():
        mine = ledger.markets.get(market_id)
        if stored[4] == 0 and mine is None:
            continue
        if mine is None or _market_tuple(mine) != stored:
            raise Mismatch(f"replay {where}: market {market_id}: contract {stored}, {mine}")
    for (market_id, user), stored in snap.positions.items():
        position = ledger.positions.get((market_id, user), Position())
        if _position_tuple(position) != stored:
            raise Mismatch(
                f"replay {where}: position {user} in {market_id}: "
                f"contract {stored}, ledger {position}"
            )
    for pair, flag in snap.authorizations.items():
        if ledger.authorizations.get(pair, False) != flag:
            raise Mismatch(f"replay {where}: authorization {pair}: contract {flag}")
    if ledger.fee_recipient != snap.fee_recipient:
        raise Mismatch(f"replay {where}: fee recipient {snap.fee_recipient}")


def _compare_events(mine: list[dict[str, Any]], decoded: list[dict[str, Any]]) -> None:
    """The engine's events, field by field, equal the decoded logs (same order)."""
    if len(mine) != len(decoded):
        raise Mismatch(
            f"{len(mine)} engine events, {len(decoded)} contract logs: "
            f"{[e['event'] for e in mine]} vs {[e['event'] for e in decoded]}"
        )
    for ours, theirs in zip(mine, decoded, strict=True):
        for key, value in ours.items():
            got = theirs.get(key)
            want = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
            if got != want:
                raise Mismatch(
                    f"{ours['event']} in block {theirs['block_number']}: {key} "
                    f"engine {want!r}, contract log {got!r}"
                )


def _words(data: bytes) -> tuple[int, ...]:
    return tuple(int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32))


def _abi_arg(value: Any) -> Any:
    if isinstance(value, MarketParams):
        return (value.loan_token, value.collateral_token, value.oracle, value.irm, value.lltv)
    return value


__all__ = ["HUGE", "MARKETS", "OWNER", "STATS", "TREASURIES", "USERS", "ZERO", "Harness", "errors"]
