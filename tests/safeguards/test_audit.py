"""Hash-chained audit log: rows for each audited action, verify_chain on tampering."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import pytest

from crimemap.errors import AccessDenied, InputError
from crimemap.safeguards import (
    GENESIS,
    Principal,
    Role,
    annotate,
    audit_rows,
    chain_head,
    list_annotations,
    record,
    verify_chain,
)
from crimemap.safeguards.audit import row_hash
from crimemap.table import IncidentTable

ANALYST = Principal("ann", Role.ANALYST, frozenset({"northumbria"}))
T = datetime(2025, 1, 2, 3, 4, 5, 678901)


def _fill(store, n=5):
    for i in range(n):
        record(
            store,
            ANALYST,
            "data.incidents",
            force="northumbria",
            area=f"g250:{i}:0",
            n_rows=i,
            now=T,
        )


def test_hash_is_sha256_of_prev_plus_canonical_json(store):
    row = record(store, "cli", "ingest", n_rows=12, detail={"files": 2}, now=T)
    fields = {
        "seq": 1,
        "ts": "2025-01-02T03:04:05.678901",
        "actor": "cli",
        "role": "system",
        "action": "ingest",
        "force": None,
        "area": None,
        "n_rows": 12,
        "detail": '{"files":2}',
    }
    canon = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    assert row.hash == hashlib.sha256((GENESIS + canon).encode()).hexdigest()
    assert row.prev_hash == GENESIS
    row2 = record(store, "cli", "export", now=T)
    assert row2.prev_hash == row.hash and row2.seq == 2


def test_intact_chain_verifies(store):
    assert verify_chain(store).ok and verify_chain(store).rows == 0
    _fill(store)
    v = verify_chain(store)
    assert v.ok and v.rows == 5 and v.first_bad_row is None and v.head == chain_head(store)


@pytest.mark.parametrize(
    ("column", "value"), [("n_rows", 999), ("actor", "mallory"), ("area", "g250:9:9")]
)
def test_edited_row_is_detected_at_its_position(store, column, value):
    _fill(store)
    store.execute(f"UPDATE audit_log SET {column} = ? WHERE seq = 3", [value])
    v = verify_chain(store)
    assert not v.ok and v.first_bad_row == 3 and "edited" in v.reason


def test_edited_row_with_recomputed_hash_breaks_the_next_link(store):
    _fill(store)
    r = audit_rows(store)[2]
    fields = {
        k: getattr(r, k)
        for k in ("seq", "ts", "actor", "role", "action", "force", "area", "n_rows", "detail")
    }
    fields["n_rows"] = 0
    store.execute(
        "UPDATE audit_log SET n_rows = 0, hash = ? WHERE seq = 3", [row_hash(r.prev_hash, fields)]
    )
    v = verify_chain(store)
    assert not v.ok and v.first_bad_row == 4 and "prev_hash" in v.reason


def test_deleted_row_is_detected_after_the_gap(store):
    _fill(store)
    store.execute("DELETE FROM audit_log WHERE seq = 2")
    v = verify_chain(store)
    assert not v.ok and v.first_bad_row == 3 and "deleted" in v.reason


def test_deleted_and_renumbered_rows_are_detected(store):
    _fill(store)
    store.execute("DELETE FROM audit_log WHERE seq = 2")
    store.execute("UPDATE audit_log SET seq = seq - 1 WHERE seq > 2")
    v = verify_chain(store)
    assert not v.ok and v.first_bad_row == 2


def test_truncated_tail_needs_an_anchor(store):
    _fill(store)
    head = chain_head(store)
    store.execute("DELETE FROM audit_log WHERE seq = 5")
    assert verify_chain(store).ok  # undetectable from the table alone
    v = verify_chain(store, expected_head=head)
    assert not v.ok and v.first_bad_row == 5


def test_unknown_action_is_refused(store):
    with pytest.raises(InputError):
        record(store, "cli", "coffee")
    assert audit_rows(store) == []


def test_annotation_is_stored_and_audited(store):
    a = annotate(
        store,
        ANALYST,
        "g250:1:2",
        "dismiss",
        "  school fete, one-off  ",
        force="northumbria",
        now=T,
    )
    (stored,) = list_annotations(store, unit_id="g250:1:2")
    assert stored == a and stored.reason == "school fete, one-off"
    (row,) = audit_rows(store)
    assert row.action == "annotate" and row.area == "g250:1:2" and row.seq == a.audit_seq
    assert row.actor == "ann" and row.role == "analyst"
    assert verify_chain(store).ok
    with pytest.raises(InputError):
        annotate(store, ANALYST, "g250:1:2", "dismiss", "   ", force="northumbria")
    with pytest.raises(InputError):
        annotate(store, ANALYST, "g250:1:2", "arrest", "x", force="northumbria")
    with pytest.raises(AccessDenied):
        annotate(store, Principal("p", Role.PUBLIC, frozenset()), "g250:1:2", "note", "x")
    with pytest.raises(AccessDenied):
        annotate(store, ANALYST, "g250:1:2", "note", "x", force="leicestershire")
    assert len(audit_rows(store)) == 1  # refusals write nothing here (the API audits denials)


def _incidents():
    months = ["2023-01-01", "2023-06-01", "2024-01-01", "2024-05-01", "2024-06-01"]
    return IncidentTable.from_columns(
        category=["burglary"] * 5,
        t_start=months,
        t_precision=["month"] * 5,
        x=[1.0] * 5,
        y=[2.0] * 5,
        source=["test"] * 5,
        force=["f"] * 5,
        file_id=[1] * 5,
        row_no=list(range(2, 7)),
    )


def test_retention_deletes_old_incidents_and_audits_the_count(store):
    from crimemap.safeguards import apply_retention, retention_cutoff

    inc = _incidents()
    cols = inc.arrow.column_names
    for r in inc.arrow.to_pylist():
        store.execute(
            f"INSERT INTO incidents ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",  # noqa: S608
            [r[c] for c in cols],
        )
    now = datetime(2024, 6, 15)
    assert retention_cutoff(now, 12) == datetime(2023, 6, 1)
    rep = apply_retention(store, 12, now=now, actor="cli")
    assert rep.incidents == 1 and rep.cutoff == datetime(2023, 6, 1)
    assert store.query("SELECT count(*) AS n FROM incidents")["n"].to_pylist() == [4]
    (row,) = audit_rows(store)
    assert row.action == "retention" and row.n_rows == 1 and row.seq == rep.audit_seq
    assert json.loads(row.detail)["cutoff"] == "2023-06-01T00:00:00"
    rep2 = apply_retention(store, 1, now=now, actor="cli")
    assert rep2.incidents == 2  # keeps May and June 2024
    assert verify_chain(store).ok and len(audit_rows(store)) == 2
    with pytest.raises(InputError):
        apply_retention(store, 0, now=now, actor="cli")


def test_chain_is_identical_on_both_backends(tmp_path, pg_url):
    """Same values, same hashes: the chain does not depend on the backend's types."""
    from tests._backends import opener

    heads = {}
    for backend in ("duckdb", "postgres"):
        gen = opener(backend, tmp_path, pg_url)
        st = next(gen)()
        _fill(st)
        # (users get random token ids: a record with the same kind of detail instead)
        record(
            st, "cli", "user.add", detail={"forces": ["cleveland", "north"], "note": "café"}, now=T
        )
        annotate(st, ANALYST, "g250:1:2", "note", "checked on foot", force="northumbria", now=T)
        assert verify_chain(st).ok
        heads[backend] = [(r.seq, r.ts, r.detail, r.hash) for r in audit_rows(st)]
        next(gen, None)
    assert heads["duckdb"] == heads["postgres"] and len(heads["duckdb"]) == 7


_WRITER = """
import sys
from crimemap.safeguards import record
from crimemap.store.postgres import PostgresStore
st = PostgresStore(sys.argv[1], schema=sys.argv[2])
for i in range(int(sys.argv[3])):
    record(st, "worker-" + sys.argv[4], "data.incidents", area=f"g250:{i}:0", n_rows=i)
st.close()
"""


@pytest.mark.slow
def test_concurrent_writers_in_several_processes_never_fork_the_chain(pg_url, pg_schema):
    """Two processes and two threads append at once; seq and prev_hash stay one chain."""
    import os
    import subprocess
    import sys
    import threading

    from crimemap.store.postgres import PostgresStore

    n = 40
    st = PostgresStore(pg_url, schema=pg_schema)  # creates the tables before the writers start
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, pg_url, pg_schema, str(n), str(k)], env=os.environ
        )
        for k in range(2)
    ]
    # Two threads of this process, each with a store (connection) of its own.
    stores = [PostgresStore(pg_url, schema=pg_schema) for _ in range(2)]

    def local(k: int) -> None:
        for i in range(n):
            record(stores[k], f"thread-{k}", "data.incidents", area=f"g250:{i}:1", n_rows=i)

    threads = [threading.Thread(target=local, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(p.wait(120) == 0 for p in procs)
    v = verify_chain(st)
    assert v.ok, v.reason
    assert v.rows == 4 * n
    actors = {r.actor for r in audit_rows(st)}
    assert actors == {"worker-0", "worker-1", "thread-0", "thread-1"}
    for s in (*stores, st):
        s.close()
