"""Every bad input gets a clear error naming file, row, column, value and reason,
and a refused strict batch leaves the store exactly as before."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from crimemap.errors import IngestError, StoreError, UnmappedLabelsError
from crimemap.ingest import ingest, read_batch
from crimemap.store import DuckDBStore

from ._helpers import HEADER, row, write


@pytest.fixture()
def store(tmp_path: Path, open_store_of) -> DuckDBStore:  # type: ignore[no-untyped-def]
    """A store of each backend with a known-good baseline."""
    st = open_store_of()
    # A known-good baseline so "unchanged" is meaningful.
    ingest(
        st,
        [write(tmp_path / "good" / "2024-01-north-yorkshire-street.csv", [row("g1"), row("g2")])],
    )
    return st


def snapshot(st: DuckDBStore) -> dict[str, list]:
    return {
        t: st.table(t).to_pylist()
        for t in ("incidents", "files", "batches", "rejects", "ingest_counts")
    }


def refused(st: DuckDBStore, paths: list[Path], policy: str = "strict") -> IngestError:
    before = snapshot(st)
    with pytest.raises(IngestError) as ei:
        ingest(st, paths, policy=policy)
    assert snapshot(st) == before, "a refused batch must leave the store unchanged"
    return ei.value


def test_missing_header_column(tmp_path: Path, store: DuckDBStore) -> None:
    f = write(
        tmp_path / "2024-02-north-yorkshire-street.csv",
        [row()],
        header=HEADER.replace("Month,", "Mnth,"),
    )
    err = refused(store, [f])
    i = err.issues[0]
    assert (i.file, i.row, i.column, i.reason) == (str(f), 1, "Month", "missing_column")
    assert str(f) in str(err) and "row 1" in str(err) and "'Month'" in str(err)


@pytest.mark.parametrize("junk", [b"\r\x00\r\n", b"Crime ID,Mo\rnth\r\n"])
def test_header_that_is_not_a_csv_row(tmp_path: Path, store: DuckDBStore, junk: bytes) -> None:
    # Found by the API fuzzer: a stray CR or NUL in the first line made the
    # stdlib csv module raise, which surfaced as a server error.
    f = tmp_path / "2024-02-north-yorkshire-street.csv"
    f.write_bytes(junk + (row("a") + "\n").encode())
    err = refused(store, [f])
    i = err.issues[0]
    assert (i.file, i.row, i.reason) == (str(f), 1, "bad_header")
    assert str(f) in str(err) and "row 1" in str(err)


def test_wrong_field_count(tmp_path: Path, store: DuckDBStore) -> None:
    f = write(
        tmp_path / "2024-02-north-yorkshire-street.csv", [row("a"), row("b") + ",extra", row("c")]
    )
    err = refused(store, [f])
    [i] = err.issues
    assert (i.row, i.reason) == (3, "wrong_field_count")
    assert "expected 12 fields, found 13" in i.detail
    assert "b,2024-01" in (i.value or "")


def test_unparseable_month(tmp_path: Path, store: DuckDBStore) -> None:
    f = write(
        tmp_path / "2024-02-north-yorkshire-street.csv",
        [row("a", month="2024-02"), row("b", month="Feb 2024")],
    )
    err = refused(store, [f])
    [i] = err.issues
    assert (i.row, i.column, i.value, i.reason) == (3, "Month", "Feb 2024", "unparseable_month")


@pytest.mark.parametrize(
    ("lon", "lat", "reason"),
    [
        ("-191.0", "53.9", "coordinate_out_of_range"),
        ("2.35", "48.85", "outside_uk"),
        ("abc", "53.9", "unparseable_coordinate"),
        ("", "53.9", "unparseable_coordinate"),
    ],
)
def test_bad_coordinates(
    tmp_path: Path, store: DuckDBStore, lon: str, lat: str, reason: str
) -> None:
    f = write(
        tmp_path / "2024-02-north-yorkshire-street.csv", [row("a"), row("b", lon=lon, lat=lat)]
    )
    err = refused(store, [f])
    [i] = err.issues
    assert (i.row, i.column, i.value, i.reason) == (3, "Longitude", lon, reason)


def test_invalid_utf8(tmp_path: Path, store: DuckDBStore) -> None:
    f = tmp_path / "2024-02-north-yorkshire-street.csv"
    f.write_bytes(
        (HEADER + "\n" + row("a") + "\n").encode()
        + row("b", location="On or near Caf\xe9 Street").encode("latin-1")
        + b"\n"
    )
    err = refused(store, [f])
    [i] = err.issues
    assert (i.row, i.column, i.reason) == (3, "Location", "invalid_utf8")
    assert "\\xe9" in (i.value or "")


def test_invalid_utf8_label_is_a_reject_not_an_unmapped_label(
    tmp_path: Path, store: DuckDBStore
) -> None:
    """Crime type is read dictionary-encoded: a bad line's label must not reach the label check."""
    f = tmp_path / "2024-02-north-yorkshire-street.csv"
    f.write_bytes(
        (HEADER + "\n" + row("a") + "\n").encode()
        + row("b", cat="Burgl\xe9ry").encode("latin-1")
        + b"\n"
        + (row("c", cat="Robbery") + "\n").encode()
    )
    rep = ingest(store, [f], policy="quarantine")
    assert (rep.rows_read, rep.rows_inserted, rep.rows_rejected) == (3, 2, 1)
    [rej] = [r for r in store.table("rejects").to_pylist()]
    assert (rej["row_no"], rej["column"], rej["reason"]) == (3, "Crime type", "invalid_utf8")
    got = {r["incident_id"]: r["category"] for r in store.table("incidents").to_pylist()}
    assert got == {"g1": "burglary", "g2": "burglary", "a": "burglary", "c": "robbery"}


def test_truncated_gzip(tmp_path: Path, store: DuckDBStore) -> None:
    f = write(
        tmp_path / "2024-02-north-yorkshire-street.csv.gz",
        [row(f"c{i}") for i in range(500)],
        gz=True,
    )
    f.write_bytes(f.read_bytes()[:-40])
    err = refused(store, [f])
    [i] = err.issues
    assert (i.file, i.row, i.reason) == (str(f), None, "truncated_gzip")


def test_not_gzip(tmp_path: Path, store: DuckDBStore) -> None:
    f = tmp_path / "2024-02-north-yorkshire-street.csv.gz"
    f.write_bytes(b"this is not gzip at all")
    assert refused(store, [f]).issues[0].reason == "bad_gzip"


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file(tmp_path: Path, store: DuckDBStore, content: bytes) -> None:
    f = tmp_path / "2024-02-north-yorkshire-street.csv"
    f.write_bytes(content)
    [i] = refused(store, [f]).issues
    assert (i.file, i.reason) == (str(f), "empty_file")


def test_empty_gzip_file(tmp_path: Path, store: DuckDBStore) -> None:
    f = tmp_path / "2024-02-north-yorkshire-street.csv.gz"
    f.write_bytes(gzip.compress(b""))
    assert refused(store, [f]).issues[0].reason == "empty_file"


def test_unmapped_labels_listed_with_counts(tmp_path: Path, store: DuckDBStore) -> None:
    f = write(
        tmp_path / "2024-02-north-yorkshire-street.csv",
        [
            row("a", cat="Teleportation"),
            row("b", cat="Teleportation"),
            row("c", cat="Time travel"),
            row("d"),
        ],
    )
    before = snapshot(store)
    with pytest.raises(UnmappedLabelsError) as ei:
        ingest(store, [f], policy="quarantine")  # unmapped labels stop even a quarantine batch
    assert snapshot(store) == before
    assert ei.value.labels == {"Teleportation": 2, "Time travel": 1}
    assert "'Teleportation' (2 rows)" in str(ei.value) and "'Time travel' (1 rows)" in str(ei.value)


def test_one_bad_file_refuses_the_whole_batch(tmp_path: Path, store: DuckDBStore) -> None:
    good = write(tmp_path / "2024-02-north-yorkshire-street.csv", [row("x1")])
    bad = write(tmp_path / "2024-03-north-yorkshire-street.csv", [row("x2", month="2024-13")])
    err = refused(store, [good, bad])
    assert [i.file for i in err.issues] == [str(bad)]


def test_quarantine_lands_good_rows_and_records_rejects(tmp_path: Path, store: DuckDBStore) -> None:
    f = write(
        tmp_path / "2024-02-north-yorkshire-street.csv",
        [row("q1"), row("q2", month="bad"), row("q3", lon="9.9"), row("q4") + ",x", row("q5")],
    )
    rep = ingest(store, [f], policy="quarantine")
    assert (rep.rows_read, rep.rows_inserted, rep.rows_rejected) == (5, 2, 3)
    ids = {r["incident_id"] for r in store.table("incidents").to_pylist()}
    assert {"q1", "q5"} <= ids and not ids & {"q2", "q3", "q4"}
    rej = {(r["row_no"], r["reason"]) for r in store.table("rejects").to_pylist()}
    assert rej == {(3, "unparseable_month"), (4, "outside_uk"), (5, "wrong_field_count")}
    counts = {
        r["reason"]: r["n"] for r in store.table("ingest_counts").to_pylist() if r["file_id"] == 2
    }
    assert counts["rejected:unparseable_month"] == 1 and counts["rejected:outside_uk"] == 1


def test_read_only_store_refuses_the_batch_unchanged(
    tmp_path: Path, store: DuckDBStore, open_store_of: Callable[..., DuckDBStore]
) -> None:
    store.close()
    ro = open_store_of(read_only=True)  # the same store, reopened read-only
    before = snapshot(ro)
    f = write(tmp_path / "2024-02-north-yorkshire-street.csv", [row("r1")])
    with pytest.raises(StoreError, match="rolled back"):
        ingest(ro, [f])
    assert snapshot(ro) == before


def test_error_reports_every_problem_not_just_the_first(tmp_path: Path) -> None:
    f = write(tmp_path / "x-street.csv", [row(f"r{i}", month="2024-99") for i in range(30)])
    with pytest.raises(IngestError) as ei:
        read_batch([f])
    assert len(ei.value.issues) == 30
    assert "and 10 more" in str(ei.value)


def test_missing_path(tmp_path: Path) -> None:
    from crimemap.errors import InputError

    with pytest.raises(InputError, match="no such file"):
        read_batch([tmp_path / "nope.csv"])


def test_unknown_format(tmp_path: Path) -> None:
    f = tmp_path / "weird.csv"
    f.write_text("a,b\n1,2\n")
    with pytest.raises(IngestError) as ei:
        read_batch([f])
    assert ei.value.issues[0].reason == "unknown_format"


# Regressions found by the property-based ingest (tests/ingest/test_fuzz.py).


def test_header_names_padded_with_spaces_are_read(tmp_path: Path) -> None:
    # The header checks strip whitespace; the parser must use those same names
    # (it raised pyarrow's ArrowKeyError for " Crime ID").
    padded = " " + HEADER.replace(",Month,", ", Month ,")
    f = write(tmp_path / "2024-01-north-yorkshire-street.csv", [row("p1")], header=padded)
    b = read_batch([f])
    assert b.incidents["incident_id"].to_pylist() == ["p1"]
    assert str(b.incidents["t_start"][0].as_py())[:7] == "2024-01"


@pytest.mark.parametrize("policy", ["strict", "quarantine"])
def test_bad_field_count_and_invalid_utf8_on_one_row_names_the_row(
    tmp_path: Path, policy: str
) -> None:
    # pyarrow cannot hand such a row to the bad-row handler; the file was
    # refused as a whole ("unparseable_csv", no row) even under quarantine.
    f = tmp_path / "2024-01-north-yorkshire-street.csv"
    lines = [HEADER, row("a"), row("b") + ",extra", row("c")]
    f.write_bytes(("\n".join(lines) + "\n").encode().replace(b"extra", b"ex\xc3(tra"))
    if policy == "strict":
        with pytest.raises(IngestError) as ei:
            read_batch([f], policy=policy)
        (iss,) = ei.value.issues
        assert (iss.file, iss.row, iss.reason) == (str(f), 3, "wrong_field_count")
    else:
        b = read_batch([f], policy=policy)
        assert b.incidents["incident_id"].to_pylist() == ["a", "c"]
        assert [(i.row, i.reason) for i in b.rejects] == [(3, "wrong_field_count")]


def test_header_only_file_without_line_end_has_no_rows(tmp_path: Path) -> None:
    f = tmp_path / "2024-01-north-yorkshire-street.csv"
    f.write_text(HEADER)
    b = read_batch([f])
    assert b.incidents.num_rows == 0 and b.files[0].rows_read == 0


def test_empty_first_line_is_a_missing_header(tmp_path: Path) -> None:
    f = tmp_path / "january2019.csv"
    f.write_bytes(b"\nC\n")
    with pytest.raises(IngestError) as ei:
        read_batch([f], reader="partner", reader_options={"mapping": "stl-slmpd"})
    (iss,) = ei.value.issues
    assert (iss.file, iss.row, iss.reason) == (str(f), 1, "missing_header")
