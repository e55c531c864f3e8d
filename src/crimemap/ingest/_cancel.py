"""Cancellations: records that withdraw an earlier record (e.g. "unfounded")."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa

__all__ = ["apply_cancellations"]


def apply_cancellations(
    incidents: pa.Table, cancels: list[str] | tuple[str, ...]
) -> tuple[pa.Table, list[str]]:
    """Drop one incident per cancelled id: the copy with the highest ``~k``.

    For cancels that reach across the files of one batch
    (:attr:`PartnerReadResult.cancels`). ``cancels`` may repeat an id, once
    per cancelling row.

    Returns
    -------
    table : pyarrow.Table
        ``incidents`` without the cancelled rows.
    unresolved : list of str
        Cancels whose id is not (or not often enough) in ``incidents``: their
        target is in an earlier batch, i.e. already in the store.
    """
    want = Counter(cancels)
    if not want:
        return incidents, []
    copies: dict[str, list[tuple[int, int]]] = {}
    for row, iid in enumerate(incidents["incident_id"].to_pylist()):
        base, sep, k = iid.rpartition("~")
        if not sep or not k.isdigit():
            base, k = iid, "0"
        if base in want:
            copies.setdefault(base, []).append((int(k), row))
    drop = np.zeros(incidents.num_rows, bool)
    unresolved: list[str] = []
    for base, n in want.items():
        found = sorted(copies.get(base, []), reverse=True)[:n]
        for _, row in found:
            drop[row] = True
        unresolved += [base] * (n - len(found))
    return incidents.filter(pa.array(~drop)), unresolved
