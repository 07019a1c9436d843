"""The analyst SQL library (``sql/queries/*.sql``): each file answers one question.

A file starts with comment lines: the question, then ``-- @param name = default`` for each named
parameter (``$name`` in the SQL), then units. Values given by the user replace the defaults; an
integer-looking value is passed as an integer, anything else as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

QUERIES_DIR = Path(__file__).resolve().parents[2] / "sql" / "queries"
_PARAM = re.compile(r"^--\s*@param\s+(\w+)\s*=\s*(.*?)\s*$")


class QueryError(ValueError):
    """An unknown query or parameter, named."""


@dataclass(frozen=True)
class LibraryQuery:
    name: str
    question: str
    defaults: dict[str, str]
    sql: str

    def parameters(self, given: Mapping[str, str]) -> dict[str, int | str]:
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            raise QueryError(
                f"query {self.name!r}: unknown parameter {unknown[0]!r} "
                f"(it takes {', '.join(self.defaults) or 'none'})"
            )
        values = {**self.defaults, **given}
        return {k: int(v) if re.fullmatch(r"-?\d+", v) else v for k, v in values.items()}


def library() -> dict[str, LibraryQuery]:
    return {path.stem: load_query(path) for path in sorted(QUERIES_DIR.glob("*.sql"))}


def load_query(path: Path) -> LibraryQuery:
    text = path.read_text()
    header = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        header.append(line)
    defaults = {m.group(1): m.group(2) for m in map(_PARAM.match, header) if m}
    question_lines = []
    for line in header:
        if _PARAM.match(line) or line.startswith("-- Units:"):
            break
        question_lines.append(line.removeprefix("--").strip())
    question = " ".join(question_lines).removeprefix("Question:").strip()
    return LibraryQuery(path.stem, question, defaults, text)


def find_query(name: str) -> LibraryQuery:
    queries = library()
    if name not in queries:
        raise QueryError(f"no query {name!r} in sql/queries (there are: {', '.join(queries)})")
    return queries[name]
