"""The Aave harness itself: its storage reader returns what the Pool's and tokens' public views
return, a fixed sequence through the paths that matter most always runs, and the harness catches a
wrong engine state, a wrong refusal, wrong events and a wrong ledger (a check that cannot fail
proves nothing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import polars as pl
import pytest

pytest.importorskip(
    "softliq_core.protocols.aave.pool", reason="softliq's Aave engine (AavePool) is not built yet"
)

from softliq_core.decode.events import decode_logs
from softliq_core.feeds import feeds_table
from softliq_core.protocols.aave.version import V3_0, VersionSchedule
from softliq_core.replay import aave_ledger
from softliq_core.tables import BLOCKS, RATE_SAMPLES, RAW_LOGS

from .harness import AaveHarness, Mismatch, liquidation_returns
from .market import EMODE, LIQUIDATORS, MAX_UINT, OWNER, RESERVES, TREASURY, USERS

LENDER, BORROWER, EMODE_USER = USERS[3], USERS[0], USERS[2]


def _history(h: AaveHarness) -> None:
    """Lending, eMode, a month of interest, a 30 % crash and two liquidations (aTokens and
    underlying), repayments with aTokens and max, and a max withdrawal: every call checked."""
    m, e = h.m, h.engine

    def asset(symbol: str) -> str:
        return m.asset(symbol)

    for symbol, amount in (("USDC", 10**12), ("WETH", 1_000 * 10**18), ("WBTC", 10 * 10**8)):
        h.call(
            "supply",
            lambda s=symbol, a=amount: m.supply(LENDER, s, a),
            lambda s=symbol, a=amount: e.supply(asset(s), a, LENDER, h.timestamp),
        )
    h.call(
        "supply",
        lambda: m.supply(BORROWER, "WETH", 10 * 10**18),
        lambda: e.supply(asset("WETH"), 10 * 10**18, BORROWER, h.timestamp),
    )
    h.call(
        "supply",
        lambda: m.supply(BORROWER, "WBTC", 10**7),
        lambda: e.supply(asset("WBTC"), 10**7, BORROWER, h.timestamp),
    )
    h.call(
        "borrow",
        lambda: m.borrow(BORROWER, "USDC", 17_000 * 10**6),
        lambda: e.borrow(asset("USDC"), 17_000 * 10**6, BORROWER, h.timestamp),
    )
    h.call(
        "supply",
        lambda: m.supply(EMODE_USER, "wstETH", 10 * 10**18),
        lambda: e.supply(asset("wstETH"), 10 * 10**18, EMODE_USER, h.timestamp),
    )
    h.call(
        "setUserEMode",
        lambda: m.set_emode(EMODE_USER, EMODE.category),
        lambda: e.set_user_emode(EMODE_USER, EMODE.category, h.timestamp),
    )
    h.call(
        "borrow",
        lambda: m.borrow(EMODE_USER, "WETH", 9 * 10**18),
        lambda: e.borrow(asset("WETH"), 9 * 10**18, EMODE_USER, h.timestamp),
    )
    h.warp(30 * 86_400)
    h.set_price("WETH", 1_400 * 10**8)
    for receive, liquidator, cover in (
        (True, LIQUIDATORS[0], 5_000 * 10**6),
        (False, LIQUIDATORS[1], MAX_UINT),
    ):
        out = h.call(
            "liquidationCall",
            lambda r=receive, who=liquidator, c=cover: m.liquidation_call(
                who, "WETH", "USDC", BORROWER, c, r
            ),
            lambda r=receive, who=liquidator, c=cover: e.liquidation_call(
                asset("WETH"), asset("USDC"), BORROWER, c, r, who, h.timestamp
            ),
            returns=liquidation_returns(m, BORROWER, "WETH"),
        )
        assert out.ok, out.reason
    h.set_price("wstETH", 1_500 * 10**8)
    h.call(
        "liquidationCall",
        lambda: m.liquidation_call(LIQUIDATORS[0], "wstETH", "WETH", EMODE_USER, MAX_UINT, False),
        lambda: e.liquidation_call(
            asset("wstETH"), asset("WETH"), EMODE_USER, MAX_UINT, False, LIQUIDATORS[0], h.timestamp
        ),
        returns=liquidation_returns(m, EMODE_USER, "wstETH"),
    )
    h.warp(86_400)
    h.call(
        "repayWithATokens",
        lambda: m.repay_with_atokens(LENDER, "USDC", 1),
        lambda: e.repay(asset("USDC"), 1, LENDER, h.timestamp, with_atokens=True),
        returns=lambda out: out.returned[0],
    )
    h.call(
        "repay",
        lambda: m.repay(BORROWER, "USDC", MAX_UINT),
        lambda: e.repay(asset("USDC"), MAX_UINT, BORROWER, h.timestamp),
        returns=lambda out: out.returned[0],
    )
    h.call(
        "withdraw",
        lambda: m.withdraw(BORROWER, "WETH", MAX_UINT),
        lambda: e.withdraw(asset("WETH"), MAX_UINT, BORROWER, h.timestamp),
        returns=lambda out: out.returned[0],
    )


def test_fixed_history_and_its_replay() -> None:
    h = AaveHarness()
    _history(h)
    assert h.stats["call:liquidationCall"] == 3
    assert h.m.scaled_balance("WETH", TREASURY) > 0  # the protocol fee
    assert h.check_replay() > 100


def test_storage_reader_equals_the_views() -> None:
    h = AaveHarness()
    _history(h)
    h.warp(3_600)
    assert h.reader.snapshot() == h.reader.snapshot_by_views()


def test_a_wrong_engine_state_is_caught() -> None:
    h = AaveHarness()
    _history(h)
    reserve = h.engine.reserves[h.m.asset("USDC")]
    reserve.variable_borrow_index += 1
    with pytest.raises(Mismatch, match="variable_borrow_index"):
        h.compare_state("tampered")


def test_a_wrong_refusal_and_wrong_events_are_caught() -> None:
    h = AaveHarness()
    m, e = h.m, h.engine
    with pytest.raises(Mismatch, match="reverted '26'"):
        h.call("supply", lambda: m.supply(LENDER, "USDC", 0), lambda: None)
    weth = m.asset("WETH")

    def supply_and_forget_an_event() -> None:
        e.supply(weth, 10**18, LENDER, h.timestamp)
        e.events.pop()

    with pytest.raises(Mismatch, match="engine events"):
        h.call("supply", lambda: m.supply(LENDER, "WETH", 10**18), supply_and_forget_an_event)


def test_a_wrong_ledger_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    h = AaveHarness()
    _history(h)
    apply = aave_ledger.AaveLedger.apply

    def without_balance_transfers(self: aave_ledger.AaveLedger, row: dict) -> None:  # type: ignore[type-arg]
        if row["event"] != "BalanceTransfer":
            apply(self, row)

    monkeypatch.setattr(aave_ledger.AaveLedger, "apply", without_balance_transfers)
    with pytest.raises(Mismatch, match="replay after block"):
        h.check_replay()


def test_a_wrong_price_in_the_ledger_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    h = AaveHarness()
    _history(h)
    source = aave_ledger.ChainlinkSource

    @dataclasses.dataclass(frozen=True)
    class OffByOne(source):  # type: ignore[misc,valid-type]
        def latest_answer(self, inputs: Mapping[str, int], timestamp: int) -> int:
            return super().latest_answer(inputs, timestamp) + 1

    monkeypatch.setattr(aave_ledger, "ChainlinkSource", OffByOne)
    with pytest.raises(Mismatch, match=r"health_factor|total_collateral_base"):
        h.check_replay()


def test_liquidation_figures_use_the_hf_at_the_call() -> None:
    """The reported StopIteration: the liquidation rule classified a successful liquidation by the
    HF of the last snapshot, which a price move without a state check leaves at >= 1 (the bucket
    search found no bucket). Now the HF is read at the call's block: a 30 % fall in WETH takes the
    borrower below 0.95, so the liquidation counts at the 100 % close factor, in a bucket below 1."""
    from .test_aave_pool_evm import AavePoolDifferential

    machine = AavePoolDifferential()
    machine.open_book(collateral=[0, 1], debt=[2, 2], loans=[1000, 1000, 1000])
    user = USERS[0]  # WETH collateral, USDC debt
    assert machine.account(user)[6] >= 10**18
    weth = machine.m.prices["WETH"]
    machine.h.set_price("WETH", weth * 7 // 10)  # no state check: the snapshot keeps HF >= 1
    assert machine.account(user)[6] >= 10**18
    health = machine.m.account_data(user).health_factor
    assert health <= 95 * 10**16
    machine._liquidate(0, 2, user, 0, ("permille", 100), False)
    stats = machine.h.stats
    assert stats["liquidations"] == 1
    assert stats["liquidations:close_factor_100"] == 1
    assert stats["liquidations:hf_not_below_1"] == 0
    assert sum(v for k, v in stats.items() if k.startswith("liquidations:hf_below_")) == 1


def test_reserve_borrowing_is_decoded_and_folded() -> None:
    """The configurator's ReserveBorrowing, from the real contract's logs: decoded into
    aave_events and folded by AaveLedger into the reserve's borrowing_enabled (the deployment
    enables every reserve, then USDC's borrowing is switched off)."""
    h = AaveHarness()
    m = h.m
    assert m.transact(OWNER, m.configurator, "setReserveBorrowing", m.asset("USDC"), False).ok
    decoded = decode_logs(
        pl.DataFrame(m.chain.logs, schema=pl.Schema(RAW_LOGS)),  # type: ignore[arg-type]
        pl.DataFrame(m.chain.blocks, schema=pl.Schema(BLOCKS)),  # type: ignore[arg-type]
    )
    switches = decoded.aave_events.filter(pl.col("event") == "ReserveBorrowing")
    assert switches["enabled"].to_list() == [True] * len(RESERVES) + [False]
    ledger = aave_ledger.AaveLedger(
        m.pool.address,
        TREASURY,
        VersionSchedule.single(V3_0),
        {m.asset(spec.symbol): spec.decimals for spec in RESERVES},
        {},
    )
    no_samples = pl.DataFrame(schema=pl.Schema(RATE_SAMPLES))
    prices = aave_ledger.price_updates(decoded.oracle_rounds, feeds_table([]), no_samples)
    aave_ledger.replay(ledger, decoded.aave_events, prices)
    enabled = {
        spec.symbol: ledger.pool.reserves[m.asset(spec.symbol)].config.borrowing_enabled
        for spec in RESERVES
    }
    assert enabled == {spec.symbol: spec.symbol != "USDC" for spec in RESERVES}
