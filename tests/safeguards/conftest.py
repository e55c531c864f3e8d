"""Fixtures for the safeguards tests: a fresh store of each backend (the store creates the tables)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from crimemap.store import Store


@pytest.fixture
def store(open_store_of: Callable[..., Store]) -> Store:
    """A fresh, empty store of each backend in turn (DuckDB file, PostgreSQL schema)."""
    return open_store_of()
