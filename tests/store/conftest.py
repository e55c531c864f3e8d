"""Store fixtures: every backend behind one parametrised fixture.

The backend machinery (``open_store_of``, ``pg_url``, ``pg_schema``) lives in
``tests/conftest.py`` and ``tests/_backends.py``; each test gets a fresh
store: a new DuckDB file, or a new, uniquely named PostgreSQL schema dropped
afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crimemap.store import Store
from tests._backends import BACKENDS, OpenStore, opener

__all__ = ["BACKENDS", "OpenStore"]


@pytest.fixture()
def store(open_store_of: OpenStore) -> Store:
    """A fresh, empty store of each backend in turn."""
    return open_store_of()


@pytest.fixture()
def both(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, OpenStore]]:
    """Openers of both backends in the same test (for cross-backend comparisons)."""
    url = str(request.getfixturevalue("pg_url"))
    gens = {b: opener(b, tmp_path, url if b == "postgres" else None) for b in BACKENDS}
    yield {b: next(g) for b, g in gens.items()}
    for g in gens.values():
        next(g, None)
