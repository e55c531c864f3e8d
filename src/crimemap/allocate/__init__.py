"""Directing resources: patrol plans, shift briefings, route risk and plan back-tests.

Method, formulation and references: ``docs/allocate.md``.
"""

from crimemap.allocate.briefing import (
    AreaBriefing,
    AreaTimes,
    area_polygons,
    area_times,
    briefing_png,
    briefings,
    expected_by_category,
    plan_geojson,
    write_briefings,
    write_plan_geojson,
)
from crimemap.allocate.evaluate import (
    PlanBacktest,
    PlanOriginResult,
    PlanScore,
    plan_backtest,
    score_cells,
    top_k_mask,
)
from crimemap.allocate.operational import NextPlan, plan_next
from crimemap.allocate.plan import METHODS, PatrolArea, PatrolPlan, fairness_caps, plan_patrols
from crimemap.allocate.route import RiskCell, RouteRisk, RouteSegment, parse_route, route_risk
from crimemap.allocate.surface import grid_surface

__all__ = [
    "METHODS",
    "NextPlan",
    "AreaBriefing",
    "AreaTimes",
    "PatrolArea",
    "PatrolPlan",
    "PlanBacktest",
    "PlanOriginResult",
    "PlanScore",
    "RiskCell",
    "RouteRisk",
    "RouteSegment",
    "area_polygons",
    "area_times",
    "briefing_png",
    "briefings",
    "expected_by_category",
    "fairness_caps",
    "grid_surface",
    "parse_route",
    "plan_backtest",
    "plan_geojson",
    "plan_next",
    "plan_patrols",
    "route_risk",
    "score_cells",
    "top_k_mask",
    "write_briefings",
    "write_plan_geojson",
]
