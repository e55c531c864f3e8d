"""``crimemap synth``: write a SYNTHETIC national set of police.uk street files (benchmarks)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crimemap.cli._common import console, handle_errors, progress_bar
from crimemap.ingest.synth import DEFAULT_ROWS, synthesize

__all__ = ["synth"]


@handle_errors
def synth(
    out: Annotated[
        Path, typer.Argument(help="Output folder (YYYY-MM/YYYY-MM-<force>-street.csv.gz).")
    ],
    source: Annotated[
        Path,
        typer.Option(
            help="Folder of real police.uk street files to resample, e.g. ../shared/data/police-uk."
        ),
    ],
    force: Annotated[
        list[str] | None,
        typer.Option(help="Force slug (repeatable; default: all 43 forces of England and Wales)."),
    ] = None,
    months: Annotated[int, typer.Option(help="Consecutive months from --start.")] = 36,
    rows: Annotated[int, typer.Option(help="Total rows over every file.")] = DEFAULT_ROWS,
    start: Annotated[str, typer.Option(help="First month, YYYY-MM.")] = "2023-01",
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    gzip: Annotated[
        bool, typer.Option("--gzip/--plain", help="Write .csv.gz or plain .csv.")
    ] = True,
) -> None:
    """Write SYNTHETIC police.uk-format street files for benchmarks (never real crime)."""
    with progress_bar("writing synthetic files") as update:
        rep = synthesize(
            source,
            out,
            forces=force,
            months=months,
            rows=rows,
            start=start,
            seed=seed,
            compress=gzip,
            progress=update,
        )
    console.print(
        f"SYNTHETIC: {rep.rows:,} rows in {len(rep.files)} files for {len(rep.sources)} forces "
        f"under {rep.out} (see README.txt and synth.json there)"
    )
