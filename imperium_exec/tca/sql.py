"""Small helpers for the report's SQL: quoting values into DuckDB text, reading results back."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb


def quote_path(path: Path) -> str:
    """A file path as a SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def literal(text: str) -> str:
    """Text as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def struct(columns: dict[str, str]) -> str:
    """Column name -> DuckDB type, as the struct literal ``read_json(columns = ...)`` takes."""
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"


def finite(value: Any) -> float | None:
    """A SQL number as a float; NULL, NaN and infinities as None."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def scalar_int(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """The first column of the first row as an int; 0 when there is none or it is NULL."""
    row = con.execute(sql).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0
