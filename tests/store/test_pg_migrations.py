"""Versioned schema of the PostgreSQL store: upgrade, idempotence, refusal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crimemap.errors import StoreError
from crimemap.store.base import Store


@pytest.fixture()
def conn(pg_url: str, pg_schema: str) -> Iterator[Any]:
    """An autocommit connection whose search path starts at a fresh schema."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg_schema)))
        c.execute(
            "SELECT set_config('search_path', quote_ident(%s) || ', public', false)", [pg_schema]
        )
        yield c


def _open(pg_url: str, schema: str | None, **kw: Any) -> Store:
    from crimemap.store.postgres import PostgresStore

    return PostgresStore(pg_url, schema=schema, **kw)


def _local(conn: Any, name: str) -> Any:
    """The relation ``name`` in the test's own schema (not one further down the path)."""
    return conn.execute(
        "SELECT to_regclass(quote_ident(current_schema()) || '.' || quote_ident(%s))", [name]
    ).fetchone()[0]


def _versions(conn: Any) -> list[int]:
    return [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]


def test_upgrade_from_version_1_keeps_data_and_adds_spatial_index(
    conn: Any, pg_url: str, pg_schema: str
) -> None:
    from crimemap.store._pg_migrations import current_version, latest_version, migrate

    assert migrate(conn, target=1) == [1]
    assert current_version(conn) == 1
    # A database written at version 1: two located incidents, one without a location.
    conn.execute(
        """INSERT INTO incidents (incident_id, source, force, category, t_start, t_end,
               t_precision, x, y, crs, loc_precision, file_id, row_no)
           VALUES ('a', 'police.uk', 'f', 'burglary', '2024-01-01', '2024-02-01', 'month',
                   450000, 500000, 27700, 'snap', 1, 2),
                  ('b', 'police.uk', 'f', 'drugs', '2024-01-01', '2024-02-01', 'month',
                   460000, 510000, 27700, 'snap', 1, 3),
                  ('c', 'police.uk', 'f', 'drugs', '2024-01-01', '2024-02-01', 'month',
                   NULL, NULL, 27700, 'none', 1, 4)"""
    )
    conn.execute(
        "INSERT INTO files (file_id, batch_id, path, sha256) VALUES (1, 1, 'f.csv', 'abc')"
    )
    conn.execute("INSERT INTO batches (batch_id, policy, files) VALUES (1, 'strict', 1)")
    assert _local(conn, "incidents_geom_gist") is None

    with _open(pg_url, pg_schema) as st:  # opening upgrades
        assert _versions(conn) == list(range(1, latest_version() + 1))
        assert st.next_file_id() == 2 and st.checksums() == {"abc"}
        got = st.incidents(bbox=(449_999.0, 499_999.0, 450_001.0, 500_001.0))
        assert list(got.column("incident_id")) == ["a"]
        assert len(st.incidents()) == 3
    geoms = dict(
        conn.execute(
            "SELECT incident_id, ST_AsText(geom) || ' ' || ST_SRID(geom) FROM incidents"
        ).fetchall()
    )
    assert geoms == {
        "a": "POINT(450000 500000) 27700",
        "b": "POINT(460000 510000) 27700",
        "c": None,
    }
    indexes = {
        r[0]
        for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        )
    }
    assert {
        "incidents_geom_gist",
        "incidents_incident_id_key",
        "incidents_force_t_start",
    } <= indexes
    (method,) = conn.execute(
        "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
        "WHERE c.oid = to_regclass(current_schema() || '.incidents_geom_gist')"
    ).fetchone()
    assert method == "gist"


def test_migrate_is_idempotent(conn: Any) -> None:
    from crimemap.store._pg_migrations import MIGRATIONS, migrate

    assert migrate(conn) == [m.version for m in MIGRATIONS]
    assert migrate(conn) == []
    assert _versions(conn) == [m.version for m in MIGRATIONS]
    # Versions are numbered 1..n without gaps, in order.
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


def test_failed_migration_is_rolled_back(conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from crimemap.store import _pg_migrations as pm

    bad = pm.Migration(
        len(pm.MIGRATIONS) + 1,
        "broken",
        ("CREATE TABLE half_done (a INTEGER)", "SELECT no_such_function()"),
    )
    monkeypatch.setattr(pm, "MIGRATIONS", (*pm.MIGRATIONS, bad))
    with pytest.raises(StoreError, match="rolled back"):
        pm.migrate(conn)
    # The good migrations stay applied; nothing of the broken one remains.
    assert _versions(conn) == list(range(1, bad.version))
    assert _local(conn, "half_done") is None


def test_newer_database_is_refused(conn: Any, pg_url: str, pg_schema: str) -> None:
    from crimemap.store._pg_migrations import latest_version, migrate

    migrate(conn)
    conn.execute(
        "INSERT INTO schema_version (version, description) VALUES (%s, 'from the future')",
        [latest_version() + 1],
    )
    with pytest.raises(StoreError, match="newer"):
        _open(pg_url, pg_schema)


def test_read_only_store_needs_the_latest_schema(conn: Any, pg_url: str, pg_schema: str) -> None:
    from crimemap.store._pg_migrations import migrate

    migrate(conn, target=1)
    with pytest.raises(StoreError, match="upgrade"):
        _open(pg_url, pg_schema, read_only=True)
    _open(pg_url, pg_schema).close()  # read-write open upgrades
    with _open(pg_url, pg_schema, read_only=True) as ro:
        assert len(ro.incidents()) == 0
        with pytest.raises(StoreError):
            ro.sql("CREATE TABLE nope (a INTEGER)")


def test_a_store_never_uses_the_tables_of_a_schema_further_down_the_path(
    pg_url: str, pg_schema: str
) -> None:
    """Schema B ahead of schema A on the path gets tables of its own, not A's."""
    import psycopg
    from psycopg import sql

    other = pg_schema + "_b"
    url_a = f"{pg_url}?options=-csearch_path%3D{pg_schema}%2Cpublic"
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg_schema)))
    try:
        with _open(url_a, None) as a:
            a.sql("INSERT INTO files (file_id, sha256) VALUES (1, 'in-a')")
        with _open(url_a, other) as b:  # path: other, pg_schema, public
            assert b.checksums() == set() and b.next_file_id() == 1
            assert b.sql("SELECT current_schema() AS s")["s"].to_pylist() == [other]
        with _open(url_a, None) as a:
            assert a.checksums() == {"in-a"}
    finally:
        with psycopg.connect(pg_url, autocommit=True) as c:
            c.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(other)))
