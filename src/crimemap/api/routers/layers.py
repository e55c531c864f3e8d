"""Viewport layers as GeoJSON: counts, hot spots, emerging hot spots, forecast."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from crimemap.api._access import ACTION_KEY, audit, check, require
from crimemap.api._cells import CELL_SIZES, cell_size_for
from crimemap.api._layers import (
    EMERGING_MIN_CELL_M,
    Layer,
    counts_layer,
    emerging_layer,
    forecast_layer,
    hotspot_layer,
    render_geojson,
)
from crimemap.api._public import public_counts_layer, public_size
from crimemap.api._state import AppState
from crimemap.api._units import Unit, h3_resolution_for, is_fine, render_units_geojson
from crimemap.api.deps import BBoxParam, Filters, State, parse_bbox
from crimemap.errors import AccessDenied, InputError, NotFoundError
from crimemap.safeguards import DisclosurePolicy, Principal, allowed

__all__ = ["router"]

router = APIRouter(prefix="/api/layers", tags=["layers"])

LAYERS = ("incidents", "hotspots", "emerging", "forecast")
#: Action each layer needs. ``incidents`` is public but disclosure-controlled
#: unless the principal may read the force's incidents (``incidents.read``).
LAYER_ACTIONS = {
    "incidents": "counts.read",
    "hotspots": "hotspots.read",
    "emerging": "hotspots.read",
    "forecast": "forecast.read",
}
#: Audit action of each layer's restricted (non-public) form.
LAYER_AUDIT = {
    "incidents": "data.incidents",
    "hotspots": "data.hotspots",
    "emerging": "data.hotspots",
    "forecast": "data.forecast",
}


def policy(state: AppState) -> DisclosurePolicy:
    """The deployment's disclosure policy (threshold from the settings)."""
    t = int(state.settings.disclosure_threshold)
    return DisclosurePolicy(threshold=t, base=min(5, t))


def _layer(
    state: AppState,
    name: str,
    size: float,
    fp: Filters,
    xy: tuple[float, float, float, float] | None,
    public: bool = False,
) -> Layer:
    f = fp.filter
    if name == "incidents" and public:
        p = policy(state)
        size = public_size(size, p)
        return state.cached(
            ("public", size, f, p), lambda: public_counts_layer(state.index, size, f, p)
        )
    if name == "incidents":
        # Straight from the index (prefix sums): no cache needed.
        return counts_layer(state.index, size, f, xy)
    if name == "hotspots":
        return state.cached(
            ("hotspots", size, f), lambda: hotspot_layer(state.index, state.study(size, f.force), f)
        )
    if name == "emerging":
        size = max(size, EMERGING_MIN_CELL_M)
        return state.cached(
            ("emerging", size, f),
            lambda: emerging_layer(state.index, state.study(size, f.force), f),
        )
    fc = state.forecast
    if fc is None:
        raise NotFoundError(f"no current forecast ({state.forecast_error or 'not computed'})")
    size = max(size, fc.size)
    return state.cached(
        ("forecast", size, f.force, id(fc)), lambda: forecast_layer(state.index, fc, size, f.force)
    )


def _render(
    state: AppState,
    name: str,
    bbox: str | None,
    zoom: float,
    cell: float | None,
    fp: Filters,
    public: bool = False,
) -> str:
    if bbox is None:
        raise InputError("bbox is required: west,south,east,north in degrees")
    xy = state.index.to_xy_bbox(parse_bbox(bbox))
    size = _size(state, bbox, zoom, cell)
    return render_geojson(_layer(state, name, size, fp, xy, public), xy)


def _size(state: AppState, bbox: str, zoom: float, cell: float | None) -> float:
    if cell is not None and cell not in CELL_SIZES:
        raise InputError(f"cell_m must be one of {', '.join(f'{s:g}' for s in CELL_SIZES)}")
    if cell is not None:
        return cell
    return cell_size_for(zoom, state.index.to_xy_bbox(parse_bbox(bbox)))


def _render_units(
    state: AppState,
    kind: str,
    resolution: int | None,
    bbox: str | None,
    zoom: float,
    cell: float | None,
    fp: Filters,
) -> str:
    """Counts on H3 hexagons or LSOAs (by month, day or hour), or on grid cells by day/hour."""
    if bbox is None:
        raise InputError("bbox is required: west,south,east,north in degrees")
    wgs = parse_bbox(bbox)
    state.index.to_xy_bbox(wgs)  # validates the box
    if kind == "grid":
        unit = Unit("grid", _size(state, bbox, zoom, cell))
    elif kind == "h3":
        unit = Unit("h3", float(resolution if resolution is not None else h3_resolution_for(zoom)))
    else:
        unit = Unit("lsoa", 0.0)
    lay = state.units.layer(unit, fp.filter, wgs)
    lay.meta["layer"] = "incidents"
    return render_units_geojson(lay, wgs)


@router.get(
    "/{layer}",
    summary="One map layer in a viewport",
    response_class=Response,
    responses={
        200: {
            "content": {"application/geo+json": {}},
            "description": "GeoJSON FeatureCollection of grid cells; properties.id is the cell id "
            "(g<size>:<i>:<j>, British National Grid), properties.value the layer's value "
            "(incidents: count or harm; hotspots: Gi* z with q and class; emerging: class code "
            "with label; forecast: expected count with lo90/hi90). 'meta' gives the cell size, "
            "units and the maximum for the legend. For the public (no sign-in), incidents "
            "are disclosure-controlled: cells >= 500 m, counts of 1 to threshold-1 per cell, "
            "month and category suppressed, others rounded (see docs/api.md).",
        }
    },
    openapi_extra={ACTION_KEY: "counts.read", "x-crimemap-layer-actions": LAYER_ACTIONS},
)
async def layer(
    request: Request,
    state: State,
    who: Annotated[Principal, Depends(require("counts.read"))],
    fp: Filters,
    layer: Annotated[
        str,
        Path(
            description="incidents, hotspots, emerging or forecast.",
            pattern="^(incidents|hotspots|emerging|forecast)$",
        ),
    ],
    bbox: BBoxParam = None,
    zoom: Annotated[
        float, Query(ge=0, le=24, description="Web-map zoom; sets the cell size.")
    ] = 10.0,
    cell_m: Annotated[
        float | None,
        Query(description="Force a cell size in metres (250, 500, 1000, 2000, 4000, 8000, 16000)."),
    ] = None,
    unit: Annotated[
        str,
        Query(
            description="Spatial unit of the incidents layer: grid (British National Grid cells), "
            "h3 (H3 hexagons) or lsoa (LSOAs by the incidents' LSOA code, unlocated records "
            "included; needs LSOA_GEOJSON_DIR). Other layers and the public view: grid only.",
            pattern="^(grid|h3|lsoa)$",
        ),
    ] = "grid",
    resolution: Annotated[
        int | None,
        Query(ge=8, le=10, description="H3 resolution (8, 9 or 10); by default it follows zoom."),
    ] = None,
) -> Response:
    """Cells of ``layer`` meeting ``bbox``, aggregated server-side (coarser cells at low zoom).

    Hot spots, emerging hot spots and the forecast need an analyst of the force
    (or an admin); incidents are public but disclosure-controlled unless the
    principal may read the force's incidents."""
    force = fp.filter.force
    public = layer == "incidents" and not allowed(who, "incidents.read", force)
    if not public:
        await check(request, who, LAYER_ACTIONS[layer], force)
    units = unit != "grid" or is_fine(fp.filter)
    if units and layer != "incidents":
        raise InputError(
            f"the {layer} layer is served on grid cells and by month; H3, LSOA and day/hour "
            "windows are served for the incidents layer and series"
        )
    if units and public:
        # Disclosure control publishes 500 m cells by calendar month only: other units or
        # finer times could be differenced against them to reveal suppressed counts.
        raise AccessDenied(
            "the public view shows disclosure-controlled counts on grid cells by month only; "
            "H3, LSOA and day/hour views need an analyst of the force (force=...) or an admin"
        )
    if units:
        body = await state.run(_render_units, state, unit, resolution, bbox, zoom, cell_m, fp)
        await audit(
            request,
            who,
            LAYER_AUDIT[layer],
            force=force,
            area=f"bbox:{bbox}",
            detail={"layer": layer, "unit": unit, "categories": sorted(fp.filter.categories)},
        )
        return Response(
            body, media_type="application/geo+json", headers={"Cache-Control": "no-store"}
        )
    if public and bbox is not None:
        size = public_size(_size(state, bbox, zoom, cell_m), policy(state))
        if not state.is_cached(("public", size, fp.filter, policy(state))):
            await state.run(_layer, state, layer, size, fp, None, True, heavy=True)
    if layer in ("hotspots", "emerging") and bbox is not None:
        # Compute a missing statistic on the heavy pool first; the render then hits the cache.
        size = _size(state, bbox, zoom, cell_m)
        if layer == "emerging":
            size = max(size, EMERGING_MIN_CELL_M)
        if not state.is_cached((layer, size, fp.filter)):
            await state.run(_layer, state, layer, size, fp, None, heavy=True)
    body = await state.run(_render, state, layer, bbox, zoom, cell_m, fp, public)
    if not public:
        await audit(
            request,
            who,
            LAYER_AUDIT[layer],
            force=force,
            area=f"bbox:{bbox}",
            detail={"layer": layer, "categories": sorted(fp.filter.categories)},
        )
    return Response(body, media_type="application/geo+json", headers={"Cache-Control": "no-store"})
