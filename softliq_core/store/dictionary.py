"""The data dictionary: every outcome table and column documented in ``sql/schema.sql``.

The schema file is the one source: a column's trailing ``-- comment`` becomes DuckDB's column comment
(``COMMENT ON COLUMN``), so an analyst sees it in ``duckdb_columns()``, and ``docs/tables.md`` is
rendered from the database's own catalog:

    .venv/bin/python -m softliq_core.store.dictionary > docs/tables.md
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import duckdb

_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);", re.S)
_COLUMN = re.compile(r'^\s+"?(\w+)"?\s+[A-Z][A-Z0-9_]*[^-]*?(?:--\s*(.*))?$')


def column_comments(schema_sql: str) -> list[tuple[str, str, str | None]]:
    """(table, column, comment) for every column of every table, comment None when missing."""
    found = []
    for table, body in _TABLE.findall(schema_sql):
        for line in body.splitlines():
            if not line.strip() or line.strip().startswith(("PRIMARY KEY", "--")):
                continue
            match = _COLUMN.match(line)
            if match:
                found.append((table, match.group(1), match.group(2)))
    return found


def comment_statements(schema_sql: str) -> list[str]:
    return [
        f"COMMENT ON COLUMN {table}.\"{column}\" IS '{comment.replace(chr(39), chr(39) * 2)}'"
        for table, column, comment in column_comments(schema_sql)
        if comment
    ]


def render_markdown(con: duckdb.DuckDBPyConnection) -> str:
    lines = [
        "# Outcome tables (DuckDB)",
        "",
        "Generated from `sql/schema.sql` by `python -m softliq_core.store.dictionary`; do not edit.",
        "Amounts are exact integers in token base units, WAD columns are 1e18-scaled ratios, prices",
        "are 1e36-scaled like Morpho's `IOracle.price()`. The same text is in DuckDB's catalog:",
        "`SELECT table_name, column_name, comment FROM duckdb_columns()`.",
    ]
    tables = con.execute(
        "SELECT table_name, comment FROM duckdb_tables() ORDER BY table_name"
    ).fetchall()
    for table, comment in tables:
        lines += [
            "",
            f"## `{table}`",
            "",
            comment or "",
            "",
            "| column | type | meaning |",
            "|---|---|---|",
        ]
        columns = con.execute(
            "SELECT column_name, data_type, comment FROM duckdb_columns() "
            "WHERE table_name = $t ORDER BY column_index",
            {"t": table},
        ).fetchall()
        lines += [f"| `{name}` | {kind} | {_cell(text)} |" for name, kind, text in columns]
    lines += [
        "",
        "## Views",
        "",
        "Defined in `sql/views.sql` (`lake_*` read the Parquet lake):",
        "",
    ]
    lines += [f"* `{name}`: {text}" for name, text in view_descriptions()]
    lines += [
        "",
        "Defined in `sql/sweep_views.sql` (made once a float sweep has written its files beside the "
        "DuckDB file; the set's name is the `sweep` column):",
        "",
    ]
    lines += [f"* `{name}`: {text}" for name, text in view_descriptions("sweep_views.sql")]
    return "\n".join(lines) + "\n"


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|")


def view_descriptions(file: str = "views.sql") -> list[tuple[str, str]]:
    """(view, the comment lines just above its CREATE) from ``sql/<file>``."""
    from softliq_core.store.warehouse import SQL_DIR

    found, comment = [], []
    for line in (SQL_DIR / file).read_text().splitlines():
        if line.startswith("--"):
            comment.append(line.removeprefix("--").strip())
        elif match := re.match(r"CREATE OR REPLACE VIEW (\w+)", line):
            found.append(
                (match.group(1), " ".join(comment) or "a view over the lake table of that name")
            )
            comment = []
        elif not line.strip():
            comment = []
    return found


def render() -> str:
    from softliq_core.store.warehouse import Warehouse  # the warehouse applies these comments

    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Warehouse(Path(tmp) / "dictionary.duckdb")
        with warehouse.connect() as con:
            warehouse.ensure_schema(con)
            return render_markdown(con)


if __name__ == "__main__":
    sys.stdout.write(render())
