"""Replay snapshots in the lake: ``<root>/replay_snapshots/version=<v>/chain_id=<n>/date=<day>/
snapshot.pkl`` (the format: replay/snapshot.py), one file per day, written to a temporary file and
renamed over the old one, so a crash never leaves half a snapshot for the next day to resume from."""

from __future__ import annotations

import os
import uuid
from datetime import date
from pathlib import Path

from softliq_core.replay.snapshot import DaySnapshot

TABLE = "replay_snapshots"


class SnapshotStore:
    def __init__(self, lake_root: str | Path, chain_id: int, version: str) -> None:
        self.version = version
        self.directory = Path(lake_root) / TABLE / f"version={version}" / f"chain_id={chain_id}"

    def path(self, day: date) -> Path:
        return self.directory / f"date={day.isoformat()}" / "snapshot.pkl"

    def days(self) -> list[date]:
        """The days this version has a snapshot of, in order."""
        return sorted(
            date.fromisoformat(p.parent.name.removeprefix("date="))
            for p in self.directory.glob("date=*/snapshot.pkl")
        )

    def read(self, day: date) -> DaySnapshot | None:
        path = self.path(day)
        return DaySnapshot.loads(path.read_bytes(), self.version) if path.exists() else None

    def write(self, snapshot: DaySnapshot) -> Path:
        path = self.path(snapshot.day)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".snapshot.pkl.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(snapshot.dumps())
        os.replace(tmp, path)
        return path
