"""Private helpers shared by the back-test and the operational forecast."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from crimemap.errors import InputError
from crimemap.evaluate.spec import ModelSpec
from crimemap.forecast.base import get_model
from crimemap.spatial.units import Units

__all__ = ["cell_keys", "model_params", "check_surface"]


def cell_keys(units: Units) -> np.ndarray:
    """One sortable integer per grid cell, from its (i, j): tie-break keys follow places."""
    if units.ij is None:
        return np.argsort(np.argsort(units.ids))
    ij = units.ij.astype(np.int64)
    return (ij[:, 0] + (1 << 31)) * (1 << 32) + (ij[:, 1] + (1 << 31))


def model_params(spec: ModelSpec, freq: str) -> dict[str, Any]:
    """The spec's parameters, with the back-test's period as ``freq`` by default."""
    params = dict(spec.params)
    sig = inspect.signature(get_model(spec.name))
    if "freq" in sig.parameters and "freq" not in params:
        params["freq"] = freq
    return params


def check_surface(surface: Any, units: Units) -> None:
    """Refuse a surface that does not score exactly the study cells, in order."""
    if len(surface.units) != len(units) or (
        surface.units is not units and not np.array_equal(surface.units.ids, units.ids)
    ):
        raise InputError(
            f"model {getattr(surface, 'model', '?')} scored other units than the study area"
        )
