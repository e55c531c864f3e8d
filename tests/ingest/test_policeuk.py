"""police.uk readers on hand-made rows and on the real files in ../shared/data."""

from __future__ import annotations

import csv
import gzip
import zipfile
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pyproj import Transformer

from crimemap.ingest import ingest, read_batch, read_incidents
from crimemap.ingest.pipeline import Batch
from crimemap.store import Store

from ._helpers import row, write


def manifest(police_uk: Path) -> list[dict[str, str]]:
    with open(police_uk / "MANIFEST.csv", newline="") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------ hand-made cases
def test_fields_and_projection(tmp_path: Path) -> None:
    f = write(
        tmp_path / "2024-01-north-yorkshire-street.csv",
        [row("c1", lon="-1.080000", lat="53.960000")],
    )
    t = read_incidents([f]).arrow.to_pylist()[0]
    assert (
        t["incident_id"] == "c1" and t["force"] == "north-yorkshire" and t["category"] == "burglary"
    )
    assert t["raw_category"] == "Burglary" and t["outcome"] == "Under investigation"
    assert (t["t_start"].isoformat(), t["t_end"].isoformat(), t["t_precision"]) == (
        "2024-01-01T00:00:00",
        "2024-02-01T00:00:00",
        "month",
    )
    assert t["loc_precision"] == "snap" and t["lsoa"] == "E01013335" and t["crs"] == 27700
    x, y = Transformer.from_crs(4326, 27700, always_xy=True).transform(-1.08, 53.96)
    assert t["x"] == pytest.approx(x, abs=1e-6) and t["y"] == pytest.approx(y, abs=1e-6)
    # York Minster is at roughly (460300, 452200) in British National Grid.
    assert abs(t["x"] - 460300) < 1500 and abs(t["y"] - 452200) < 1500
    assert t["row_no"] == 2 and t["location"] == "On or near High Street"


def test_december_interval_rolls_into_next_year(tmp_path: Path) -> None:
    f = write(tmp_path / "2024-12-north-yorkshire-street.csv", [row("d", month="2024-12")])
    t = read_incidents([f]).arrow.to_pylist()[0]
    assert t["t_end"].isoformat() == "2025-01-01T00:00:00"


def test_missing_location_kept_and_flagged(tmp_path: Path) -> None:
    f = write(
        tmp_path / "2024-01-south-yorkshire-street.csv",
        [row("m1", lon="", lat="", location="No Location", lsoa=""), row("m2")],
    )
    b = read_batch([f])
    t = {r["incident_id"]: r for r in b.incidents.to_pylist()}
    assert t["m1"]["loc_precision"] == "none" and t["m1"]["x"] is None and t["m1"]["lsoa"] is None
    assert t["m1"]["location"] is None
    assert b.counts["kept:no_location"] == 1


def test_identical_asb_rows_are_all_kept_with_stable_ids(tmp_path: Path) -> None:
    asb = row("", cat="Anti-social behaviour", outcome="")
    f1 = write(tmp_path / "a" / "2024-01-north-yorkshire-street.csv", [asb, asb, row("x"), asb])
    f2 = write(
        tmp_path / "b" / "2024-01-north-yorkshire-street.csv", [row("x"), asb, asb, asb]
    )  # reordered
    t1 = read_incidents([f1]).arrow
    t2 = read_incidents([f2]).arrow
    ids1 = [i for i in t1["incident_id"].to_pylist() if i != "x"]
    assert len(ids1) == 3 and len(set(ids1)) == 3
    assert set(ids1) == set(t2["incident_id"].to_pylist()) - {"x"}


def test_duplicate_crime_id_in_file_keeps_both(tmp_path: Path) -> None:
    f = write(
        tmp_path / "2024-01-north-yorkshire-street.csv",
        [
            row("dup", outcome="Under investigation"),
            row("dup", outcome="Unable to prosecute suspect"),
        ],
    )
    b = read_batch([f])
    assert sorted(b.incidents["incident_id"].to_pylist()) == ["dup", "dup~1"]
    assert b.counts["kept:duplicate_crime_id_in_file"] == 1


def test_crlf_and_lf_give_identical_tables(tmp_path: Path) -> None:
    rows = [
        row("a"),
        row("", cat="Anti-social behaviour", outcome=""),
        row("b", lon="", lat="", lsoa=""),
    ]
    lf = read_incidents([write(tmp_path / "lf" / "2024-01-north-yorkshire-street.csv", rows)]).arrow
    crlf = read_incidents(
        [write(tmp_path / "crlf" / "2024-01-north-yorkshire-street.csv", rows, crlf=True)]
    ).arrow
    assert lf.drop_columns(["file_id"]).equals(crlf.drop_columns(["file_id"]))


def by_id(t: pa.Table) -> list[dict[str, object]]:
    """Rows of an incidents table in a canonical order (table order is backend-defined)."""
    return sorted(t.to_pylist(), key=lambda r: str(r["incident_id"]))


def scalar(st: Store, sql: str, *params: object) -> object:
    """The one value of a portable one-row, one-column query."""
    [value] = st.query(sql, list(params)).column(0).to_pylist()
    return value


def test_same_file_twice_changes_nothing(tmp_path: Path, store: Store) -> None:
    st = store
    f = write(
        tmp_path / "2024-01-north-yorkshire-street.csv",
        [row("a"), row("", cat="Anti-social behaviour", outcome="")],
    )
    r1 = ingest(st, [f])
    before = by_id(st.table("incidents"))
    r2 = ingest(st, [f])
    assert (r1.rows_inserted, r2.files, r2.skipped) == (2, 0, (str(f),))
    assert by_id(st.table("incidents")) == before
    assert st.table("files").num_rows == 1 and st.table("batches").num_rows == 1


def test_later_download_updates_outcome_instead_of_adding(tmp_path: Path, store: Store) -> None:
    st = store
    asb = row("", cat="Anti-social behaviour", outcome="")
    first = [
        row("a", outcome="Under investigation"),
        row("b", outcome="Under investigation"),
        asb,
        asb,
    ]
    later = [
        asb,
        row("b", outcome="Offender given a caution"),
        asb,
        row("a", outcome="Under investigation"),
    ]
    ingest(st, [write(tmp_path / "d1" / "2024-01-north-yorkshire-street.csv", first)])
    rep = ingest(st, [write(tmp_path / "d2" / "2024-01-north-yorkshire-street.csv", later)])
    assert (rep.rows_inserted, rep.rows_updated) == (0, 1)
    inc = {r["incident_id"]: r["outcome"] for r in st.table("incidents").to_pylist()}
    assert (
        len(inc) == 4
        and inc["b"] == "Offender given a caution"
        and inc["a"] == "Under investigation"
    )


def test_small_later_download_into_a_larger_store(tmp_path: Path, store: Store) -> None:
    """A month's few rows against a bigger store (the usual case) update and insert alike.

    The server store loads such a batch with its indexes in place, unlike
    the large first load; the outcome of a known crime id is updated either way.
    """
    first = [row(f"c{i}") for i in range(12)]
    ingest(store, [write(tmp_path / "2024-01-north-yorkshire-street.csv", first)])
    later = [
        row("c3", month="2024-02", outcome="Offender given a caution"),
        row("c4", month="2024-02"),  # same outcome: not an update
        row("new", month="2024-02"),
    ]
    rep = ingest(store, [write(tmp_path / "2024-02-north-yorkshire-street.csv", later)])
    assert (rep.rows_inserted, rep.rows_updated) == (1, 1)
    inc = {r["incident_id"]: r for r in store.table("incidents").to_pylist()}
    assert len(inc) == 13 and inc["c3"]["outcome"] == "Offender given a caution"
    # The crime keeps the month it was first recorded in; only its outcome moves.
    assert inc["c3"]["t_start"].isoformat() == "2024-01-01T00:00:00"
    assert inc["new"]["t_start"].isoformat() == "2024-02-01T00:00:00"
    assert inc["c3"]["updated_at"] is not None and inc["c4"]["updated_at"] is None


def test_crime_id_reappearing_in_later_month_within_batch(tmp_path: Path) -> None:
    f1 = write(
        tmp_path / "2024-01-north-yorkshire-street.csv", [row("r", outcome="Under investigation")]
    )
    f2 = write(
        tmp_path / "2024-02-north-yorkshire-street.csv",
        [row("r", month="2024-02", outcome="Court result unavailable")],
    )
    b = read_batch([f1, f2])
    [r] = b.incidents.to_pylist()
    assert r["t_start"].month == 1 and r["outcome"] == "Court result unavailable"
    assert b.counts["merged:crime_id_seen_again_outcome_updated"] == 1


def test_zip_archive_and_folder_tree_give_the_same_rows(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write(tree / "2024-01" / "2024-01-north-yorkshire-street.csv", [row("z1")])
    write(tree / "2024-02" / "2024-02-north-yorkshire-street.csv", [row("z2", month="2024-02")])
    z = tmp_path / "download.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted(tree.rglob("*.csv")):
            zf.write(p, p.relative_to(tree).as_posix())
    a = read_incidents([tree]).arrow
    b = read_incidents([z]).arrow
    assert a.drop_columns(["file_id"]).equals(b.drop_columns(["file_id"]))
    assert b.num_rows == 2


def test_interrupted_write_leaves_store_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    st = store
    ingest(st, [write(tmp_path / "a" / "2024-01-north-yorkshire-street.csv", [row("a")])])
    before = {t: st.table(t).to_pylist() for t in ("incidents", "files", "batches")}

    def boom(*args: object, **kwargs: object) -> tuple[int, int]:
        raise KeyboardInterrupt  # e.g. Ctrl-C half-way through the transaction

    # Each backend writes the outcomes after the incidents, in the same transaction.
    monkeypatch.setattr(type(st), "_write_outcomes", staticmethod(boom))
    with pytest.raises(KeyboardInterrupt):
        ingest(
            st,
            [
                write(
                    tmp_path / "b" / "2024-02-north-yorkshire-street.csv",
                    [row("b", month="2024-02")],
                )
            ],
        )
    assert {t: st.table(t).to_pylist() for t in ("incidents", "files", "batches")} == before


def test_outcomes_update_known_crimes_and_stop_search_is_separate(
    tmp_path: Path, store: Store
) -> None:
    st = store
    ingest(st, [write(tmp_path / "2024-01-northumbria-street.csv", [row("k1"), row("k2")])])
    out = tmp_path / "2024-03-northumbria-outcomes.csv"
    out.write_text(
        "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Outcome type\n"
        "k1,2024-02,N,N,-1.6,54.9,On or near X,E01,Y,Investigation complete; no suspect identified\n"
        "k1,2024-03,N,N,-1.6,54.9,On or near X,E01,Y,Offender sent to prison\n"
        "zz,2024-03,N,N,-1.6,54.9,On or near X,E01,Y,Offender fined\n"
    )
    ss = tmp_path / "2024-01-northumbria-stop-and-search.csv"
    ss.write_text(
        "Type,Date,Part of a policing operation,Policing operation,Latitude,Longitude,Gender,Age range,"
        "Self-defined ethnicity,Officer-defined ethnicity,Legislation,Object of search,Outcome,"
        "Outcome linked to object of search,Removal of more than just outer clothing\n"
        "Person search,2023-12-31T23:30:00+00:00,,,54.97,-1.61,Male,18-24,,,PACE,Stolen goods,A no further action disposal,,False\n"
    )
    rep = ingest(st, [out, ss])
    assert (rep.outcomes, rep.stop_search, rep.rows_updated) == (3, 1, 1)
    inc = {r["incident_id"]: r["outcome"] for r in st.table("incidents").to_pylist()}
    assert inc == {"k1": "Offender sent to prison", "k2": "Under investigation"}
    assert st.table("stop_search").num_rows == 1 and st.table("incidents").num_rows == 2
    assert rep.counts["kept:dated_outside_file_month"] == 1
    months = sorted(
        (r["crime_id"], r["month"].isoformat()) for r in st.table("outcomes").to_pylist()
    )
    assert months == [
        ("k1", "2024-02-01T00:00:00"),
        ("k1", "2024-03-01T00:00:00"),
        ("zz", "2024-03-01T00:00:00"),
    ]
    [s] = st.table("stop_search").to_pylist()
    # An instant: the same one whatever the backend or its session's time zone.
    assert s["t"] == datetime(2023, 12, 31, 23, 30, tzinfo=UTC)
    assert (s["force"], s["type"], s["age_range"], s["lat"]) == (
        "northumbria",
        "Person search",
        "18-24",
        54.97,
    )


# ------------------------------------------------------------------ real data
@pytest.fixture(scope="module")
def every_real_file(police_uk: Path) -> Batch:
    """The whole police.uk tree read once, as ``ingest`` reads it for an empty store.

    Reading does not depend on the backend; only the writes are run on each.
    """
    return read_batch([police_uk])


@pytest.mark.slow
def test_every_real_street_file_ingests_and_matches_the_manifest(
    police_uk: Path, store: Store, every_real_file: Batch
) -> None:
    st = store
    # What ingest(st, [police_uk]) does on an empty store, without reading twice.
    assert st.checksums() == set() and st.next_file_id() == 1
    rep = st.write_batch(replace(every_real_file, counts=Counter(every_real_file.counts)))
    man = manifest(police_uk)
    street = [m for m in man if m["kind"] == "street"]
    assert rep.rows_rejected == 0
    files = {r["path"]: r for r in st.table("files").to_pylist()}
    for m in man:
        rec = files[str(police_uk.parent / m["file"])]
        assert rec["rows_read"] == int(m["rows"]), m["file"]
    expected: Counter[str] = Counter()
    for m in street:
        expected[m["force"]] += int(m["rows"])
    stored = dict(st.status().by_force)
    total_merged = rep.counts.get("merged:crime_id_seen_again_outcome_updated", 0)
    assert sum(expected.values()) == sum(stored.values()) + total_merged
    for force, n in expected.items():
        # Rows are only ever merged (a Crime ID seen again in a later month).
        assert 0 <= n - stored[force] <= 20, force
    assert stored["south-yorkshire"] == expected["south-yorkshire"]
    assert stored["northumbria"] == expected["northumbria"]
    # Missing coordinates are kept and flagged, per the manifest.
    missing = sum(int(m["missing_coords"]) for m in street)
    assert scalar(st, "SELECT count(*) FROM incidents WHERE loc_precision = ?", "none") == missing
    # Empty Crime IDs are exactly the ASB rows, all kept.
    empty = sum(int(m["empty_crime_id"]) for m in street)
    asb = scalar(st, "SELECT count(*) FROM incidents WHERE category = ?", "anti-social-behaviour")
    assert asb == empty
    assert rep.outcomes == sum(int(m["rows"]) for m in man if m["kind"] == "outcomes")
    assert rep.stop_search == sum(int(m["rows"]) for m in man if m["kind"] == "stop-and-search")
    # Every stored id is unique.
    assert scalar(st, "SELECT count(*) - count(DISTINCT incident_id) FROM incidents") == 0


def test_real_asb_duplicates_kept(police_uk: Path) -> None:
    f = police_uk / "2024-01" / "2024-01-north-yorkshire-street.csv.gz"
    lines = gzip.decompress(f.read_bytes()).decode().splitlines()[1:]
    asb_lines = [ln for ln in lines if ln.startswith(",")]
    identical = sum(c - 1 for c in Counter(asb_lines).values() if c > 1)
    assert identical > 50  # the quirk is really there
    b = read_batch([f])
    assert b.counts["kept:repeated_record_without_id"] >= identical
    n_asb = sum(1 for c in b.incidents["category"].to_pylist() if c == "anti-social-behaviour")
    assert n_asb == len(asb_lines)


def test_real_north_yorkshire_duplicate_ids(police_uk: Path) -> None:
    files = sorted((police_uk).glob("2024-0[1-6]/*north-yorkshire-street.csv.gz"))
    ids: Counter[tuple[str, str]] = Counter()
    for f in files:
        for line in gzip.decompress(f.read_bytes()).decode().splitlines()[1:]:
            cid = line.split(",", 1)[0]
            if cid:
                ids[(f.name, cid)] += 1
    dup = sum(c - 1 for c in ids.values() if c > 1)
    assert dup > 100
    b = read_batch(files)
    assert b.counts["kept:duplicate_crime_id_in_file"] == dup
    assert (
        b.incidents.num_rows
        == sum(ids.values())
        + sum(
            1
            for f in files
            for ln in gzip.decompress(f.read_bytes()).decode().splitlines()[1:]
            if ln.startswith(",")
        )
        - b.counts["merged:crime_id_seen_again_outcome_updated"]
    )


def test_real_missing_locations_and_crlf(police_uk: Path, tmp_path: Path) -> None:
    man = {m["file"]: m for m in manifest(police_uk)}
    crlf = next(
        m
        for m in man.values()
        if m["kind"] == "street" and m["crlf"] == "True" and m["force"] == "south-yorkshire"
    )
    lf = next(m for m in man.values() if m["kind"] == "street" and m["crlf"] == "False")
    for m in (crlf, lf):
        b = read_batch([police_uk.parent / m["file"]])
        assert b.files[0].rows_read == int(m["rows"])
        assert b.counts["kept:no_location"] == int(m["missing_coords"])
    # The same CRLF file converted to LF parses to the same table.
    raw = gzip.decompress((police_uk.parent / crlf["file"]).read_bytes())
    assert b"\r\n" in raw
    p = tmp_path / Path(crlf["file"]).name.replace(".gz", "")
    p.write_bytes(raw.replace(b"\r\n", b"\n"))
    a = read_incidents([police_uk.parent / crlf["file"]]).arrow.drop_columns(["file_id"])
    c = read_incidents([p]).arrow.drop_columns(["file_id"])
    assert a.equals(c)


def test_real_zip_archive(police_uk: Path, tmp_path: Path) -> None:
    z = tmp_path / "police-download.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted(police_uk.glob("2022-1[0-2]/*-street.csv.gz")):
            zf.writestr(f"{f.parent.name}/{f.name[:-3]}", gzip.decompress(f.read_bytes()))
    from_zip = read_incidents([z])
    from_gz = read_incidents(sorted(police_uk.glob("2022-1[0-2]/*-street.csv.gz")))
    assert len(from_zip) == len(from_gz) > 0
    assert np.array_equal(
        np.sort(from_zip.column("incident_id")), np.sort(from_gz.column("incident_id"))
    )


def test_real_outcomes_file_updates_outcomes(police_uk: Path, store: Store) -> None:
    st = store
    ingest(st, sorted(police_uk.glob("2021-0[4-6]/*northumbria-street.csv.gz")))
    before = {
        r["incident_id"]: r["outcome"]
        for r in st.query("SELECT incident_id, outcome FROM incidents").to_pylist()
    }
    rep = ingest(st, [police_uk / "2021-06" / "2021-06-northumbria-outcomes.csv.gz"])
    after = {
        r["incident_id"]: r["outcome"]
        for r in st.query("SELECT incident_id, outcome FROM incidents").to_pylist()
    }
    changed = [k for k in before if before[k] != after[k]]
    assert rep.rows_updated == len(changed) > 0 and len(after) == len(before)


def test_sample_files_are_real_copies(police_uk: Path) -> None:
    from crimemap.data import sample_police_uk

    files = sorted(sample_police_uk().rglob("*.csv.gz"))
    assert len(files) == 15
    for f in files:
        assert f.read_bytes() == (police_uk / f.parent.name / f.name).read_bytes(), f.name
    b = read_batch(files)
    assert b.rows_read > 70_000 and not b.rejects
