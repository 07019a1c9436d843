"""The liquidator model's agenda: which positions it looks at in which block.

A position is put on the agenda ``latency_blocks`` after what made it actionable (or the next block
after an action that left it actionable); the replay works through the agenda in block order before
each block's history, and nothing beyond the data's last block is acted on.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator


class Agenda:
    def __init__(self, last_block: int) -> None:
        self.last_block = last_block
        self.due: dict[int, set[str]] = {}
        self.blocks: list[int] = []

    def schedule(self, block: int, position: str) -> None:
        if block not in self.due:
            self.due[block] = set()
            heapq.heappush(self.blocks, block)
        self.due[block].add(position)

    def until(self, block: int) -> Iterator[tuple[int, list[str]]]:
        """(block, positions in order) due up to ``block``, earliest first; positions scheduled
        while iterating are picked up when they fall within ``block``."""
        while self.blocks and self.blocks[0] <= block:
            due = heapq.heappop(self.blocks)
            if due > self.last_block:
                self.blocks.clear()
                return
            yield due, sorted(self.due.pop(due))
