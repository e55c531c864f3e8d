"""Time series for a cell or an area."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from crimemap.api._access import ACTION_KEY, audit, require
from crimemap.api._cells import month_label, parse_cell_id
from crimemap.api._unit_series import unit_series
from crimemap.api._units import is_fine
from crimemap.api.deps import BBoxParam, Filters, State, parse_bbox
from crimemap.errors import InputError
from crimemap.safeguards import Principal

__all__ = ["router", "Series"]

router = APIRouter(prefix="/api", tags=["series"])


class Point(BaseModel):
    month: str = Field(description="YYYY-MM (the month of the bin)")
    value: float = Field(description="Incidents (or harm) in the bin.")
    t: str | None = Field(
        None, description="The bin: YYYY-MM, YYYY-MM-DD (day) or YYYY-MM-DDTHH (hour)."
    )


class Series(BaseModel):
    """Totals per month, day or hour of one unit or area."""

    unit: str = Field(
        description="Unit id (g<size>:<i>:<j>, h3:<cell>, lsoa:<code>) or 'bbox:w,s,e,n'."
    )
    bin: str = Field("month", description="month, day or hour.")
    measure: str
    categories: list[str]
    points: list[Point]
    total: float


@router.get(
    "/series",
    response_model=Series,
    summary="Monthly series of a cell or an area",
    openapi_extra={ACTION_KEY: "series.read"},
)
async def series(
    request: Request,
    state: State,
    who: Annotated[Principal, Depends(require("series.read"))],
    fp: Filters,
    cell: Annotated[
        str | None,
        Query(
            description="Unit id as in layer features: g<size>:<i>:<j>, h3:<cell> or lsoa:<code>."
        ),
    ] = None,
    bbox: BBoxParam = None,
    bin: Annotated[
        str,
        Query(
            description="month (every month with data), or day / hour (incidents timed to the "
            "day or minute only; the default when start/end are days or hours).",
            pattern="^(month|day|hour)$",
        ),
    ] = "month",
) -> Series:
    """Every month with data (or every day / hour of the window), zeros included, for one unit
    or the 250 m cells in ``bbox``."""
    f = fp.filter
    if (cell is None) == (bbox is None):
        raise InputError("give exactly one of cell or bbox")
    if is_fine(f) or bin != "month" or (cell is not None and not cell.startswith("g")):
        wgs = parse_bbox(bbox) if bbox else None
        if wgs is not None:
            state.index.to_xy_bbox(wgs)  # validates the box
        labels, values = await state.run(
            partial(unit_series, state.units, f, unit_id=cell, bbox=wgs, bin=bin)
        )
        used = bin if bin != "month" or not is_fine(f) else "day"
        await audit(
            request,
            who,
            "data.series",
            force=f.force,
            area=cell or f"bbox:{bbox}",
            n_rows=len(labels),
            detail={"categories": sorted(f.categories), "measure": f.measure, "bin": used},
        )
        return Series(
            unit=cell or f"bbox:{bbox}",
            bin=used,
            measure=f.measure,
            categories=sorted(f.categories),
            points=[
                Point(month=lab[:7], value=float(v), t=lab)
                for lab, v in zip(labels, values, strict=True)
            ],
            total=float(values.sum()),
        )
    parsed = parse_cell_id(cell) if cell else None
    xy = state.index.to_xy_bbox(parse_bbox(bbox)) if bbox else None
    months, vals = await state.run(
        partial(
            state.index.series,
            cells=parsed,
            xy_bbox=xy,
            categories=f.categories,
            force=f.force,
            weights=f.weights,
        )
    )
    keep = [
        (int(m), float(v))
        for m, v in zip(months, vals, strict=True)
        if (f.start is None or m >= f.start) and (f.end is None or m <= f.end)
    ]
    await audit(
        request,
        who,
        "data.series",
        force=f.force,
        area=cell or f"bbox:{bbox}",
        n_rows=len(keep),
        detail={"categories": sorted(f.categories), "measure": f.measure},
    )
    return Series(
        unit=cell or f"bbox:{bbox}",
        measure=f.measure,
        categories=sorted(f.categories),
        points=[Point(month=month_label(m), value=v, t=month_label(m)) for m, v in keep],
        total=float(sum(v for _, v in keep)),
    )
