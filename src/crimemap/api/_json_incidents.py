"""JSON incident batches: validated by pydantic, then by the police.uk street reader.

A JSON batch is turned into a police.uk street CSV in memory and goes through
exactly the same reader and checks as a file upload, so the same rows are
refused for the same reasons. Issues are reported against the JSON: ``file``
is ``"request.json"``, ``row`` the 1-based position of the item in the
``incidents`` array, ``column`` the JSON field.
"""

from __future__ import annotations

import csv
import io
import uuid

from pydantic import BaseModel, ConfigDict, Field

from crimemap.errors import IngestError, RowIssue
from crimemap.ingest.policeuk import STREET_COLUMNS
from crimemap.taxonomy import CATEGORY_SLUGS, category

__all__ = ["IncidentIn", "IncidentBatch", "to_street_csv", "JSON_NAME", "json_issues"]

JSON_NAME = "request.json"

#: police.uk CSV column -> JSON field (for issue messages).
_FIELD_OF = {
    "Crime ID": "crime_id",
    "Month": "month",
    "Falls within": "force",
    "Reported by": "force",
    "Longitude": "longitude",
    "Latitude": "latitude",
    "Location": "location",
    "LSOA code": "lsoa",
    "Crime type": "category",
    "Last outcome category": "outcome",
}


class IncidentIn(BaseModel):
    """One incident reported in real time (places and months, never people)."""

    model_config = ConfigDict(extra="forbid")

    crime_id: str | None = Field(
        None,
        max_length=128,
        description="Source id; reposting the same id updates its outcome instead of adding a row. "
        "Omitted: a new unique id is assigned.",
    )
    month: str = Field(..., description="Month of the incident, YYYY-MM.", examples=["2023-02"])
    force: str = Field(
        ..., min_length=1, max_length=80, description="Force slug, e.g. northumbria."
    )
    longitude: float | None = Field(
        None, description="WGS84 longitude (blank with latitude: unlocated)."
    )
    latitude: float | None = Field(None, description="WGS84 latitude.")
    location: str | None = Field(None, max_length=200, description="Place description.")
    lsoa: str | None = Field(None, max_length=16, description="LSOA code.")
    category: str = Field(
        ...,
        description="Canonical category slug (e.g. burglary) or police.uk 'Crime type' label.",
        examples=["burglary"],
    )
    outcome: str | None = Field(None, max_length=200, description="Last outcome category.")


class IncidentBatch(BaseModel):
    """A batch of incidents, stored all together or not at all."""

    model_config = ConfigDict(extra="forbid")

    incidents: list[IncidentIn] = Field(..., min_length=1, max_length=100_000)


def _label(cat: str) -> str:
    # Canonical slugs become police.uk labels; anything else goes to the reader
    # as given, so an unknown label is refused by the same mapping check.
    return category(cat).label if cat in CATEGORY_SLUGS else cat


def to_street_csv(batch: IncidentBatch) -> bytes:
    """The batch as the bytes of a police.uk street-level CSV."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(STREET_COLUMNS)
    for inc in batch.incidents:
        w.writerow(
            [
                inc.crime_id or f"api-{uuid.uuid4().hex}",
                inc.month,
                inc.force,
                inc.force,
                "" if inc.longitude is None else repr(inc.longitude),
                "" if inc.latitude is None else repr(inc.latitude),
                inc.location or "",
                inc.lsoa or "",
                "",
                _label(inc.category),
                inc.outcome or "",
                "",
            ]
        )
    return buf.getvalue().encode()


def json_issues(exc: IngestError, csv_name: str) -> IngestError:
    """Re-address the reader's issues (CSV line, column) to the JSON items and fields."""
    out = []
    for i in exc.issues:
        row = None if i.row is None else i.row - 1
        col = _FIELD_OF.get(i.column, i.column) if i.column else None
        f = JSON_NAME if i.file.endswith(csv_name) else i.file
        out.append(RowIssue(f, row, col, i.value, i.reason, i.detail))
    return IngestError(out, str(exc).split("\n", 1)[0])
