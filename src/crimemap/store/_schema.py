"""DDL of the embedded store (schema version 1).

The safeguards' tables (users, tokens, audit log, annotations) live in the
same database; the store creates them with its own (the PostgreSQL store
in migration 3 of :mod:`crimemap.store._pg_migrations`).
"""

from __future__ import annotations

SCHEMA_VERSION = 1

#: Tables that may be read or exported by name (a whitelist: table names are
#: never taken from user input into SQL text otherwise).
TABLES = ("incidents", "outcomes", "stop_search", "files", "batches", "rejects", "ingest_counts")

#: Tables owned by the safeguards (only hashes of API tokens are ever stored).
SAFEGUARD_TABLES = ("users", "tokens", "audit_log", "annotations")

DDL = [
    """CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS batches (
        batch_id BIGINT PRIMARY KEY, started_at TIMESTAMP, finished_at TIMESTAMP,
        policy VARCHAR, files INTEGER, rows_read BIGINT, rows_inserted BIGINT,
        rows_updated BIGINT, rows_rejected BIGINT)""",
    """CREATE TABLE IF NOT EXISTS files (
        file_id BIGINT PRIMARY KEY, batch_id BIGINT, path VARCHAR, sha256 VARCHAR UNIQUE,
        size BIGINT, reader VARCHAR, target VARCHAR, source VARCHAR, rows_read BIGINT,
        rows_loaded BIGINT, rows_rejected BIGINT, ingested_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS incidents (
        incident_id VARCHAR NOT NULL, source VARCHAR NOT NULL, force VARCHAR NOT NULL,
        category VARCHAR NOT NULL, raw_category VARCHAR, t_start TIMESTAMP NOT NULL,
        t_end TIMESTAMP NOT NULL, t_precision VARCHAR NOT NULL, lon DOUBLE, lat DOUBLE,
        x DOUBLE, y DOUBLE, crs INTEGER, loc_precision VARCHAR NOT NULL, location VARCHAR,
        lsoa VARCHAR, outcome VARCHAR, file_id BIGINT, row_no BIGINT,
        attrs VARCHAR, ingested_at TIMESTAMP, updated_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS outcomes (
        crime_id VARCHAR, force VARCHAR, month TIMESTAMP, outcome VARCHAR, lsoa VARCHAR,
        file_id BIGINT, row_no BIGINT)""",
    """CREATE TABLE IF NOT EXISTS stop_search (
        force VARCHAR, type VARCHAR, t TIMESTAMPTZ, operation VARCHAR, lon DOUBLE, lat DOUBLE,
        x DOUBLE, y DOUBLE, gender VARCHAR, age_range VARCHAR, self_defined_ethnicity VARCHAR,
        officer_defined_ethnicity VARCHAR, legislation VARCHAR, object_of_search VARCHAR,
        outcome VARCHAR, outcome_linked VARCHAR, removal_of_clothing VARCHAR,
        file_id BIGINT, row_no BIGINT)""",
    """CREATE TABLE IF NOT EXISTS rejects (
        batch_id BIGINT, file VARCHAR, row_no BIGINT, "column" VARCHAR, value VARCHAR,
        reason VARCHAR, detail VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS ingest_counts (
        batch_id BIGINT, file_id BIGINT, reason VARCHAR, n BIGINT)""",
    # The safeguards' tables.
    """CREATE TABLE IF NOT EXISTS users (
        name VARCHAR PRIMARY KEY, role VARCHAR NOT NULL, forces VARCHAR[] NOT NULL,
        created_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS tokens (
        token_id VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL, hash VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS audit_log (
        seq BIGINT PRIMARY KEY, ts TIMESTAMP NOT NULL, actor VARCHAR NOT NULL,
        role VARCHAR NOT NULL, action VARCHAR NOT NULL, force VARCHAR, area VARCHAR,
        n_rows BIGINT, detail VARCHAR NOT NULL, prev_hash VARCHAR NOT NULL,
        hash VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS annotations (
        annotation_id BIGINT PRIMARY KEY, ts TIMESTAMP NOT NULL, user_name VARCHAR NOT NULL,
        unit_id VARCHAR NOT NULL, action VARCHAR NOT NULL, reason VARCHAR NOT NULL,
        audit_seq BIGINT NOT NULL)""",
]
