"""Evaluation: rolling-origin back-tests, forecast metrics, export and reports."""

from crimemap.evaluate.backtest import backtest, run_group, run_task
from crimemap.evaluate.distributed import (
    BacktestJob,
    ForecastJob,
    distributed_backtest,
    distributed_forecasts,
    worker_store_url,
)
from crimemap.evaluate.export import (
    EXPORT_COLUMNS,
    format_origin,
    predictions_frame,
    read_predictions,
    surface_frame,
    write_predictions,
    write_surface,
    write_surface_geojson,
)
from crimemap.evaluate.intervals import Interval, origin_interval
from crimemap.evaluate.metrics import (
    CURVE_COVERAGES,
    DEFAULT_COVERAGES,
    ForecastScores,
    RankScores,
    band_coverage,
    cells_for_coverage,
    forecast_scores,
    poisson_crps,
    poisson_loglik,
    rank_scores,
    spearman,
)
from crimemap.evaluate.operational import Horizon, forecast_next, parse_horizon
from crimemap.evaluate.prepared import (
    BacktestConfig,
    PreparedData,
    default_origins,
    next_period,
    prepare,
)
from crimemap.evaluate.report import ReportFiles, write_report
from crimemap.evaluate.results import BacktestResult, OriginResult, metric_direction
from crimemap.evaluate.spec import REFERENCE_LABELS, REFERENCE_MODELS, ModelSpec

__all__ = [
    "BacktestJob",
    "ForecastJob",
    "distributed_backtest",
    "distributed_forecasts",
    "worker_store_url",
    "Horizon",
    "forecast_next",
    "parse_horizon",
    "EXPORT_COLUMNS",
    "ReportFiles",
    "format_origin",
    "predictions_frame",
    "read_predictions",
    "surface_frame",
    "write_predictions",
    "write_report",
    "write_surface",
    "write_surface_geojson",
    "CURVE_COVERAGES",
    "DEFAULT_COVERAGES",
    "REFERENCE_LABELS",
    "REFERENCE_MODELS",
    "BacktestConfig",
    "BacktestResult",
    "ForecastScores",
    "Interval",
    "ModelSpec",
    "OriginResult",
    "PreparedData",
    "RankScores",
    "backtest",
    "band_coverage",
    "cells_for_coverage",
    "default_origins",
    "forecast_scores",
    "metric_direction",
    "next_period",
    "origin_interval",
    "poisson_crps",
    "poisson_loglik",
    "prepare",
    "rank_scores",
    "run_group",
    "run_task",
    "spearman",
]
