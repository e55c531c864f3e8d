"""Reading a zipped ESRI shapefile's attribute table into all-string Arrow.

Partner extracts such as the NIJ Portland calls for service come as a zip
holding ``.shp/.shx/.dbf/.prj``. Only the ``.dbf`` attributes (and the
``.prj`` CRS text) are needed: coordinates are attribute columns there, as
in CSV extracts, so both formats flow through the same validation. Values
become strings exactly like :func:`crimemap.ingest._csv.parse_csv` output
(dates as ISO ``YYYY-MM-DD``, missing values as ``""``). Rows are numbered
by their 1-based record number in the ``.dbf``.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import zipfile

import numpy as np
import pyarrow as pa
import shapefile

from crimemap.errors import IngestError, RowIssue
from crimemap.ingest._io import ZIP_MEMBER_ERRORS, SourceFile

__all__ = ["ParsedShapefile", "read_zipped_shapefile"]


class ParsedShapefile:
    """An all-string attribute table, record numbers and the .prj text."""

    __slots__ = ("table", "lines", "header", "prj", "member")

    def __init__(
        self, table: pa.Table, lines: np.ndarray, header: list[str], prj: str | None, member: str
    ):
        self.table = table
        self.lines = lines
        self.header = header
        self.prj = prj
        self.member = member


def _text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bytes):  # undecodable text fields
        return v.decode("latin-1")
    return str(v).strip() if isinstance(v, str) else str(v)


def read_zipped_shapefile(src: SourceFile, *, encoding: str = "utf-8") -> ParsedShapefile:
    """Read the single shapefile inside the zip archive ``src``.

    Raises
    ------
    IngestError
        ``bad_zip`` if the archive is unreadable, ``no_shapefile`` if it holds
        no (or more than one) ``.shp`` with its ``.dbf``, ``bad_shapefile`` if
        pyshp cannot read it.
    """

    def fail(reason: str, detail: str) -> IngestError:
        return IngestError([RowIssue(src.name, None, None, None, reason, detail)])

    try:
        zf = zipfile.ZipFile(io.BytesIO(src.raw))
    except zipfile.BadZipFile as exc:
        raise fail("bad_zip", f"not a readable zip archive: {exc}") from exc
    with zf:
        names = zf.namelist()
        shps = [n for n in names if n.lower().endswith(".shp")]
        if len(shps) != 1:
            raise fail("no_shapefile", f"expected exactly one .shp in the archive, found {shps}")
        base = shps[0][:-4]
        lower = {n.lower(): n for n in names}
        dbf = lower.get(base.lower() + ".dbf")
        if dbf is None:
            raise fail("no_shapefile", f"{shps[0]} has no .dbf attribute table")
        prj_name = lower.get(base.lower() + ".prj")

        def member(name: str) -> bytes:
            try:
                return zf.read(name)
            except ZIP_MEMBER_ERRORS as exc:
                raise fail("bad_zip", f"member {name} is damaged: {exc}") from exc

        prj = member(prj_name).decode("utf-8", "replace") if prj_name else None
        dbf_bytes = member(dbf)
        try:
            reader = shapefile.Reader(dbf=io.BytesIO(dbf_bytes), encoding=encoding)
            header = [str(getattr(f, "name", None) or f[0]) for f in reader.fields[1:]]
            cols: list[list[str]] = [[] for _ in header]
            for rec in reader.iterRecords():
                for c, v in zip(cols, rec, strict=True):
                    c.append(_text(v))
        except (
            shapefile.ShapefileException,
            ValueError,
            UnicodeDecodeError,
            struct.error,
            IndexError,
            EOFError,
        ) as exc:
            raise fail("bad_shapefile", f"{dbf}: {exc}") from exc
    table = pa.table({h: pa.array(c, pa.string()) for h, c in zip(header, cols, strict=True)})
    lines = np.arange(1, table.num_rows + 1, dtype=np.int64)
    return ParsedShapefile(table, lines, header, prj, base)
