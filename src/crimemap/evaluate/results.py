"""Results of a rolling-origin back-test and their summaries over origins.

:class:`OriginResult` holds one scored forecast (a model at one origin, one
horizon, one crime set); :class:`BacktestResult` collects them with the run's
configuration and data description, and summarises each metric over origins
as a mean with an interval (:func:`crimemap.evaluate.intervals.origin_interval`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crimemap.evaluate.intervals import origin_interval
from crimemap.evaluate.metrics import ForecastScores

if TYPE_CHECKING:
    from crimemap.evaluate.prepared import BacktestConfig

__all__ = ["OriginResult", "BacktestResult", "metric_direction"]


def metric_direction(metric: str) -> str:
    """``"max"``, ``"min"`` or ``"target"`` (closest to 0.9) for a metric name."""
    if metric == "crps":
        return "min"
    if metric == "coverage90":
        return "target"
    return "max"


@dataclass(frozen=True, eq=False)
class OriginResult:
    """One model's forecast for one origin, horizon and crime set, scored.

    Attributes
    ----------
    force, crime_set, model : str
        What was forecast, by which model (``label`` of its spec).
    origin : numpy.datetime64
        Training data ends before ``origin``.
    horizon : int
        The window is ``[origin + (h-1), origin + h)`` periods.
    start, end : numpy.datetime64
        The window scored.
    reference : bool
        True for ``oracle`` / ``hindsight`` (not forecasts).
    scores : ForecastScores
        Every metric.
    n_outside : float
        Crimes in the window that are unlocated or outside the study area.
    fit_seconds, predict_seconds : float
        Wall time of ``fit`` and ``predict``.
    ij : numpy.ndarray
        ``(n, 2)`` grid indices of the study cells.
    mean, lo90, hi90 : numpy.ndarray or None
        The forecast (expected count and 90 % band) per study cell.
    params : mapping
        The model's hyperparameters.
    """

    force: str
    crime_set: str
    model: str
    origin: np.datetime64
    horizon: int
    start: np.datetime64
    end: np.datetime64
    reference: bool
    scores: ForecastScores
    n_outside: float
    fit_seconds: float
    predict_seconds: float
    ij: np.ndarray
    mean: np.ndarray
    lo90: np.ndarray | None = None
    hi90: np.ndarray | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __reduce__(self) -> tuple[Any, ...]:
        # mappingproxy does not pickle (results come back from worker processes).
        state = {f.name: getattr(self, f.name) for f in fields(self)}
        state["params"] = dict(self.params)
        return (_rebuild_origin_result, (state,))

    def row(self) -> dict[str, Any]:
        """Flat per-origin record: identifiers, metrics and timings."""
        return {
            "force": self.force,
            "crime_set": self.crime_set,
            "model": self.model,
            "reference": self.reference,
            "origin": str(self.origin),
            "horizon": self.horizon,
            **self.scores.as_dict(),
            "n_outside": self.n_outside,
            "fit_seconds": self.fit_seconds,
            "predict_seconds": self.predict_seconds,
        }


def _rebuild_origin_result(state: dict[str, Any]) -> OriginResult:
    state = dict(state)
    state["params"] = MappingProxyType(state["params"])
    return OriginResult(**state)


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Every scored forecast of a back-test, with the run's settings.

    Attributes
    ----------
    config : BacktestConfig
        Settings of the run.
    results : tuple of OriginResult
        One per (force, crime set, model, origin, horizon).
    meta : tuple of dict
        Per force: data range, origins, crime sets, models and parameters.
    """

    config: BacktestConfig
    results: tuple[OriginResult, ...]
    meta: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def concat(cls, parts: Iterable[BacktestResult]) -> BacktestResult:
        """Join the results of several forces run with the same settings."""
        parts = list(parts)
        if not parts:
            raise ValueError("nothing to concatenate")
        return cls(
            config=parts[0].config,
            results=tuple(r for p in parts for r in p.results),
            meta=tuple(m for p in parts for m in p.meta),
        )

    def per_origin(self) -> pd.DataFrame:
        """One row per scored forecast with every metric."""
        return pd.DataFrame([r.row() for r in self.results])

    def metrics(self) -> list[str]:
        """Metric columns in report order."""
        cov = [f"{c * 100:g}%" for c in self.config.coverages]
        return (
            [f"hit@{c}" for c in cov]
            + [f"pai@{c}" for c in cov]
            + [f"pei@{c}" for c in cov]
            + [f"oracle_pai@{c}" for c in cov]
            + ["spearman", "loglik", "crps", "coverage90"]
        )

    def summary(self, *, level: float = 0.95, method: str = "t", seed: int = 0) -> pd.DataFrame:
        """Mean and interval over origins of every metric.

        Returns a long frame: force, crime_set, model, reference, horizon,
        metric, mean, lo, hi, n.
        """
        df = self.per_origin()
        keys = ["force", "crime_set", "model", "reference", "horizon"]
        rows = []
        for k, g in df.groupby(keys, sort=False):
            for m in self.metrics():
                iv = origin_interval(g[m].to_numpy(float), level=level, method=method, seed=seed)
                rows.append(
                    dict(zip(keys, k, strict=True))
                    | {"metric": m, "mean": iv.mean, "lo": iv.lo, "hi": iv.hi, "n": iv.n}
                )
        return pd.DataFrame(rows)

    def curves(self) -> pd.DataFrame:
        """Mean hit rate over origins at each curve coverage.

        Columns: force, crime_set, model, reference, horizon, coverage,
        hit_rate, oracle_hit_rate.
        """
        recs: dict[tuple[Any, ...], list[ForecastScores]] = {}
        for r in self.results:
            recs.setdefault((r.force, r.crime_set, r.model, r.reference, r.horizon), []).append(
                r.scores
            )
        rows = []
        for k, scores in recs.items():
            cov = scores[0].curve.coverages
            hit = np.nanmean([s.curve.hit_rate for s in scores], axis=0)
            ora = np.nanmean([s.curve.oracle_hit_rate for s in scores], axis=0)
            for c, h, o in zip(cov, hit, ora, strict=True):
                rows.append(
                    dict(
                        zip(["force", "crime_set", "model", "reference", "horizon"], k, strict=True)
                    )
                    | {"coverage": c, "hit_rate": float(h), "oracle_hit_rate": float(o)}
                )
        return pd.DataFrame(rows)

    def timings(self) -> pd.DataFrame:
        """Fit and predict seconds per model: mean and max over tasks."""
        df = self.per_origin()
        df = df[~df["reference"]]
        if df.empty:
            return pd.DataFrame(
                columns=["model", "fit_mean", "fit_max", "predict_mean", "predict_max", "n"]
            )
        # Fit time repeats across horizons of one task: count it once.
        first = df[df["horizon"] == df["horizon"].min()]
        g = first.groupby("model")
        return pd.DataFrame(
            {
                "fit_mean": g["fit_seconds"].mean(),
                "fit_max": g["fit_seconds"].max(),
                "predict_mean": g["predict_seconds"].mean(),
                "predict_max": g["predict_seconds"].max(),
                "total": g["fit_seconds"].sum() + df.groupby("model")["predict_seconds"].sum(),
                "n": g.size(),
            }
        ).reset_index()
