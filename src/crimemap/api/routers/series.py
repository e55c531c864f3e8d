"""Time series for a cell or an area."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from crimemap.api._access import ACTION_KEY, audit, require
from crimemap.api._cells import month_label, parse_cell_id
from crimemap.api.deps import BBoxParam, Filters, State, parse_bbox
from crimemap.errors import InputError
from crimemap.safeguards import Principal

__all__ = ["router", "Series"]

router = APIRouter(prefix="/api", tags=["series"])


class Point(BaseModel):
    month: str = Field(description="YYYY-MM")
    value: float = Field(description="Incidents (or harm) in the month.")


class Series(BaseModel):
    """Monthly totals of one cell or area."""

    unit: str = Field(description="Cell id or 'bbox:w,s,e,n'.")
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
        str | None, Query(description="Cell id g<size>:<i>:<j> (as in layer features).")
    ] = None,
    bbox: BBoxParam = None,
) -> Series:
    """Every month with data, zeros included, for one cell or every cell centred in ``bbox``."""
    f = fp.filter
    if (cell is None) == (bbox is None):
        raise InputError("give exactly one of cell or bbox")
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
        points=[Point(month=month_label(m), value=v) for m, v in keep],
        total=float(sum(v for _, v in keep)),
    )
