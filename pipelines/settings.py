"""Where the pipeline reads and writes, and which days it covers: environment with safe defaults.

Defaults make the embedded synthetic chain the source and ``data/`` the output, so nothing needs
configuring. The partition range must be known when definitions load, hence environment variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    lake_root: str
    duckdb_path: str
    scenario_file: str
    start_date: date
    days: int
    seed: int
    borrowers_per_market: int

    @property
    def end_date(self) -> date:  # exclusive
        return self.start_date + timedelta(days=self.days)

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get
        return cls(
            lake_root=env("SOFTLIQ_LAKE", str(PROJECT_ROOT / "data" / "lake")),
            duckdb_path=env("SOFTLIQ_DUCKDB", str(PROJECT_ROOT / "data" / "softliq.duckdb")),
            scenario_file=env(
                "SOFTLIQ_SCENARIOS", str(PROJECT_ROOT / "data" / "scenarios" / "default.toml")
            ),
            start_date=date.fromisoformat(env("SOFTLIQ_START_DATE", "2024-03-01")),
            days=int(env("SOFTLIQ_DAYS", "10")),
            seed=int(env("SOFTLIQ_SEED", "7")),
            borrowers_per_market=int(env("SOFTLIQ_BORROWERS_PER_MARKET", "80")),
        )
