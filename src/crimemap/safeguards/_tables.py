"""Tables owned by the safeguards (users, tokens, audit log, annotations).

They live in the same database as the incidents and are created by the
store itself (the embedded store's ``CREATE TABLE IF NOT EXISTS``, the
PostgreSQL store's migration 3). Every statement that touches them goes
through the store's portable SQL surface (``store.query``,
``store.transaction``), parameterised; only hashes of API tokens are ever
stored.
"""

from __future__ import annotations

from crimemap.errors import StoreError
from crimemap.store import Store
from crimemap.store._schema import SAFEGUARD_TABLES

__all__ = ["AUDIT_LOCK", "SAFEGUARD_TABLES", "ensure_tables"]

#: Name of the lock that serialises appends to the audit chain (and the ids
#: allocated with them) across threads and processes.
AUDIT_LOCK = "crimemap.audit_log"


def ensure_tables(store: Store) -> None:
    """Check that the safeguard tables exist (the store creates them when opened read-write).

    Raises
    ------
    crimemap.errors.StoreError
        If they are missing (a store only ever opened read-only by an older version).
    """
    for name in SAFEGUARD_TABLES:
        try:
            store.query(f"SELECT 1 FROM {name} WHERE FALSE")  # noqa: S608 (constant names)
        except StoreError as exc:
            raise StoreError(
                f"the safeguard table {name!r} is missing: open the store read-write once "
                f"to create it ({exc})"
            ) from exc
