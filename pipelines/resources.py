"""Dagster resources: the chain source, the lake and the DuckDB warehouse."""

from datetime import date

import dagster as dg

from softliq_core.replay.scenario import Scenario, load_scenarios
from softliq_core.sources.base import ChainSource
from softliq_core.sources.synthetic import SyntheticChainConfig, SyntheticSource
from softliq_core.store.lake import Lake
from softliq_core.store.warehouse import Warehouse

SOURCE_KINDS = ("synthetic",)


class ChainSourceResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where raw logs come from. ``synthetic`` is the embedded, deterministic default chain."""

    kind: str = "synthetic"
    seed: int = 7
    start_date: str = "2024-03-01"
    days: int = 10
    borrowers_per_market: int = 80
    size: int = 1

    def open(self) -> ChainSource:
        if self.kind not in SOURCE_KINDS:
            raise dg.Failure(f"source kind {self.kind!r} is not one of {', '.join(SOURCE_KINDS)}")
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

    def lake(self) -> Lake:
        return Lake(self.root)


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    path: str

    def warehouse(self) -> Warehouse:
        return Warehouse(self.path)


class ScenarioSetResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The scenario set file (TOML) the replay runs; validated before any work."""

    path: str

    def load(self) -> list[Scenario]:
        return load_scenarios(self.path)
