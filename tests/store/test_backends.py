"""The store contract, run against every backend (DuckDB and PostgreSQL + PostGIS).

Hand-made police.uk files give hand-derived expectations; a few real months
from data.police.uk check that both backends end up with identical tables.
"""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crimemap.errors import IngestError, NotFoundError, StoreError
from crimemap.ingest import ingest, read_batch
from crimemap.ingest.pipeline import Batch, FileRecord
from crimemap.store import DuckDBStore, Store, open_store
from crimemap.table import IncidentTable

from ..ingest._helpers import row, write
from .conftest import OpenStore

OUT_HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
    "LSOA name,Outcome type"
)
TABLES = ("incidents", "outcomes", "stop_search", "files", "batches", "rejects", "ingest_counts")
#: Columns that record when a row was written (differ between any two runs).
CLOCK = {"ingested_at", "updated_at", "started_at", "finished_at"}


def out_row(cid: str, month: str, outcome: str) -> str:
    return (
        f"{cid},{month},North Yorkshire Police,North Yorkshire Police,-1.08,53.96,"
        f"On or near High Street,E01013335,York 012A,{outcome}"
    )


def snapshot(st: Store) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows, in a canonical order, without the wall-clock columns."""
    snap = {}
    for name in TABLES:
        rows = [{k: v for k, v in r.items() if k not in CLOCK} for r in st.table(name).to_pylist()]
        snap[name] = sorted(rows, key=lambda r: [(v is None, str(v)) for v in r.values()])
    return snap


def three_files(d: Path) -> list[Path]:
    return [
        write(
            d / "2024-01-north-yorkshire-street.csv",
            [row("a"), row("b", cat="Drugs"), row("n", lon="", lat="", lsoa="")],
        ),
        write(
            d / "2024-02-north-yorkshire-street.csv",
            [row("c", month="2024-02", lon="-1.5", lat="54.0")],
        ),
        write(
            d / "2024-02-south-yorkshire-street.csv",
            [row("d", month="2024-02", lon="-1.47", lat="53.38")],
        ),
    ]


@pytest.fixture()
def filled(store: Store, tmp_path: Path) -> Store:
    ingest(store, three_files(tmp_path))
    return store


# ----------------------------------------------------------------- ingest
def test_ingest_hand_made_files(store: Store, tmp_path: Path) -> None:
    rep = ingest(store, three_files(tmp_path))
    assert (rep.batch_id, rep.files, rep.rows_read, rep.rows_inserted) == (1, 3, 5, 5)
    assert rep.rows_updated == 0 and rep.rows_rejected == 0
    assert rep.counts == {"kept:no_location": 1}
    inc = store.incidents()
    assert sorted(inc.column("incident_id")) == ["a", "b", "c", "d", "n"]
    assert store.next_file_id() == 4
    assert len(store.checksums()) == 3
    files = store.table("files").to_pylist()
    assert {f["file_id"] for f in files} == {1, 2, 3} and {f["batch_id"] for f in files} == {1}
    (b,) = store.table("batches").to_pylist()
    assert (b["batch_id"], b["files"], b["rows_inserted"], b["policy"]) == (1, 3, 5, "strict")


def test_ingest_is_idempotent(filled: Store, tmp_path: Path) -> None:
    before = snapshot(filled)
    again = ingest(filled, three_files(tmp_path / "copy"))  # same bytes, other names
    assert again.files == 0 and len(again.skipped) == 3 and again.batch_id == 0
    assert snapshot(filled) == before


def test_strict_refusal_leaves_store_unchanged(filled: Store, tmp_path: Path) -> None:
    before = snapshot(filled)
    good = write(tmp_path / "r" / "2024-03-north-yorkshire-street.csv", [row("x1", "2024-03")])
    bad = write(tmp_path / "r" / "2024-04-north-yorkshire-street.csv", [row("x2", "2024-13")])
    with pytest.raises(IngestError):
        ingest(filled, [good, bad])
    assert snapshot(filled) == before


def test_quarantine_records_rejects(store: Store, tmp_path: Path) -> None:
    f = write(
        tmp_path / "2024-02-north-yorkshire-street.csv",
        [row("q1"), row("q2", month="bad"), row("q3", lon="9.9"), row("q4") + ",x", row("q5")],
    )
    rep = ingest(store, [f], policy="quarantine")
    assert (rep.rows_read, rep.rows_inserted, rep.rows_rejected) == (5, 2, 3)
    rej = {(r["row_no"], r["reason"], r["batch_id"]) for r in store.table("rejects").to_pylist()}
    assert rej == {(3, "unparseable_month", 1), (4, "outside_uk", 1), (5, "wrong_field_count", 1)}
    assert dict(store.status().rejects_by_reason) == {
        "unparseable_month": 1,
        "outside_uk": 1,
        "wrong_field_count": 1,
    }


@pytest.mark.parametrize("at", ["_write_outcomes", "_apply_cancels"])
def test_interrupted_batch_leaves_store_unchanged(
    filled: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at: str
) -> None:
    """An interruption after the incidents are written (mid-transaction) rolls everything back."""
    before = snapshot(filled)
    files = [
        write(tmp_path / "i" / "2024-03-north-yorkshire-street.csv", [row("e", "2024-03")]),
        write(tmp_path / "i" / "2024-04-north-yorkshire-street.csv", [row("a", outcome="Done")]),
    ]

    def boom(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(type(filled), at, staticmethod(boom))
    with pytest.raises(KeyboardInterrupt):
        ingest(filled, files)
    monkeypatch.undo()
    assert snapshot(filled) == before
    # The store is still usable and the batch lands in full when retried.
    rep = ingest(filled, files)
    assert (rep.rows_inserted, rep.rows_updated) == (1, 1)


def test_failure_at_commit_time_rolls_back(filled: Store, tmp_path: Path) -> None:
    """A constraint violation on the last table written (files.sha256) undoes the incidents too."""
    before = snapshot(filled)
    batch = read_batch(
        [write(tmp_path / "f" / "2024-05-north-yorkshire-street.csv", [row("z", "2024-05")])],
        first_file_id=filled.next_file_id(),
    )
    f = batch.files[0]
    batch.files[0] = FileRecord(**{**f.__dict__, "sha256": next(iter(filled.checksums()))})
    with pytest.raises(StoreError):
        filled.write_batch(batch)
    assert snapshot(filled) == before


def test_repeated_crime_id_updates_the_outcome(filled: Store, tmp_path: Path) -> None:
    f = write(
        tmp_path / "u" / "2024-03-north-yorkshire-street.csv",
        [row("a", outcome="Offender given a caution"), row("b"), row("e", "2024-03")],
    )
    rep = ingest(filled, [f])
    # a: new outcome; b: same outcome as stored (no update); e: new incident.
    assert (rep.rows_inserted, rep.rows_updated) == (1, 1)
    inc = filled.table("incidents").to_pylist()
    by_id = {r["incident_id"]: r for r in inc}
    assert len(inc) == 6
    assert by_id["a"]["outcome"] == "Offender given a caution"
    assert by_id["a"]["updated_at"] is not None and by_id["b"]["updated_at"] is None


def test_outcomes_file_latest_month_wins(filled: Store, tmp_path: Path) -> None:
    f = write(
        tmp_path / "o" / "2024-03-north-yorkshire-outcomes.csv",
        [
            out_row("a", "2024-03", "Court result unavailable"),
            out_row("a", "2024-02", "Under investigation"),
            # Same month: the first in file order wins.
            out_row("b", "2024-03", "Local resolution"),
            out_row("b", "2024-03", "Formal action is not in the public interest"),
            out_row("zz", "2024-03", "Local resolution"),  # not a stored crime
        ],
        header=OUT_HEADER,
    )
    rep = ingest(filled, [f])
    assert (rep.outcomes, rep.rows_updated, rep.rows_inserted) == (5, 2, 0)
    by_id = {r["incident_id"]: r["outcome"] for r in filled.table("incidents").to_pylist()}
    assert by_id["a"] == "Court result unavailable"
    assert by_id["b"] == "Local resolution"
    assert filled.status().outcomes == 5


def _incident_batch(ids: list[str], file_id: int, cancels: list[str] | None = None) -> Batch:
    inc = IncidentTable.from_columns(
        incident_id=ids,
        category=["burglary"] * len(ids),
        t_start=["2024-01-01"] * len(ids),
        file_id=[file_id] * len(ids),
        row_no=list(range(2, len(ids) + 2)),
    )
    b = Batch(policy="strict", incidents=inc.arrow, cancels=list(cancels or []))
    b.files.append(
        FileRecord(
            file_id, f"f{file_id}.csv", f"{file_id:064d}", 1, "partner", "incidents", "synthetic",
            len(ids), len(ids), 0, {},
        )
    )  # fmt: skip
    return b


def test_cancels_delete_the_highest_copy(store: Store) -> None:
    store.write_batch(_incident_batch(["x", "x~1", "x~2", "x~1~3", "y", "xy~4"], 1))
    rep = store.write_batch(_incident_batch([], 2, cancels=["x", "x", "z", "y"]))
    ids = {r["incident_id"] for r in store.table("incidents").to_pylist()}
    # Two cancels of x take x~2 then x~1; "x~1~3" is a copy of "x~1", "xy~4" of "xy".
    assert ids == {"x", "x~1~3", "xy~4"}
    assert rep.counts["dropped:cancelled_in_store"] == 3
    assert rep.counts["unresolved:cancel_target_not_found"] == 1
    counts = {r["reason"]: r["n"] for r in store.table("ingest_counts").to_pylist()}
    assert counts["dropped:cancelled_in_store"] == 3


TRICKY = [
    "",
    None,
    "a,b",
    'say "hi"',
    "line\nbreak\r\n",
    "back\\slash",
    "\\N",
    "NULL",
    "ünï €",
    "{a,b}",
    "t",
]


def test_values_round_trip_exactly(store: Store) -> None:
    """Text, nulls, floats and times come back as written (COPY encoding both ways)."""
    n = len(TRICKY)
    inc = IncidentTable.from_columns(
        incident_id=[f"r{i}" for i in range(n)],
        category=["burglary"] * n,
        t_start=["1900-01-01T00:00:00", "2099-12-31T23:59:00"] + ["2024-02-29T13:45:00"] * (n - 2),
        t_precision=["minute"] * n,
        x=[0.1 + 0.2, -1e-300, 1e300, 123456.78901234567] + [float(i) for i in range(n - 4)],
        y=[5e5 / 3] * n,
        lon=[-1.2345678901234567] * n,
        lat=[None] * n,
        raw_category=TRICKY,
        location=list(reversed(TRICKY)),
        attrs=['{"k": "v\\"}'] + TRICKY[1:],
        lsoa=TRICKY,
        file_id=[1] * n,
        row_no=list(range(2, n + 2)),
    )
    b = _incident_batch([], 1)
    b.incidents = inc.arrow
    store.write_batch(b)
    assert store.incidents().arrow.equals(inc.arrow)
    assert store.incidents(sources=TRICKY[2:]).arrow.num_rows == 0


# ---------------------------------------------------------------- queries
def test_incident_filters(filled: Store) -> None:
    assert len(filled.incidents()) == 5
    assert set(filled.incidents(forces=["south-yorkshire"]).column("incident_id")) == {"d"}
    assert set(filled.incidents(categories=["drugs"]).column("incident_id")) == {"b"}
    assert set(filled.incidents(sources=["police.uk"]).column("incident_id")) == set("abcdn")
    assert len(filled.incidents(sources=["other"])) == 0
    assert set(filled.incidents(start="2024-02-01").column("incident_id")) == {"c", "d"}
    assert set(filled.incidents(end="2024-02-01").column("incident_id")) == {"a", "b", "n"}
    assert len(filled.incidents(forces=[])) == 0
    assert list(filled.incidents().column("incident_id")) == ["a", "b", "n", "c", "d"]


def test_bbox_is_half_open(filled: Store) -> None:
    inc = filled.incidents(forces=["north-yorkshire"])
    x, y = inc.xy()[list(inc.column("incident_id")).index("c")]
    assert list(filled.incidents(bbox=(x - 1, y - 1, x + 1, y + 1)).column("incident_id")) == ["c"]
    assert list(filled.incidents(bbox=(x, y, x + 1, y + 1)).column("incident_id")) == ["c"]
    assert len(filled.incidents(bbox=(x - 1, y - 1, x, y))) == 0  # max edge excluded
    both = filled.incidents(bbox=(x - 1, 0, x + 1, 1e7), start="2024-02-01")
    assert list(both.column("incident_id")) == ["c"]


def test_hostile_filter_values_are_data_not_sql(filled: Store) -> None:
    evil = "x'); DROP TABLE incidents; --"
    assert len(filled.incidents(forces=[evil], categories=[evil], sources=[evil])) == 0
    assert len(filled.incidents()) == 5
    with pytest.raises(NotFoundError):
        filled.table("incidents; DROP TABLE files")


def test_status(filled: Store) -> None:
    s = filled.status()
    assert s.incidents == 5 and s.files == 3
    assert s.by_force == [("north-yorkshire", 4), ("south-yorkshire", 1)]
    assert s.by_month == [("2024-01", 3), ("2024-02", 2)]
    assert s.by_source == [("police.uk", 5)]
    assert dict(s.by_category) == {"burglary": 4, "drugs": 1}
    assert s.with_coordinates == 4 and s.with_lsoa == 4
    assert dict(s.counts_by_reason)["kept:no_location"] == 1
    assert filled.forces() == ["north-yorkshire", "south-yorkshire"]


def test_export_parquet(filled: Store, tmp_path: Path) -> None:
    out = tmp_path / "x" / "inc.parquet"
    assert filled.export_parquet("incidents", out) == 5
    t = pq.read_table(out)
    assert t.num_rows == 5 and t.column_names == filled.table("incidents").column_names
    assert filled.export_parquet("files", tmp_path / "files.parquet") == 3
    with pytest.raises(NotFoundError):
        filled.export_parquet("incidents; DROP TABLE files", out)


def test_reopen_and_read_only(open_store_of: OpenStore, tmp_path: Path) -> None:
    st = open_store_of()
    ingest(st, three_files(tmp_path))
    st.close()
    with open_store_of(read_only=True) as ro:
        assert len(ro.incidents()) == 5 and ro.next_file_id() == 4


# ------------------------------------------------------- across backends
def _same_tables(a: Store, b: Store) -> None:
    ia = a.incidents().arrow.sort_by("incident_id")
    ib = b.incidents().arrow.sort_by("incident_id")
    assert ia.num_rows == ib.num_rows
    for c in ia.column_names:
        assert ia[c].equals(ib[c]), f"incidents.{c} differs between backends"
    sa, sb = snapshot(a), snapshot(b)
    for name in TABLES:
        assert sa[name] == sb[name], f"table {name} differs between backends"
    # DuckDB leaves ties in the count-ordered lists unordered; PostgreSQL orders them by key.
    sa_, sb_ = a.status(), b.status()
    for f in ("by_category", "rejects_by_reason", "counts_by_reason"):
        pg_list = getattr(sb_, f)
        assert pg_list == sorted(pg_list, key=lambda kv: (-kv[1], kv[0]))
        assert sorted(getattr(sa_, f), key=lambda kv: (-kv[1], kv[0])) == pg_list, f
    strip = dict.fromkeys(("by_category", "rejects_by_reason", "counts_by_reason"), [])
    assert replace(sa_, **strip) == replace(sb_, **strip)
    assert a.forces() == b.forces()


@pytest.mark.parametrize("indexes", ["maintained", "rebuilt"])
def test_backends_agree_on_hand_made_files(
    both: dict[str, OpenStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, indexes: str
) -> None:
    """Both write paths of the PostgreSQL store (indexes kept or rebuilt) match DuckDB."""
    import crimemap.store.postgres as pgmod

    rebuild = indexes == "rebuilt"
    monkeypatch.setattr(pgmod, "rebuild_pays", lambda b, n: rebuild or n == 0)
    files = three_files(tmp_path)
    later = write(
        tmp_path / "l" / "2024-03-north-yorkshire-street.csv",
        [row("a", outcome="Local resolution"), row("e", "2024-03"), row("bad", "2024-13")],
    )
    stores = {k: open_() for k, open_ in both.items()}
    reps = {
        k: (ingest(s, files), ingest(s, [later], policy="quarantine")) for k, s in stores.items()
    }
    assert reps["duckdb"] == reps["postgres"]
    assert reps["postgres"][1].rows_updated == 1 and reps["postgres"][1].rows_inserted == 1
    _same_tables(stores["duckdb"], stores["postgres"])
    idx = stores["postgres"].sql(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = 'incidents'"
    )
    assert set(idx["indexname"].to_pylist()) == {
        "incidents_geom_gist",
        "incidents_incident_id_key",
        "incidents_force_t_start",
        "incidents_t_start",
        "incidents_file_row",
    }


@pytest.mark.slow
def test_backends_agree_on_real_months(both: dict[str, OpenStore], police_uk: Path) -> None:
    """Two batches of real months (street, outcomes, stop-and-search): identical stores."""
    first = sorted((police_uk / "2022-02").glob("*.csv.gz"))
    second = sorted((police_uk / "2022-03").glob("*.csv.gz"))
    assert len(first) == 4 and len(second) == 4
    stores = {k: open_() for k, open_ in both.items()}
    reps = {k: [ingest(s, first), ingest(s, second), ingest(s, first + second)]
            for k, s in stores.items()}  # fmt: skip
    assert reps["duckdb"] == reps["postgres"]
    r1, r2, r3 = reps["postgres"]
    assert r1.rows_inserted > 20_000 and r2.rows_updated > 0 and r2.outcomes > 0
    assert r3.files == 0 and len(r3.skipped) == 8
    _same_tables(stores["duckdb"], stores["postgres"])
    a, b = stores["duckdb"], stores["postgres"]
    box = (420_000.0, 560_000.0, 430_000.0, 570_000.0)  # central Newcastle, BNG metres
    ia, ib = (
        a.incidents(bbox=box, categories=["burglary"]),
        b.incidents(bbox=box, categories=["burglary"]),
    )
    assert len(ia) > 0 and ia.arrow.equals(ib.arrow)


def test_open_store_url_and_errors(pg_url: str, pg_schema: str) -> None:
    import psycopg
    from psycopg import sql

    from crimemap.store.postgres import PostgresStore

    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg_schema)))
    # The schema chosen in the URL, as a deployment would (libpq's "options").
    url = f"{pg_url}?options=-csearch_path%3D{pg_schema}%2Cpublic"
    with open_store(url) as st:
        assert isinstance(st, PostgresStore) and st.url == url
        assert st.sql("SELECT current_schema() AS s")["s"].to_pylist() == [pg_schema]
        assert st.status().incidents == 0
    with pytest.raises(StoreError) as ei:
        open_store("postgresql://nobody:secret@127.0.0.1:1/none")
    assert "secret" not in str(ei.value) and "nobody:***@" in str(ei.value)


def test_bbox_uses_the_gist_index(pg_url: str, pg_schema: str) -> None:
    from crimemap.store.postgres import PostgresStore

    with PostgresStore(pg_url, schema=pg_schema) as st:
        n = 5000
        st.write_batch(_incident_batch([f"g{i}" for i in range(n)], 1))
        st.sql("UPDATE incidents SET x = 400000 + (row_no % 100) * 10, y = 500000 + row_no")
        st.sql("ANALYZE incidents")
        q, params = st.incidents_query(bbox=(400000.0, 500000.0, 400010.0, 500300.0))
        plan = st.sql("EXPLAIN " + q, params)
        text = "\n".join(str(v) for v in plan.column(0).to_pylist())
        assert "incidents_geom_gist" in text
        got = st.incidents(bbox=(400000.0, 500000.0, 400010.0, 500300.0))
        assert sorted(got.column("row_no")) == [100, 200]


def test_sql_of_the_postgres_store_never_formats_values() -> None:
    """Every f-string in the PostgreSQL store's SQL interpolates only constants or whitelisted names."""
    src = Path(__file__).resolve().parents[2] / "src" / "crimemap" / "store" / "postgres.py"
    allowed = {"_INC_COLS", "_INC_TABLE_COLS", "cols", "name", "where", "join"}
    for node in ast.walk(ast.parse(src.read_text())):
        if isinstance(node, ast.JoinedStr) and any(
            isinstance(v, ast.Constant)
            and any(k in str(v.value) for k in ("SELECT", "INSERT", "UPDATE"))
            for v in node.values
        ):
            for v in node.values:
                if isinstance(v, ast.FormattedValue):
                    names = {n.id for n in ast.walk(v.value) if isinstance(n, ast.Name)}
                    assert names <= allowed, f"line {node.lineno}: {names}"


def test_duckdb_store_is_the_reference(tmp_path: Path) -> None:
    """Sanity of the comparison itself: two DuckDB stores fed the same files agree."""
    a, b = DuckDBStore(tmp_path / "a.duckdb"), DuckDBStore(tmp_path / "b.duckdb")
    for s in (a, b):
        ingest(s, three_files(tmp_path))
    _same_tables(a, b)
    assert pa.Table.equals(
        a.table("files").drop(["ingested_at"]), b.table("files").drop(["ingested_at"])
    )


def test_postgres_sql_returns_typed_arrow(pg_url: str, pg_schema: str) -> None:
    """``sql()`` speaks PostgreSQL with %s placeholders and maps types to Arrow."""
    from crimemap.store.postgres import PostgresStore

    with PostgresStore(pg_url, schema=pg_schema) as st:
        t = st.sql(
            "SELECT %s::int AS a, %s::text AS b, %s::float8 AS c, now()::timestamp AS d, "
            "count(*) AS n FROM incidents",
            [7, "it's", 0.5],
        )
        assert [f.type for f in t.schema] == [
            pa.int32(),
            pa.string(),
            pa.float64(),
            pa.timestamp("us"),
            pa.int64(),
        ]
        assert t.to_pylist()[0] | {"d": None} == {"a": 7, "b": "it's", "c": 0.5, "d": None, "n": 0}
        assert st.sql("SELECT 7 % 3 AS m")["m"].to_pylist() == [1]  # no params: % is SQL
        assert st.sql("SELECT 1 AS x WHERE false").num_rows == 0
        with pytest.raises(StoreError):
            st.sql("SELECT * FROM no_such_table")
        assert len(st.incidents()) == 0  # the connection survives a failed query


def test_batches_read_against_the_same_next_file_id_get_distinct_ids(
    store: Store, tmp_path: Path
) -> None:
    """Two writers (API workers) read batches at once; the second is renumbered, not refused."""
    a = write(tmp_path / "2024-01-north-yorkshire-street.csv", [row("a"), row("b")])
    b = write(tmp_path / "2024-02-north-yorkshire-street.csv", [row("c", month="2024-02")])
    first = store.next_file_id()
    ba = read_batch([a], first_file_id=first)
    bb = read_batch([b], first_file_id=first)
    ra, rb = store.write_batch(ba), store.write_batch(bb)
    assert ra.file_ids == (first,) and rb.file_ids == (first + 1,)
    by_file = {
        r["incident_id"]: r["file_id"]
        for r in store.query("SELECT incident_id, file_id FROM incidents").to_pylist()
    }
    assert by_file == {"a": first, "b": first, "c": first + 1}
    files = store.query("SELECT file_id, path FROM files ORDER BY file_id").to_pylist()
    assert [Path(f["path"]).name for f in files] == [a.name, b.name]
