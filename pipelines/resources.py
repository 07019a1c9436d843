"""Dagster resources: the chain source, the lake and the DuckDB warehouse."""

from datetime import date

import dagster as dg

from pipelines.settings import Settings
from softliq_core.replay.scenario import Scenario, load_scenarios
from softliq_core.sources.base import ChainSource
from softliq_core.sources.files import FilesConfig, FileSource
from softliq_core.sources.rpc import ClientSettings, RpcConfig, RpcSource
from softliq_core.sources.rpc.config import MORPHO_BLUE_DEPLOY_BLOCK
from softliq_core.sources.synthetic import SyntheticChainConfig, SyntheticSource
from softliq_core.store.lake import Lake
from softliq_core.store.warehouse import Warehouse

SOURCE_KINDS = ("synthetic", "rpc", "files")


class ChainSourceResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where raw logs come from. ``synthetic`` is the embedded, deterministic default chain; ``rpc``
    an archive node (``rpc_*`` fields; the URL from ``SOFTLIQ_RPC_URL`` unless ``rpc_url`` is set,
    and it is never logged); ``files`` exported files (``files_*``: a path, directory or glob)."""

    kind: str = "synthetic"
    seed: int = 7
    start_date: str = "2024-03-01"
    days: int = 10
    borrowers_per_market: int = 80
    size: int = 1
    # kind "rpc"
    chain_id: int = 1
    rpc_url: str = ""  # empty: SOFTLIQ_RPC_URL, read when the source opens (keeps it out of config)
    rpc_addresses: list[str] = []  # noqa: RUF012 (pydantic copies it) empty: Morpho Blue, IRM, factory
    rpc_topic0s: list[str] | None = None  # None: every event the decoder knows
    rpc_chunk_blocks: int = 2_000
    rpc_requests_per_second: float = 10.0
    rpc_batch_size: int = 100
    rpc_timeout: float = 30.0
    rpc_max_attempts: int = 8
    rpc_backoff_base: float = 0.5
    rpc_backoff_max: float = 30.0
    rpc_confirmations: int = 64
    rpc_min_block: int = 0
    rpc_markets_from_block: int = MORPHO_BLUE_DEPLOY_BLOCK
    rpc_finalized: bool = False  # wait for the node's finalized block instead of confirmations
    # kind "files"
    files_logs: str = ""  # cryo logs Parquet, Dune-style CSV/Parquet
    files_blocks: str = ""  # cryo blocks output; empty: blocks from the logs' rows
    files_tokens: str = ""  # address, symbol, decimals
    files_oracles: str = ""  # the oracles table (oracle, kind, feeds, vaults, scale_factor)
    files_feeds: str = ""  # the feeds table: Chainlink proxies and their phases
    files_rates: str = ""  # rate_samples rows for event-less oracle inputs

    def rpc_config(self) -> RpcConfig:
        extra = {"addresses": tuple(self.rpc_addresses)} if self.rpc_addresses else {}
        return RpcConfig(
            url=self.rpc_url or None,
            chain_id=self.chain_id,
            topic0s=tuple(self.rpc_topic0s) if self.rpc_topic0s is not None else None,
            markets_from_block=self.rpc_markets_from_block,
            min_block=self.rpc_min_block,
            confirmations=self.rpc_confirmations,
            finalized=self.rpc_finalized,
            log_chunk_blocks=self.rpc_chunk_blocks,
            client=ClientSettings(
                timeout=self.rpc_timeout,
                requests_per_second=self.rpc_requests_per_second,
                max_attempts=self.rpc_max_attempts,
                backoff_base=self.rpc_backoff_base,
                backoff_max=self.rpc_backoff_max,
                batch_size=self.rpc_batch_size,
            ),
            **extra,  # type: ignore[arg-type]
        )

    def open(self) -> ChainSource:
        if self.kind not in SOURCE_KINDS:
            raise dg.Failure(f"source kind {self.kind!r} is not one of {', '.join(SOURCE_KINDS)}")
        if self.kind == "rpc":
            return RpcSource(self.rpc_config())
        if self.kind == "files":
            if not self.files_logs:
                raise dg.Failure("source kind 'files' needs files_logs (SOFTLIQ_FILES_LOGS)")
            return FileSource(
                FilesConfig(
                    logs=self.files_logs,
                    blocks=self.files_blocks or None,
                    chain_id=self.chain_id,
                    tokens=self.files_tokens or None,
                    oracles=self.files_oracles or None,
                    feeds=self.files_feeds or None,
                    rates=self.files_rates or None,
                )
            )
        return SyntheticSource(
            SyntheticChainConfig(
                seed=self.seed,
                days=self.days,
                start_date=date.fromisoformat(self.start_date),
                borrowers_per_market=self.borrowers_per_market,
                size=self.size,
            )
        )


class LakeResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    root: str
    snapshot_keep_days: int = 0  # replay snapshots kept: the newest days and month-ends (0: all)

    def lake(self) -> Lake:
        return Lake(self.root)


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    path: str

    def warehouse(self) -> Warehouse:
        return Warehouse(self.path)


class ScenarioSetResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The scenario set file (TOML) the replay runs, validated before any work, and the number
    of chunks it is replayed in (parallel steps under the multiprocess executor)."""

    path: str
    chunks: int = 2

    def load(self) -> list[Scenario]:
        return load_scenarios(self.path)


def chain_source_resource(settings: Settings) -> ChainSourceResource:
    """The source resource the environment asks for (``SOFTLIQ_SOURCE``, ``SOFTLIQ_RPC_*``)."""
    rpc: dict[str, object] = {}
    if settings.source == "rpc":
        rpc = {
            "chain_id": settings.chain_id,
            "rpc_addresses": list(settings.rpc_addresses),
            "rpc_chunk_blocks": settings.rpc_chunk_blocks,
            "rpc_requests_per_second": settings.rpc_requests_per_second,
            "rpc_batch_size": settings.rpc_batch_size,
            "rpc_confirmations": settings.rpc_confirmations,
            "rpc_min_block": settings.rpc_min_block,
        }
        if settings.rpc_markets_from_block is not None:
            rpc["rpc_markets_from_block"] = settings.rpc_markets_from_block
        rpc["rpc_finalized"] = settings.rpc_finalized
    if settings.source == "files":
        rpc = {"chain_id": settings.chain_id, **settings.files}
    return ChainSourceResource(
        kind=settings.source,
        seed=settings.seed,
        start_date=settings.start_date.isoformat(),
        days=settings.days,
        borrowers_per_market=settings.borrowers_per_market,
        **rpc,  # type: ignore[arg-type]
    )
