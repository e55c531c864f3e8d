"""Helpers for ingest tests: write small police.uk-format files."""

from __future__ import annotations

import gzip
from pathlib import Path

HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
    "LSOA name,Crime type,Last outcome category,Context"
)


def row(
    cid: str = "abc1",
    month: str = "2024-01",
    lon: str = "-1.080000",
    lat: str = "53.960000",
    cat: str = "Burglary",
    outcome: str = "Under investigation",
    location: str = "On or near High Street",
    lsoa: str = "E01013335",
) -> str:
    return (
        f"{cid},{month},North Yorkshire Police,North Yorkshire Police,{lon},{lat},{location},"
        f"{lsoa},York 012A,{cat},{outcome},"
    )


def write(
    path: Path, rows: list[str], *, header: str = HEADER, gz: bool = False, crlf: bool = False
) -> Path:
    nl = "\r\n" if crlf else "\n"
    text = nl.join([header, *rows]) + nl
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wb") as fh:
            fh.write(text.encode())
    else:
        path.write_bytes(text.encode())
    return path
