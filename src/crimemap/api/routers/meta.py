"""What the store holds: forces, categories, months, models; basemap outlines."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from crimemap.api._access import ACTION_KEY, require
from crimemap.api._cells import CELL_SIZES
from crimemap.api._outlines import force_outlines, lsoa_outlines
from crimemap.api._queries import lsoa_codes, time_precisions
from crimemap.api._unit_queries import time_bins
from crimemap.api._units import H3_SERVED, UNIT_KINDS
from crimemap.api.deps import State
from crimemap.detect import HARM_SOURCE, harm_weights
from crimemap.errors import NotFoundError
from crimemap.forecast import models
from crimemap.safeguards import Principal
from crimemap.taxonomy import CATEGORIES, CRIME_SETS

__all__ = ["router", "Meta"]

router = APIRouter(prefix="/api", tags=["metadata"])

MetaRead = Annotated[Principal, Depends(require("meta.read"))]
_META = {ACTION_KEY: "meta.read"}


class CategoryOut(BaseModel):
    slug: str
    label: str
    harm_weight: float = Field(description="ONS CSS weight (custody-days, provisional).")


class ForecastInfo(BaseModel):
    model: str
    crime_set: str
    cell_m: float
    window: list[str] = Field(description="[start, end) months.")


class TimeBins(BaseModel):
    """The time bins one force's data supports."""

    force: str
    precision: str = Field(description="Finest time precision present: month, day or minute.")
    incidents: dict[str, int] = Field(description="Incidents per time precision.")
    days: bool = Field(description="Day windows available (records timed to the day or minute).")
    hours: bool = Field(description="Hour windows and hour-of-day filters available (minute).")
    first_day: str | None = Field(description="First day of the exactly timed records.")
    last_day: str | None = Field(description="Last day of the exactly timed records.")


def _time_bins(rows: list[dict[str, Any]]) -> list[TimeBins]:
    order = {"month": 0, "day": 1, "minute": 2}
    out: list[TimeBins] = []
    for force in sorted({r["force"] for r in rows}):
        mine = [r for r in rows if r["force"] == force]
        fine = [r for r in mine if r["t_precision"] in ("day", "minute")]
        out.append(
            TimeBins(
                force=force,
                precision=max((r["t_precision"] for r in mine), key=lambda p: order.get(p, 0)),
                incidents={r["t_precision"]: int(r["n"]) for r in mine},
                days=bool(fine),
                hours=any(r["t_precision"] == "minute" for r in mine),
                first_day=str(min(r["first"] for r in fine))[:10] if fine else None,
                last_day=str(max(r["last"] for r in fine))[:10] if fine else None,
            )
        )
    return out


class Meta(BaseModel):
    """What the map can show."""

    forces: list[str]
    categories: list[CategoryOut]
    crime_sets: dict[str, list[str]]
    months: list[str] = Field(description="Months with data, YYYY-MM.")
    time_precision: list[str] = Field(description="Time precisions present (month, day, minute).")
    time_bins: list[TimeBins] = Field(
        description="Per force: whether day and hour windows are available, and their span."
    )
    units: list[str] = Field(description="Spatial units of the incidents layer.")
    h3_resolutions: list[int]
    models: list[str] = Field(description="Registered forecast models.")
    layers: list[str]
    cell_sizes_m: list[float]
    harm_source: str
    forecast: ForecastInfo | None
    forecast_error: str | None
    basemap_style_url: str | None = Field(
        description="Online style, if configured; else offline outlines."
    )
    lsoa_outlines: bool
    incidents: int
    version: list[int]


@router.get(
    "/meta",
    response_model=Meta,
    summary="Forces, categories, months and models available",
    openapi_extra=_META,
)
def meta(state: State, who: MetaRead) -> Meta:
    """Everything the map's controls are built from."""
    fc = state.forecast
    w = harm_weights()
    prec = state.cached(("precision",), lambda: time_precisions(state.store))
    return Meta(
        forces=list(state.index.forces),
        categories=[
            CategoryOut(slug=c.slug, label=c.label, harm_weight=w[c.slug]) for c in CATEGORIES
        ],
        crime_sets={k: sorted(v) for k, v in CRIME_SETS.items()},
        months=state.index.months,
        time_precision=prec,
        time_bins=state.cached(("time-bins",), lambda: _time_bins(time_bins(state.store))),
        units=list(UNIT_KINDS),
        h3_resolutions=list(H3_SERVED),
        models=list(models()),
        layers=["incidents", "hotspots", "emerging", "forecast"],
        cell_sizes_m=list(CELL_SIZES),
        harm_source=HARM_SOURCE,
        forecast=(
            ForecastInfo(
                model=fc.model, crime_set=fc.crime_set, cell_m=fc.size, window=[fc.start, fc.end]
            )
            if fc
            else None
        ),
        forecast_error=state.forecast_error,
        basemap_style_url=state.settings.basemap_style_url,
        lsoa_outlines=state.settings.lsoa_geojson_dir is not None,
        incidents=state.version[0],
        version=list(state.version),
    )


@router.get("/health", summary="Liveness", openapi_extra=_META)
def health(state: State, who: MetaRead) -> dict[str, Any]:
    return {"status": "ok", "incidents": state.version[0], "stream_clients": state.broker.clients}


@router.get(
    "/outlines/forces",
    summary="Force outlines (GeoJSON) for the offline basemap",
    responses={200: {"content": {"application/geo+json": {}}}},
    openapi_extra=_META,
)
async def outlines_forces(state: State, who: MetaRead) -> JSONResponse:
    """Each force's area: a concave hull of its 2 km cells with at least 5 incidents."""
    # Outlines change little with a few new incidents: cached for the first data version seen.
    data = await run_in_threadpool(
        state.cached_static, "outlines", lambda: force_outlines(state.index)
    )
    return JSONResponse(data, media_type="application/geo+json")


@router.get(
    "/outlines/lsoa",
    summary="LSOA polygons (GeoJSON) for the offline basemap, when configured",
    responses={200: {"content": {"application/geo+json": {}}}},
    openapi_extra=_META,
)
async def outlines_lsoa(state: State, who: MetaRead) -> JSONResponse:
    """LSOAs from ``Settings.lsoa_geojson_dir`` that hold at least one incident."""
    folder = state.settings.lsoa_geojson_dir
    if folder is None:
        raise NotFoundError("no LSOA outlines configured (set CRIMEMAP_LSOA_GEOJSON_DIR)")
    data = await run_in_threadpool(
        state.cached_static, "lsoa", lambda: lsoa_outlines(folder, lsoa_codes(state.store))
    )
    return JSONResponse(data, media_type="application/geo+json")
