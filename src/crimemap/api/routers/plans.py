"""Patrol plans and route risk on the current forecast (analysts of the force, admins)."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from crimemap import allocate
from crimemap.api._access import ACTION_KEY, audit, check, require
from crimemap.api._forecast import CurrentForecast
from crimemap.api._state import AppState
from crimemap.api.deps import State
from crimemap.errors import NotFoundError
from crimemap.forecast.surface import RiskSurface
from crimemap.safeguards import Principal

__all__ = ["router", "PlanRequest", "RouteRequest"]

router = APIRouter(prefix="/api", tags=["plans"])

#: Plans kept for their briefing pages (least recently made first out).
MAX_PLANS = 32
_ACTION = "forecast.read"


class PlanRequest(BaseModel):
    """A patrol plan request (see ``docs/allocate.md``)."""

    force: str = Field(description="Force slug (analysts: one of their own).")
    crime_set: str | None = Field(
        None,
        description="Crime set or category (default: the current forecast's; another one is "
        "forecast on demand).",
    )
    areas: int = Field(10, ge=1, le=50, description="Number of patrol areas.")
    max_cells: int | None = Field(16, ge=1, le=64, description="Largest area, in cells.")
    max_area_km2: float | None = Field(None, gt=0, le=1000, description="Largest area, km².")
    min_spacing_m: float = Field(0.0, ge=0, le=20_000, description="Least gap between areas.")
    harm: bool = Field(
        False, description="Plan on forecast harm (ONS Crime Severity Score weights)."
    )
    fairness_cap: float | None = Field(
        None,
        gt=0,
        le=10,
        description="Cap a deprivation decile's share of areas at this multiple of its share of "
        "forecast harm (needs CRIMEMAP_IMD_DIR).",
    )
    time_limit_s: float = Field(5.0, gt=0, le=30, description="Solver time limit (s).")
    method: str = Field("cp-sat", pattern="^(cp-sat|greedy)$")


class RouteRequest(BaseModel):
    """A route to assess against the current forecast."""

    force: str = Field(description="Force slug (analysts: one of their own).")
    route: dict[str, Any] | list[list[float]] = Field(
        description="GeoJSON LineString (or Feature) or [[lon, lat], ...] in WGS84."
    )
    buffer_m: float = Field(100.0, ge=0, le=2000, description="Search distance from the route.")


@dataclass(frozen=True)
class _Stored:
    force: str
    plan: allocate.PatrolPlan
    briefs: tuple[allocate.AreaBriefing, ...]


class _Plans:
    def __init__(self) -> None:
        self._items: OrderedDict[str, _Stored] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, item: _Stored) -> str:
        pid = secrets.token_urlsafe(12)
        with self._lock:
            self._items[pid] = item
            while len(self._items) > MAX_PLANS:
                self._items.popitem(last=False)
        return pid

    def get(self, pid: str) -> _Stored:
        with self._lock:
            hit = self._items.get(pid)
        if hit is None:
            raise NotFoundError("no such plan (plans are kept in memory for a while only)")
        return hit


def _plans(state: AppState) -> _Plans:
    store: _Plans = state.cached_static("plans", _Plans)
    return store


def _surface(state: AppState, force: str) -> RiskSurface:
    fc = state.forecast
    if fc is None:
        raise NotFoundError(f"no current forecast ({state.forecast_error or 'not computed'})")
    return state.cached(("surface", force, id(fc)), lambda: _build_surface(state, fc, force))


def _build_surface(state: AppState, fc: CurrentForecast, force: str) -> RiskSurface:
    m = fc.force == force
    if not m.any():
        raise NotFoundError(f"the current forecast has no cells of force {force!r}")
    return allocate.grid_surface(
        fc.ij[m],
        fc.mean[m],
        size=fc.size,
        start=f"{fc.start}-01",
        end=f"{fc.end}-01",
        model=fc.model,
        components={k: np.asarray(v)[m] for k, v in fc.components.items()},
        crs=state.crs,
    )


def _make_plan(state: AppState, req: PlanRequest) -> tuple[str, dict[str, Any]]:
    fc = state.forecast
    custom = (
        req.harm
        or req.fairness_cap is not None
        or (req.crime_set is not None and (fc is None or req.crime_set != fc.crime_set))
    )
    if custom:
        # Harm, another crime set or a fairness cap: a forecast of its own for this
        # force (the same assembly as ``crimemap plan``), on the served grid.
        incidents = state.store.incidents(forces=[req.force])
        if len(incidents) == 0:
            raise NotFoundError(f"no incidents for force {req.force!r}")
        nxt = allocate.plan_next(
            incidents,
            crime_set=req.crime_set or (fc.crime_set if fc else "all-crime"),
            model=fc.model if fc else state.settings.forecast_model,
            areas=req.areas,
            max_cells=req.max_cells,
            max_area_km2=req.max_area_km2,
            min_spacing_m=req.min_spacing_m,
            harm=req.harm,
            fairness_cap=req.fairness_cap,
            imd_dir=state.settings.imd_dir,
            cell_size=fc.size if fc else state.settings.forecast_cell_m,
            time_limit_s=req.time_limit_s,
            method=req.method,
            workers=1,
        )
        plan, briefs = nxt.plan, nxt.briefs
    else:
        plan, briefs = _plan_current(state, req)
    pid = _plans(state).put(_Stored(req.force, plan, briefs))
    out = allocate.plan_geojson(plan, briefs=briefs)
    out["plan_id"] = pid
    out["force"] = req.force
    return pid, out


def _plan_current(
    state: AppState, req: PlanRequest
) -> tuple[allocate.PatrolPlan, tuple[allocate.AreaBriefing, ...]]:
    """A volume plan on the served current forecast (no extra fitting)."""
    surface = _surface(state, req.force)
    plan = allocate.plan_patrols(
        surface,
        req.areas,
        max_cells=req.max_cells,
        max_area_km2=req.max_area_km2,
        min_spacing_m=req.min_spacing_m,
        method=req.method,
        time_limit_s=req.time_limit_s,
        workers=1,
        seed=0,
    )
    return plan, allocate.briefings(plan, surface)


@router.post(
    "/plans",
    summary="Plan patrol areas on the current forecast (GeoJSON)",
    openapi_extra={ACTION_KEY: _ACTION},
)
async def post_plan(
    request: Request,
    state: State,
    who: Annotated[Principal, Depends(require(_ACTION, scoped=False))],
    req: PlanRequest,
) -> dict[str, Any]:
    """``crimemap.allocate.plan_patrols`` for one force: compact, contiguous areas covering
    the most forecast; 422 when infeasible. ``plan_id`` names the plan for its briefings."""
    await check(request, who, _ACTION, req.force)
    pid, out = await run_in_threadpool(_make_plan, state, req)
    await audit(
        request,
        who,
        "data.forecast",
        force=req.force,
        n_rows=len(out.get("features", [])),
        detail={"kind": "plan", "plan_id": pid, "areas": req.areas, "method": req.method},
    )
    return out


@router.get(
    "/plans/{plan_id}/areas/{rank}/briefing.png",
    summary="One patrol area's briefing page (PNG)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    openapi_extra={ACTION_KEY: _ACTION},
)
async def briefing(
    request: Request,
    state: State,
    who: Annotated[Principal, Depends(require(_ACTION))],
    plan_id: Annotated[str, Path(max_length=64, description="plan_id from POST /api/plans.")],
    rank: Annotated[int, Path(ge=1, le=50, description="Area rank (1 = most forecast).")],
    force: Annotated[str, Query(description="The plan's force.")],
) -> Response:
    """The printable page of area ``rank`` (1 = best) of a plan made by ``POST /api/plans``."""
    item = _plans(state).get(plan_id)
    if item.force != force:
        raise NotFoundError("no such plan for this force")
    brief = next((b for b in item.briefs if b.area.rank == rank), None)
    if brief is None:
        raise NotFoundError(f"the plan has no area {rank}")
    png = await run_in_threadpool(
        lambda: allocate.briefing_png(item.plan, brief, title=f"{force}: patrol area {rank}")
    )
    await audit(
        request,
        who,
        "data.forecast",
        force=force,
        area=brief.area.centre,
        detail={"kind": "briefing", "plan_id": plan_id, "rank": rank},
    )
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post(
    "/route-risk",
    summary="Forecast risk along a route (GeoJSON)",
    openapi_extra={ACTION_KEY: _ACTION},
)
async def post_route_risk(
    request: Request,
    state: State,
    who: Annotated[Principal, Depends(require(_ACTION, scoped=False))],
    req: RouteRequest,
) -> dict[str, Any]:
    """``crimemap.allocate.route_risk``: the forecast on each segment of the route and the
    high-risk cells within ``buffer_m`` of it."""
    await check(request, who, _ACTION, req.force)

    def run() -> dict[str, Any]:
        res = allocate.route_risk(_surface(state, req.force), req.route, buffer_m=req.buffer_m)
        out: dict[str, Any] = res.to_geojson()
        return out

    out = await run_in_threadpool(run)
    await audit(
        request,
        who,
        "data.forecast",
        force=req.force,
        n_rows=len(out.get("features", [])),
        detail={"kind": "route-risk", "buffer_m": req.buffer_m},
    )
    return out
