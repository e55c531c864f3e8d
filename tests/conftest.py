"""Shared fixtures.

Tests that need the real public data in ``../shared/data`` use the
``shared_data`` fixture: it skips locally when the data is absent but FAILS
when ``CI=true``, so CI can never pass silently without the real data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CRIMEMAP_SHARED_DATA", REPO.parent / "shared" / "data"))


def _require(path: Path) -> Path:
    if not path.exists():
        msg = f"real data not found at {path}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: tests on real data must not skip)")
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the shared real data (``../shared/data``)."""
    return _require(SHARED)


@pytest.fixture(scope="session")
def police_uk(shared_data: Path) -> Path:
    """The data.police.uk folder tree."""
    return _require(shared_data / "police-uk")


@pytest.fixture(scope="session")
def stl_dir(shared_data: Path) -> Path:
    return _require(shared_data / "stl-slmpd")


@pytest.fixture(scope="session")
def portland_dir(shared_data: Path) -> Path:
    return _require(shared_data / "nij-portland")


@pytest.fixture(scope="session")
def lsoa_dir(shared_data: Path) -> Path:
    return _require(shared_data / "uk-geojson" / "json" / "statistical" / "eng" / "lsoa_by_lad")


@pytest.fixture(scope="session")
def imd_dir(shared_data: Path) -> Path:
    return _require(shared_data / "imd-2019")
