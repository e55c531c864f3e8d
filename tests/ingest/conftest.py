"""Ingest fixtures: every test that writes to a store runs on each backend.

The backends come from ``open_store_of`` (``tests/conftest.py``): a new
DuckDB file, or a new PostgreSQL schema dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from crimemap.store import Store


@pytest.fixture()
def store(open_store_of: Callable[..., Store]) -> Store:
    """A fresh, empty store of each backend in turn."""
    return open_store_of()
