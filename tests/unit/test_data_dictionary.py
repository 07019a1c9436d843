"""Every outcome column is documented once, in sql/schema.sql, and docs/tables.md is current."""

from __future__ import annotations

from pathlib import Path

import duckdb

from softliq_core.store.dictionary import column_comments, render
from softliq_core.store.warehouse import SQL_DIR, Warehouse

DOCS = Path(__file__).parents[2] / "docs" / "tables.md"


def test_every_column_of_every_table_has_a_comment() -> None:
    columns = column_comments((SQL_DIR / "schema.sql").read_text())
    assert len({table for table, _, _ in columns}) >= 6
    assert [(t, c) for t, c, comment in columns if not comment] == []


def test_the_comments_reach_duckdbs_catalog(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with warehouse.connect() as con:
        warehouse.ensure_schema(con)
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    (comment,) = con.execute(
        "SELECT comment FROM duckdb_columns() "
        "WHERE table_name = 'liquidation_actions' AND column_name = 'borrower_penalty'"
    ).fetchone()  # type: ignore[misc]
    assert comment.startswith("seized_value - repaid_assets")
    (missing,) = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE NOT internal AND comment IS NULL "
        "AND table_name IN (SELECT table_name FROM duckdb_tables())"
    ).fetchone()  # type: ignore[misc]
    assert missing == 0


def test_docs_tables_md_is_generated_from_the_schema() -> None:
    assert DOCS.read_text() == render(), (
        "regenerate: .venv/bin/python -m softliq_core.store.dictionary > docs/tables.md"
    )
