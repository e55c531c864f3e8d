"""Cancellations (St. Louis "unfounded" rows) across files and across batches."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa

from crimemap.ingest import ingest, read_batch
from crimemap.ingest._cancel import apply_cancellations
from crimemap.ingest.pipeline import Batch, FileRecord
from crimemap.store import Store


def test_apply_cancellations_drops_highest_copy_first() -> None:
    t = pa.table({"incident_id": ["a", "a~1", "b", "c"]})
    out, unresolved = apply_cancellations(t, ["a", "c", "z"])
    assert out["incident_id"].to_pylist() == ["a", "b"]
    assert unresolved == ["z"]


def _store_with(st: Store) -> Store:
    """``st`` holding two stored incidents (test set-up through the portable surface)."""
    day, next_day = datetime(2024, 1, 1), datetime(2024, 1, 2)
    for iid in ("testpd:1", "testpd:2"):
        st.execute(
            "INSERT INTO incidents (incident_id, source, force, category, t_start, t_end, "
            "t_precision, loc_precision) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [iid, "testpd", "x", "burglary", day, next_day, "day", "none"],
        )
    return st


def test_store_applies_unresolved_cancels_in_the_same_transaction(store: Store) -> None:
    st = _store_with(store)
    from crimemap.ingest.pipeline import Batch

    b = Batch(policy="strict")
    b.cancels = ["testpd:1", "testpd:404"]
    # A batch with no files writes nothing; give it a file record.
    from crimemap.ingest.pipeline import FileRecord

    b.files.append(
        FileRecord(1, "f.csv", "0" * 64, 1, "partner", "incidents", "testpd", 1, 0, 0, {})
    )
    rep = st.write_batch(b)
    ids = {r["incident_id"] for r in st.table("incidents").to_pylist()}
    assert ids == {"testpd:2"}
    assert rep.counts["dropped:cancelled_in_store"] == 1
    assert rep.counts["unresolved:cancel_target_not_found"] == 1


def test_store_resolves_cancels_by_the_same_rule_as_a_batch(store: Store) -> None:
    """A cancel reaching into the store takes what it would take within one batch.

    A copy is ``<id>~<digits>``; an id that itself ends in ``~<digits>`` is a
    copy of its stem, never the target of a cancel naming it in full.
    """
    ids = ["x", "x~1", "x~2", "x~1~3", "y~1", "z~7", "w", "w~10", "w~9", "v~1a"]
    cancels = ["x", "x~1", "y~1", "z", "w", "w", "v~1a", "q"]
    day = datetime(2024, 1, 1)
    for iid in ids:
        store.execute(
            "INSERT INTO incidents (incident_id, source, force, category, t_start, t_end, "
            "t_precision, loc_precision) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [iid, "testpd", "x", "burglary", day, day, "day", "none"],
        )
    kept, unresolved = apply_cancellations(pa.table({"incident_id": ids}), cancels)
    b = Batch(policy="strict", cancels=cancels)
    b.files.append(
        FileRecord(1, "f.csv", "1" * 64, 1, "partner", "incidents", "testpd", 1, 0, 0, {})
    )
    rep = store.write_batch(b)
    stored = store.query("SELECT incident_id FROM incidents").column(0).to_pylist()
    assert sorted(stored) == sorted(kept["incident_id"].to_pylist())
    assert rep.counts["dropped:cancelled_in_store"] == len(cancels) - len(unresolved)
    assert rep.counts["unresolved:cancel_target_not_found"] == len(unresolved)


def test_real_st_louis_cancels_across_files_and_batches(stl_dir: Path, store: Store) -> None:
    raw = stl_dir / "data" / "raw" / "2019"
    months = ["january", "february", "march", "april"]
    files = [raw / f"{m}2019.csv.gz" for m in months]
    opts = {"mapping": "stl-slmpd"}
    one = read_batch(files, reader="partner", reader_options=opts, policy="quarantine")
    pending = sum(f.counts.get("pending:unfounded_target_not_in_file", 0) for f in one.files)
    across = one.counts.get("dropped:cancelled_across_files", 0)
    assert pending > 0 and across > 0
    assert pending == across + len(one.cancels)
    # The same files in two batches: cancels reaching back into the first
    # batch are applied by the store, so the end state is the same.
    st = store
    ingest(st, files[:1], reader="partner", reader_options=opts, policy="quarantine")
    rep = ingest(st, files[1:], reader="partner", reader_options=opts, policy="quarantine")
    assert rep.counts.get("dropped:cancelled_in_store", 0) > 0
    stored = set(st.query("SELECT incident_id FROM incidents").column(0).to_pylist())
    assert stored == set(one.incidents["incident_id"].to_pylist())
    # Row for row too: times, coordinates and partner attrs come back as read.
    assert by_id(st.incidents().arrow) == by_id(one.incidents)


def by_id(t: pa.Table) -> list[dict[str, object]]:
    return sorted(t.to_pylist(), key=lambda r: str(r["incident_id"]))
