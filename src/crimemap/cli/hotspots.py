"""``crimemap hotspots``: where crime concentrates, for one force.

A thin layer: it loads incidents from the store, calls
:func:`crimemap.detect.pipeline.run_hotspots`, writes GeoJSON + GeoParquet
(and optionally a PNG) with :mod:`crimemap.detect.outputs`, and prints a
short summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from crimemap.cli._common import console, handle_errors, settings, store_from_cli
from crimemap.detect.emerging import CATEGORIES
from crimemap.detect.outputs import parse_unit, save_png, to_wgs84, write_geojson, write_geoparquet
from crimemap.detect.pipeline import METHODS, HotspotRun, run_hotspots
from crimemap.errors import InputError
from crimemap.spatial.lsoa import force_lsoa_files, read_lsoa_polygons
from crimemap.taxonomy import crime_set

__all__ = ["hotspots"]

_EMERGING_COLOURS = {
    0: ("no pattern", "#eeeeee"),
    **{
        i + 1: (CATEGORIES[i + 1], c)
        for i, c in enumerate(
            ["#fdae61", "#f46d43", "#a50026", "#d73027", "#fee090", "#fdd0a2", "#c994c7", "#bdbdbd"]
        )
    },
    **{
        i + 9: (CATEGORIES[i + 9], c)
        for i, c in enumerate(
            ["#abd9e9", "#74add1", "#313695", "#4575b4", "#e0f3f8", "#c6dbef", "#9e9ac8", "#969696"]
        )
    },
}


def _png(run: HotspotRun, path: Path, title: str) -> Path:
    c = run.columns
    if run.method == "gi":
        return save_png(path, run.polygons, c["gi_z"], title=title + " - Gi* z", vmax=6.0)
    if run.method == "lisa":
        codes = {"not significant": 0, "high-high": 1, "low-high": 2, "low-low": 3, "high-low": 4}
        vals = np.array([codes[str(v)] for v in c["cluster"]])
        cat = {
            0: ("not significant", "#eeeeee"),
            1: ("high-high", "#d7191c"),
            2: ("low-high", "#abd9e9"),
            3: ("low-low", "#2c7bb6"),
            4: ("high-low", "#fdae61"),
        }
        return save_png(path, run.polygons, vals, title=title + " - LISA", categorical=cat)
    if run.method == "emerging":
        vals = np.array([CATEGORIES.index(str(v)) for v in c["category"]])
        return save_png(
            path,
            run.polygons,
            vals,
            title=title + " - emerging hot spots",
            categorical=_EMERGING_COLOURS,
        )
    return save_png(
        path,
        run.polygons,
        c["density_km2"],
        title=title + " - density per km2",
        cmap="magma_r",
        symmetric=False,
    )


def _summary(run: HotspotRun, title: str, files: list[Path]) -> None:
    t = Table(title=title, show_header=False)
    s = run.summary
    t.add_row("incidents", f"{s['incidents']:,}" + (" (harm-weighted)" if s["harm"] else ""))
    t.add_row("units", f"{s['units']:,}")
    if s["outside_area"]:
        t.add_row("located outside the force area (dropped)", f"{s['outside_area']:,}")
    t.add_row("periods", str(s["periods"]))
    conc = run.concentration
    if conc is not None:
        t.add_row("Gini (naive / generalised)", f"{conc.gini:.2f} / {conc.generalised_gini:.2f}")
        t.add_row(
            "share of crime in top 1/5/10 % of units",
            " / ".join(f"{100 * v:.0f} %" for v in conc.top_shares.values()),
        )
        if conc.sufficient:
            t.add_row("modified Gini (over Poisson chance)", f"{conc.modified_gini:.2f}")
        else:
            t.add_row("concentration", f"[yellow]not reported: {conc.reason}[/yellow]")
    if run.method == "gi":
        t.add_row("significant hot / cold spots (FDR 5 %)", f"{s['hot']} / {s['cold']}")
    elif run.method == "lisa":
        t.add_row(
            "high-high / low-low / high-low / low-high",
            f"{s['high-high']} / {s['low-low']} / {s['high-low']} / {s['low-high']}",
        )
    elif run.method == "emerging":
        cats = s["categories"]
        t.add_row(
            "new / intensifying / persistent hot spots",
            f"{cats.get('new hot spot', 0)} / {cats.get('intensifying hot spot', 0)} / "
            f"{cats.get('persistent hot spot', 0)}",
        )
        if s["dropped_periods"]:
            t.add_row("empty periods dropped (publication gaps)", ", ".join(s["dropped_periods"]))
    else:
        t.add_row("bandwidth", f"{s['bandwidth_m']:g} m")
    for f in files:
        t.add_row("wrote", str(f))
    console.print(t)


@handle_errors
def hotspots(
    force: Annotated[str, typer.Argument(help="Force slug, e.g. northumbria.")],
    category: Annotated[str, typer.Option(help="Crime set or category slug.")] = "all-crime",
    unit: Annotated[
        str, typer.Option(help="Spatial unit: grid:<metres>, h3:<resolution> or lsoa.")
    ] = "grid:250",
    method: Annotated[str, typer.Option(help="kde, gi, lisa or emerging.")] = "gi",
    harm: Annotated[
        bool, typer.Option(help="Weight crimes by harm (ONS Crime Severity Score).")
    ] = False,
    store: Annotated[
        str | None, typer.Option(help="Store URL or DuckDB path (default: configured).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/hotspots"),
    png: Annotated[bool, typer.Option(help="Also write a quick-look PNG map.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed for permutations.")] = 0,
    permutations: Annotated[int, typer.Option(help="Conditional permutations (gi, lisa).")] = 999,
    bandwidth: Annotated[float, typer.Option(help="KDE bandwidth in metres.")] = 500.0,
    boundaries: Annotated[
        Path | None, typer.Option(help="Folder of LSOA GeoJSON (for --unit lsoa).")
    ] = None,
) -> None:
    """Detect hot spots of one force and write GeoJSON, GeoParquet and (optionally) a PNG."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    spec = parse_unit(unit)
    cats = crime_set(category)
    polys = None
    folder = boundaries or settings().lsoa_geojson_dir
    if spec.kind == "lsoa" and folder is None:
        raise InputError("--unit lsoa needs --boundaries (a folder of LSOA GeoJSON files)")
    if folder is not None:
        polys = read_lsoa_polygons(force_lsoa_files(folder, force))
    with store_from_cli(store, read_only=True) as st:
        inc = st.incidents(forces=[force])
    run = run_hotspots(
        inc,
        categories=cats,
        unit=spec,
        method=method,
        harm=harm,
        seed=seed,
        permutations=permutations,
        bandwidth=bandwidth,
        lsoa=polys,
    )
    stem = f"{force}_{category}_{spec.slug()}_{method}" + ("_harm" if harm else "")
    crs = run.units.crs
    files = [
        write_geojson(out / f"{stem}.geojson", to_wgs84(run.polygons, crs), run.columns),
        write_geoparquet(out / f"{stem}.parquet", run.polygons, run.columns, crs),
    ]
    if png:
        files.append(_png(run, out / f"{stem}.png", f"{force}, {category}, {unit}"))
    _summary(run, f"hotspots: {force}, {category}, {unit}, {method}", files)
