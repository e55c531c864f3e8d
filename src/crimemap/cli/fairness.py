"""``crimemap fairness``: the bias audit of the forecast for one force."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crimemap.cli._common import console, handle_errors, settings, store_from_cli
from crimemap.errors import InputError
from crimemap.safeguards.audit import record
from crimemap.safeguards.fairness import fairness_audit
from crimemap.safeguards.fairness_report import summary_lines, write_fairness_report
from crimemap.spatial.covariates import read_imd
from crimemap.spatial.lsoa import force_lsoa_files, read_lsoa_polygons

__all__ = ["fairness"]


@handle_errors
def fairness(
    force: Annotated[str, typer.Option(help="Force slug, e.g. northumbria.")],
    crime_set: Annotated[str, typer.Option(help="Crime set or category slug.")] = "all-crime",
    store: Annotated[
        str | None, typer.Option(help="Store URL or DuckDB path (default: settings).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/fairness"),
    imd: Annotated[
        Path | None, typer.Option(help="Folder with the IMD 2019 File 1 and File 6 workbooks.")
    ] = None,
    boundaries: Annotated[
        Path | None, typer.Option(help="Folder of 2011 LSOA GeoJSON (default: settings).")
    ] = None,
    model: Annotated[str, typer.Option(help="Forecast model (registry name).")] = "ewm",
    cell: Annotated[float, typer.Option(help="Grid cell side in metres.")] = 500.0,
    top_share: Annotated[float, typer.Option(help="Share of cells flagged.")] = 0.05,
    origins: Annotated[int, typer.Option(help="Monthly forecast origins audited.")] = 6,
    seed: Annotated[int, typer.Option(help="Random seed (ties, simulation).")] = 0,
) -> None:
    """Audit the forecast by deprivation decile, enforcement data and feedback loops."""
    if imd is None:
        raise InputError("--imd is required (a folder with the IMD 2019 workbooks)")
    folder = boundaries or settings().lsoa_geojson_dir
    polys = read_lsoa_polygons(force_lsoa_files(folder, force)) if folder else None
    lsoa = read_imd(imd)
    with store_from_cli(store) as st:
        inc = st.incidents(forces=[force])
        r = fairness_audit(
            inc,
            force=force,
            crime_set_name=crime_set,
            imd=lsoa,
            polys=polys,
            model=model,
            cell_m=cell,
            top_share=top_share,
            n_origins=origins,
            seed=seed,
        )
        files = write_fairness_report([r], out, title=f"Fairness audit: {force}, {crime_set}")
        record(
            st,
            "cli",
            "fairness.report",
            force=force,
            n_rows=len(inc),
            detail={"crime_set": crime_set, "model": model, "out": str(files.json)},
        )
    for line in summary_lines(r):
        console.print(f"- {line}", soft_wrap=True)
    for c in r.concerns:
        console.print(f"  [yellow]concern[/yellow] {c.kind} ({c.subject}): {c.message}")
    console.print(f"wrote {files.html}, {files.markdown}, {files.json}")
