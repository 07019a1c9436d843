"""Replay snapshots in the lake: ``<root>/replay_snapshots/version=<v>/chain_id=<n>/date=<day>/
snapshot.pkl`` (the format: replay/snapshot.py), one file per day, written whole or not at all
(``storage.py``), so a crash never leaves half a snapshot for the next day to resume from. The lake's
root may be local or an object store.

Snapshots are a cache (a replay rebuilds any of them), so old ones can go: ``prune`` keeps the
newest days and the last day of each month, which bounds a re-run of an old day to the days since
the month-end snapshot before it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from softliq_core.replay.snapshot import DaySnapshot
from softliq_core.store.storage import Storage

TABLE = "replay_snapshots"
FILE = "snapshot.pkl"


class SnapshotStore:
    def __init__(self, lake_root: str | Path, chain_id: int, version: str) -> None:
        self.version = version
        self.storage = Storage(lake_root)
        self.directory = (TABLE, f"version={version}", f"chain_id={chain_id}")

    def _parts(self, day: date) -> tuple[str, ...]:
        return (*self.directory, f"date={day.isoformat()}", FILE)

    def path(self, day: date) -> str:
        return self.storage.url(*self._parts(day))

    def size(self, day: date) -> int:
        """Bytes of the day's snapshot."""
        return self.storage.size(*self._parts(day))

    def days(self) -> list[date]:
        """The days this version has a snapshot of, in order."""
        return sorted(
            date.fromisoformat(Path(path).parent.name.removeprefix("date="))
            for path in self.storage.files(*self.directory, suffix=FILE)
            if Path(path).name == FILE
        )

    def read(self, day: date) -> DaySnapshot | None:
        if not self.storage.exists(*self._parts(day)):
            return None
        return DaySnapshot.loads(self.storage.read_bytes(*self._parts(day)), self.version)

    def write(self, snapshot: DaySnapshot) -> str:
        return self.storage.write_bytes(self._parts(snapshot.day), snapshot.dumps())

    def prune(self, keep_days: int) -> list[date]:
        """Delete the snapshots older than the newest ``keep_days`` but the last of each month
        (``keep_days`` 0: keep every one); returns the days deleted."""
        if keep_days <= 0:
            return []
        days = self.days()
        month_ends = {max(d for d in days if (d.year, d.month) == (m.year, m.month)) for m in days}
        deleted = [d for d in days[:-keep_days] if d not in month_ends]
        for day in deleted:
            self.storage.delete_dir(*self._parts(day)[:-1])
        return deleted
