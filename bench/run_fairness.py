"""Fairness audit on the four police.uk forces in ../shared/data (issue #6).

Runs :func:`crimemap.safeguards.fairness.fairness_audit` for each force with
the ``ewm`` baseline (6 monthly origins, top 5 % of 500 m cells flagged) and
writes the report to ``docs/fairness/`` (``fairness.html``, ``fairness.md``,
``fairness.json`` and PNG figures). It prints, per force, the IMD match rate
(2011 codes directly, 2021 codes by point in the 2011 polygons), the
audit's wall time, and the ratio of that time to a reference run in the same
process: one plain ``ewm`` fit + predict per origin on the same data (the
audit does three forecasts per origin plus the joins and the simulation).

Usage: python bench/run_fairness.py [--data DIR] [--out DIR] [--crime-set NAME]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FORCES = ("north-yorkshire", "south-yorkshire", "leicestershire", "northumbria")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "fairness")
    ap.add_argument("--crime-set", default="all-crime")
    ap.add_argument("--forces", nargs="*", default=list(FORCES))
    args = ap.parse_args()

    from crimemap.forecast import make_model
    from crimemap.ingest import read_incidents
    from crimemap.safeguards.fairness import fairness_audit
    from crimemap.safeguards.fairness_report import write_fairness_report
    from crimemap.spatial import force_lsoa_files, grid_units, read_lsoa_polygons
    from crimemap.spatial.covariates import read_imd
    from crimemap.taxonomy import crime_set

    t0 = time.perf_counter()
    imd = read_imd(args.data / "imd-2019")
    print(f"IMD 2019 read: {len(imd.codes):,} LSOAs in {time.perf_counter() - t0:.1f} s")
    bdir = args.data / "uk-geojson" / "json" / "statistical" / "eng" / "lsoa_by_lad"
    results = []
    print(
        f"{'force':<16} {'months':>6} {'match':>7} {'direct %':>8} {'polygon':>8} "
        f"{'hit':>5} {'PAI':>5} {'concerns':>8} {'audit s':>8} {'ref s':>6} {'ratio':>6}"
    )
    for force in args.forces:
        files = sorted((args.data / "police-uk").glob(f"*/*-{force}-street.csv.gz"))
        inc = read_incidents(files)
        polys = read_lsoa_polygons(force_lsoa_files(bdir, force))
        t1 = time.perf_counter()
        r = fairness_audit(
            inc, force=force, crime_set_name=args.crime_set, imd=imd, polys=polys, seed=0
        )
        audit_s = time.perf_counter() - t1
        # Reference: the bare forecasts the audit is built on.
        ev = inc.filter(forces=[force], categories=crime_set(args.crime_set), located=True)
        units = grid_units(inc.filter(forces=[force], located=True), 500.0)
        t2 = time.perf_counter()
        for o in r.origins:
            t = np.datetime64(o, "M")
            m = make_model("ewm").fit(ev, units=units, until=t.astype("datetime64[s]"))
            m.predict(start=t.astype("datetime64[s]"), end=(t + 1).astype("datetime64[s]"))
        ref_s = time.perf_counter() - t2
        results.append(r)
        months = len(np.unique(ev.months()))
        print(
            f"{force:<16} {months:>6} {r.match.rate:>7.2%} "
            f"{r.match.direct / r.match.located:>8.2%} "
            f"{r.match.by_polygon:>8,} {r.deciles.hit_rate_all:>5.2f} {r.deciles.pai_all:>5.1f} "
            f"{len(r.concerns):>8} {audit_s:>8.1f} {ref_s:>6.1f} {audit_s / ref_s:>6.1f}"
        )
    files = write_fairness_report(results, args.out, title=f"Fairness audit ({args.crime_set})")
    print(f"wrote {files.html}, {files.markdown}, {files.json} and {len(files.figures)} figures")
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
