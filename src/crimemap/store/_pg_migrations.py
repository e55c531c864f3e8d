"""Versioned schema of the PostgreSQL store: numbered migrations, each applied once.

The ``schema_version`` table records every migration applied (version,
description, time). :func:`migrate` applies the pending ones in order, each
in its own transaction under an advisory lock, so that a crash leaves the
database at the last complete version and two processes opening the same
database at once cannot both apply one migration.

Migrations are append-only: a released migration is never edited, a change
to the schema is a new migration.

Version 1 mirrors the embedded store's tables (:mod:`crimemap.store._schema`)
column for column. Text keys use the ``"C"`` collation so that comparison
and sort order are bytewise, as in DuckDB, whatever the database's locale.
Version 2 adds the PostGIS point on incidents (a generated column from
``x``/``y`` in the row's ``crs``) with its GiST index, the btree indexes
the queries use, and uniqueness of ``incident_id``. Version 3 adds the
safeguards' tables (users, tokens, the hash-chained audit log, annotations),
column for column those of the embedded store.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from crimemap.errors import StoreError

__all__ = ["MIGRATIONS", "Migration", "current_version", "latest_version", "migrate"]

#: Key of the advisory lock that serialises migrations and batch writes.
LOCK_KEY = 0x6372696D656D6170  # "crimemap"


@dataclass(frozen=True)
class Migration:
    """One schema step.

    Attributes
    ----------
    version : int
        Version reached once applied (1, 2, ... without gaps).
    description : str
        What it changes (stored in ``schema_version``).
    statements : tuple of str
        DDL run in order, in one transaction.
    """

    version: int
    description: str
    statements: tuple[str, ...]


_C = 'TEXT COLLATE "C"'

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "tables of the embedded store (schema 1)",
        (
            """CREATE TABLE batches (
                batch_id BIGINT PRIMARY KEY, started_at TIMESTAMP, finished_at TIMESTAMP,
                policy TEXT, files INTEGER, rows_read BIGINT, rows_inserted BIGINT,
                rows_updated BIGINT, rows_rejected BIGINT)""",
            f"""CREATE TABLE files (
                file_id BIGINT PRIMARY KEY, batch_id BIGINT, path TEXT, sha256 {_C} UNIQUE,
                size BIGINT, reader TEXT, target TEXT, source TEXT, rows_read BIGINT,
                rows_loaded BIGINT, rows_rejected BIGINT, ingested_at TIMESTAMP)""",
            f"""CREATE TABLE incidents (
                incident_id {_C} NOT NULL, source {_C} NOT NULL, force {_C} NOT NULL,
                category {_C} NOT NULL, raw_category TEXT, t_start TIMESTAMP NOT NULL,
                t_end TIMESTAMP NOT NULL, t_precision {_C} NOT NULL,
                lon DOUBLE PRECISION, lat DOUBLE PRECISION,
                x DOUBLE PRECISION, y DOUBLE PRECISION, crs INTEGER,
                loc_precision {_C} NOT NULL, location TEXT, lsoa {_C}, outcome TEXT,
                file_id BIGINT, row_no BIGINT, attrs TEXT,
                ingested_at TIMESTAMP, updated_at TIMESTAMP)""",
            f"""CREATE TABLE outcomes (
                crime_id {_C}, force {_C}, month TIMESTAMP, outcome TEXT, lsoa {_C},
                file_id BIGINT, row_no BIGINT)""",
            f"""CREATE TABLE stop_search (
                force {_C}, type TEXT, t TIMESTAMPTZ, operation TEXT,
                lon DOUBLE PRECISION, lat DOUBLE PRECISION,
                x DOUBLE PRECISION, y DOUBLE PRECISION, gender TEXT, age_range TEXT,
                self_defined_ethnicity TEXT, officer_defined_ethnicity TEXT, legislation TEXT,
                object_of_search TEXT, outcome TEXT, outcome_linked TEXT,
                removal_of_clothing TEXT, file_id BIGINT, row_no BIGINT)""",
            f"""CREATE TABLE rejects (
                batch_id BIGINT, file TEXT, row_no BIGINT, "column" TEXT, value TEXT,
                reason {_C}, detail TEXT)""",
            f"""CREATE TABLE ingest_counts (
                batch_id BIGINT, file_id BIGINT, reason {_C}, n BIGINT)""",
        ),
    ),
    Migration(
        2,
        "PostGIS point with GiST index; btree indexes; unique incident_id",
        (
            "CREATE EXTENSION IF NOT EXISTS postgis",
            # The point carries the row's own CRS; rows without both coordinates have none.
            """ALTER TABLE incidents ADD COLUMN geom geometry(Point) GENERATED ALWAYS AS (
                CASE WHEN x IS NOT NULL AND y IS NOT NULL
                     THEN ST_SetSRID(ST_MakePoint(x, y), coalesce(crs, 0)) END) STORED""",
            "CREATE INDEX incidents_geom_gist ON incidents USING gist (geom)",
            "CREATE UNIQUE INDEX incidents_incident_id_key ON incidents (incident_id)",
            "CREATE INDEX incidents_force_t_start ON incidents (force, t_start)",
            "CREATE INDEX incidents_t_start ON incidents (t_start)",
            "CREATE INDEX incidents_file_row ON incidents (file_id, row_no)",
            "CREATE INDEX outcomes_crime_id ON outcomes (crime_id)",
            "CREATE INDEX rejects_batch ON rejects (batch_id)",
        ),
    ),
    Migration(
        3,
        "safeguards: users, tokens, audit_log, annotations",
        (
            f"""CREATE TABLE users (
                name {_C} PRIMARY KEY, role {_C} NOT NULL, forces TEXT[] NOT NULL,
                created_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP)""",
            f"""CREATE TABLE tokens (
                token_id {_C} PRIMARY KEY, user_name {_C} NOT NULL, hash TEXT NOT NULL,
                created_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP)""",
            "CREATE INDEX tokens_user_name ON tokens (user_name)",
            # Append-only by the code's contract (and by grants in a deployment:
            # see docs/deployment.md); the chain makes edits detectable.
            f"""CREATE TABLE audit_log (
                seq BIGINT PRIMARY KEY, ts TIMESTAMP NOT NULL, actor {_C} NOT NULL,
                role {_C} NOT NULL, action {_C} NOT NULL, force {_C}, area {_C},
                n_rows BIGINT, detail TEXT NOT NULL, prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL)""",
            f"""CREATE TABLE annotations (
                annotation_id BIGINT PRIMARY KEY, ts TIMESTAMP NOT NULL,
                user_name {_C} NOT NULL, unit_id {_C} NOT NULL, action {_C} NOT NULL,
                reason TEXT NOT NULL, audit_seq BIGINT NOT NULL)""",
        ),
    ),
)


def latest_version() -> int:
    """The version this code writes and reads."""
    return MIGRATIONS[-1].version


def _ensure_version_table(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_version (
                version INTEGER PRIMARY KEY, description TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"""
        )


def current_version(conn: psycopg.Connection) -> int:
    """Highest applied version in the current schema (0 if it has no crimemap tables).

    Only the first schema of the search path counts: a store in schema ``a``
    must never take the ``schema_version`` of a store further down the path
    (e.g. ``public``) for its own.
    """
    row = conn.execute(
        "SELECT to_regclass(quote_ident(current_schema()) || '.schema_version') IS NOT NULL"
    ).fetchone()
    if not row or not row[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: psycopg.Connection, target: int | None = None) -> list[int]:
    """Apply the pending migrations up to ``target`` (default: the latest).

    ``conn`` must be in autocommit mode (each migration opens its own
    transaction).

    Returns
    -------
    list of int
        Versions applied by this call (empty if already up to date).

    Raises
    ------
    StoreError
        If the database is newer than this code, or a migration fails (the
        failed migration is rolled back; earlier ones stay applied).
    """
    target = latest_version() if target is None else target
    if not 0 <= target <= latest_version():
        raise StoreError(f"no schema version {target}; this code knows 1..{latest_version()}")
    try:
        if current_version(conn) == target == latest_version():
            return []  # up to date: no DDL, so a role without CREATE rights can open it
        if conn.execute("SELECT current_schema() IS NULL").fetchone() == (True,):
            raise StoreError(
                "no schema to create the tables in: the search_path names no existing schema"
            )
        _ensure_version_table(conn)
        have = current_version(conn)
        if have > latest_version():
            raise StoreError(
                f"the database schema is version {have}, newer than this crimemap "
                f"(version {latest_version()}); upgrade crimemap"
            )
        applied: list[int] = []
        for m in MIGRATIONS:
            if m.version > target:
                break
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
                # Another process may have applied it while we waited for the lock.
                if current_version(conn) >= m.version:
                    continue
                for stmt in m.statements:
                    conn.execute(stmt)  # constant DDL
                conn.execute(
                    "INSERT INTO schema_version (version, description) VALUES (%s, %s)",
                    [m.version, m.description],
                )
            applied.append(m.version)
        return applied
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StoreError(
            f"cannot upgrade the schema: {exc}. Create the PostGIS extension as a "
            "superuser first (CREATE EXTENSION postgis) or run the upgrade as the owner"
        ) from exc
    except psycopg.Error as exc:
        raise StoreError(f"schema migration failed and was rolled back: {exc}") from exc
