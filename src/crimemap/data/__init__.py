"""Bundled sample data (see ``sample/README.md`` for sources and licences)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["sample_dir", "sample_police_uk", "sample_lsoa", "sample_imd"]


def sample_dir() -> Path:
    """Folder of the bundled sample."""
    return Path(str(files("crimemap.data") / "sample"))


def sample_police_uk() -> Path:
    """Folder tree of the bundled police.uk street files."""
    return sample_dir() / "police-uk"


def sample_lsoa() -> Path:
    """Gzipped GeoJSON of the sample's LSOA 2011 polygons."""
    return sample_dir() / "lsoa" / "north-yorkshire-lsoa2011.geojson.gz"


def sample_imd() -> Path:
    """CSV of IMD 2019 rank/decile and population for the sample's LSOAs."""
    return sample_dir() / "imd" / "north-yorkshire-imd2019.csv"
