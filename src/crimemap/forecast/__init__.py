"""Forecasting models: one contract, a registry, baselines and learned models."""

from crimemap.forecast.base import (
    BaseForecaster,
    Forecaster,
    get_model,
    make_model,
    models,
    register_model,
)
from crimemap.forecast.surface import RiskSurface

__all__ = [
    "BaseForecaster",
    "Forecaster",
    "RiskSurface",
    "get_model",
    "make_model",
    "models",
    "register_model",
]
