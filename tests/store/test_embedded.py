"""The embedded DuckDB store: queries, status, export, URLs, parameterised SQL."""

from __future__ import annotations

import ast
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from crimemap.errors import InputError, NotFoundError, StoreError
from crimemap.ingest import ingest
from crimemap.store import DuckDBStore, open_store

from ..ingest._helpers import row, write


@pytest.fixture()
def store(tmp_path: Path) -> DuckDBStore:
    st = DuckDBStore(tmp_path / "s.duckdb")
    ingest(
        st,
        [
            write(
                tmp_path / "2024-01-north-yorkshire-street.csv",
                [row("a"), row("b", cat="Drugs"), row("n", lon="", lat="", lsoa="")],
            ),
            write(
                tmp_path / "2024-02-north-yorkshire-street.csv",
                [row("c", month="2024-02", lon="-1.5", lat="54.0")],
            ),
            write(
                tmp_path / "2024-02-south-yorkshire-street.csv",
                [row("d", month="2024-02", lon="-1.47", lat="53.38")],
            ),
        ],
    )
    return st


def test_incident_filters(store: DuckDBStore) -> None:
    assert len(store.incidents()) == 5
    assert set(store.incidents(forces=["south-yorkshire"]).column("incident_id")) == {"d"}
    assert set(store.incidents(categories=["drugs"]).column("incident_id")) == {"b"}
    assert set(store.incidents(start="2024-02-01").column("incident_id")) == {"c", "d"}
    assert set(store.incidents(end="2024-02-01").column("incident_id")) == {"a", "b", "n"}
    inc = store.incidents(forces=["north-yorkshire"])
    x, y = inc.xy()[list(inc.column("incident_id")).index("c")]
    got = store.incidents(bbox=(x - 1, y - 1, x + 1, y + 1))
    assert list(got.column("incident_id")) == ["c"]


def test_hostile_filter_values_are_data_not_sql(store: DuckDBStore) -> None:
    evil = "x'); DROP TABLE incidents; --"
    assert len(store.incidents(forces=[evil], categories=[evil])) == 0
    assert len(store.incidents()) == 5


def test_status(store: DuckDBStore) -> None:
    s = store.status()
    assert s.incidents == 5 and s.files == 3
    assert dict(s.by_force) == {"north-yorkshire": 4, "south-yorkshire": 1}
    assert dict(s.by_month) == {"2024-01": 3, "2024-02": 2}
    assert s.with_coordinates == 4 and s.with_lsoa == 4
    assert dict(s.counts_by_reason)["kept:no_location"] == 1
    assert store.forces() == ["north-yorkshire", "south-yorkshire"]


def test_export_parquet(store: DuckDBStore, tmp_path: Path) -> None:
    out = tmp_path / "x" / "inc.parquet"
    assert store.export_parquet("incidents", out) == 5
    t = pq.read_table(out)
    assert t.num_rows == 5 and "incident_id" in t.column_names
    with pytest.raises(NotFoundError):
        store.export_parquet("incidents; DROP TABLE files", out)


def test_open_store_urls(tmp_path: Path) -> None:
    p = tmp_path / "u.duckdb"
    for url in (str(p), f"duckdb:///{p}"):
        with open_store(url) as st:
            assert isinstance(st, DuckDBStore) and Path(st.path) == p
    with pytest.raises(StoreError):
        open_store("postgresql://user@127.0.0.1:1/db")  # nothing listens on port 1
    with pytest.raises(InputError):
        open_store("mysql://x")


def test_read_only_store_shares_data(store: DuckDBStore) -> None:
    path = store.path
    store.close()
    with DuckDBStore(path, read_only=True) as ro:
        assert len(ro.incidents()) == 5


def test_sql_layer_never_formats_values_into_sql() -> None:
    """Every f-string in the store's SQL interpolates only module constants or whitelisted names."""
    src = Path(__file__).resolve().parents[2] / "src" / "crimemap" / "store" / "embedded.py"
    tree = ast.parse(src.read_text())
    allowed = {"_INC_COLS", "latest", "name", "where"}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and any(
            "SELECT" in (v.value if isinstance(v, ast.Constant) else "")
            or "INSERT" in (v.value if isinstance(v, ast.Constant) else "")
            or "UPDATE" in (v.value if isinstance(v, ast.Constant) else "")
            for v in node.values
        ):
            for v in node.values:
                if isinstance(v, ast.FormattedValue):
                    names = {n.id for n in ast.walk(v.value) if isinstance(n, ast.Name)}
                    assert names <= allowed | {"join"}, f"line {node.lineno}: {names}"
