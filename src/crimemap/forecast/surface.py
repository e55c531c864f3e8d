"""The immutable risk surface that every forecaster's ``predict`` returns.

A model's 90 % band is usually a negative-binomial band of its mean
(:func:`crimemap.forecast._band.count_band`). It is given either as arrays
(``lo90``, ``hi90``) or as a :class:`CountBand` (its dispersion and scale):
then it is computed on first access. Why deferred: tabulating the quantiles is
most of a simple model's ``predict``, and the ensemble predicts every member
(inside its own back-test and again to combine them) using only their means;
computing bands nobody reads was 40 % of its cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from crimemap._time import dt64
from crimemap.errors import InputError
from crimemap.forecast._band import count_band
from crimemap.spatial.units import Units

__all__ = ["CountBand", "RiskSurface"]


@dataclass(frozen=True)
class CountBand:
    """A deferred negative-binomial 90 % band: ``count_band(mean, dispersion=, scale=)``.

    Attributes
    ----------
    dispersion : float
        ``Var = mu + dispersion mu^2`` of the count (0: Poisson).
    scale : float
        Mean weight per incident (harm forecasts; 1 for counts).
    """

    dispersion: float = 0.0
    scale: float = 1.0


class _BandEnd:
    """Descriptor for ``lo90``/``hi90``: the given array, or the deferred band's end.

    Stores into the instance ``__dict__`` (allowed on a frozen dataclass: its
    generated ``__init__`` assigns through ``object.__setattr__``, which honours
    data descriptors; ordinary assignment still raises ``FrozenInstanceError``).
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> np.ndarray | None:
        if obj is None:
            return None  # the dataclass default
        d = obj.__dict__
        if d.get(self.name) is None and obj.__dict__.get("band") is not None:
            lo, hi = count_band(obj.mean, dispersion=obj.band.dispersion, scale=obj.band.scale)
            for k, v in (("lo90", lo), ("hi90", hi)):
                v = np.asarray(v, dtype=float)
                v.setflags(write=False)
                d[k] = v
        return d.get(self.name)

    def __set__(self, obj: Any, value: np.ndarray | None) -> None:
        obj.__dict__[self.name] = value


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
        the model has one (given, or computed from ``band`` on first access).
    components : mapping
        Optional additive decomposition of ``mean`` into named drivers
        (each ``(n_units,)``; e.g. ``background``, ``recent``,
        ``near_repeat``), used for explanations. Sums to ``mean`` when given.
    params : mapping
        Hyperparameters and fitted summary used, for reproducibility.
    band : CountBand, optional
        The band as a deferred negative-binomial band of ``mean`` (instead of
        ``lo90``/``hi90``; see the module docstring).
    """

    model: str
    units: Units
    start: np.datetime64
    end: np.datetime64
    mean: np.ndarray
    lo90: np.ndarray | None = _BandEnd()  # type: ignore[assignment]
    hi90: np.ndarray | None = _BandEnd()  # type: ignore[assignment]
    components: MappingProxyType[str, np.ndarray] = field(
        default_factory=lambda: MappingProxyType({})
    )
    params: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    band: CountBand | None = None

    def __post_init__(self) -> None:
        n = len(self.units)
        mean = np.asarray(self.mean, dtype=float)
        if mean.shape != (n,):
            raise InputError(f"risk surface: mean has shape {mean.shape}, expected ({n},)")
        if not np.all(np.isfinite(mean)) or np.any(mean < 0):
            raise InputError("risk surface: mean must be finite and non-negative")
        object.__setattr__(self, "mean", mean)
        if self.band is not None and (
            self.__dict__["lo90"] is not None or self.__dict__["hi90"] is not None
        ):
            raise InputError("risk surface: give either lo90/hi90 or band, not both")
        for name in ("lo90", "hi90"):
            v = self.__dict__[name]
            if v is not None:
                v = np.asarray(v, dtype=float)
                if v.shape != (n,):
                    raise InputError(f"risk surface: {name} has wrong shape")
                v.setflags(write=False)
                self.__dict__[name] = v
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
        return self.band is not None or (self.lo90 is not None and self.hi90 is not None)

    # Pickling (surfaces cross process boundaries in parallel back-tests):
    # mappingproxy cannot be pickled, so the mappings travel as dicts and are
    # re-wrapped; arrays come back read-only as they left.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["components"] = dict(self.components)
        state["params"] = dict(self.params)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state["components"] = MappingProxyType(dict(state["components"]))
        state["params"] = MappingProxyType(dict(state["params"]))
        for v in state.values():
            if isinstance(v, np.ndarray):
                v.setflags(write=False)
        for v in state["components"].values():
            v.setflags(write=False)
        self.__dict__.update(state)
