"""Shared fits: one fitted model reused wherever the same fit is asked for again.

A back-test fits every model at every origin, and the ensemble fits its
members again at the same origin (and the simple members at the bins before
it). Those are the same fits: a model's fit is a pure function of its
hyperparameters, the incidents before ``until``, the units and ``until`` (the
forecaster contract: no I/O, randomness only through ``seed``). A
:class:`FitMemo` keeps the fitted models of one unit of work (one force, crime
set and origin of a back-test), so each is computed once; it plays the part of
scikit-learn's ``Pipeline(memory=...)``. Fitted models must not be changed
after ``fit`` (none is: ``predict`` only reads learned state).

The key is the model's name and full hyperparameters, ``until``, the units
object (by identity) and a fingerprint of the incidents the fit can see (the
number of located incidents before ``until`` and the sum of their start times
and coordinates, for ``events`` and ``context`` alike). The memo belongs to one
caller and is discarded with it; it never outlives the data it was filled from.

While a memo runs a fit it is the *active* memo (a context variable), and
intermediate results that several models derive the same way from the same
data (the learned models' training rows) are kept in it too:
:func:`shared` computes each once per memo. Without an active memo (a model
fitted on its own) :func:`shared` just computes, so a model's stand-alone
cost is never flattered by another model's work.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

import numpy as np

from crimemap.forecast.base import as_time, make_model
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

__all__ = ["FitMemo", "shared", "freeze"]

_T = TypeVar("_T")
_ACTIVE: ContextVar[FitMemo | None] = ContextVar("crimemap_active_fit_memo", default=None)


def shared(
    key: Callable[[], Hashable], compute: Callable[[], _T], *, keep: tuple[Any, ...] = ()
) -> _T:
    """``compute()``, or its result kept by the active memo under ``key()``.

    ``key()`` must determine the result completely (data fingerprints and every
    argument; objects that stand in by ``id`` go in ``keep`` so that their ids
    cannot be reused while the entry lives); it is only called when a memo is
    active, so a stand-alone fit does not pay for fingerprints. Results must
    not be changed by their users.
    """
    memo = _ACTIVE.get()
    if memo is None:
        return compute()
    return memo.derived(key(), compute, keep=keep)


def freeze(v: Any) -> Hashable:
    """A hashable stand-in for a hyperparameter value (objects by identity)."""
    if isinstance(v, Mapping):
        return tuple(sorted((str(k), freeze(x)) for k, x in v.items()))
    if isinstance(v, list | tuple):
        return tuple(freeze(x) for x in v)
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return ("id", id(v))


def _fingerprint(events: IncidentTable | None, until: np.datetime64) -> Hashable:
    return None if events is None else events.digest(until)


class FitMemo:
    """Fitted models by (model, hyperparameters, data, ``until``).

    Parameters
    ----------
    max_items : int
        Fits kept at most (the oldest is dropped first).

    Attributes
    ----------
    hits, misses : int
        Fits served from the memo / computed.
    """

    #: Intermediate results (see :func:`shared`) kept at most per kind (the
    #: key's first item): they can be large, and one kind must not evict another.
    max_derived = 4

    def __init__(self, max_items: int = 64) -> None:
        self.max_items = max_items
        self._fits: OrderedDict[Hashable, Any] = OrderedDict()
        self._derived: OrderedDict[Hashable, Any] = OrderedDict()
        self._keep: dict[int, Any] = {}
        self.hits = 0
        self.misses = 0
        self.derived_hits = 0

    def clear(self) -> None:
        """Forget every fit and intermediate result (the counters stay)."""
        self._fits.clear()
        self._derived.clear()
        self._keep.clear()

    def derived(
        self, key: Hashable, compute: Callable[[], _T], *, keep: tuple[Any, ...] = ()
    ) -> _T:
        """``compute()`` once per ``key`` (see :func:`shared`)."""
        if key in self._derived:
            self.derived_hits += 1
            self._derived.move_to_end(key)
            return self._derived[key]
        got = compute()
        kind = key[0] if isinstance(key, tuple) and key else key
        same = [k for k in self._derived if (k[0] if isinstance(k, tuple) and k else k) == kind]
        for k in same[: max(len(same) - self.max_derived + 1, 0)]:
            del self._derived[k]
        self._derived[key] = got
        for obj in keep:
            self._keep[id(obj)] = obj
        return got

    def fit(
        self,
        name: str,
        params: dict[str, Any],
        events: IncidentTable,
        *,
        units: Units,
        until: np.datetime64,
        context: IncidentTable | None = None,
    ) -> Any:
        """``make_model(name, params).fit(events, ...)``, or the same fit made before."""
        model = make_model(name, params)
        until = as_time(until)
        key = (
            name,
            freeze(model.get_params()),
            str(until),
            id(units),
            _fingerprint(events, until),
            _fingerprint(context, until),
        )
        got = self._fits.get(key)
        if got is not None:
            self.hits += 1
            self._fits.move_to_end(key)
            return got
        self.misses += 1
        token = _ACTIVE.set(self)
        try:
            model.fit(events, units=units, until=until, context=context)
        finally:
            _ACTIVE.reset(token)
        self._fits[key] = model
        # Hold the units so that their id cannot be reused while the key lives.
        self._keep[id(units)] = units
        while len(self._fits) > self.max_items:
            self._fits.popitem(last=False)
        return model
