"""Mismatches the differential suite found, each kept with its minimal sequence (hypothesis' shrink),
replayed on the real contract and the engine.

1. uint128 edges (Morpho.sol casts with ``toUint128`` before each checked += / -= on a uint128
   slot): ``repay`` of 2^128 assets reverted "max uint128 exceeded" on the contract but
   "arithmetic underflow" in the engine, which compared the shares with the position first. The
   same order mattered in withdraw, borrow, supplyCollateral, withdrawCollateral and liquidate, and
   a sum past 2^128 − 1 panics (0x11) instead of reverting "max uint128 exceeded". Fixed in
   ``MorphoBlue`` (``_add_uint128``/``_to_uint128``) and ``liquidation.liquidate``.
"""

from __future__ import annotations

from .test_morpho_blue_evm import UINT128_MAX, MorphoBlueDifferential

USER = "0x" + "a1" * 20
BOOK = {"liquidity": [1, 1, 1], "loans": [500] * 9}


def _machine(liquidity: int = 1, loans: int = 500) -> MorphoBlueDifferential:
    machine = MorphoBlueDifferential()
    machine.open_book(liquidity=[liquidity] * 3, loans=[loans] * 9)
    return machine


def test_repay_of_2_128_assets_reverts_on_the_cast() -> None:
    # Shrunk: open_book([1, 1, 1], [500] * 9); repay(by assets, m=0, owner=0, 2**128).
    machine = _machine()
    machine.repay(None, m=0, payer=0, owner=0, by_shares=False, size=("wei", UINT128_MAX + 1))
    machine.h.check_replay()  # and decode + ledger reproduce the contract after every call


def test_uint128_edges_of_every_operation() -> None:
    machine = _machine()
    for value in (UINT128_MAX, UINT128_MAX + 1):
        size = ("wei", value)
        machine.supply(None, m=0, user=0, to=None, by_shares=False, size=size)
        machine.supply(None, m=1, user=0, to=None, by_shares=True, size=size)
        machine.supply_collateral(None, m=0, user=1, to=None, size=size)
        machine.supply_collateral(None, m=0, user=1, to=None, size=size)
        machine.withdraw_collateral(None, m=0, owner=1, delegate=None, size=size, receiver=USER)
        machine.withdraw(
            None, m=0, owner=3, delegate=None, by_shares=False, size=size, receiver=USER
        )
        machine.borrow(None, m=0, owner=0, delegate=None, by_shares=False, size=size, receiver=USER)
        machine.borrow(None, m=2, owner=0, delegate=None, by_shares=True, size=size, receiver=USER)
        machine.repay(None, m=0, payer=0, owner=0, by_shares=True, size=size)
        machine.prelude(("price", 300, 0))  # a 70 % fall: the borrowers are liquidatable
        machine._liquidate(0, liquidator=1, borrower=0, mode="seized", size=size)
        machine._liquidate(0, liquidator=1, borrower=0, mode="repaid", size=size)
    machine.h.check_replay()  # and decode + ledger reproduce the contract after every call


def test_liquidating_uint128_max_seized_assets_overflows_the_price_product() -> None:
    # Long run: liquidate(m=2, seized=2**128 - 1) -> contract Panic(0x11), engine had
    # "max uint128 exceeded".
    # Borrowers at their limit on WBTC/USDT (price 6e38): a 0.1 % fall makes them liquidatable,
    # and (2^128 - 1) * 5.99e38 > 2^256.
    machine = _machine(liquidity=1000, loans=1000)
    machine.prelude(("price", 999, 2))
    machine._liquidate(2, liquidator=1, borrower=0, mode="seized", size=("wei", UINT128_MAX))
    machine.h.check_replay()


def test_health_check_of_a_huge_collateral_overflows() -> None:
    # Long run: supplyCollateral(~2**128) on WBTC/USDT, then the health check of liquidate (and of
    # borrow and withdrawCollateral) overflows collateral * price: contract Panic(0x11), engine
    # had "position is healthy".
    machine = _machine(liquidity=1000)
    machine.supply_collateral(None, m=2, user=0, to=None, size=("wei", 2**128 - 2**100))
    machine._liquidate(2, liquidator=1, borrower=0, mode="seized", size=("permille", 1))
    machine.borrow(
        None, m=2, owner=0, delegate=None, by_shares=False, size=("wei", 1), receiver=USER
    )
    machine.withdraw_collateral(None, m=2, owner=0, delegate=None, size=("wei", 1), receiver=USER)
    machine.h.check_replay()


def test_liquidating_a_debt_free_position_computes_its_collateral_value() -> None:
    # Long run (after fix 2): liquidate on a debt-free position holding 2**128 - 1 WBTC: the
    # contract's 4-argument _isHealthy has no zero-debt shortcut, so collateral * price overflows
    # (Panic 0x11); the engine answered "position is healthy".
    machine = _machine(liquidity=1000)
    machine.supply_collateral(None, m=2, user=3, to=None, size=("wei", UINT128_MAX))
    machine.h.call(
        "liquidate",
        USER,
        (machine.params(2), "0x" + "a4" * 20, 1, 0, b""),
        lambda: machine.engine.liquidate(USER, machine.params(2), "0x" + "a4" * 20, 1, 0),
    )
    machine.h.check_replay()
