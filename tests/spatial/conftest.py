from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def northumbria_month_h3(police_uk: Path):
    from crimemap.ingest import read_incidents
    from crimemap.spatial.h3units import h3_units

    inc = read_incidents([police_uk / "2021-03" / "2021-03-northumbria-street.csv.gz"])
    inc = inc.filter(located=True)
    return inc, h3_units(inc, 9)
