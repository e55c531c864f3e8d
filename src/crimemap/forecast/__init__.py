"""Forecasting models: one contract, a registry, baselines and learned models.

Importing this package registers every built-in model (exactly as an add-on
package would, through :func:`register_model`).
"""

from crimemap.forecast import baselines as baselines  # noqa: F401  (registers built-ins)
from crimemap.forecast import ensemble as ensemble  # noqa: F401
from crimemap.forecast import etas as etas  # noqa: F401
from crimemap.forecast import glm as glm  # noqa: F401
from crimemap.forecast import lgbm as lgbm  # noqa: F401
from crimemap.forecast import prospective as prospective  # noqa: F401
from crimemap.forecast.base import (
    BaseForecaster,
    Forecaster,
    get_model,
    make_model,
    models,
    register_model,
)
from crimemap.forecast.baselines import EWMCounts, LastPeriod, MeanPeriods, RetrospectiveKDE
from crimemap.forecast.ensemble import EnsembleForecaster
from crimemap.forecast.etas import ETASForecaster
from crimemap.forecast.glm import PoissonGLMForecaster
from crimemap.forecast.lgbm import LightGBMForecaster
from crimemap.forecast.memo import FitMemo
from crimemap.forecast.prospective import ProspectiveHotspot
from crimemap.forecast.surface import CountBand, RiskSurface

__all__ = [
    "BaseForecaster",
    "ETASForecaster",
    "EnsembleForecaster",
    "EWMCounts",
    "FitMemo",
    "Forecaster",
    "LastPeriod",
    "LightGBMForecaster",
    "MeanPeriods",
    "PoissonGLMForecaster",
    "ProspectiveHotspot",
    "RetrospectiveKDE",
    "CountBand",
    "RiskSurface",
    "get_model",
    "make_model",
    "models",
    "register_model",
]
