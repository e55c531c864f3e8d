"""The 43 territorial police forces of England and Wales, approximately.

Used only to place and size synthetic forces (:mod:`crimemap.ingest.synth`).
Slugs are data.police.uk's; names are the ``Falls within`` labels of its
files. Centres (WGS84 longitude, latitude), areas (km²) and resident
populations (millions, about 2021) are **approximate**, rounded from public
figures: good enough to put each synthetic force in its own part of the
country at a plausible size and volume, not for any analysis. The City of
London's weight is raised from its ~10,000 residents to 0.1 M to reflect its
daytime population (it records several thousand crimes a year).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ForceInfo", "FORCES"]


class ForceInfo(NamedTuple):
    """One force: slug, name, approximate centre, area and population."""

    slug: str
    name: str
    lon: float
    lat: float
    area_km2: float
    population_m: float


FORCES: tuple[ForceInfo, ...] = tuple(
    ForceInfo(*row)
    for row in (
        ("avon-and-somerset", "Avon and Somerset Constabulary", -2.75, 51.25, 4780, 1.75),
        ("bedfordshire", "Bedfordshire Police", -0.45, 52.05, 1235, 0.70),
        ("cambridgeshire", "Cambridgeshire Constabulary", 0.05, 52.40, 3390, 0.90),
        ("cheshire", "Cheshire Constabulary", -2.55, 53.20, 2343, 1.10),
        ("city-of-london", "City of London Police", -0.092, 51.515, 2.9, 0.10),
        ("cleveland", "Cleveland Police", -1.20, 54.56, 597, 0.57),
        ("cumbria", "Cumbria Constabulary", -2.90, 54.55, 6768, 0.50),
        ("derbyshire", "Derbyshire Constabulary", -1.60, 53.05, 2625, 1.05),
        ("devon-and-cornwall", "Devon & Cornwall Police", -4.20, 50.60, 10270, 1.80),
        ("dorset", "Dorset Police", -2.30, 50.78, 2653, 0.77),
        ("durham", "Durham Constabulary", -1.75, 54.68, 2232, 0.64),
        ("dyfed-powys", "Dyfed-Powys Police", -3.90, 52.10, 10900, 0.52),
        ("essex", "Essex Police", 0.55, 51.80, 3670, 1.85),
        ("gloucestershire", "Gloucestershire Constabulary", -2.20, 51.85, 3150, 0.64),
        ("greater-manchester", "Greater Manchester Police", -2.28, 53.50, 1276, 2.87),
        ("gwent", "Gwent Police", -3.00, 51.70, 1555, 0.60),
        ("hampshire", "Hampshire Constabulary", -1.25, 51.03, 4150, 2.00),
        ("hertfordshire", "Hertfordshire Constabulary", -0.25, 51.80, 1643, 1.20),
        ("humberside", "Humberside Police", -0.50, 53.72, 3518, 0.93),
        ("kent", "Kent Police", 0.75, 51.20, 3736, 1.85),
        ("lancashire", "Lancashire Constabulary", -2.60, 53.85, 3075, 1.50),
        ("leicestershire", "Leicestershire Police", -1.10, 52.65, 2550, 1.10),
        ("lincolnshire", "Lincolnshire Police", -0.25, 53.10, 5921, 0.77),
        ("merseyside", "Merseyside Police", -2.95, 53.42, 647, 1.43),
        ("metropolitan", "Metropolitan Police Service", -0.12, 51.50, 1572, 8.90),
        ("norfolk", "Norfolk Constabulary", 0.95, 52.65, 5371, 0.92),
        ("north-wales", "North Wales Police", -3.70, 53.05, 6172, 0.70),
        ("north-yorkshire", "North Yorkshire Police", -1.40, 54.10, 8300, 0.83),
        ("northamptonshire", "Northamptonshire Police", -0.90, 52.30, 2364, 0.76),
        ("northumbria", "Northumbria Police", -1.80, 55.10, 5553, 1.46),
        ("nottinghamshire", "Nottinghamshire Police", -1.05, 53.10, 2160, 1.16),
        ("south-wales", "South Wales Police", -3.55, 51.60, 2080, 1.33),
        ("south-yorkshire", "South Yorkshire Police", -1.35, 53.45, 1552, 1.41),
        ("staffordshire", "Staffordshire Police", -2.00, 52.80, 2717, 1.13),
        ("suffolk", "Suffolk Constabulary", 1.05, 52.20, 3800, 0.76),
        ("surrey", "Surrey Police", -0.35, 51.25, 1663, 1.20),
        ("sussex", "Sussex Police", -0.30, 50.95, 3783, 1.70),
        ("thames-valley", "Thames Valley Police", -1.00, 51.70, 5742, 2.40),
        ("warwickshire", "Warwickshire Police", -1.55, 52.30, 1975, 0.58),
        ("west-mercia", "West Mercia Police", -2.60, 52.30, 7428, 1.30),
        ("west-midlands", "West Midlands Police", -1.90, 52.48, 902, 2.90),
        ("west-yorkshire", "West Yorkshire Police", -1.70, 53.75, 2029, 2.30),
        ("wiltshire", "Wiltshire Police", -1.95, 51.35, 3485, 0.72),
    )
)
assert len(FORCES) == 43 and len({f.slug for f in FORCES}) == 43
