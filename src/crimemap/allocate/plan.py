"""Patrol plans: N compact, contiguous areas that cover the most forecast harm.

Method
------
Given a forecast (a :class:`~crimemap.forecast.RiskSurface` over square grid
cells, score ``s_i`` = expected count or harm of cell ``i``), choose ``N``
disjoint patrol areas of at most ``K`` cells each that maximise the total
score covered. An area is a **centre** cell ``c`` plus cells within ``r``
rook steps of it, and it must be *shortest-path contiguous*: every member
``i != c`` has a rook neighbour in the same area that is one step closer to
``c`` (graph distance ``d_c``). This is the shortest-path contiguity
formulation of districting (Mehrotra, Johnson & Nemhauser 1998; called SHIR
by Validi, Buchanan & Lykhovyd 2022): it implies connectivity (follow the
closer neighbours back to the centre) and compactness (an area is
star-shaped around its centre and lies within radius ``r``), and needs no
flow variables or lazy cut constraints. The integer programme is

.. math::

    \\max \\sum_{c,i} s_i x_{ic}
    \\quad\\text{s.t.}\\quad
    \\sum_c x_{cc} = N,\\;
    \\sum_i x_{ic} \\le K x_{cc},\\;
    x_{ic} \\le x_{cc},\\;
    \\sum_c x_{ic} \\le 1,\\;
    x_{ic} \\le \\sum_{j \\in N(i): d_c(j) = d_c(i) - 1} x_{jc},

with ``x`` binary and ``x_{ic}`` defined only where ``d_c(i) <= r``
(``r`` defaults to the smallest radius whose rook ball holds ``K`` cells,
e.g. 3 for ``K = 16``). Optional side constraints:

* **spacing** ``S`` metres: for cells ``a, b`` whose squares are closer than
  ``S`` (edge to edge), ``x_{ac} + \\sum_{c'} x_{bc'} - x_{bc} <= 1``: they
  may not lie in different areas;
* **fairness cap** ``f``: with ``h_d`` the share of forecast harm in IMD
  deprivation decile ``d`` (over cells whose decile is known), at most
  ``floor(f * h_d * N)`` areas may have their centre in decile ``d``. Areas
  centred on cells of unknown decile are not capped.

To keep the model small on a force-wide grid, centres are restricted to the
``n_centres`` cells with the largest forecast within ``r`` steps (and the
best few of every decile under a fairness cap), and cells to the balls
around them; the reported bound is for this restricted model, and
``top_k`` (the ``N * K`` best cells: what an unconstrained plan could
reach) bounds every plan. It is solved with OR-Tools CP-SAT (Perron & Didier
2024) under a time limit, starting from the greedy plan (:mod:`._greedy`);
the plan returned is the better of the two, with its gap to the best proven
bound: CP-SAT's own, or a Lagrangian bound (cell-disjointness priced out,
contiguity dropped, prices by subgradient descent: :mod:`._bound`), which is
usually much tighter on force-wide grids. The greedy's gap to the same bound
is reported too.

References
----------
Mehrotra, A., Johnson, E. L. & Nemhauser, G. L. (1998). An optimization
based heuristic for political districting. *Management Science* 44(8),
1100-1114.
Validi, H., Buchanan, A. & Lykhovyd, E. (2022). Imposing contiguity
constraints in political districting models. *Operations Research* 70(2),
867-892.
Church, R. & ReVelle, C. (1974). The maximal covering location problem.
*Papers of the Regional Science Association* 32, 101-118.
Perron, L. & Didier, F. (2024). CP-SAT. Google OR-Tools,
https://developers.google.com/optimization/.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from crimemap.allocate._bound import lagrangian_bound
from crimemap.allocate._cpsat import solve
from crimemap.allocate._greedy import greedy
from crimemap.allocate._grid import grid_of
from crimemap.allocate._problem import Problem, build_problem, default_radius
from crimemap.errors import CrimemapError, InfeasibleError, InputError
from crimemap.forecast.surface import RiskSurface
from crimemap.spatial.units import Units

__all__ = ["PatrolArea", "PatrolPlan", "plan_patrols", "fairness_caps", "METHODS"]

#: Solvers of :func:`plan_patrols`.
METHODS = ("cp-sat", "greedy")


@dataclass(frozen=True, eq=False)
class PatrolArea:
    """One patrol area.

    Attributes
    ----------
    rank : int
        1 = the area with the largest forecast.
    centre : str
        Unit id of the area's centre cell.
    cells : numpy.ndarray
        Positions of its cells in the plan's ``units`` (centre first).
    ids : tuple of str
        Unit ids of its cells (same order).
    expected : float
        Forecast count (or harm) covered.
    area_km2 : float
        Area patrolled.
    decile : float
        IMD decile of the centre cell (NaN when unknown or not given).
    """

    rank: int
    centre: str
    cells: np.ndarray
    ids: tuple[str, ...]
    expected: float
    area_km2: float
    decile: float


@dataclass(frozen=True, eq=False)
class PatrolPlan:
    """A patrol plan and how good it provably is.

    Attributes
    ----------
    units : Units
        The grid cells of the forecast.
    scores : numpy.ndarray
        ``(n_units,)`` the forecast planned on.
    areas : tuple of PatrolArea
        The areas, best first.
    objective : float
        Forecast covered by the plan.
    bound : float
        Proven upper bound for any plan of the (candidate-restricted) model:
        the least of CP-SAT's best bound, the Lagrangian bound
        (:mod:`._bound`) and ``top_k``.
    bound_source : str
        Which of ``"cp-sat"``, ``"lagrangian"`` and ``"top-k"`` gave it.
    gap : float
        ``(bound - objective) / bound`` (0 when the bound is 0).
    method : str
        Which solver's plan was kept: ``"cp-sat"`` or ``"greedy"``.
    status : str
        CP-SAT status (``OPTIMAL``, ``FEASIBLE``, ``UNKNOWN``) or
        ``"NOT_RUN"`` for ``method="greedy"``.
    greedy_objective, greedy_gap : float
        The greedy plan's value and its gap to ``bound`` (NaN if the greedy
        could not place every area).
    top_k : float
        Forecast in the ``n_areas * max_cells`` best cells: an upper bound
        on any plan, reached only if compactness cost nothing.
    seconds : float
        Wall time of the whole planning; ``solve_seconds`` of CP-SAT alone.
    n_candidates, n_centres : int
        Size of the restricted model (cells, centres).
    caps : mapping
        IMD decile -> most areas allowed (fairness cap on), else empty.
    params : mapping
        The request (areas, cell limit, radius, spacing, cap, time limit, ...).
    """

    units: Units
    scores: np.ndarray
    areas: tuple[PatrolArea, ...]
    objective: float
    bound: float
    bound_source: str
    gap: float
    method: str
    status: str
    greedy_objective: float
    greedy_gap: float
    top_k: float
    seconds: float
    solve_seconds: float
    n_candidates: int
    n_centres: int
    caps: MappingProxyType[int, int]
    params: MappingProxyType[str, Any]

    @property
    def labels(self) -> np.ndarray:
        """``(n_units,)`` index of each cell's area in ``areas`` (``-1``: none)."""
        out = np.full(len(self.units), -1, np.int64)
        for k, a in enumerate(self.areas):
            out[a.cells] = k
        return out

    @property
    def covered(self) -> np.ndarray:
        """``(n_units,)`` True for cells in some area."""
        return self.labels >= 0

    @property
    def n_cells(self) -> int:
        """Cells patrolled in total."""
        return int(sum(len(a.cells) for a in self.areas))

    @property
    def area_km2(self) -> float:
        """Area patrolled in total (km²)."""
        return float(sum(a.area_km2 for a in self.areas))


def fairness_caps(
    scores: np.ndarray, deciles: np.ndarray, n_areas: int, cap: float
) -> dict[int, int]:
    """Most areas allowed per IMD decile: ``floor(cap * harm share * n_areas)``.

    Parameters
    ----------
    scores : numpy.ndarray
        Forecast per cell.
    deciles : numpy.ndarray
        IMD decile (1-10) per cell, NaN when unknown (unknown cells are not
        counted in the shares and not capped).
    n_areas : int
        Areas in the plan.
    cap : float
        Largest allowed ratio of a decile's share of areas to its share of
        forecast harm (1.5: at most 1.5 times its share).
    """
    if not cap > 0:
        raise InputError(f"fairness cap must be positive, got {cap!r}")
    d = np.asarray(deciles, float)
    known = np.isfinite(d)
    total = float(np.asarray(scores, float)[known].sum())
    caps: dict[int, int] = {}
    for v in np.unique(d[known]).astype(int):
        share = float(scores[known & (d == v)].sum()) / total if total > 0 else 0.0
        caps[int(v)] = int(np.floor(cap * share * n_areas + 1e-9))
    return caps


def _value(prob: Problem, areas: list[list[int]] | None) -> float:
    if areas is None:
        return float("nan")
    cells = np.array([prob.pair_i[p] for a in areas for p in a], np.int64)
    return float(prob.scores[cells].sum()) if len(cells) else 0.0


def _gap(bound: float, value: float) -> float:
    if not np.isfinite(value):
        return float("nan")
    if bound <= 0:
        return 0.0
    return max(0.0, (bound - value) / bound)


def _check(n_areas: int, max_cells: int, n_units: int, spacing: float, method: str) -> None:
    if method not in METHODS:
        raise InputError(f"unknown planning method {method!r}; use one of {', '.join(METHODS)}")
    if n_areas < 1:
        raise InputError(f"need at least one patrol area, got {n_areas}")
    if max_cells < 1:
        raise InputError("an area must be allowed at least one cell (raise the size limit)")
    if spacing < 0 or not np.isfinite(spacing):
        raise InputError(f"minimum spacing must be >= 0 metres, got {spacing!r}")
    if n_areas > n_units:
        raise InfeasibleError(
            f"asked for {n_areas} patrol areas but the forecast covers only {n_units} cells"
        )


def plan_patrols(
    surface: RiskSurface,
    n_areas: int = 10,
    *,
    max_cells: int | None = 16,
    max_area_km2: float | None = None,
    radius: int | None = None,
    min_spacing_m: float = 0.0,
    fairness_cap: float | None = None,
    deciles: np.ndarray | None = None,
    method: str = "cp-sat",
    time_limit_s: float = 10.0,
    n_centres: int | None = None,
    workers: int = 2,
    seed: int = 0,
) -> PatrolPlan:
    """Choose ``n_areas`` compact, contiguous patrol areas covering the most forecast.

    Parameters
    ----------
    surface : RiskSurface
        Forecast over square grid units (``mean`` is the value of a cell).
    n_areas : int
        Number of patrol areas.
    max_cells, max_area_km2 : int or float, optional
        Size limit of an area in cells and/or km² (the tighter one applies).
    radius : int, optional
        Largest rook-step distance from an area's centre (compactness);
        default the smallest radius whose diamond holds ``max_cells``.
    min_spacing_m : float
        Least distance between the cells of different areas (edge to edge);
        0 lets areas touch.
    fairness_cap : float, optional
        Cap on a decile's share of areas relative to its share of forecast
        harm (see :func:`fairness_caps`); needs ``deciles``.
    deciles : numpy.ndarray, optional
        ``(n_units,)`` IMD decile (1-10) per cell, NaN where unknown.
    method : {"cp-sat", "greedy"}
        CP-SAT (greedy start, better of the two kept) or the greedy alone.
    time_limit_s : float
        CP-SAT time limit in seconds.
    n_centres : int, optional
        Candidate centres kept (default ``max(30 * n_areas, 300)``).
    workers, seed : int
        CP-SAT search workers and random seed.

    Raises
    ------
    crimemap.errors.InfeasibleError
        If no plan satisfies the request (too many areas, spacing or cap too
        tight, or nothing found within the time limit).
    crimemap.errors.InputError
        For malformed requests (non-grid units, bad sizes, missing deciles).
    """
    t0 = time.perf_counter()
    units = surface.units
    index = grid_of(units)
    scores = np.asarray(surface.mean, float)
    cell_km2 = float(units.cell_size or 0.0) ** 2 / 1e6
    limit = max_cells if max_cells is not None else np.iinfo(np.int32).max
    if max_area_km2 is not None:
        limit = min(limit, int(np.floor(max_area_km2 / cell_km2 + 1e-9)))
    if max_cells is None and max_area_km2 is None:
        raise InputError("give a size limit: max_cells and/or max_area_km2")
    k = int(limit)
    _check(n_areas, k, len(units), float(min_spacing_m), method)
    r = default_radius(k) if radius is None else int(radius)
    if r < 0:
        raise InputError("radius must be >= 0")

    groups = None
    caps: dict[int, int] = {}
    if fairness_cap is not None:
        if deciles is None or len(deciles) != len(units):
            raise InputError("the fairness cap needs one IMD decile per cell (deciles)")
        dec = np.asarray(deciles, float)
        caps = fairness_caps(scores, dec, n_areas, float(fairness_cap))
        groups = np.where(np.isfinite(dec), np.nan_to_num(dec, nan=-1), -1).astype(np.int64)
        if not (groups < 0).any() and sum(caps.values()) < n_areas:
            raise InfeasibleError(
                f"fairness cap {fairness_cap:g} allows only {sum(caps.values())} areas "
                f"over all deciles ({caps}), fewer than the {n_areas} asked for; "
                "raise the cap or plan fewer areas"
            )
    m = n_centres if n_centres is not None else max(30 * n_areas, 300)
    prob = build_problem(
        index,
        scores,
        n_areas=n_areas,
        max_cells=k,
        radius=r,
        n_centres=m,
        spacing_m=float(min_spacing_m),
        groups=groups,
        caps=caps,
    )
    top_k = float(np.sort(scores)[::-1][: n_areas * k].sum())
    g_areas = greedy(prob)
    g_val = _value(prob, g_areas)
    restricted = len(prob.centres) < len(units)
    where = f" among the {len(prob.centres)} candidate centres" if restricted else ""
    what = (
        f"{n_areas} areas of at most {k} cells"
        + (f", {min_spacing_m:g} m apart" if min_spacing_m > 0 else "")
        + (f", fairness cap {fairness_cap:g}" if fairness_cap is not None else "")
    )
    solve_s = 0.0
    bounds = {
        "top-k": top_k,
        "lagrangian": lagrangian_bound(prob, g_val if np.isfinite(g_val) else 0.0),
    }
    if method == "greedy":
        if g_areas is None:
            raise InfeasibleError(f"the greedy could not place {what}{where}")
        chosen, used, status = g_areas, "greedy", "NOT_RUN"
    else:
        res = solve(prob, time_limit_s=time_limit_s, workers=workers, seed=seed, hint=g_areas)
        solve_s = res.seconds
        if res.status == "INFEASIBLE":
            raise InfeasibleError(f"no plan of {what} exists{where}")
        if res.status == "MODEL_INVALID":
            raise CrimemapError("internal error: CP-SAT rejected the patrol-plan model")
        bounds["cp-sat"] = res.bound
        cp_val = _value(prob, res.areas)
        if res.areas is not None and not (g_val > cp_val + 1e-9):
            chosen, used = res.areas, "cp-sat"
        elif g_areas is not None:
            chosen, used = g_areas, "greedy"
        else:
            raise InfeasibleError(
                f"no plan of {what} found within {time_limit_s:g} s{where} "
                "(feasibility not decided: raise the time limit)"
            )
        status = res.status
    bound_source = min(bounds, key=lambda k: bounds[k])
    bound = bounds[bound_source]
    objective = _value(prob, chosen)
    areas = _areas(prob, chosen, units, deciles)
    return PatrolPlan(
        units=units,
        scores=scores,
        areas=areas,
        objective=objective,
        bound=bound,
        bound_source=bound_source,
        gap=_gap(bound, objective),
        method=used,
        status=status,
        greedy_objective=g_val,
        greedy_gap=_gap(bound, g_val),
        top_k=top_k,
        seconds=time.perf_counter() - t0,
        solve_seconds=solve_s,
        n_candidates=len(prob.candidates),
        n_centres=len(prob.centres),
        caps=MappingProxyType(dict(caps)),
        params=MappingProxyType(
            {
                "model": surface.model,
                "start": str(surface.start),
                "end": str(surface.end),
                "n_areas": n_areas,
                "max_cells": k,
                "radius": r,
                "min_spacing_m": float(min_spacing_m),
                "fairness_cap": fairness_cap,
                "method": method,
                "time_limit_s": time_limit_s,
                "n_centres": m,
                "seed": seed,
            }
        ),
    )


def _areas(
    prob: Problem, chosen: list[list[int]], units: Units, deciles: np.ndarray | None
) -> tuple[PatrolArea, ...]:
    built = []
    for area in chosen:
        cells = np.array([prob.pair_i[p] for p in area], np.int64)
        centre = int(prob.centres[prob.pair_c[area[0]]])
        cells = np.concatenate([[centre], np.sort(cells[cells != centre])])
        dec = float(deciles[centre]) if deciles is not None else float("nan")
        built.append((float(prob.scores[cells].sum()), centre, cells, dec))
    built.sort(key=lambda t: (-t[0], str(units.ids[t[1]])))
    return tuple(
        PatrolArea(
            rank=k + 1,
            centre=str(units.ids[centre]),
            cells=cells,
            ids=tuple(str(v) for v in units.ids[cells]),
            expected=val,
            area_km2=float(units.areas[cells].sum()) / 1e6,
            decile=dec,
        )
        for k, (val, centre, cells, dec) in enumerate(built)
    )
