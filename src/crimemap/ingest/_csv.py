"""Fast, loud CSV parsing into all-string Arrow tables.

The fast path is Arrow's multi-threaded CSV reader. Every row it cannot use
(wrong field count, invalid UTF-8) is reported with its physical line number
(the header is line 1), its column where one is at fault, the value, and the
reason. Values stay strings here; readers convert and validate them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from crimemap.errors import IngestError, RowIssue
from crimemap.ingest._io import SourceFile, decode_text_check

__all__ = ["ParsedCSV", "parse_csv", "header_of"]

_BOM = b"\xef\xbb\xbf"
_DICT = pa.dictionary(pa.int32(), pa.string())


class ParsedCSV:
    """An all-string table plus the physical line number of each record."""

    __slots__ = ("table", "lines", "issues", "header")

    def __init__(
        self, table: pa.Table, lines: np.ndarray, issues: list[RowIssue], header: list[str]
    ):
        self.table = table
        self.lines = lines
        self.issues = issues
        self.header = header


def header_of(data: bytes, name: str = "<input>") -> list[str]:
    """The header row's column names (BOM and whitespace stripped).

    Raises
    ------
    crimemap.errors.IngestError
        If the first line is not a CSV row (a stray carriage return or NUL
        byte inside it), naming ``name``, line 1 and the line.
    """
    start = 3 if data.startswith(_BOM) else 0
    # Slice the first line only: splitting would copy the whole file.
    end = data.find(b"\n", start)
    first = data[start : len(data) if end < 0 else end].rstrip(b"\r")
    text = first.decode("utf-8", "replace")
    if not text:
        return []
    try:
        return [c.strip() for c in next(csv.reader([text]))]
    except csv.Error as exc:
        raise IngestError(
            [
                RowIssue(
                    name,
                    1,
                    None,
                    text[:200],
                    "bad_header",
                    f"the header line is not a CSV row ({exc})",
                )
            ]
        ) from None


def parse_csv(
    src: SourceFile,
    *,
    required: Sequence[str],
    encoding: str = "utf-8",
    invalid_utf8: str = "reject",
    columns: Sequence[str] | None = None,
    dictionary: Sequence[str] = (),
) -> ParsedCSV:
    """Parse one CSV file.

    Parameters
    ----------
    src : SourceFile
        The file.
    required : sequence of str
        Columns that must be present in the header.
    encoding : str
        Declared encoding. Non-UTF-8 encodings are transcoded first.
    invalid_utf8 : {"reject", "latin-1"}
        What to do with lines that are not valid UTF-8: reject them (the
        default: such rows are reported as ``invalid_utf8``) or decode them as
        Latin-1 (counted as repairs, for sources known to mix encodings).
    columns : sequence of str, optional
        Only convert these columns (the header must still hold ``required``);
        skipping unused columns saves most of their parsing cost.
    dictionary : sequence of str
        Columns to read dictionary-encoded (``dictionary<int32, string>``).
        For columns with few distinct values (months, labels, snap points)
        this skips building one string per row, and readers validate the
        dictionary instead of every row. Readers must accept plain strings
        too: the exact-line-number fallback parser and the bad-line filter
        return plain strings.

    Raises
    ------
    IngestError
        For file-level problems: empty file, missing header columns.
    """
    data = src.data
    issues: list[RowIssue] = []
    if data.startswith(_BOM):
        data = data[3:]
    if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        data = data.decode(encoding).encode("utf-8")
    header = header_of(data, src.name)
    if not any(header):
        raise IngestError(
            [
                RowIssue(
                    src.name,
                    1,
                    None,
                    "",
                    "missing_header",
                    "the first line is empty: the file has no header row",
                )
            ]
        )
    missing = [c for c in required if c not in header]
    if missing:
        raise IngestError(
            [
                RowIssue(
                    src.name,
                    1,
                    c,
                    ",".join(header)[:200],
                    "missing_column",
                    f"the header has no column {c!r} (expected {', '.join(required)})",
                )
                for c in missing
            ]
        )
    if len(set(header)) != len(header):
        dup = sorted({c for c in header if header.count(c) > 1})
        raise IngestError(
            [
                RowIssue(
                    src.name, 1, dup[0], None, "duplicate_column", "header repeats a column name"
                )
            ]
        )

    if data.find(b"\n") < 0 and data.find(b"\r") < 0:
        # A header and nothing else, without a line end: Arrow cannot skip
        # the header line of such a file, so end it.
        data += b"\n"
    bad_lines: dict[int, RowIssue] = {}
    repaired: set[int] = set()
    # Invalid UTF-8 goes straight to the repair path: validating first costs
    # little (isascii is a fast scan) and keeps pyarrow from calling the
    # bad-row handler with bytes it cannot decode (it decodes a bad row's text
    # first, so a row with the wrong field count *and* invalid UTF-8 would
    # make the handler fail and the parse stop on that row).
    table = None
    if _is_utf8(data):
        table = _fast_parse(src.name, data, header, bad_lines, columns, dictionary)
    if table is None:
        # Invalid UTF-8 (or Arrow refused it): locate each bad line, then either
        # repair it (declared mixed encoding) or reject it, and parse again.
        bad_lines.clear()
        lines = data.split(b"\n")
        for iss in decode_text_check(src.name, data, limit=10**9):
            assert iss.row is not None
            if invalid_utf8 == "latin-1":
                repaired.add(iss.row)
                lines[iss.row - 1] = lines[iss.row - 1].decode("latin-1").encode("utf-8")
            else:
                bad_lines[iss.row] = iss
                # Keep the line (so later line numbers stay right) but make it
                # decodable; the row is dropped below.
                lines[iss.row - 1] = lines[iss.row - 1].decode("utf-8", "replace").encode("utf-8")
        data = b"\n".join(lines)
        table = _fast_parse(src.name, data, header, bad_lines, columns, dictionary)
        if table is None:
            raise IngestError(
                [RowIssue(src.name, None, None, None, "invalid_utf8", "file is not valid UTF-8")]
            )

    line_no = _line_numbers(data, table.num_rows, bad_lines)
    if line_no is None:
        table, line_no = _slow_parse(src.name, data, header, bad_lines)
    if bad_lines:
        keep = ~np.isin(line_no, np.fromiter(bad_lines.keys(), dtype=np.int64))
        # Decode dictionaries: a rejected line's values must not linger in
        # them (readers validate the dictionary, not the rows).
        table = _decode_dictionaries(table.filter(pa.array(keep)))
        line_no = line_no[keep]
    issues.extend(sorted(bad_lines.values(), key=lambda i: i.row or 0))
    if repaired:
        issues.extend(
            RowIssue(
                src.name,
                r,
                None,
                None,
                "repaired:decoded_latin1",
                "line was not UTF-8; decoded as Latin-1",
            )
            for r in sorted(repaired)
        )
    return ParsedCSV(table, line_no, issues, header)


def _fast_parse(
    name: str,
    data: bytes,
    header: list[str],
    bad_lines: dict[int, RowIssue],
    columns: Sequence[str] | None = None,
    dictionary: Sequence[str] = (),
) -> pa.Table | None:
    """Arrow parse; ``None`` when the bytes are not valid UTF-8."""

    def on_invalid(row: pacsv.InvalidRow) -> str:
        n = row.number if row.number is not None else -1
        bad_lines[n] = RowIssue(
            name,
            n,
            None,
            (row.text or "")[:200],
            "wrong_field_count",
            f"expected {row.expected_columns} fields, found {row.actual_columns}",
        )
        return "skip"

    try:
        return pacsv.read_csv(
            pa.py_buffer(data),
            # The header's names as header_of read them (whitespace stripped),
            # so a padded " Crime ID" is the column every check looked for.
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=1 << 24, column_names=header, skip_rows=1
            ),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={c: _DICT if c in dictionary else pa.string() for c in header},
                include_columns=list(columns) if columns is not None else None,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "UTF-8" in str(exc):
            return None
        raise IngestError(
            [RowIssue(name, None, None, None, "unparseable_csv", str(exc)[:300])]
        ) from exc


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decode_dictionaries(table: pa.Table) -> pa.Table:
    """The table with dictionary-encoded columns cast back to plain strings."""
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.string()))
    return table


def _line_numbers(data: bytes, nrows: int, bad: dict[int, RowIssue]) -> np.ndarray | None:
    """Physical line of each parsed record, or None if records span lines.

    Without quoted newlines, record k is the k-th non-empty line after the
    header that the parser did not skip. Field-count rejects were already
    skipped by the parser; UTF-8 rejects were not (they are filtered later).
    """
    skipped = np.array(
        sorted(k for k, v in bad.items() if v.reason == "wrong_field_count"), dtype=np.int64
    )
    # numpy releases the GIL here (bytes.count does not): files are parsed on threads.
    buf = np.frombuffer(data, dtype=np.uint8)
    n_lines = int(np.count_nonzero(buf == 10)) + (0 if data.endswith(b"\n") else 1)
    if n_lines == nrows + 1 + len(skipped):
        # The common case: no blank lines, no quoted newlines.
        lines = np.arange(2, n_lines + 1, dtype=np.int64)
    else:
        nl = np.flatnonzero(buf == 10)
        starts = np.concatenate([[0], nl + 1])
        ends = np.concatenate([nl, [len(buf)]])
        length = ends - starts
        last = np.maximum(ends - 1, 0)
        length = length - ((length > 0) & (buf[last] == 13))
        lines = np.flatnonzero(length > 0)[1:] + 1
    if skipped.size:
        lines = lines[~np.isin(lines, skipped)]
    if len(lines) != nrows:
        return None
    return lines


def _slow_parse(
    name: str, data: bytes, header: list[str], bad: dict[int, RowIssue]
) -> tuple[pa.Table, np.ndarray]:
    """Exact line numbers for files with quoted newlines (Python's csv module)."""
    text = io.StringIO(data.decode("utf-8"), newline="")
    reader = csv.reader(text)
    next(reader)
    cols: list[list[str]] = [[] for _ in header]
    lines: list[int] = []
    for k in [k for k, v in bad.items() if v.reason == "wrong_field_count"]:
        del bad[k]
    start = 2
    for rec in reader:
        end = reader.line_num
        if not rec or all(not v.strip() for v in rec):
            start = end + 1
            continue
        if len(rec) != len(header):
            bad[start] = RowIssue(
                name,
                start,
                None,
                ",".join(rec)[:200],
                "wrong_field_count",
                f"expected {len(header)} fields, found {len(rec)}",
            )
        else:
            for c, v in zip(cols, rec, strict=True):
                c.append(v)
            lines.append(start)
        start = end + 1
    table = pa.table({h: pa.array(c, pa.string()) for h, c in zip(header, cols, strict=True)})
    return table, np.array(lines, dtype=np.int64)
