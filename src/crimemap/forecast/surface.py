"""The immutable risk surface that every forecaster's ``predict`` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from crimemap._time import dt64
from crimemap.errors import InputError
from crimemap.spatial.units import Units

__all__ = ["RiskSurface"]


@dataclass(frozen=True, eq=False)
class RiskSurface:
    """Expected count (or harm) per unit for one forecast window.

    Attributes
    ----------
    model : str
        Registry name of the model that produced it.
    units : Units
        The units scored (the study area); every unit gets a score.
    start, end : numpy.datetime64
        The forecast window ``[start, end)``.
    mean : numpy.ndarray
        ``(n_units,)`` expected count (or harm) in the window.
    lo90, hi90 : numpy.ndarray or None
        Bounds of the central 90 % predictive interval of the count, where
        the model has one.
    components : mapping
        Optional additive decomposition of ``mean`` into named drivers
        (each ``(n_units,)``; e.g. ``background``, ``recent``,
        ``near_repeat``), used for explanations. Sums to ``mean`` when given.
    params : mapping
        Hyperparameters and fitted summary used, for reproducibility.
    """

    model: str
    units: Units
    start: np.datetime64
    end: np.datetime64
    mean: np.ndarray
    lo90: np.ndarray | None = None
    hi90: np.ndarray | None = None
    components: MappingProxyType[str, np.ndarray] = field(
        default_factory=lambda: MappingProxyType({})
    )
    params: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        n = len(self.units)
        mean = np.asarray(self.mean, dtype=float)
        if mean.shape != (n,):
            raise InputError(f"risk surface: mean has shape {mean.shape}, expected ({n},)")
        if not np.all(np.isfinite(mean)) or np.any(mean < 0):
            raise InputError("risk surface: mean must be finite and non-negative")
        object.__setattr__(self, "mean", mean)
        for name in ("lo90", "hi90"):
            v = getattr(self, name)
            if v is not None:
                v = np.asarray(v, dtype=float)
                if v.shape != (n,):
                    raise InputError(f"risk surface: {name} has wrong shape")
                v.setflags(write=False)
                object.__setattr__(self, name, v)
        comps = {k: np.asarray(v, dtype=float) for k, v in dict(self.components).items()}
        for v in comps.values():
            v.setflags(write=False)
        object.__setattr__(self, "components", MappingProxyType(comps))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        mean.setflags(write=False)
        object.__setattr__(self, "start", dt64(self.start))
        object.__setattr__(self, "end", dt64(self.end))

    @property
    def has_interval(self) -> bool:
        """True when the model gives a 90 % band."""
        return self.lo90 is not None and self.hi90 is not None
