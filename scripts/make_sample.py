"""Rebuild the bundled sample in src/crimemap/data/sample from ../shared/data.

North Yorkshire Police street crime for 2024-10 .. 2025-12 (15 monthly files,
copied byte for byte), the LSOA 2011 polygons of the police area's eight
local authority districts (merged into one gzipped FeatureCollection), and the
IMD 2019 rank/decile and population rows of those LSOAs.

Usage: python scripts/make_sample.py [SHARED_DATA_DIR]
"""

from __future__ import annotations

import csv
import gzip
import json
import shutil
import sys
from pathlib import Path

import openpyxl

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data"
OUT = REPO / "src" / "crimemap" / "data" / "sample"
FORCE = "north-yorkshire"
MONTHS = [f"2024-{m:02d}" for m in (10, 11, 12)] + [f"2025-{m:02d}" for m in range(1, 13)]
LADS = [
    "E06000014",
    "E07000163",
    "E07000164",
    "E07000165",
    "E07000166",
    "E07000167",
    "E07000168",
    "E07000169",
]


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    for m in MONTHS:
        src = SHARED / "police-uk" / m / f"{m}-{FORCE}-street.csv.gz"
        dst = OUT / "police-uk" / m / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    feats = []
    for lad in LADS:
        fc = json.loads(
            (SHARED / "uk-geojson/json/statistical/eng/lsoa_by_lad" / f"{lad}.json").read_text()
        )
        for f in fc["features"]:
            f["properties"]["LAD16CD"] = lad
            feats.append(f)
    (OUT / "lsoa").mkdir(parents=True)
    with gzip.open(
        OUT / "lsoa" / "north-yorkshire-lsoa2011.geojson.gz", "wt", compresslevel=9
    ) as fh:
        json.dump({"type": "FeatureCollection", "features": feats}, fh, separators=(",", ":"))
    codes = {f["properties"]["LSOA11CD"] for f in feats}
    imd = _sheet(SHARED / "imd-2019/File_1_-_IMD2019_Index_of_Multiple_Deprivation.xlsx", "IMD2019")
    pop = _sheet(
        SHARED / "imd-2019/File_6_-_IoD2019_Population_Denominators.xlsx", "Population Denominators"
    )
    pop_by = {r[0]: r for r in pop[1:]}
    (OUT / "imd").mkdir(parents=True)
    with open(OUT / "imd" / "north-yorkshire-imd2019.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "lsoa11cd",
                "lsoa11nm",
                "lad19cd",
                "lad19nm",
                "imd_rank",
                "imd_decile",
                "population_2015",
            ]
        )
        for r in imd[1:]:
            if r[0] in codes:
                p = pop_by.get(r[0])
                w.writerow([r[0], r[1], r[2], r[3], r[4], r[5], p[4] if p else ""])
    print(f"sample written to {OUT}")


def _sheet(path: Path, name: str) -> list[tuple]:
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    rows = [tuple(r) for r in wb[name].iter_rows(values_only=True)]
    wb.close()
    return rows


if __name__ == "__main__":
    main()
