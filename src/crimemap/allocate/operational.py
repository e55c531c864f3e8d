"""Plan next month's patrols for one force: forecast, deprivation deciles, plan, briefings.

The one place where a plan for use is assembled, shared by ``crimemap plan``
and ``POST /api/plans``: fit the forecast model on all the force's data
(:func:`crimemap.evaluate.forecast_next`, optionally harm-weighted with the
ONS Crime Severity Score weights of :mod:`crimemap.detect.harm`), join IMD
deprivation deciles to the cells when a fairness cap is asked for, solve with
:func:`crimemap.allocate.plan_patrols`, and write the briefings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crimemap.allocate.briefing import AreaBriefing, briefings, expected_by_category
from crimemap.allocate.plan import PatrolPlan, plan_patrols
from crimemap.detect.harm import harm_weights
from crimemap.errors import InputError, NotFoundError
from crimemap.evaluate import forecast_next
from crimemap.evaluate.spec import ModelSpec
from crimemap.forecast.surface import RiskSurface
from crimemap.spatial.covariates import read_imd, unit_covariates
from crimemap.table import IncidentTable
from crimemap.taxonomy import crime_set as crime_set_categories

__all__ = ["NextPlan", "plan_next"]


@dataclass(frozen=True)
class NextPlan:
    """A plan for the period after the data, with its forecast and briefings."""

    plan: PatrolPlan
    surface: RiskSurface
    briefs: tuple[AreaBriefing, ...]


def plan_next(
    incidents: IncidentTable,
    *,
    crime_set: str = "all-crime",
    model: str | ModelSpec = "ewm",
    areas: int = 10,
    max_cells: int | None = 16,
    max_area_km2: float | None = None,
    min_spacing_m: float = 0.0,
    harm: bool = False,
    fairness_cap: float | None = None,
    imd_dir: Path | None = None,
    cell_size: float = 250.0,
    time_limit_s: float = 10.0,
    method: str = "cp-sat",
    workers: int = 2,
) -> NextPlan:
    """Forecast the next month for one force's incidents and plan patrol areas on it.

    Raises
    ------
    crimemap.errors.InputError
        A fairness cap without ``imd_dir``; infeasible requests
        (:class:`~crimemap.errors.InfeasibleError`).
    crimemap.errors.NotFoundError
        No incidents.
    """
    cats = crime_set_categories(crime_set)
    if fairness_cap is not None and imd_dir is None:
        raise InputError("a fairness cap needs the IMD 2019 workbooks (imd_dir / CRIMEMAP_IMD_DIR)")
    if len(incidents) == 0:
        raise NotFoundError("no incidents to plan on")
    spec = model if isinstance(model, ModelSpec) else ModelSpec.parse(model)
    weights = dict(harm_weights()) if harm else None
    if weights is not None:
        spec = ModelSpec(spec.name, {**dict(spec.params), "weights": weights})
    surface = forecast_next(incidents, crime_set=crime_set, model=spec, cell_size=cell_size)
    deciles = None
    if fairness_cap is not None and imd_dir is not None:
        cov = unit_covariates(surface.units, incidents.filter(end=surface.start), read_imd(imd_dir))
        deciles = cov.values[:, cov.names.index("imd_decile")]
    plan = plan_patrols(
        surface,
        areas,
        max_cells=max_cells,
        max_area_km2=max_area_km2,
        min_spacing_m=min_spacing_m,
        fairness_cap=fairness_cap,
        deciles=deciles,
        method=method,
        time_limit_s=time_limit_s,
        workers=workers,
        seed=0,
    )
    split = expected_by_category(surface, incidents, sorted(cats), weights=weights)
    briefs = tuple(briefings(plan, surface, by_category=split, incidents=incidents))
    return NextPlan(plan, surface, briefs)
