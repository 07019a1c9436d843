"""The float_sweep asset, materialised in process: its tables beside the DuckDB file, read by the
file's float_sweep_* views, equal to the sweep function's on the same lake."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from pipelines.definitions import SWEEP_JOB, build_definitions, sweep_job
from pipelines.settings import PROJECT_ROOT, Settings
from softliq_core import steps
from softliq_core.replay.float_sweep import float_sweep, unphysical_outcomes
from softliq_core.replay.scenario import load_scenarios
from softliq_core.store.lake import Lake
from softliq_core.store.sweeps import sweep_dir, write_sweep
from softliq_core.store.warehouse import Warehouse

SWEEP = PROJECT_ROOT / "data" / "scenarios" / "sweep_86.toml"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        lake_root=str(tmp_path / "lake"),
        duckdb_path=str(tmp_path / "softliq.duckdb"),
        scenario_file=str(PROJECT_ROOT / "data" / "scenarios" / "default.toml"),
        start_date=date(2024, 3, 1),
        days=3,
        seed=5,
        borrowers_per_market=20,
        sweep_scenario_file=str(SWEEP),
    )


def _sorted(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return frame.sort(keys).select(sorted(frame.columns))


def test_the_float_sweep_asset_writes_what_the_sweep_gives_and_the_views_read_it(
    settings: Settings,
) -> None:
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    ingest = defs.resolve_job_def("ingest_daily")
    for day in ("2024-03-01", "2024-03-02", "2024-03-03"):
        assert ingest.execute_in_process(partition_key=day, instance=instance).success
    reference = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey(k) for k in ("markets", "rate_samples", "oracle_prices")}
    )
    assert reference.execute_in_process(instance=instance).success
    # whole, then again in three chunks (a step each): the second run replaces the first's rows
    for chunks in (1, 3):
        chunked = build_definitions(replace(settings, sweep_chunks=chunks))
        result = chunked.resolve_job_def(SWEEP_JOB).execute_in_process(instance=instance)
        assert result.success
        swept = [
            e.step_key
            for e in result.all_events
            if e.event_type_value == "STEP_SUCCESS" and "sweep_scenario_chunk" in e.step_key
        ]
        assert len(swept) == chunks
        (check,) = [
            e.asset_check_evaluation_data
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        ]
        assert (check.check_name, check.passed) == ("outcomes_are_physical", True)

    lake = Lake(settings.lake_root)
    expected = float_sweep(steps.load_histories(lake, 1), load_scenarios(SWEEP))
    assert expected.positions.height > 0  # the grid moves some position on this chain
    views = Warehouse(settings.duckdb_path)
    keys = {
        "summary": ["scenario_id", "market_id"],
        "positions": ["scenario_id", "market_id", "borrower"],
        "scenarios": ["scenario_id"],
    }
    for table, key in keys.items():
        read = views.query(f"SELECT * FROM float_sweep_{table}")
        assert read["sweep"].unique().to_list() == ["sweep_86"], table
        direct = _sorted(getattr(expected, table), key)
        assert _sorted(read.drop("sweep"), key).equals(direct), table
    # the grid's parameters beside its sums, in SQL
    by_pre_lltv = views.query(
        "SELECT (s.definition->>'$.pre_liquidation.pre_lltv')::HUGEINT // 10**16 AS pre_lltv, "
        "sum(m.pre_liquidations) AS pre_liquidations FROM float_sweep_summary m JOIN "
        "float_sweep_scenarios s USING (sweep, scenario_id) "
        "WHERE s.mechanism = 'morpho_pre_liquidation' GROUP BY 1 ORDER BY 1"
    )
    assert by_pre_lltv["pre_lltv"].to_list() == [78, 80, 82, 83]
    swept = expected.summary.join(expected.scenarios, on="scenario_id").filter(
        pl.col("mechanism") == "morpho_pre_liquidation"
    )
    assert by_pre_lltv["pre_liquidations"].sum() == swept["pre_liquidations"].sum() > 0


def test_no_sweep_no_views_and_a_removed_sweep_takes_its_views(settings: Settings) -> None:
    warehouse = Warehouse(settings.duckdb_path)
    warehouse.refresh_views(settings.lake_root)

    def views() -> set[str]:
        found = warehouse.query("SELECT view_name FROM duckdb_views() WHERE NOT internal")
        return {v for v in found["view_name"] if v.startswith("float_sweep_")}

    assert views() == set()
    written = Path(settings.duckdb_path).parent / "sweeps" / "sweep=grid"
    written.mkdir(parents=True)
    pl.DataFrame({"scenario_id": ["a"], "market_id": ["m"]}).write_parquet(
        written / "summary.parquet"
    )
    warehouse.refresh_views(settings.lake_root)
    assert views() == {"float_sweep_summary"}
    with duckdb.connect(settings.duckdb_path, read_only=True) as con:
        assert con.sql("SELECT sweep, scenario_id FROM float_sweep_summary").fetchall() == [
            ("grid", "a")
        ]
    (written / "summary.parquet").unlink()
    warehouse.refresh_views(settings.lake_root)
    assert views() == set()


def test_unphysical_outcomes_name_the_position_and_the_column() -> None:
    positions = pl.DataFrame(
        {
            "scenario_id": ["s", "s", "t"],
            "market_id": ["m", "m", "m"],
            "borrower": ["a", "b", "a"],
            "liquidations": [0, 1, 2],
            "first_action_block": [None, 10, -1],  # (no block: NULL; not an amount)
            "collateral": [5.0, -1.0, 0.0],
            "debt_repaid": [0.0, 3.0, float("nan")],
            "max_ltv": [0.5, float("inf"), 0.9],
        }
    )
    found = unphysical_outcomes(positions).sort("borrower", "column")
    assert found.select("scenario_id", "borrower", "column").rows() == [
        ("t", "a", "debt_repaid"),
        ("s", "b", "collateral"),
        ("s", "b", "max_ltv"),
    ]
    assert unphysical_outcomes(positions.head(1)).is_empty()
    assert unphysical_outcomes(positions.clear()).is_empty()


def test_a_sweep_with_nothing_in_scope_writes_typed_empty_tables_the_views_read(
    settings: Settings, tmp_path: Path
) -> None:
    nowhere = tmp_path / "nowhere.toml"
    nowhere.write_text(
        '[[scenario]]\nname = "baseline_99"\nmechanism = "morpho_liquidation"\n'
        'scope = { lltv = "0.99" }\n'
    )
    sweep = float_sweep([], load_scenarios(nowhere))
    assert sweep.positions.is_empty() and sweep.summary.is_empty()
    assert "debt_repaid" in sweep.positions.columns and "scenario_name" in sweep.summary.columns
    assert unphysical_outcomes(sweep.positions).is_empty()
    write_sweep(sweep, sweep_dir(settings.duckdb_path, nowhere))
    Warehouse(settings.duckdb_path).refresh_views(settings.lake_root)
    summary = Warehouse(settings.duckdb_path).query("SELECT * FROM float_sweep_summary")
    assert summary.height == 0 and "positions_simulated" in summary.columns


def test_only_the_writer_step_takes_the_duckdb_writer_pool(settings: Settings) -> None:
    job = build_definitions(settings).resolve_job_def(SWEEP_JOB)
    ops = {op.name: op.pool for op in job.graph.iterate_op_defs()}
    assert ops == {  # (a chunk would hold the pool for its minutes)
        "plan_sweep_chunks": None,
        "sweep_scenario_chunk": None,
        "write_sweep_tables": "duckdb_writer",
        "float_sweep_outcomes_are_physical": None,  # (it reads the Parquet)
    }


def test_a_set_the_float_sweep_cannot_run_is_refused_before_any_chunk(
    settings: Settings, tmp_path: Path
) -> None:
    unsupported = tmp_path / "unsupported.toml"
    unsupported.write_text(
        SWEEP.read_text() + '\n[[scenario]]\nname = "own_rates"\nmechanism = "morpho_liquidation"\n'
        'accrual = "irm"\nscope = { lltv = "0.86" }\n'
    )
    defs = build_definitions(replace(settings, sweep_scenario_file=str(unsupported)))
    instance = dg.DagsterInstance.ephemeral()
    ingest = defs.resolve_job_def("ingest_daily")
    assert ingest.execute_in_process(partition_key="2024-03-01", instance=instance).success
    result = defs.resolve_job_def(SWEEP_JOB).execute_in_process(
        instance=instance, raise_on_error=False
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key.endswith("plan_sweep_chunks")
    assert "'own_rates'" in str(failure.step_failure_data.error)
    assert not any("sweep_scenario_chunk" in (e.step_key or "") for e in result.all_events)


def test_the_chunks_under_the_multiprocess_executor_give_the_sweep_functions_tables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two chunk steps, each in a process of its own, their sweeps passed to the writer step by
    Dagster's IO manager (as on a Celery or Kubernetes executor, where they run on other
    machines)."""
    for name, value in {
        "SOFTLIQ_LAKE": str(tmp_path / "lake"),
        "SOFTLIQ_DUCKDB": str(tmp_path / "softliq.duckdb"),
        "SOFTLIQ_START_DATE": "2024-03-01",
        "SOFTLIQ_DAYS": "3",
        "SOFTLIQ_SEED": "5",
        "SOFTLIQ_BORROWERS_PER_MARKET": "20",
        "SOFTLIQ_SWEEP_SCENARIOS": str(SWEEP),
        "SOFTLIQ_SWEEP_CHUNKS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    defs = build_definitions(settings)
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        assert (
            defs.resolve_job_def("ingest_daily")
            .execute_in_process(
                instance=instance,
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: "2024-03-01",
                    ASSET_PARTITION_RANGE_END_TAG: "2024-03-03",
                },
            )
            .success
        )
        reference = defs.resolve_implicit_global_asset_job_def().get_subset(
            asset_selection={dg.AssetKey(k) for k in ("markets", "rate_samples", "oracle_prices")}
        )
        assert reference.execute_in_process(instance=instance).success
        with dg.execute_job(
            dg.reconstructable(sweep_job),
            instance=instance,
            run_config={"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}},
        ) as run:
            assert run.success
            chunk_pids = {
                e.step_key: e.pid
                for e in run.all_events
                if e.event_type_value == "STEP_SUCCESS" and "sweep_scenario_chunk" in e.step_key
            }
            assert len(chunk_pids) == 2 and len(set(chunk_pids.values())) == 2
    expected = float_sweep(
        steps.load_histories(Lake(settings.lake_root), 1), load_scenarios(SWEEP)
    ).summary
    read = Warehouse(settings.duckdb_path).query("SELECT * FROM float_sweep_summary").drop("sweep")
    keys = ["scenario_id", "market_id"]
    assert _sorted(read, keys).equals(_sorted(expected, keys)) and expected.height > 0
