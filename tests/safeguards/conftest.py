"""Fixtures for the safeguards tests: an in-memory store with the safeguard tables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crimemap.safeguards import ensure_tables
from crimemap.store import DuckDBStore


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    s = DuckDBStore(":memory:")
    ensure_tables(s)
    yield s
    s.close()
