"""Real-data extracts shared by the detect tests (small, session-scoped)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crimemap.table import IncidentTable


@pytest.fixture(scope="session")
def northumbria_month(police_uk: Path) -> IncidentTable:
    """One month (2021-03) of Northumbria street crime, located, all-crime."""
    from crimemap.ingest import read_incidents
    from crimemap.taxonomy import crime_set

    inc = read_incidents([police_uk / "2021-03" / "2021-03-northumbria-street.csv.gz"])
    return inc.filter(categories=crime_set("all-crime"), located=True)


@pytest.fixture(scope="session")
def northumbria_year(police_uk: Path) -> IncidentTable:
    """Twelve months (2020-05..2021-04) of Northumbria street crime, located."""
    from crimemap.ingest import read_incidents

    months = [f"2020-{m:02d}" for m in range(5, 13)] + [f"2021-{m:02d}" for m in range(1, 5)]
    paths = [police_uk / m / f"{m}-northumbria-street.csv.gz" for m in months]
    return read_incidents(paths).filter(located=True)
