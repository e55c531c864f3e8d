"""The forecaster contract and the model registry.

Every model follows one contract, modelled on scikit-learn estimators:

* hyperparameters only in ``__init__`` (keyword-only, defaulted, stored as
  attributes of the same name, no logic);
* ``fit(events, *, units, until, context=None)`` learns from the incidents
  that start before ``until`` and returns ``self``; learned state ends in
  ``_``. ``events`` are the incidents to forecast (one crime set);
  ``context``, when given, holds the incidents of *every* category, which a
  model may use as explanatory features (the place's overall crime level and
  category mix) but never as its target. Models that have no use for it
  ignore it; like ``events`` it is cut at ``until`` inside the model;
* ``predict(*, start, end)`` returns an immutable
  :class:`~crimemap.forecast.surface.RiskSurface` for the window
  ``[start, end)`` (which must not start before ``until``).

No file or network I/O inside models; randomness only through ``seed``.
Every model can forecast harm instead of volume through the ``weights``
hyperparameter (category slug -> weight, e.g. the harm weights of
:mod:`crimemap.detect.harm`).

Models register themselves with :func:`register_model`, exactly as an add-on
package would; the CLI and the API list them with :func:`models`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from crimemap._time import dt64
from crimemap.errors import InputError, NotFoundError
from crimemap.forecast.surface import RiskSurface
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

__all__ = [
    "Forecaster",
    "BaseForecaster",
    "register_model",
    "models",
    "get_model",
    "make_model",
]


@runtime_checkable
class Forecaster(Protocol):
    """What every model implements."""

    def fit(
        self,
        events: IncidentTable,
        *,
        units: Units,
        until: np.datetime64,
        context: IncidentTable | None = None,
    ) -> Forecaster: ...

    def predict(self, *, start: np.datetime64, end: np.datetime64) -> RiskSurface: ...


class BaseForecaster:
    """Optional base class: parameter introspection and common checks."""

    name: str = "base"

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given to ``__init__``."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self) -> None:
        if not any(k.endswith("_") and not k.startswith("_") for k in vars(self)):
            raise InputError(f"{type(self).__name__} is not fitted: call fit() first")

    def _predict_window(self, start: Any, end: Any) -> tuple[np.datetime64, np.datetime64]:
        """The checks every ``predict`` starts with: fitted, valid times, and a
        window that starts at or after the end of the training data (``until_``)."""
        self._check_fitted()
        start, end = as_time(start), as_time(end)
        self._check_window(self.until_, start, end)  # type: ignore[attr-defined]
        return start, end

    @staticmethod
    def _check_window(until: np.datetime64, start: np.datetime64, end: np.datetime64) -> None:
        if dt64(start) < dt64(until):
            raise InputError("forecast window starts before the end of the training data")
        if dt64(end) <= dt64(start):
            raise InputError("forecast window is empty (end <= start)")


def as_time(t: Any) -> np.datetime64:
    """A time argument as ``datetime64[s]``."""
    try:
        return dt64(t)
    except (ValueError, TypeError) as exc:
        raise InputError(f"not a time: {t!r}") from exc


_T = TypeVar("_T", bound=type)
_REGISTRY: dict[str, type] = {}


def register_model(name: str) -> Callable[[_T], _T]:
    """Class decorator: register a forecaster under ``name``."""

    def deco(cls: _T) -> _T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise InputError(f"model name {name!r} is already registered")
        _REGISTRY[name] = cls
        cls.name = name  # type: ignore[attr-defined]
        return cls

    return deco


def models() -> dict[str, type]:
    """Registered models, by name."""
    return dict(sorted(_REGISTRY.items()))


def get_model(name: str) -> type:
    """The model class registered as ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NotFoundError(
            f"unknown model {name!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None


def make_model(name: str, params: Mapping[str, Any] | None = None) -> Any:
    """Instantiate a registered model with hyperparameters."""
    return get_model(name)(**dict(params or {}))
