"""Append-only, hash-chained audit log.

Every access to restricted data, every ingest, every user change, every
export, every retention run and every analyst annotation is recorded as one
row: who (actor and role), when (UTC), what (action), which force and area,
how many rows, and a JSON ``detail``.

Method
------
Rows are numbered ``seq = 1, 2, ...`` and chained: each row stores
``prev_hash`` (the previous row's ``hash``; 64 zeros for the first row) and
``hash = sha256(prev_hash + canonical_json(row))`` where ``canonical_json``
is the row's own fields (``seq``, ``ts``, ``actor``, ``role``, ``action``,
``force``, ``area``, ``n_rows``, ``detail``) serialised with sorted keys and
no whitespace. Editing any field of a row changes its hash, so the stored
hash no longer matches (:func:`verify_chain` reports that row); deleting a
row leaves a gap in ``seq`` and breaks the next row's ``prev_hash`` link
(reported at the row after the gap). Deleting the *last* rows cannot be
seen from the table alone: anchor :func:`chain_head` outside the database
(e.g. print it into the operations log daily) and pass it to
:func:`verify_chain` as ``expected_head``.

The library never updates or deletes audit rows; the chain makes tampering
by someone with write access to the file *detectable*, not impossible.

Several writers (API workers, the CLI) may append at once on a PostgreSQL
store: each append reads the head and inserts the next row in one
transaction holding a database-wide lock (:data:`AUDIT_LOCK`), so ``seq``
and ``prev_hash`` never fork. The chain is computed in Python from the same
values on both backends (timestamps are naive UTC with microseconds), so an
audit log copied from one backend to the other verifies unchanged.

References
----------
Schneier, B. & Kelsey, J. (1999). Secure audit logs to support computer
forensics. *ACM Transactions on Information and System Security* 2(2), 159-176.
Crosby, S. A. & Wallach, D. S. (2009). Efficient data structures for
tamper-evident logging. *USENIX Security Symposium*.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crimemap.errors import InputError
from crimemap.safeguards._tables import AUDIT_LOCK
from crimemap.store import Store, Transaction

__all__ = [
    "AUDITED_ACTIONS",
    "GENESIS",
    "AuditRow",
    "AuditVerdict",
    "audit_rows",
    "chain_head",
    "record",
    "row_hash",
    "verify_chain",
]

#: Hash that the first row chains to.
GENESIS = "0" * 64

#: Actions the library and the API record (free text is refused so that the
#: log stays queryable). ``data.*`` = access to restricted (record-level or
#: force-scoped) data.
AUDITED_ACTIONS = frozenset(
    {
        "auth.failed",
        "auth.denied",
        "data.incidents",
        "data.hotspots",
        "data.forecast",
        "data.plan",
        "data.explain",
        "data.series",
        "data.backtest",
        "export",
        "ingest",
        "user.add",
        "user.revoke",
        "settings.change",
        "retention",
        "annotate",
        "fairness.report",
        "transparency.record",
    }
)

_FIELDS = ("seq", "ts", "actor", "role", "action", "force", "area", "n_rows", "detail")


@dataclass(frozen=True)
class AuditRow:
    """One audit record.

    Attributes
    ----------
    seq : int
        Position in the chain (1-based, gap-free).
    ts : datetime
        When (UTC, naive).
    actor, role : str
        Who: user name (or ``"cli"``/``"system"``) and role.
    action : str
        One of :data:`AUDITED_ACTIONS`.
    force, area : str or None
        Which force and which area (cell id, bbox or LSOA) the action touched.
    n_rows : int or None
        How many rows were read, written, exported or deleted.
    detail : str
        Canonical JSON of further parameters.
    prev_hash, hash : str
        Chain links (hex sha256).
    """

    seq: int
    ts: datetime
    actor: str
    role: str
    action: str
    force: str | None
    area: str | None
    n_rows: int | None
    detail: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditVerdict:
    """Result of :func:`verify_chain`.

    Attributes
    ----------
    ok : bool
        True when every row links and hashes correctly.
    rows : int
        Rows checked.
    first_bad_row : int or None
        ``seq`` of the first row where the chain breaks (for a deleted row:
        the row after the gap), ``None`` when ``ok``.
    reason : str
        Plain-language explanation (empty when ``ok``).
    head : str
        Hash of the last row (:data:`GENESIS` for an empty log).
    """

    ok: bool
    rows: int
    first_bad_row: int | None
    reason: str
    head: str


def _canonical(fields: Mapping[str, Any]) -> str:
    def conv(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.isoformat(timespec="microseconds")
        return v

    return json.dumps(
        {k: conv(fields[k]) for k in _FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def row_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """``sha256(prev_hash + canonical_json(fields))`` as hex."""
    return hashlib.sha256((prev_hash + _canonical(fields)).encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _append(
    tx: Transaction,
    *,
    actor: str,
    role: str,
    action: str,
    force: str | None,
    area: str | None,
    n_rows: int | None,
    detail: Mapping[str, Any] | None,
    now: datetime | None,
) -> AuditRow:
    """Append one row inside the caller's transaction (which then holds :data:`AUDIT_LOCK`)."""
    if action not in AUDITED_ACTIONS:
        raise InputError(f"unknown audit action {action!r}")
    # The head is read under the lock, so no other writer can chain to it too.
    tx.lock(AUDIT_LOCK)
    last = tx.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (1, GENESIS) if last is None else (int(last[0]) + 1, str(last[1]))
    fields = {
        "seq": seq,
        "ts": (now or _now()).replace(tzinfo=None),
        "actor": str(actor),
        "role": str(role),
        "action": action,
        "force": force,
        "area": area,
        "n_rows": None if n_rows is None else int(n_rows),
        "detail": json.dumps(
            dict(detail or {}), sort_keys=True, separators=(",", ":"), default=str
        ),
    }
    h = row_hash(prev, fields)
    tx.execute(
        "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [*(fields[k] for k in _FIELDS), prev, h],
    )
    return AuditRow(**fields, prev_hash=prev, hash=h)  # type: ignore[arg-type]


def record(
    store: Store,
    actor: Any,
    action: str,
    *,
    force: str | None = None,
    area: str | None = None,
    n_rows: int | None = None,
    detail: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditRow:
    """Append one audit row (in its own transaction).

    Parameters
    ----------
    store : Store
        The store (either backend).
    actor : Principal or str
        Who acted: a :class:`~crimemap.safeguards.access.Principal` (its user
        and role are recorded) or a plain name such as ``"cli"`` (role
        ``"system"``).
    action : str
        One of :data:`AUDITED_ACTIONS`.
    force, area, n_rows, detail
        What was touched (see :class:`AuditRow`).
    now : datetime, optional
        Timestamp (UTC); defaults to the current time.
    """
    name, role = _actor(actor)
    with store.transaction() as tx:
        return _append(
            tx,
            actor=name,
            role=role,
            action=action,
            force=force,
            area=area,
            n_rows=n_rows,
            detail=detail,
            now=now,
        )


def _actor(actor: Any) -> tuple[str, str]:
    if isinstance(actor, str):
        return actor, "system"
    role = getattr(actor, "role", "system")
    return str(actor.user), str(getattr(role, "value", role))


def audit_rows(store: Store, *, limit: int | None = None) -> list[AuditRow]:
    """Audit rows in chain order (the last ``limit`` rows when given)."""
    cols = ", ".join((*_FIELDS, "prev_hash", "hash"))
    with store.transaction() as tx:
        if limit is None:
            rows = tx.execute(f"SELECT {cols} FROM audit_log ORDER BY seq").fetchall()  # noqa: S608 (constant columns)
        else:
            rows = tx.execute(
                f"SELECT * FROM (SELECT {cols} FROM audit_log ORDER BY seq DESC LIMIT ?) AS t ORDER BY seq",  # noqa: S608 (constant columns)
                [int(limit)],
            ).fetchall()
    return [AuditRow(*r) for r in rows]


def chain_head(store: Store) -> str:
    """Hash of the last audit row (anchor it outside the database)."""
    rows = audit_rows(store, limit=1)
    return rows[-1].hash if rows else GENESIS


def verify_chain(store: Store, *, expected_head: str | None = None) -> AuditVerdict:
    """Recompute the chain and report the first row where it breaks.

    Parameters
    ----------
    store : Store
        The store (either backend).
    expected_head : str, optional
        A previously anchored :func:`chain_head`; the verdict fails if no row
        carries it (the tail was truncated or rewritten).

    Returns
    -------
    AuditVerdict
    """
    rows = audit_rows(store)
    prev = GENESIS
    for i, r in enumerate(rows, start=1):
        fields = {k: getattr(r, k) for k in _FIELDS}
        if r.seq != i:
            what = "deleted" if r.seq > i else "duplicated or renumbered"
            return AuditVerdict(
                False, len(rows), r.seq, f"row(s) {what}: expected seq {i}, found {r.seq}", prev
            )
        if r.prev_hash != prev:
            return AuditVerdict(
                False, len(rows), r.seq, "prev_hash does not match the previous row's hash", prev
            )
        if row_hash(prev, fields) != r.hash:
            return AuditVerdict(
                False, len(rows), r.seq, "row content does not match its hash (edited)", prev
            )
        prev = r.hash
    if expected_head is not None and expected_head not in {r.hash for r in rows} | {GENESIS}:
        return AuditVerdict(
            False,
            len(rows),
            len(rows) + 1,
            "the anchored head is missing: rows were deleted from the end of the log",
            prev,
        )
    return AuditVerdict(True, len(rows), None, "", prev)
