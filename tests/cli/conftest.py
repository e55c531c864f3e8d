"""CLI fixtures: a store URL of each backend, as a user passes it to ``--store``.

The store is created (and, on PostgreSQL, given a schema of its own, dropped
afterwards) by ``open_store_of`` from ``tests/conftest.py``; the command
line then opens it by URL like any other process would.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from crimemap.store import DuckDBStore, Store
from tests._backends import schema_url


@pytest.fixture()
def store_url(open_store_of: Callable[..., Store], request: pytest.FixtureRequest) -> str:
    """``--store`` value of a fresh store: a DuckDB path, or a PostgreSQL URL to its schema."""
    st = open_store_of("cli")
    if isinstance(st, DuckDBStore):
        st.close()  # the CLI opens the file itself
        return st.path
    from crimemap.store.postgres import PostgresStore

    assert isinstance(st, PostgresStore) and st.schema
    return schema_url(str(request.getfixturevalue("pg_url")), st.schema)
