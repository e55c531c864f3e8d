"""Dependencies shared by the routers: the app state and the common query parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from crimemap.api._layers import Filter
from crimemap.api._state import AppState
from crimemap.api._timebins import parse_hours, parse_time_bound
from crimemap.detect import harm_weights
from crimemap.errors import InputError
from crimemap.taxonomy import crime_set

__all__ = ["get_state", "State", "FilterParams", "Filters", "BBoxParam", "parse_bbox"]


async def get_state(request: Request) -> AppState:
    """The process's :class:`AppState` (set by ``create_app``)."""
    state: AppState = request.app.state.crimemap
    return state


State = Annotated[AppState, Depends(get_state)]

BBoxParam = Annotated[
    str | None,
    Query(
        description="Viewport as west,south,east,north in WGS84 degrees, e.g. -1.8,54.8,-1.4,55.1.",
        examples=["-1.8,54.8,-1.4,55.1"],
    ),
]


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``"w,s,e,n"`` -> floats (InputError if malformed)."""
    try:
        w, s, e, n = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"bad bbox {text!r}; expected west,south,east,north in degrees") from None
    return w, s, e, n


def _categories(text: str) -> frozenset[str]:
    out: set[str] = set()
    for part in text.split(","):
        part = part.strip()
        if part:
            out |= crime_set(part)
    if not out:
        raise InputError("categories is empty")
    return frozenset(out)


@dataclass(frozen=True)
class FilterParams:
    """Parsed filters (see :func:`filters`)."""

    filter: Filter


async def filters(
    categories: Annotated[
        str,
        Query(
            description="Comma-separated category slugs or crime-set names "
            "(all-crime, violence, burglary, asb, ...).",
        ),
    ] = "all-crime",
    start: Annotated[
        str | None,
        Query(
            description="First month (YYYY-MM), day (YYYY-MM-DD) or hour (YYYY-MM-DDTHH) "
            "included (default: first of the data). Days and hours count incidents timed to the "
            "day or minute only: month-only records (police.uk) are never spread into days.",
        ),
    ] = None,
    end: Annotated[
        str | None,
        Query(
            description="Last month (YYYY-MM), day (YYYY-MM-DD) or hour (YYYY-MM-DDTHH) "
            "included (default: last of the data).",
        ),
    ] = None,
    hours: Annotated[
        str | None,
        Query(
            description="Hour-of-day filter, H or H1-H2 inclusive (22-3 wraps midnight); counts "
            "minute-precision incidents only.",
            examples=["18-23"],
        ),
    ] = None,
    force: Annotated[
        str | None, Query(description="Only this force (slug); default every force.")
    ] = None,
    measure: Annotated[
        str,
        Query(
            description="volume = number of incidents; harm = sum of ONS Crime Severity Score "
            "weights (custody-days; provisional, see crimemap.detect.harm).",
            pattern="^(volume|harm)$",
        ),
    ] = "volume",
) -> FilterParams:
    """The filters every layer and series takes (async: cheap, so it runs on the event loop)."""
    a = parse_time_bound(start, "start") if start else None
    b = parse_time_bound(end, "end") if end else None
    if a is not None and b is not None and b.last_hour < a.first_hour:
        raise InputError("end is before start")
    fine: tuple[int, int] | None = None
    hod = parse_hours(hours) if hours else None
    res = {x.resolution for x in (a, b) if x is not None}
    if res - {"month"} or hod is not None:
        fine = (
            a.first_hour if a is not None else 0,
            b.last_hour if b is not None else (1 << 21) - 1,
        )
        if "hour" in res and hod is None:
            # A window bounded by hours holds only the records that have an hour.
            hod = (0, 23)
    return FilterParams(
        Filter(
            categories=_categories(categories),
            start=a.month if a is not None else None,
            end=b.month if b is not None else None,
            force=force,
            measure=measure,
            weights=dict(harm_weights()) if measure == "harm" else None,
            fine=fine,
            hours=hod,
        )
    )


Filters = Annotated[FilterParams, Depends(filters)]
