"""Analyst annotations: human oversight of hot spots and forecasts.

Forecasts are decision support. An analyst can note, confirm or dismiss a
flagged place (a unit id: grid cell, H3 cell or LSOA) with a written
reason; the annotation is stored and audited in one transaction, and the
map shows it next to the forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crimemap.errors import InputError
from crimemap.safeguards._tables import AUDIT_LOCK
from crimemap.safeguards.access import Principal, authorise
from crimemap.safeguards.audit import _append

__all__ = ["ANNOTATION_ACTIONS", "Annotation", "annotate", "list_annotations"]

#: What an analyst can do to a flagged place.
ANNOTATION_ACTIONS = ("dismiss", "confirm", "note")


@dataclass(frozen=True)
class Annotation:
    """One stored annotation (see :func:`annotate`)."""

    annotation_id: int
    ts: datetime
    user: str
    unit_id: str
    action: str
    reason: str
    audit_seq: int


def annotate(
    store: Any,
    principal: Principal,
    unit_id: str,
    action: str,
    reason: str,
    *,
    force: str | None = None,
    now: datetime | None = None,
) -> Annotation:
    """Store an analyst's annotation of a place and audit it.

    Parameters
    ----------
    principal : Principal
        Must hold the ``annotate`` action (analyst or admin; for ``force``).
    unit_id : str
        The place (e.g. ``"g250:1234:5678"``). Places only: never a person.
    action : {"dismiss", "confirm", "note"}
    reason : str
        Why (required, at most 2,000 characters).

    Raises
    ------
    crimemap.errors.AccessDenied
        If the principal may not annotate.
    crimemap.errors.InputError
        For an unknown action or an empty reason.
    """
    authorise(principal, "annotate", force)
    if action not in ANNOTATION_ACTIONS:
        raise InputError(
            f"unknown annotation action {action!r}; use {', '.join(ANNOTATION_ACTIONS)}"
        )
    reason = (reason or "").strip()
    if not reason:
        raise InputError("an annotation needs a reason")
    if len(reason) > 2000 or not unit_id or len(unit_id) > 200:
        raise InputError("annotation reason (max 2000) or unit id (max 200) too long or empty")
    now = (now or datetime.now(UTC)).replace(tzinfo=None)
    with store.transaction() as tx:
        # The id is allocated under the audit lock, so concurrent writers in
        # other processes cannot take the same one.
        tx.lock(AUDIT_LOCK)
        (aid,) = tx.execute(
            "SELECT coalesce(max(annotation_id), 0) + 1 FROM annotations"
        ).fetchone() or (1,)
        row = _append(
            tx,
            actor=principal.user,
            role=principal.role.value,
            action="annotate",
            force=force,
            area=unit_id,
            n_rows=1,
            detail={"annotation_id": int(aid), "action": action, "reason": reason},
            now=now,
        )
        tx.execute(
            "INSERT INTO annotations VALUES (?, ?, ?, ?, ?, ?, ?)",
            [aid, now, principal.user, unit_id, action, reason, row.seq],
        )
    return Annotation(int(aid), now, principal.user, unit_id, action, reason, row.seq)


def list_annotations(store: Any, *, unit_id: str | None = None) -> list[Annotation]:
    """Stored annotations (of one place when ``unit_id`` is given), oldest first."""
    with store.transaction() as tx:
        rows = tx.execute(
            """SELECT annotation_id, ts, user_name, unit_id, action, reason, audit_seq
               FROM annotations WHERE CAST(? AS TEXT) IS NULL OR unit_id = ?
               ORDER BY annotation_id""",
            [unit_id, unit_id],
        ).fetchall()
    return [Annotation(*r) for r in rows]
