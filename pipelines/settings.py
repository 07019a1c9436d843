"""Where the pipeline reads and writes, and which days it covers: environment with safe defaults.

Defaults make the embedded synthetic chain the source and ``data/`` the output, so nothing needs
configuring. The partition range must be known when definitions load, hence environment variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
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
    scenario_chunks: int = 2  # parallel replay steps (one per core here)
    # the grid the float_sweep asset sweeps (SOFTLIQ_SWEEP_SCENARIOS)
    sweep_scenario_file: str = str(PROJECT_ROOT / "data" / "scenarios" / "sweep_86.toml")
    # its chunks (SOFTLIQ_SWEEP_CHUNKS): 1 on one machine (the kernel's threads use its cores, and
    # two sweeps sharing them evict each other's working set from the caches); more to fan out
    sweep_chunks: int = 1
    # Replay snapshots kept: the newest days and every month-end (0: every day). A cache: a re-run
    # of a day whose day-before snapshot is gone replays from the month-end before it.
    snapshot_keep_days: int = 14
    # The chain source: "synthetic" (default), "rpc" (an archive node; the URL is read from
    # SOFTLIQ_RPC_URL when the source opens, so it never enters Dagster's config or run storage) or
    # "files" (exports: SOFTLIQ_FILES_LOGS, _BLOCKS, _TOKENS, _ORACLES, _FEEDS, _RATES).
    source: str = "synthetic"
    chain_id: int = 1
    # empty: Morpho Blue, AdaptiveCurveIrm, PreLiquidationFactory
    rpc_addresses: tuple[str, ...] = ()
    rpc_chunk_blocks: int = 2_000
    rpc_requests_per_second: float = 10.0
    rpc_batch_size: int = 100
    rpc_confirmations: int = 64
    rpc_min_block: int = 0
    rpc_markets_from_block: int | None = None  # None: Morpho Blue's deployment block
    rpc_finalized: bool = False  # a day is final once below the node's `finalized` block
    # "files": files_logs, files_blocks, files_tokens, files_oracles, files_feeds, files_rates
    # (paths or globs)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def end_date(self) -> date | None:
        """The first day after the partitions (exclusive); None when ``days`` is 0: the days run
        to yesterday (UTC) and grow by one every day, for the daily schedule."""
        return self.start_date + timedelta(days=self.days) if self.days else None

    @property
    def last_day(self) -> date:
        end = self.end_date or datetime.now(UTC).date()
        return end - timedelta(days=1)

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
            scenario_chunks=int(env("SOFTLIQ_SCENARIO_CHUNKS", "2")),
            sweep_scenario_file=env(
                "SOFTLIQ_SWEEP_SCENARIOS",
                str(PROJECT_ROOT / "data" / "scenarios" / "sweep_86.toml"),
            ),
            sweep_chunks=int(env("SOFTLIQ_SWEEP_CHUNKS", "1")),
            snapshot_keep_days=int(env("SOFTLIQ_SNAPSHOT_KEEP_DAYS", "14")),
            source=env("SOFTLIQ_SOURCE", "synthetic"),
            chain_id=int(env("SOFTLIQ_CHAIN_ID", "1")),
            rpc_addresses=tuple(
                a.strip() for a in env("SOFTLIQ_RPC_ADDRESSES", "").split(",") if a.strip()
            ),
            rpc_chunk_blocks=int(env("SOFTLIQ_RPC_CHUNK_BLOCKS", "2000")),
            rpc_requests_per_second=float(env("SOFTLIQ_RPC_RPS", "10")),
            rpc_batch_size=int(env("SOFTLIQ_RPC_BATCH_SIZE", "100")),
            rpc_confirmations=int(env("SOFTLIQ_RPC_CONFIRMATIONS", "64")),
            rpc_min_block=int(env("SOFTLIQ_RPC_MIN_BLOCK", "0")),
            rpc_finalized=env("SOFTLIQ_RPC_FINALIZED", "") in ("1", "true", "yes"),
            files={
                f"files_{part}": env(f"SOFTLIQ_FILES_{part.upper()}", "")
                for part in ("logs", "blocks", "tokens", "oracles", "feeds", "rates")
                if env(f"SOFTLIQ_FILES_{part.upper()}")
            },
            rpc_markets_from_block=(
                int(env("SOFTLIQ_RPC_MARKETS_FROM_BLOCK", ""))
                if env("SOFTLIQ_RPC_MARKETS_FROM_BLOCK")
                else None
            ),
        )
