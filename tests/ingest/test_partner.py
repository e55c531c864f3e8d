"""The mapping-driven partner reader: one hand-made file per rule, then the
two worked mappings on the real St. Louis and Portland data."""

from __future__ import annotations

import copy
import csv
import hashlib
import hmac
import io
import json
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import shapefile
import yaml
from pyproj import Transformer

import crimemap.ingest.partner  # noqa: F401  (registers the reader until __init__ does)
from crimemap.errors import ConfigError, IngestError, RowIssue, UnmappedLabelsError
from crimemap.ingest import get_reader, ingest, read_batch
from crimemap.ingest._io import SourceFile
from crimemap.ingest.base import ReadContext, sniff_reader
from crimemap.ingest.partner import (
    PartnerReader,
    PartnerReadResult,
    apply_cancellations,
    hash_identifier,
)
from crimemap.store import Store
from crimemap.store._schema import TABLES
from crimemap.table import IncidentTable

KEY = b"test-secret-key"
HEADER = "ref,when,east,north,type,name,notes,ward"
BASE: dict[str, Any] = {
    "source": "test-src",
    "force": "test-force",
    "timezone": "Europe/London",
    "id": {"columns": ["ref"]},
    "time": {
        "column": "when",
        "formats": ["%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M"],
        "precision": "minute",
        "not_before": "1990-01-01",
    },
    "location": {"x": "east", "y": "north", "crs": 27700, "store_crs": 27700, "missing": [0]},
    "category": {"column": "type", "labels": {"Burglary": "burglary", "Assault": "violent-crime"}},
}


def mapping(**top: Any) -> dict[str, Any]:
    m = copy.deepcopy(BASE)
    for k, v in top.items():
        if isinstance(v, dict) and isinstance(m.get(k), dict):
            m[k] = {**m[k], **v}
        else:
            m[k] = v
    return m


def line(
    ref: str = "A1",
    when: str = "01/02/2020 13:45",
    east: str = "530000",
    north: str = "180000",
    typ: str = "Burglary",
    name: str = "",
    notes: str = "",
    ward: str = "W1",
) -> str:
    return ",".join([ref, when, east, north, typ, name, notes, ward])


def src(rows: list[str], header: str = HEADER, name: str = "partner.csv") -> SourceFile:
    return SourceFile(name, ("\n".join([header, *rows]) + "\n").encode())


def read(
    m: dict[str, Any], rows: list[str], *, header: str = HEADER, key: bytes | None = None
) -> PartnerReadResult:
    return PartnerReader(m).read(src(rows, header), ReadContext(file_id=7, pii_key=key))


def issue(res: PartnerReadResult, reason: str) -> RowIssue:
    found = [i for i in res.rejects if i.reason == reason]
    assert len(found) == 1, res.rejects
    return found[0]


def rows_of(res: PartnerReadResult) -> list[dict[str, Any]]:
    return res.table.to_pylist()


# ------------------------------------------------------------ hand-made cases
def test_one_row_all_fields() -> None:
    res = read(BASE, [line()])
    (r,) = rows_of(res)
    assert r["incident_id"] == "test-src:A1"
    assert (r["source"], r["force"], r["category"], r["raw_category"]) == (
        "test-src",
        "test-force",
        "burglary",
        "Burglary",
    )
    assert r["t_start"].isoformat() == "2020-02-01T13:45:00"  # day first, as declared
    assert r["t_end"].isoformat() == "2020-02-01T13:46:00"  # minute precision
    assert (r["x"], r["y"], r["crs"], r["loc_precision"]) == (530000.0, 180000.0, 27700, "exact")
    # BNG 530000 180000 is central London.
    assert r["lon"] == pytest.approx(-0.1290, abs=2e-3) and r["lat"] == pytest.approx(
        51.50, abs=5e-3
    )
    assert (r["file_id"], r["row_no"], r["attrs"]) == (7, 2, None)
    assert res.rows_read == 1 and res.rejects == [] and res.source == "test-src"
    IncidentTable(res.table)  # valid against the canonical schema


def test_aliases_resolve_schema_drift() -> None:
    m = mapping(aliases={"when": ["Date Occur"], "east": ["X-Coord"]})
    drifted = HEADER.replace("when", "Date Occur").replace("east", "X-Coord")
    (r,) = rows_of(read(m, [line()], header=drifted))
    assert r["t_start"].isoformat() == "2020-02-01T13:45:00" and r["x"] == 530000.0


def test_missing_column_names_file_row_and_aliases() -> None:
    m = mapping(aliases={"when": ["Date Occur"]})
    with pytest.raises(IngestError) as ei:
        read(m, [line()], header=HEADER.replace("when", "date"))
    (i,) = ei.value.issues
    assert (i.file, i.row, i.column, i.reason) == ("partner.csv", 1, "when", "missing_column")
    assert "Date Occur" in i.detail and "date" in (i.value or "")


def test_date_formats_tried_in_order_and_impossible_dates_refused() -> None:
    res = read(
        BASE,
        [
            line("A", "1/2/2020 3:04"),  # unpadded
            line("B", "01/02/2020 03:04"),
            line("C", "2020-02-01 03:04"),  # second format
            line("D", "30/02/2020 10:00"),  # no 30 February
            line("E", ""),
        ],
    )
    starts = {r["incident_id"]: r["t_start"].isoformat() for r in rows_of(res)}
    assert starts == {f"test-src:{k}": "2020-02-01T03:04:00" for k in "ABC"}
    bad = issue(res, "unparseable_date")
    assert (bad.file, bad.row, bad.column, bad.value) == (
        "partner.csv",
        5,
        "when",
        "30/02/2020 10:00",
    )
    blank = issue(res, "missing_date")
    assert (blank.row, blank.column) == (6, "when")


def test_implausible_dates_rejected_or_dropped() -> None:
    m = mapping(
        time={"before_month_of": {"column": "ward", "format": "%Y-%m", "months": 1}},
    )
    rows = [
        line("A", "01/01/1900 00:00", ward="2020-02"),  # placeholder
        line("B", "15/02/2020 10:00", ward="2020-02"),
        line("C", "01/03/2020 00:00", ward="2020-02"),  # after the coded month
        line("D", "15/02/2020 10:00", ward="Feb"),  # reference month unreadable
    ]
    res = read(m, rows)
    assert [r["incident_id"] for r in rows_of(res)] == ["test-src:B"]
    got = {(i.row, i.column, i.value, i.reason) for i in res.rejects}
    assert got == {
        (2, "when", "01/01/1900 00:00", "implausible_date"),
        (4, "when", "01/03/2020 00:00", "implausible_date"),
        (5, "ward", "Feb", "unparseable_reference_month"),
    }
    m["time"]["implausible"] = "drop"
    res = read(m, rows)
    assert res.counts["dropped:implausible_date"] == 2
    assert [i.reason for i in res.rejects] == ["unparseable_reference_month"]


def test_unmapped_labels_refuse_the_file_listing_labels_and_counts() -> None:
    rows = [line("1", typ="Fraud"), line("2", typ="Fraud"), line("3", typ="Arson"), line("4")]
    with pytest.raises(UnmappedLabelsError) as ei:
        read(BASE, rows)
    err = ei.value
    assert err.labels == {"Fraud": 2, "Arson": 1}
    assert "partner.csv" in str(err) and "'type'" in str(err)
    assert "'Fraud' (2 rows)" in str(err) and "'Arson' (1 rows)" in str(err)
    assert [(i.file, i.column, i.value, i.detail) for i in err.issues] == [
        ("partner.csv", "type", "Fraud", "2 row(s)"),
        ("partner.csv", "type", "Arson", "1 row(s)"),
    ]


def test_unmapped_to_slug_or_drop_is_counted() -> None:
    rows = [line("1", typ="Fraud"), line("2", typ="Fraud"), line("3")]
    res = read(mapping(category={"unmapped": "other-crime"}), rows)
    assert Counter(r["category"] for r in rows_of(res)) == {"other-crime": 2, "burglary": 1}
    assert res.counts["kept:unmapped_category_as_other-crime"] == 2
    res = read(mapping(category={"unmapped": "drop"}), rows)
    assert [r["incident_id"] for r in rows_of(res)] == ["test-src:3"]
    assert res.counts["dropped:unmapped_category"] == 2 and res.rejects == []
    # An explicit "drop" label is counted apart.
    m = mapping(category={"labels": {"Burglary": "burglary", "Fraud": "drop"}})
    assert read(m, rows).counts["dropped:excluded_category"] == 2


def test_category_key_strip_zfill_prefix_regex() -> None:
    m = mapping(
        category={
            "zfill": 6,
            "match": "prefix",
            "labels": {"06": "other-theft", "063": "shoplifting", "05": "burglary"},
        }
    )
    res = read(m, [line("1", typ=" 63700"), line("2", typ="69700"), line("3", typ="51100")])
    got = {r["incident_id"]: (r["category"], r["raw_category"]) for r in rows_of(res)}
    assert got == {
        "test-src:1": ("shoplifting", "63700"),  # longest prefix wins
        "test-src:2": ("other-theft", "69700"),
        "test-src:3": ("burglary", "51100"),
    }
    m = mapping(category={"regex": r"^(\w+) -", "labels": {"THEFT": "other-theft"}})
    (r,) = rows_of(read(m, [line("1", typ="THEFT - COLD")]))
    assert r["category"] == "other-theft"


def test_personal_identifiers_hashed_and_never_in_clear() -> None:
    m = mapping(personal_identifiers=["name"], keep=["ward"])
    rows = [
        line("1", name="Jane Q Public"),
        line("2", name=""),
        line("3", name="Jane Q Public"),
        line("4", name="John Doe") + ",one field too many",  # refused whole line
        line("5", when="bad date", name="Mary Major"),
    ]
    res = read(m, rows, key=KEY)
    expected = hmac.new(KEY, b"Jane Q Public", hashlib.sha256).hexdigest()
    attrs = [json.loads(r["attrs"]) for r in rows_of(res)]
    assert attrs == [
        {"ward": "W1", "name": expected},
        {"ward": "W1", "name": None},
        {"ward": "W1", "name": expected},
    ]
    assert hash_identifier("Jane Q Public", KEY) == expected
    everything = json.dumps(res.table.to_pylist(), default=str) + "".join(
        str(i) for i in res.rejects
    )
    for clear in ("Jane", "John", "Doe", "Mary", "Major"):
        assert clear not in everything
    assert {i.reason for i in res.rejects} == {"wrong_field_count", "unparseable_date"}
    # A different key gives unlinkable hashes.
    other = read(m, rows[:1], key=b"another-key")
    assert json.loads(other.table["attrs"][0].as_py())["name"] != expected


def test_personal_identifiers_need_a_key() -> None:
    m = mapping(personal_identifiers=["name"])
    with pytest.raises(ConfigError, match="personal_identifiers.*no pii_key"):
        read(m, [line(name="Jane")])


def test_free_text_dropped_unless_kept() -> None:
    rows = [line("1", notes="victim lives upstairs")]
    (r,) = rows_of(read(mapping(free_text=["notes"], keep=["ward"]), rows))
    assert json.loads(r["attrs"]) == {"ward": "W1"}
    assert "upstairs" not in json.dumps(r, default=str)
    m = mapping(free_text=["notes"], keep_free_text=["notes"])
    (r,) = rows_of(read(m, rows))
    assert json.loads(r["attrs"]) == {"notes": "victim lives upstairs"}


def test_no_location_markers_kept_and_counted() -> None:
    rows = [
        line("1", east="0", north="0"),
        line("2", east="", north=""),
        line("3", east="0", north="180000"),  # one marker only: not a location
        line("4", east="abc", north="180000"),
    ]
    res = read(BASE, rows)
    got = {r["incident_id"]: (r["loc_precision"], r["x"], r["lon"]) for r in rows_of(res)}
    assert got == {"test-src:1": ("none", None, None), "test-src:2": ("none", None, None)}
    assert res.counts["kept:no_location"] == 2
    assert {(i.row, i.column, i.value, i.reason) for i in res.rejects} == {
        (4, "east", "0 180000", "unparseable_coordinate"),
        (5, "east", "abc 180000", "unparseable_coordinate"),
    }


def test_outside_bounds_refused() -> None:
    m = mapping(location={"bounds": [-1.0, 51.0, 0.5, 52.0]})
    res = read(m, [line("1"), line("2", east="400000", north="300000")])
    assert [r["incident_id"] for r in rows_of(res)] == ["test-src:1"]
    i = issue(res, "outside_bounds")
    assert (i.row, i.column) == (3, "east") and i.value is not None


def test_crs_transform_against_a_known_point() -> None:
    # An SLMPD record at 721 N 2nd St (Laclede's Landing) in Missouri State
    # Plane East, US feet; the building is at about 38.6310 N, 90.1850 W.
    m = mapping(location={"crs": "ESRI:102696", "store_crs": 32615})
    (r,) = rows_of(read(m, [line(east="910261.4", north="1018660")]))
    assert r["lat"] == pytest.approx(38.6310, abs=0.003)
    assert r["lon"] == pytest.approx(-90.1850, abs=0.003)
    # UTM 15N metres: central meridian 93 W, so about 245 km east of 500 km.
    ex, ey = Transformer.from_crs(4326, 32615, always_xy=True).transform(r["lon"], r["lat"])
    assert (r["x"], r["y"], r["crs"]) == (
        pytest.approx(ex, abs=0.01),
        pytest.approx(ey, abs=0.01),
        32615,
    )
    assert 740_000 < r["x"] < 750_000 and 4_275_000 < r["y"] < 4_285_000


def test_lsoa_only_location() -> None:
    m = mapping(location={"x": None, "y": None, "crs": None, "lsoa": "ward"})
    (r,) = rows_of(read(m, [line(ward="E01000001")]))
    assert (r["loc_precision"], r["lsoa"], r["x"]) == ("none", "E01000001", None)


def test_address_points_through_lookup(tmp_path: Path) -> None:
    lookup = tmp_path / "points.csv"
    lookup.write_text("key,x,y\n12 High St,530100,180200\n")
    m = mapping(
        location={
            "x": None,
            "y": None,
            "crs": None,
            "address": "notes",
            "lookup": {"path": str(lookup)},
        }
    )
    res = read(m, [line("1", notes="12 High St"), line("2", notes="9 Nowhere Rd"), line("3")])
    got = {r["incident_id"]: (r["x"], r["y"], r["loc_precision"]) for r in rows_of(res)}
    assert got == {"test-src:1": (530100.0, 180200.0, "exact"), "test-src:3": (None, None, "none")}
    i = issue(res, "unknown_address")
    assert (i.row, i.column, i.value) == (3, "notes", "9 Nowhere Rd")
    # A relative lookup path is relative to the mapping file.
    m["location"]["lookup"]["path"] = "points.csv"
    yml = tmp_path / "council.yaml"
    yml.write_text(yaml.safe_dump(m))
    (r,) = rows_of(read(str(yml), [line("1", notes="12 High St")]))  # type: ignore[arg-type]
    assert (r["x"], r["y"]) == (530100.0, 180200.0)
    m["location"]["lookup"]["path"] = "nowhere.csv"
    yml.write_text(yaml.safe_dump(m))
    with pytest.raises(ConfigError, match="council.yaml: key 'location.lookup.path'"):
        read(str(yml), [line("1", notes="12 High St")])  # type: ignore[arg-type]


def test_repeated_ids_get_occurrence_index_whatever_the_order() -> None:
    rows = [line("A", typ="Burglary"), line("B"), line("A", typ="Burglary"), line("A")]
    res = read(BASE, rows)
    ids = [r["incident_id"] for r in rows_of(res)]
    assert ids == ["test-src:A", "test-src:B", "test-src:A~1", "test-src:A~2"]
    assert res.counts["kept:repeated_id_in_file"] == 2
    rev = [r["incident_id"] for r in rows_of(read(BASE, rows[::-1]))]
    assert sorted(rev) == sorted(ids)


def test_content_key_when_the_source_has_no_id() -> None:
    m = mapping(id=None)
    res = read(m, [line("x"), line("y")])  # identical content, different (ignored) ref
    assert [r["incident_id"] for r in rows_of(res)] == [
        "test-src:01/02/2020 13:45:530000:180000:Burglary",
        "test-src:01/02/2020 13:45:530000:180000:Burglary~1",
    ]


CANCEL = mapping(
    rules=[{"reason": "unfounded", "when": {"column": "ward", "equals": "-1"}, "cancels": True}]
)


def test_cancel_rule_drops_the_row_and_its_target_in_the_same_file() -> None:
    rows = [
        line("A"),
        line("B"),
        line("A", ward="-1"),  # cancels A
        line("C", ward="-1", east="bad"),  # target not in this file; bad x ignored
        line("D"),
        line("D"),
        line("D", ward="-1"),  # cancels the last copy of D
    ]
    res = read(CANCEL, rows)
    assert [r["incident_id"] for r in rows_of(res)] == ["test-src:B", "test-src:D"]
    assert res.counts["dropped:unfounded"] == 3
    assert res.counts["dropped:cancelled_by_unfounded"] == 2
    assert res.counts["pending:unfounded_target_not_in_file"] == 1
    assert res.cancels == ("test-src:C",)
    assert res.rejects == []
    # rows read = loaded + rejected + dropped
    dropped = sum(v for k, v in res.counts.items() if k.startswith("dropped:"))
    assert res.rows_read == res.table.num_rows + dropped


def test_apply_cancellations_across_files() -> None:
    earlier = read(CANCEL, [line("C"), line("E"), line("E")]).table
    later = read(CANCEL, [line("C", ward="-1"), line("E", ward="-1"), line("Z", ward="-1")])
    out, unresolved = apply_cancellations(earlier, list(later.cancels))
    assert out["incident_id"].to_pylist() == ["test-src:E"]  # E~1 went, E stays
    assert unresolved == ["test-src:Z"]  # for the store to apply
    assert apply_cancellations(earlier, []) == (earlier, [])


def test_invalid_utf8_repaired_as_latin1_when_declared() -> None:
    data = (HEADER + "\n" + line("1", notes="caf\xe9") + "\n").encode("latin-1")
    m = mapping(invalid_utf8="latin-1", free_text=["notes"], keep_free_text=["notes"])
    res = PartnerReader(m).read(SourceFile("p.csv", data), ReadContext())
    assert json.loads(rows_of(res)[0]["attrs"]) == {"notes": "café"}
    assert [i.reason for i in res.rejects] == ["repaired:decoded_latin1"]
    res = PartnerReader(BASE).read(SourceFile("p.csv", data), ReadContext())
    assert res.table.num_rows == 0
    assert (res.rejects[0].row, res.rejects[0].reason) == (2, "invalid_utf8")


def test_zipped_shapefile(tmp_path: Path) -> None:
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    w = shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shapefile.POINT)
    w.field("TYPE", "C", 20)
    w.field("occ_date", "D")
    w.field("x_coord", "N", 16, 6)
    w.field("y_coord", "N", 16, 6)
    w.point(530000, 180000)
    w.record("Burglary", "20160801", 530000, 180000)
    w.point(0, 0)
    w.record("Assault", "20160802", 0, 0)
    w.close()
    zpath = tmp_path / "calls.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for ext, buf in (("shp", shp), ("shx", shx), ("dbf", dbf)):
            zf.writestr(f"calls.{ext}", buf.getvalue())
    m = mapping(
        format="shapefile",
        id=None,
        time={"column": "occ_date", "formats": ["%Y-%m-%d"], "precision": "day"},
        location={"x": "x_coord", "y": "y_coord"},
        category={"column": "TYPE"},
    )
    b = read_batch([zpath], reader="partner", reader_options={"mapping": m})
    got = [
        (r["category"], r["t_start"].isoformat(), r["t_end"].isoformat(), r["x"], r["row_no"])
        for r in b.incidents.to_pylist()
    ]
    assert got == [
        ("burglary", "2016-08-01T00:00:00", "2016-08-02T00:00:00", 530000.0, 1),
        ("violent-crime", "2016-08-02T00:00:00", "2016-08-03T00:00:00", None, 2),
    ]


def test_registry_pipeline_and_sniffing(tmp_path: Path) -> None:
    f = tmp_path / "extract.csv"
    f.write_text(HEADER + "\n" + line() + "\n")
    b = read_batch([f], reader="partner", reader_options={"mapping": BASE})
    assert b.incidents["incident_id"].to_pylist() == ["test-src:A1"]
    assert b.files[0].reader == "partner" and b.files[0].source == "test-src"
    assert get_reader("partner", mapping=BASE).sniff(SourceFile(str(f), f.read_bytes()))
    with pytest.raises(TypeError):
        get_reader("partner")
    # Sniffing never picks the partner reader (it needs a mapping).
    assert sniff_reader(SourceFile(str(f), f.read_bytes())) is None


def test_partner_rows_land_in_the_store_hashed_and_unchanged(tmp_path: Path, store: Store) -> None:
    """Attrs with HMAC-hashed identifiers, exact times and repeats survive each backend."""
    m = mapping(personal_identifiers=["name"], keep=["ward"], free_text=["notes"])
    f = tmp_path / "extract.csv"
    rows = [
        line("1", name="Jane Q Public", notes="lives upstairs"),
        # A quoted field with a comma, quotes, a percent sign and a non-ASCII letter.
        line("2", when="2020-06-30 23:59", name="", ward='"W\u00e9st ""2"", 50%"'),
        line("1", east="0", north="0", name="Jane Q Public"),  # repeat, no location
    ]
    f.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    opts = {"mapping": m}
    rep = ingest(store, [f], reader="partner", reader_options=opts, pii_key=KEY)
    assert (rep.rows_read, rep.rows_inserted, rep.rows_rejected) == (3, 3, 0)
    stored = sorted(store.incidents().arrow.to_pylist(), key=lambda r: r["incident_id"])
    read = read_batch([f], reader="partner", reader_options=opts, pii_key=KEY).incidents
    assert stored == sorted(read.to_pylist(), key=lambda r: r["incident_id"])
    jane = hmac.new(KEY, b"Jane Q Public", hashlib.sha256).hexdigest()
    got = {r["incident_id"]: json.loads(r["attrs"]) for r in stored}
    assert got == {
        "test-src:1": {"ward": "W1", "name": jane},
        "test-src:1~1": {"ward": "W1", "name": jane},
        "test-src:2": {"ward": 'W\u00e9st "2", 50%', "name": None},
    }
    times = {r["incident_id"]: (r["t_start"].isoformat(), r["t_end"].isoformat()) for r in stored}
    assert times["test-src:2"] == ("2020-06-30T23:59:00", "2020-07-01T00:00:00")
    everything = json.dumps([store.table(t).to_pylist() for t in TABLES], default=str)
    assert jane in everything
    for clear in ("Jane", "Public", "upstairs"):
        assert clear not in everything
    # The same file again is skipped, whatever the backend.
    again = ingest(store, [f], reader="partner", reader_options=opts, pii_key=KEY)
    assert (again.files, again.skipped) == (0, (str(f),))


# --------------------------------------------------------------- real data
def stl_manifest(stl_dir: Path) -> dict[str, dict[str, str]]:
    with open(stl_dir / "MANIFEST.csv", newline="") as fh:
        return {r["file"].split("/", 1)[1]: r for r in csv.DictReader(fh)}


LATIN1 = {
    "october2015",
    "april2016",
    "august2016",
    "march2016",
    "january2017",
    "march2017",
    "december2019",
}
# St. Louis city limits (about 90.32-90.17 W, 38.53-38.77 N) in UTM 15N.
STL_CITY_UTM = (732_000, 4_267_500, 747_500, 4_296_500)
# Portland city limits (about 122.84-122.47 W, 45.43-45.65 N) in UTM 10N.
PDX_CITY_UTM = (512_000, 5_030_000, 542_000, 5_056_000)


def share_inside(t: pa.Table, box: tuple[int, int, int, int]) -> float:
    located = t.filter(pa.compute.not_equal(t["loc_precision"], "none"))
    x = located["x"].to_numpy()
    y = located["y"].to_numpy()
    w, s, e, n = box
    return float(np.mean((x >= w) & (x <= e) & (y >= s) & (y <= n)))


@pytest.mark.slow
def test_every_st_louis_file_ingests(stl_dir: Path) -> None:
    b = read_batch(
        [stl_dir / "data" / "raw"],
        reader="partner",
        reader_options={"mapping": "stl-slmpd"},
        policy="quarantine",
    )
    man = stl_manifest(stl_dir)
    assert len(b.files) == len(man) == 60
    for f in b.files:
        row = man[f.path.split(str(stl_dir) + "/", 1)[1]]
        c = f.counts
        assert f.rows_read == int(row["rows"]), f.path
        assert c.get("dropped:unfounded", 0) == int(row["count_minus1"]), f.path
        dropped = sum(v for k, v in c.items() if k.startswith("dropped:"))
        assert f.rows_read == f.rows_loaded + f.rows_rejected + dropped, f.path
        # Zero-XY rows are kept without location unless dropped or rejected.
        assert c.get("kept:no_location", 0) <= int(row["zero_xy"])
        assert int(row["zero_xy"]) - c.get("kept:no_location", 0) <= dropped + f.rows_rejected
        latin1 = Path(f.path).name.removesuffix(".csv.gz") in LATIN1
        assert (c.get("repaired:decoded_latin1", 0) > 0) == latin1, f.path
    # The only refusals are implausible dates, among them the 1900 placeholder.
    assert {i.reason for i in b.rejects} == {"implausible_date"}
    assert any(i.value and i.value.startswith(("01/01/1900", "1/1/1900")) for i in b.rejects)
    assert all(i.column == "DateOccur" and i.row and i.row > 1 for i in b.rejects)
    inc = IncidentTable(b.incidents)
    assert inc.has_exact_times()
    assert set(inc.column("t_precision")) == {"minute"}
    assert share_inside(b.incidents, STL_CITY_UTM) > 0.999
    # may2017 (renamed columns) is read like the others.
    may = [f for f in b.files if f.path.endswith("may2017.csv.gz")][0]
    assert may.rows_loaded > 0.9 * may.rows_read


def test_st_louis_file_strict(stl_dir: Path) -> None:
    # A file whose quirks (zero XY, Count -1, leading spaces) are all handled
    # by declared rules ingests under the strict policy.
    f = stl_dir / "data" / "raw" / "2015" / "april2015.csv.gz"
    b = read_batch([f], reader="partner", reader_options={"mapping": "stl-slmpd"})
    row = stl_manifest(stl_dir)["data/raw/2015/april2015.csv.gz"]
    assert b.rows_read == int(row["rows"]) and b.rejects == []
    assert b.counts["dropped:unfounded"] == int(row["count_minus1"])
    t = b.incidents
    assert set(t["source"].to_pylist()) == {"stl-slmpd"}
    assert all(i.startswith("stl-slmpd:") for i in t["incident_id"].to_pylist())
    assert share_inside(t, STL_CITY_UTM) > 0.999
    assert len(set(t["incident_id"].to_pylist())) == t.num_rows


def test_portland_two_months(portland_dir: Path) -> None:
    zips = sorted((portland_dir / "data" / "nij").glob("0*_Data.zip"))
    b = read_batch(zips, reader="partner", reader_options={"mapping": "nij-portland"})
    assert [f.rows_read for f in b.files] == [19_376, 18_443]
    aug, sep = b.files
    # The one record without date and coordinates is the all-blank last one.
    assert aug.counts.get("dropped:empty_record") == 1 and "dropped:empty_record" not in sep.counts
    assert b.rejects == []
    for f in b.files:
        dropped = sum(v for k, v in f.counts.items() if k.startswith("dropped:"))
        assert f.rows_read == f.rows_loaded + dropped
    inc = IncidentTable(b.incidents)
    assert set(inc.column("t_precision")) == {"day"}
    months = inc.months()
    assert set(months.astype(str)) == {"2016-08", "2016-09"}
    assert share_inside(b.incidents, PDX_CITY_UTM) > 0.99
    assert set(b.incidents["crs"].to_pylist()) == {32610}
    attrs = json.loads(b.incidents["attrs"][0].as_py())
    assert set(attrs) == {"CATEGORY", "CALL_GROUP", "CASE_DESC", "census_tra"}


def test_optional_columns_time_column_and_conditions() -> None:
    m = mapping(
        outcome="notes",
        location={"text": "ward"},
        time={"column": "when", "time_column": "name", "formats": ["%Y-%m-%d %H%M"]},
        category={"slice": [0, 4], "labels": {"Burg": "burglary"}},
        rules=[
            {"reason": "test_ref", "when": {"column": "ref", "matches": r"TEST-\d+"}},
            {"reason": "closed_ward", "when": {"column": "ward", "in": ["W8", "W9"]}},
        ],
    )
    rows = [
        line("A", "2020-02-01", name="0930", notes="Charged", ward="High St"),
        line("TEST-1", "2020-02-01", name="0930"),
        line("TEST-1b", "2020-02-01", name="0930", ward="W9"),
    ]
    res = read(m, rows)
    (r,) = rows_of(res)
    assert (r["incident_id"], r["outcome"], r["location"], r["category"]) == (
        "test-src:A",
        "Charged",
        "High St",
        "burglary",
    )
    assert r["t_start"].isoformat() == "2020-02-01T09:30:00"
    assert res.counts["dropped:test_ref"] == 1 and res.counts["dropped:closed_ward"] == 1


def test_not_after_and_month_precision() -> None:
    m = mapping(time={"precision": "month", "not_after": "2020-12-31"})
    res = read(m, [line("A", "15/02/2020 10:00"), line("B", "01/01/2021 00:00")])
    (r,) = rows_of(res)
    assert (r["t_start"].isoformat(), r["t_end"].isoformat()) == (
        "2020-02-01T00:00:00",
        "2020-03-01T00:00:00",
    )
    i = issue(res, "implausible_date")
    assert (i.row, i.value) == (3, "01/01/2021 00:00") and "on or before 2020-12-31" in i.detail
