"""Dependencies shared by the routers: the app state and the common query parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from crimemap.api._cells import month_index
from crimemap.api._layers import Filter
from crimemap.api._state import AppState
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
        Query(description="First month included, YYYY-MM (default: first month of data)."),
    ] = None,
    end: Annotated[
        str | None, Query(description="Last month included, YYYY-MM (default: last month of data).")
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
    s = month_index(start) if start else None
    e = month_index(end) if end else None
    if s is not None and e is not None and e < s:
        raise InputError("end month is before start month")
    return FilterParams(
        Filter(
            categories=_categories(categories),
            start=s,
            end=e,
            force=force,
            measure=measure,
            weights=dict(harm_weights()) if measure == "harm" else None,
        )
    )


Filters = Annotated[FilterParams, Depends(filters)]
