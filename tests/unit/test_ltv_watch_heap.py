"""The LTV watch's heap holds about one entry per watched position: the entries a later watch
replaced are dropped as they pile up, and what the watch finds due is unchanged."""

from __future__ import annotations

from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.math import WAD
from softliq_core.replay.ltv_watch import LtvWatch

MARKET = Market(10**30, 10**36, 8 * 10**29, 8 * 10**35)
PRICE = 3_000 * 10**24  # a WETH/USDC oracle price: 3,000 USDC per WETH, scaled by 1e36


def test_rewatching_leaves_no_trail_and_finds_the_same_positions() -> None:
    watch = LtvWatch()
    borrowers = [f"0x{i:040x}" for i in range(5)]
    for round_ in range(2_000):  # every position checked again and again at a lower target
        for i, borrower in enumerate(borrowers):
            position = Position(0, (20 + i) * 10**14, 10**18)  # 2,000-2,400 USDC on 1 WETH
            watch.watch(borrower, position, MARKET, PRICE, WAD * 9 // 10 - round_)
        assert len(watch._heap) <= 2 * len(borrowers) + 65
    watch.forget(borrowers[0])
    assert watch.due(0.0) == []
    assert watch.due(float("inf")) == borrowers[1:]  # each once, the forgotten one not
    assert watch.due(float("inf")) == []
