"""Arrow <-> PostgreSQL transfer for the PostgreSQL store.

Bulk loading streams Arrow record batches as CSV through ``COPY ... FROM
STDIN``: Arrow's C++ CSV writer formats the rows (no Python loop per row) and
the server parses them, which is the fastest load path PostgreSQL offers
short of its binary format. Every valid value is quoted and nulls are left
empty and unquoted, so that CSV's one null/empty-string ambiguity resolves
as in Arrow (``""`` is an empty string, nothing is NULL).

Large results (whole tables, filtered incidents) come back the same way in
reverse: ``COPY (query) TO STDOUT`` as CSV with every non-null value quoted,
parsed by Arrow's multi-threaded CSV reader into a known schema. COPY
cannot take server-side parameters, so psycopg binds them client-side
(quoted and escaped by the driver's adapters, never by string formatting
in crimemap). Other results come through psycopg's binary protocol and are
assembled column by column; Arrow types follow the PostgreSQL ones
(text -> string, int8 -> int64, timestamp -> timestamp[us] ...).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

__all__ = ["arrow_schema", "copy_in", "copy_out", "cursor_to_arrow"]

#: Rows per COPY chunk: bounds the memory of the formatted CSV text.
CHUNK_ROWS = 65_536

_CSV = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")

_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "name": pa.string(),
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "oid": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
}


def copy_in(cur: psycopg.Cursor[Any], table: str, columns: Sequence[str], data: pa.Table) -> int:
    """Append ``data`` (columns named ``columns``, in that order) to ``table`` with COPY.

    ``table`` and ``columns`` are quoted as identifiers; they come from the
    store's own constants, never from user input.

    Returns
    -------
    int
        Rows copied.
    """
    if data.num_rows == 0:
        return 0
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    data = data.select(list(columns))
    with cur.copy(stmt) as cp:
        for rb in data.to_batches(max_chunksize=CHUNK_ROWS):
            buf = io.BytesIO()
            pacsv.write_csv(rb, buf, _CSV)
            cp.write(buf.getbuffer())
    return data.num_rows


def copy_out(
    cur: psycopg.Cursor[Any], query: str, params: Sequence[Any] | None, schema: pa.Schema
) -> pa.Table:
    """The rows of ``query`` (a SELECT whose columns match ``schema``) through COPY.

    ``query`` is crimemap's own constant SQL; the values in ``params`` are
    bound by psycopg.
    """
    stmt = f"COPY ({query}) TO STDOUT (FORMAT csv, FORCE_QUOTE *)"
    buf = io.BytesIO()
    with cur.copy(stmt, params or None) as cp:  # constant SQL, driver-bound values
        for chunk in cp:
            buf.write(chunk)
    if buf.tell() == 0:
        return schema.empty_table()
    buf.seek(0)
    return pacsv.read_csv(
        buf,
        read_options=pacsv.ReadOptions(column_names=schema.names),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=schema,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,  # FORCE_QUOTE: only NULL is unquoted
            true_values=["t"],
            false_values=["f"],
        ),
    )


def arrow_schema(cur: psycopg.Cursor[Any], query: str) -> pa.Schema | None:
    """Arrow schema of ``query``'s result, or None if a column has no CSV-safe Arrow type."""
    cur.execute(f"SELECT * FROM ({query}) AS q LIMIT 0")  # noqa: S608 (the store's constant SQL)
    desc = cur.description or []
    names = [d.name for d in desc]
    types = [_arrow_type(cur, d.type_code) for d in desc]
    if len(set(names)) != len(names) or any(t is None for t in types):
        return None
    return pa.schema([pa.field(n, t) for n, t in zip(names, types, strict=True)])


def cursor_to_arrow(cur: psycopg.Cursor[Any]) -> pa.Table:
    """The rows of an executed query as an Arrow table (empty table if none)."""
    desc = cur.description
    if desc is None:  # a statement without a result set
        return pa.table({})
    rows = cur.fetchall()
    names = [d.name for d in desc]
    types = [_arrow_type(cur, d.type_code) for d in desc]
    cols: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    arrays = [_array(col, typ) for col, typ in zip(cols, types, strict=True)]
    # Duplicate output names (SELECT a.x, b.x) are kept, as DuckDB does.
    return pa.Table.from_arrays(arrays, names=names)


def _arrow_type(cur: psycopg.Cursor[Any], oid: int) -> pa.DataType | None:
    info = cur.adapters.types.get(oid)
    if info is None:
        return None
    base = _TYPES.get(info.name)
    if info.oid != oid and oid == info.array_oid:  # the registry maps text[] to text's info
        return pa.list_(base) if base is not None else None
    return base


def _array(values: Sequence[Any], typ: pa.DataType | None) -> pa.Array:
    if typ is not None:
        return pa.array(values, type=typ)
    if not values:
        return pa.array([], type=pa.null())
    # numeric, json, arrays ...: let Arrow infer (numeric gives decimal128).
    return pa.array(list(values))
