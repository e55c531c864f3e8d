"""The portable SQL surface's plumbing: one placeholder style, and each backend's dialect.

Callers outside :mod:`crimemap.store` write SQL once, with ``?`` placeholders
and the subset of SQL that DuckDB and PostgreSQL share (``= ANY(CAST(? AS
TEXT[]))`` for list membership, ``CAST(? AS TEXT) IS NULL`` for optional
filters, explicit ``GROUP BY`` lists). The few expressions that have no
common spelling (a timestamp's ``YYYY-MM`` label) are methods of
:class:`Dialect`, one instance per backend.

psycopg takes ``%s`` placeholders and reads every ``%`` in the text as the
start of one, so :func:`to_pyformat` rewrites a portable statement for it:
``?`` outside string literals, quoted identifiers and comments becomes
``%s``, and every literal ``%`` is doubled. The rewrite is a small lexer
over the statement (cached per statement text), not a string replacement,
so a ``?`` or ``%`` inside ``'...'`` or ``"..."`` is left alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["DUCKDB", "POSTGRES", "Dialect", "lock_key", "to_pyformat"]


@dataclass(frozen=True)
class Dialect:
    """The spelling of the expressions that differ between backends.

    Attributes
    ----------
    name : str
        ``"duckdb"`` or ``"postgres"``.
    month_format : str
        Template of the ``YYYY-MM`` label of a timestamp column (``{col}``).
    """

    name: str
    month_format: str

    def month(self, col: str = "t_start") -> str:
        """SQL for the ``YYYY-MM`` label of the timestamp column ``col`` (a constant name)."""
        return self.month_format.format(col=col)

    @staticmethod
    def month_index(col: str = "t_start") -> str:
        """SQL for the months since 1970-01 of ``col`` (0 = January 1970), as an integer."""
        # extract() returns a double on DuckDB and a numeric on PostgreSQL; the
        # casts make both an integer.
        return (
            f"((CAST(extract(year FROM {col}) AS INTEGER) - 1970) * 12"
            f" + CAST(extract(month FROM {col}) AS INTEGER) - 1)"
        )


DUCKDB = Dialect("duckdb", "strftime({col}, '%Y-%m')")
POSTGRES = Dialect("postgres", "to_char({col}, 'YYYY-MM')")


@lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """Rewrite a ``?``-placeholder statement into psycopg's ``%s`` style.

    ``?`` outside literals, quoted identifiers and comments becomes ``%s``;
    every ``%`` (anywhere: psycopg scans the whole text) becomes ``%%``.

    Raises
    ------
    ValueError
        If a string literal, quoted identifier or block comment is not closed.
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in ("'", '"'):
            j = i + 1
            while True:
                j = sql.find(c, j)
                if j < 0:
                    raise ValueError(f"unterminated {c} quote in SQL: {sql[:80]!r}")
                if j + 1 < n and sql[j + 1] == c:  # doubled quote = the quote itself
                    j += 2
                    continue
                break
            out.append(sql[i : j + 1].replace("%", "%%"))
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            if j < 0:
                raise ValueError(f"unterminated comment in SQL: {sql[:80]!r}")
            out.append(sql[i : j + 2].replace("%", "%%"))
            i = j + 2
        elif c == "?":
            out.append("%s")
            i += 1
        elif c == "%":
            out.append("%%")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a named advisory lock (same in every process)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
