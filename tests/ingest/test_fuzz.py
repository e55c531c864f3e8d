"""Property-based ingest of damaged files (Hypothesis).

Each example starts from the first lines of a real file (a North Yorkshire
police.uk street file, or a St. Louis SLMPD file read through the partner
reader and its mapping) and damages it: bytes inserted (quotes, commas, CR, LF, NUL, invalid
UTF-8, a BOM), ranges deleted, lines duplicated, fields blanked or
replaced, the file cut short, optionally gzip-compressed (and the stream cut).
Whatever the damage, the ingest must

* either succeed or refuse with a domain error (an ``IngestError`` whose
  every issue names the file): never any other exception;
* under ``quarantine``, account for every physical record: each one is
  either loaded or named in a reject (file, line, reason), none both;
* under ``strict``, leave the store exactly as before when it refuses, and
  make a second ingest of the same file change nothing when it succeeds.

Damaged zip archives (a data.police.uk-style download, a Portland shapefile
zip) must likewise load or be refused with an ``IngestError`` naming them.
"""

from __future__ import annotations

import gzip
import io
import re
import tempfile
import zipfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crimemap.errors import IngestError
from crimemap.ingest import ingest
from crimemap.ingest.pipeline import read_batch
from crimemap.store import DuckDBStore

pytestmark = pytest.mark.slow

NAME = "2024-01-north-yorkshire-street.csv"
STL = "january2019.csv"
#: (file name, reader options) per source: police.uk is sniffed, SLMPD needs its mapping.
SOURCES = {
    "police.uk": (NAME, {}),
    "outcomes": ("2020-06-northumbria-outcomes.csv", {}),
    "stop-and-search": ("2020-06-northumbria-stop-and-search.csv", {}),
    "stl-slmpd": (STL, {"reader": "partner", "reader_options": {"mapping": "stl-slmpd"}}),
}
_NOISE = [b'"', b",", b"\r", b"\n", b"\r\n", b"\x00", b"\xff", b"\xc3", b"\xef\xbb\xbf", b" "]
_NOISE += [b"-", b".", b"9", b"2024-13", b"NaN", b"1e400", b"On or near", b'""']


@pytest.fixture(scope="module")
def seeds(police_uk: Path, stl_dir: Path) -> dict[str, bytes]:
    """Header + 40 records of each real file (line endings as published)."""
    files = {
        "police.uk": police_uk / "2024-01" / f"{NAME}.gz",
        "outcomes": police_uk / "2020-06" / "2020-06-northumbria-outcomes.csv.gz",
        "stop-and-search": police_uk / "2020-06" / "2020-06-northumbria-stop-and-search.csv.gz",
        "stl-slmpd": stl_dir / "data" / "raw" / "2019" / f"{STL}.gz",
    }
    return {
        k: b"".join(gzip.decompress(p.read_bytes()).splitlines(keepends=True)[:41])
        for k, p in files.items()
    }


def _fuzz(n: int) -> settings:
    """``n`` examples, no deadline; the module-scoped real seeds are read-only."""
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def _damage(data: bytes, draw: st.DrawFn) -> bytes:
    lines = data.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "delete", "dup_line", "field", "cut"]))
        blob = b"".join(lines)
        if op == "insert":
            at = draw(st.integers(0, len(blob)))
            noise = draw(st.sampled_from(_NOISE))
            blob = blob[:at] + noise + blob[at:]
        elif op == "delete":
            at = draw(st.integers(0, max(len(blob) - 1, 0)))
            blob = blob[:at] + blob[at + draw(st.integers(1, 40)) :]
        elif op == "dup_line" and len(lines) > 1:
            k = draw(st.integers(1, len(lines) - 1))
            lines.insert(k, lines[k])
            blob = b"".join(lines)
        elif op == "field" and len(lines) > 1:
            k = draw(st.integers(1, len(lines) - 1))
            fields = lines[k].split(b",")
            j = draw(st.integers(0, len(fields) - 1))
            fields[j] = draw(st.sampled_from([b"", b"x", b"999", b"-181", b"2024-1", b" "]))
            lines[k] = b",".join(fields)
            if not lines[k].endswith(b"\n"):
                lines[k] += b"\n"
            blob = b"".join(lines)
        elif op == "cut":
            blob = blob[: draw(st.integers(0, len(blob)))]
        lines = blob.splitlines(keepends=True)
    return b"".join(lines)


@st.composite
def damaged_files(draw: st.DrawFn, seed: bytes, name: str) -> tuple[str, bytes]:
    data = _damage(seed, draw)
    if draw(st.booleans()):
        packed = gzip.compress(data, mtime=0)
        if draw(st.integers(0, 4)) == 0:  # a download cut short
            packed = packed[: draw(st.integers(0, len(packed) - 1))]
        return name + ".gz", packed
    return name, data


def _records(data: bytes) -> int:
    """Upper bound on records a file can hold: its non-empty lines after the header.

    CR, LF and CRLF all end a line (as for the CSV parser); a line holding
    only spaces is a record (rejected for its field count), an empty one is not.
    """
    return sum(1 for ln in re.split(rb"\r\n|\r|\n", data)[1:] if ln)


#: What may refuse a whole file even under ``quarantine`` (row problems never do).
FILE_LEVEL = {
    "empty_file",
    "truncated_gzip",
    "bad_gzip",
    "bad_header",
    "missing_header",
    "missing_column",
    "duplicate_column",
    "unmapped_label",
}


def _check_refusal(exc: IngestError, path: Path, policy: str) -> None:
    assert exc.issues, "a refusal names at least one problem"
    for iss in exc.issues:
        assert iss.file == str(path)
        assert iss.reason
        assert iss.row is None or iss.row >= 1
    if policy == "quarantine":
        assert {i.reason for i in exc.issues} <= FILE_LEVEL, exc.issues[:3]
    else:
        # Row problems name the row.
        assert all(i.row is not None for i in exc.issues if i.reason not in FILE_LEVEL)


@_fuzz(100)
@given(data=st.data())
@pytest.mark.parametrize("source", list(SOURCES))
def test_quarantine_accounts_for_every_record(
    seeds: dict[str, bytes], source: str, data: st.DataObject
) -> None:
    base, opts = SOURCES[source]
    name, raw = data.draw(damaged_files(seeds[source], base))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(raw)
        try:
            batch = read_batch([path], policy="quarantine", **opts)  # type: ignore[arg-type]
        except IngestError as exc:
            _check_refusal(exc, path, "quarantine")
            return
    (f,) = batch.files
    rejected_rows = {i.row for i in batch.rejects}
    assert all(i.file == str(path) and i.row is not None for i in batch.rejects)
    target = {"outcomes": batch.outcomes, "stop-and-search": batch.stop_search}
    out = target.get(source, batch.incidents)
    loaded_rows = out["row_no"].to_pylist()
    assert len(loaded_rows) == len(set(loaded_rows)) == f.rows_loaded
    # A record is loaded, rejected or dropped on purpose by the mapping
    # (excluded category, empty record: counted by reason), never two of
    # these, and none goes missing.
    assert not rejected_rows & set(loaded_rows)
    dropped = sum(n for k, n in f.counts.items() if k.startswith("dropped:"))
    assert f.rows_read == len(loaded_rows) + len(rejected_rows) + dropped, f.counts
    text = gzip.decompress(raw) if name.endswith(".gz") else raw
    assert f.rows_read <= _records(text)
    # Every loaded record has what its table needs (an id, a category, a time).
    required = {
        "outcomes": ["crime_id", "month"],
        "stop-and-search": ["t", "force"],
    }.get(source, ["incident_id", "category", "t_start"])
    assert all(out[c].null_count == 0 for c in required)


@_fuzz(40)
@given(data=st.data())
@pytest.mark.parametrize("source", list(SOURCES))
def test_strict_refusal_leaves_the_store_as_it_was(
    seeds: dict[str, bytes], source: str, data: st.DataObject
) -> None:
    base, opts = SOURCES[source]
    name, raw = data.draw(damaged_files(seeds[source], base))
    with tempfile.TemporaryDirectory() as tmp:
        good = Path(tmp) / "good" / base
        good.parent.mkdir()
        good.write_bytes(seeds[source])
        bad = Path(tmp) / "bad" / name.replace("2024-01", "2024-02").replace("2020-06", "2020-07")
        bad.parent.mkdir()
        bad.write_bytes(raw)
        with DuckDBStore(Path(tmp) / "s.duckdb") as store:
            ingest(store, [good], **opts)  # type: ignore[arg-type]
            before = (store.status(), store.checksums(), store.next_file_id())
            try:
                report = ingest(store, [bad], policy="strict", **opts)  # type: ignore[arg-type]
            except IngestError as exc:
                _check_refusal(exc, bad, "strict")
                assert (store.status(), store.checksums(), store.next_file_id()) == before
                return
            assert report.rows_rejected == 0
            again = ingest(store, [bad], policy="strict", **opts)  # type: ignore[arg-type]
            assert again.files == 0 and again.rows_inserted == 0


@st.composite
def damaged_archives(draw: st.DrawFn, archive: bytes) -> bytes:
    b = bytearray(archive)
    op = draw(st.sampled_from(["flip", "cut", "zero"]))
    if op == "flip":
        for _ in range(draw(st.integers(1, 20))):
            k = draw(st.integers(0, len(b) - 1))
            b[k] ^= 1 << draw(st.integers(0, 7))
    elif op == "cut":
        b = b[: draw(st.integers(0, len(b) - 1))]
    else:
        k = draw(st.integers(0, len(b) - 1))
        n = min(draw(st.integers(1, 5000)), len(b) - k)
        b[k : k + n] = bytes(n)
    return bytes(b)


@pytest.fixture(scope="module")
def archives(police_uk: Path, portland_dir: Path) -> dict[str, bytes]:
    """A data.police.uk-style zip of two real street files, and a real Portland shapefile zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for m in ("2024-01", "2024-02"):
            name = f"{m}-north-yorkshire-street.csv"
            z.writestr(f"{m}/{name}", gzip.decompress((police_uk / m / f"{name}.gz").read_bytes()))
    pdx = portland_dir / "data" / "nij" / "090116_093016_Data.zip"
    return {"police.uk": buf.getvalue(), "nij-portland": pdx.read_bytes()}


@_fuzz(40)
@given(data=st.data())
@pytest.mark.parametrize("source", ["police.uk", "nij-portland"])
def test_damaged_zip_archives_are_refused_by_name(
    archives: dict[str, bytes], source: str, data: st.DataObject
) -> None:
    # Bad CRCs, bad member headers and broken deflate streams surface only
    # when a member is read; they used to escape as zipfile/zlib errors.
    raw = data.draw(damaged_archives(archives[source]))
    opts: dict = {}
    name = "download.zip"
    if source == "nij-portland":
        opts = {"reader": "partner", "reader_options": {"mapping": "nij-portland"}}
        name = "090116_093016_Data.zip"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(raw)
        try:
            read_batch([path], policy="quarantine", **opts)
        except IngestError as exc:
            assert exc.issues and all(i.file.startswith(str(path)) for i in exc.issues)


_MAPPING_VALUES = [None, 0, -1, 1.5, "", "x", "%Y", [], {}, [1, 2], {"a": 1}, True, "Crime"]
_MAPPING_VALUES += ["DateOccur", "EPSG:4326", "EPSG:99999", "^(", "drop"]


def _paths(o: object, pre: tuple = ()) -> list[tuple]:
    out = [pre] if pre else []
    if isinstance(o, dict):
        for k, v in o.items():
            out += _paths(v, (*pre, k))
    elif isinstance(o, list):
        for i, v in enumerate(o):
            out += _paths(v, (*pre, i))
    return out


@_fuzz(200)
@given(data=st.data())
def test_damaged_mapping_is_a_config_error_or_reads_cleanly(
    seeds: dict[str, bytes], data: st.DataObject
) -> None:
    # Keys removed or given values of the wrong type or meaning: the mapping
    # is refused as a ConfigError, or it loads and reading the real extract
    # with it ends in a result or a domain error (an empty column name used
    # to pass validation and fail as a KeyError while reading).
    from crimemap.errors import ConfigError, CrimemapError
    from crimemap.ingest._mapping import MAPPINGS_DIR, load_mapping

    spec = yaml.safe_load((MAPPINGS_DIR / "stl-slmpd.yaml").read_text(encoding="utf-8"))
    paths = _paths(spec)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        parent = spec
        try:
            for k in path[:-1]:
                parent = parent[k]
            if isinstance(parent, dict) and data.draw(st.booleans()):
                del parent[path[-1]]
            else:
                parent[path[-1]] = data.draw(st.sampled_from(_MAPPING_VALUES))
        except (KeyError, IndexError, TypeError):
            continue  # the path went away with an earlier change
    try:
        load_mapping(spec)
    except ConfigError:
        return
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / STL
        f.write_bytes(seeds["stl-slmpd"])
        try:
            read_batch([f], reader="partner", reader_options={"mapping": spec}, policy="quarantine")
        except CrimemapError as exc:
            assert str(exc)
