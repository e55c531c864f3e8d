"""``crimemap plan``: patrol areas for next month, with GeoJSON and briefing pages.

A thin layer: it loads one force's incidents from the store, forecasts the
month after the data (:func:`crimemap.evaluate.forecast_next`, as
``crimemap forecast`` does), plans compact contiguous patrol areas
(:func:`crimemap.allocate.plan_patrols`), and writes the plan as GeoJSON plus
one PNG briefing page per area (:mod:`crimemap.allocate.briefing`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from crimemap.allocate.briefing import (
    write_briefings,
    write_plan_geojson,
)
from crimemap.allocate.operational import plan_next
from crimemap.allocate.plan import PatrolPlan
from crimemap.cli._common import console, handle_errors, store_from_cli
from crimemap.errors import InputError, NotFoundError

__all__ = ["plan"]


def _summary(p: PatrolPlan, title: str, files: list[Path]) -> None:
    t = Table(title=title)
    for col in ("area", "centre", "cells", "km²", "expected", "IMD decile"):
        t.add_column(col, justify="right" if col != "centre" else "left")
    for a in p.areas:
        dec = "" if not np.isfinite(a.decile) else f"{a.decile:.0f}"
        t.add_row(
            str(a.rank), a.centre, str(len(a.cells)), f"{a.area_km2:.2f}", f"{a.expected:.1f}", dec
        )
    console.print(t)
    console.print(
        f"covered {p.objective:.1f} of a possible {p.top_k:.1f} in the same number of "
        f"scattered cells; solver {p.method} ({p.status}), gap to bound {100 * p.gap:.1f} %, "
        f"greedy gap {100 * p.greedy_gap:.1f} %, {p.seconds:.1f} s"
    )
    for f in files[:2]:
        console.print(f"wrote {f}")
    if len(files) > 2:
        console.print(f"... and {len(files) - 2} more briefing pages in {files[-1].parent}")


@handle_errors
def plan(
    force: Annotated[str, typer.Option(help="Force (or city), e.g. northumbria.")],
    crime_set: Annotated[
        str, typer.Option(help="Crime set or category slug, e.g. all-crime or burglary.")
    ] = "all-crime",
    areas: Annotated[int, typer.Option(help="Number of patrol areas.")] = 10,
    max_cells: Annotated[
        int, typer.Option(help="Largest area, in 250 m cells (16 cells = 1 km²).")
    ] = 16,
    min_spacing_m: Annotated[
        float, typer.Option(help="Least distance between two areas, metres (0: may touch).")
    ] = 0.0,
    harm: Annotated[
        bool, typer.Option(help="Plan on forecast harm (ONS Crime Severity Score weights).")
    ] = False,
    fairness_cap: Annotated[
        float | None,
        typer.Option(
            help="Cap a deprivation decile's share of areas at this multiple of its share of "
            "forecast harm (needs --imd)."
        ),
    ] = None,
    model: Annotated[str, typer.Option(help="Forecast model 'name' or 'name:k=v,...'.")] = "ewm",
    store: Annotated[
        str | None, typer.Option(help="Store URL or DuckDB path (default: settings).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/plan"),
    time_limit_s: Annotated[float, typer.Option(help="Optimiser time limit, seconds.")] = 10.0,
    imd: Annotated[
        Path | None,
        typer.Option(help="Folder with the IMD 2019 workbooks (for --fairness-cap)."),
    ] = None,
) -> None:
    """Plan patrol areas for the month after the data (places only, never people)."""
    if fairness_cap is not None and imd is None:
        raise InputError("--fairness-cap needs --imd (folder with the IMD 2019 workbooks)")
    with store_from_cli(store, read_only=True) as st:
        incidents = st.incidents(forces=[force])
    if len(incidents) == 0:
        raise NotFoundError(f"no incidents for force {force!r} in the store")
    nxt = plan_next(
        incidents,
        crime_set=crime_set,
        model=model,
        areas=areas,
        max_cells=max_cells,
        min_spacing_m=min_spacing_m,
        harm=harm,
        fairness_cap=fairness_cap,
        imd_dir=imd,
        time_limit_s=time_limit_s,
    )
    p, surface, briefs = nxt.plan, nxt.surface, nxt.briefs
    stem = f"{force}_{crime_set}_plan" + ("_harm" if harm else "")
    what = "harm" if harm else crime_set
    files = [write_plan_geojson(p, out / f"{stem}.geojson", briefs=briefs)]
    files += write_briefings(p, briefs, out / stem, title=f"{force}, {what}")
    _summary(p, f"patrol plan: {force}, {what}, {str(surface.start)[:7]}", files)
