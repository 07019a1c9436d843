"""The DuckDB outcome store (DESIGN §7): schema, views over the lake, transactional writes.

Writes replace the rows of the scenarios being written in one transaction (delete then insert), so
re-running gives the same rows and a reader never sees half a write. DuckDB allows one writer
process: writes take turns on a lock file (and the Dagster assets share one concurrency pool).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from softliq_core.metrics.summary import stored_scenario_market_summary
from softliq_core.replay.run import Outcomes
from softliq_core.store.dictionary import comment_statements
from softliq_core.store.storage import Storage
from softliq_core.store.sweeps import SWEEP_TABLES, sweeps_root

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
OUTCOME_TABLES = (
    "scenarios",
    "liquidation_actions",
    "clipped_actions",
    "position_outcomes",
    "scenario_market_summary",
)
LAKE_VIEWS = {
    "lake_raw_logs": "raw_logs",
    "lake_blocks": "blocks",
    "lake_morpho_events": "morpho_events",
    "lake_aave_events": "aave_events",
    "lake_oracle_rounds": "oracle_rounds",
    "lake_feeds": "feeds",
    "lake_rate_samples": "rate_samples",
    "lake_quarantine": "quarantine",
    "lake_markets": "markets",
    "lake_oracle_prices": "oracle_prices",
}

# Reference tables small enough to copy beside the DuckDB file when DuckDB cannot read the object
# store the lake is on: the report and the analysts' queries join with them.
MIRRORED = ("markets", "feeds")

_VIEW_NAME = re.compile(r"CREATE OR REPLACE VIEW (\w+)")


def _reads_object_stores(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this DuckDB can read s3:// and other remote files (httpfs installed or loadable)."""
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error:
        return False
    return True


def _statements(sql: str) -> list[str]:
    """Split a SQL file with DuckDB's own parser (comments and strings may hold semicolons)."""
    return [statement.query.strip() for statement in duckdb.extract_statements(sql)]


class Warehouse:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path), read_only=read_only)
        try:
            yield con
        finally:
            con.close()

    def ensure_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create the tables and their comments, unless this file was set up by this very schema
        (its ``schema_version`` row says so): a daily write then skips a hundred statements."""
        schema = (SQL_DIR / "schema.sql").read_text()
        version = hashlib.sha256(schema.encode()).hexdigest()
        try:
            applied = con.execute("SELECT schema_sha256 FROM schema_version").fetchall()
        except duckdb.CatalogException:  # a new file, or one older than the version table
            applied = []
        if applied == [(version,)]:
            return
        for statement in _statements(schema) + comment_statements(schema):
            con.execute(statement)
        con.execute("DELETE FROM schema_version")
        con.execute(
            "INSERT INTO schema_version VALUES ($version, now() AT TIME ZONE 'UTC')",
            {"version": version},
        )

    def create_lake_views(self, con: duckdb.DuckDBPyConnection, lake_root: str | Path) -> list[str]:
        """Create the views over the lake tables that have files; returns the views in place.

        A view made by these definitions over this lake (its comment says so) is kept: DuckDB
        binds a view when it is queried, so new partitions and columns show without making it
        again, and a daily write does not list the lake's thousands of files to find out which
        tables have some. Over an object-store lake the views read the store when DuckDB can
        (its ``httpfs`` extension, with the store's credentials as a DuckDB secret); when it
        cannot, the small reference tables (``MIRRORED``) are copied next to the DuckDB file at
        every write and their views read the copy, and the other lake views are not made."""
        lake = Storage(lake_root)
        where = dict.fromkeys(LAKE_VIEWS.values(), lake)
        if not lake.is_local and not _reads_object_stores(con):
            where = {table: self._mirror(lake, table) for table in MIRRORED}
        views_sql = (SQL_DIR / "views.sql").read_text()
        sources = sorted({place.root for place in where.values()})
        marker = (
            f"softliq views {hashlib.sha256(views_sql.encode()).hexdigest()[:12]} over "
            f"{lake.root}" + ("" if sources == [lake.root] else f" via {', '.join(sources)}")
        )
        kept = {
            name
            for (name,) in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal AND comment = $marker",
                {"marker": marker},
            ).fetchall()
        }
        made = []
        for statement in _statements(views_sql):
            view = _VIEW_NAME.search(statement).group(1)  # type: ignore[union-attr]
            table = LAKE_VIEWS.get(view)
            if view in kept:
                made.append(view)
                continue
            if table is not None and (
                table not in where or not where[table].files(table, suffix=".parquet")
            ):
                continue
            try:
                con.execute(statement.replace("{lake}", where[table].root if table else lake.root))
            except duckdb.CatalogException:
                continue  # a view over lake views that were not made (no files, not mirrored)
            quoted = marker.replace("'", "''")
            con.execute(f"COMMENT ON VIEW {view} IS '{quoted}'")
            made.append(view)
        return made

    def create_sweep_views(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        """Create the views over the float sweeps written beside this file (store/sweeps.py), each
        when some sweep has written its table, and drop it when none has; returns those made."""
        root = sweeps_root(self.path)
        made = []
        for statement in _statements((SQL_DIR / "sweep_views.sql").read_text()):
            view = _VIEW_NAME.search(statement).group(1)  # type: ignore[union-attr]
            table = view.removeprefix("float_sweep_")
            assert table in SWEEP_TABLES, view
            if any(root.glob(f"sweep=*/{table}.parquet")):
                con.execute(statement.replace("{sweeps}", root.as_posix()))
                made.append(view)
            else:
                con.execute(f"DROP VIEW IF EXISTS {view}")
        return made

    def refresh_views(self, lake_root: str | Path) -> None:
        """Make the views again (over the lake and the sweeps), in a write of their own."""
        with self._transaction(lake_root):
            pass

    def _mirror(self, lake: Storage, table: str) -> Storage:
        """A local copy of one lake table's files, beside the DuckDB file (``<file>.lake/``)."""
        mirror = Storage(self.path.with_name(self.path.name + ".lake"))
        mirror.delete_dir(table)  # partitions gone from the lake go from the copy
        for path in lake.files(table, suffix=".parquet"):
            parts = lake.relative(path)
            mirror.write_bytes(parts, lake.read_bytes(*parts))
        return mirror

    @contextmanager
    def _transaction(self, lake_root: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write, on a copy of the file renamed over it once committed.

        Readers that hold the file open (``duckdb -readonly``, a notebook, ``softliq sql``) are
        never locked out by a replay and never see half a write: they keep the version they opened,
        and the next reader gets the new one. A failed write leaves the file as it was. Writers
        take turns on an exclusive lock of ``<file>.lock`` (Dagster's ``duckdb_writer`` pool
        already serialises its own; the lock covers writers outside it), so none copies the file
        while another is writing it.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        draft = self.path.with_name(self.path.name + ".writing")
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            for stale in (draft, draft.with_name(draft.name + ".wal")):
                stale.unlink(missing_ok=True)
            if self.path.exists():
                shutil.copyfile(self.path, draft)
            con = duckdb.connect(str(draft))
            try:
                self.ensure_schema(con)
                con.execute("BEGIN TRANSACTION")
                yield con
                con.execute("COMMIT")
                self.create_lake_views(con, lake_root)
                self.create_sweep_views(con)
                con.execute("CHECKPOINT")
            except BaseException:
                con.close()
                draft.unlink(missing_ok=True)
                raise
            con.close()
            os.replace(draft, self.path)

    @staticmethod
    def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
        con.register("incoming", frame.to_arrow())
        # Exact amounts travel as decimal strings; the table's types cast them.
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
        con.unregister("incoming")

    def write_outcomes(self, outcomes: Outcomes, lake_root: str | Path) -> None:
        """Replace every row of the scenarios in ``outcomes``, in one transaction."""
        ids = outcomes.scenarios["scenario_id"].to_list()
        with self._transaction(lake_root) as con:
            for table in OUTCOME_TABLES:
                con.execute(
                    f"DELETE FROM {table} WHERE scenario_id IN (SELECT unnest($ids))", {"ids": ids}
                )
                self._insert(con, table, getattr(outcomes, table))

    def write_day_outcomes(
        self, stretches: Sequence[tuple[Outcomes, int, int, bool]], lake_root: str | Path
    ) -> None:
        """Replace one day of scenario sets' rows, in one transaction; each stretch is a set's (or
        a chunk's) outcomes, its first and last block and whether its day is the newest replayed:
        its actions and clips in those blocks; and, when newest, its positions as of the day's end
        and its summary over every day's actions (an older day re-run leaves those as of the
        newest)."""
        with self._transaction(lake_root) as con:
            for outcomes, first_block, last_block, newest in stretches:
                self._replace_day(con, outcomes, first_block, last_block, newest)

    def _replace_day(
        self,
        con: duckdb.DuckDBPyConnection,
        outcomes: Outcomes,
        first_block: int,
        last_block: int,
        newest: bool,
    ) -> None:
        ids = outcomes.scenarios["scenario_id"].to_list()
        in_set = "scenario_id IN (SELECT unnest($ids))"
        con.execute(f"DELETE FROM scenarios WHERE {in_set}", {"ids": ids})
        self._insert(con, "scenarios", outcomes.scenarios)
        for table in ("liquidation_actions", "clipped_actions"):
            con.execute(
                f"DELETE FROM {table} WHERE {in_set} AND block_number BETWEEN $first AND $last",
                {"ids": ids, "first": first_block, "last": last_block},
            )
            self._insert(con, table, getattr(outcomes, table))
        if not newest:
            return
        con.execute(f"DELETE FROM position_outcomes WHERE {in_set}", {"ids": ids})
        self._insert(con, "position_outcomes", outcomes.position_outcomes)
        # over every day's actions, computed where they are stored
        summary = stored_scenario_market_summary(con, ids)
        con.execute(f"DELETE FROM scenario_market_summary WHERE {in_set}", {"ids": ids})
        self._insert(con, "scenario_market_summary", summary)

    def replace_table(self, table: str, frame: pl.DataFrame, lake_root: str | Path) -> None:
        """Replace every row of a table that is not per scenario (e.g. baseline_validation)."""
        with self._transaction(lake_root) as con:
            con.execute(f"DELETE FROM {table}")
            self._insert(con, table, frame)

    def query(self, sql: str, parameters: Mapping[str, object] | None = None) -> pl.DataFrame:
        """Run one read-only query (``$name`` parameters from ``parameters``)."""
        with self.connect(read_only=True) as con:
            relation = con.sql(sql, params=dict(parameters) if parameters else None)
            return pl.from_arrow(relation.to_arrow_table())  # type: ignore[return-value]
