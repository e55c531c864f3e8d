"""Private helpers shared by the forecasters: training cubes, windows, bands, kernels."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from crimemap.errors import InputError, InsufficientDataError
from crimemap.forecast._band import count_band
from crimemap.forecast.base import as_time
from crimemap.forecast.memo import freeze, shared
from crimemap.spatial.cube import CountCube, bin_starts, category_weights, count_cube
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

__all__ = [
    "as_time",
    "training_events",
    "training_cube",
    "bin_coord",
    "window_bins",
    "window_periods",
    "count_band",
    "kernel_matrix",
    "check_freq",
    "mean_weight",
    "band_scale",
    "category_weights",
    "drop_gaps",
    "shift_bins",
    "GAP_MIN_MEAN",
]

_STEP_DAYS = {"W": 7.0, "D": 1.0, "h": 1.0 / 24.0}


def check_freq(freq: str) -> None:
    """Refuse unknown time bins early, with a domain error."""
    if freq not in ("M", "W", "D"):
        raise InputError(f"forecast time bin must be 'M', 'W' or 'D', got {freq!r}")


def training_events(events: IncidentTable, until: np.datetime64) -> IncidentTable:
    """The located incidents that start strictly before ``until`` (the no-leak rule)."""
    return events.filter(end=until, located=True)


def training_cube(
    events: IncidentTable,
    units: Units,
    until: np.datetime64,
    freq: str,
    weights: Mapping[str, float] | None,
    *,
    lookback: int | None = None,
) -> CountCube:
    """Counts per unit and bin over the bins before ``until``.

    Only incidents with ``t_start < until`` are counted, whatever the caller
    passes in. The cube starts at the bin of the earliest such incident (or
    ``lookback`` bins before ``until``, whichever is later).

    Raises
    ------
    crimemap.errors.InsufficientDataError
        If no located incident precedes ``until``.
    """
    check_freq(freq)
    # Most models of a back-test task count the same cube: under a FitMemo it
    # is counted once (see crimemap.forecast.memo.shared).
    return shared(
        lambda: (
            "training_cube",
            events.digest(until),
            id(units),
            str(until),
            freq,
            freeze(weights),
            None if lookback is None else int(lookback),
        ),
        lambda: _count_training_cube(events, units, until, freq, weights, lookback),
        keep=(units,),
    )


def _count_training_cube(
    events: IncidentTable,
    units: Units,
    until: np.datetime64,
    freq: str,
    weights: Mapping[str, float] | None,
    lookback: int | None,
) -> CountCube:
    ev = training_events(events, until)
    if len(ev) == 0:
        raise InsufficientDataError("no located incidents before the forecast origin")
    first = bin_starts(ev.column("t_start").min(keepdims=True), freq)[0]
    start = first
    if lookback is not None:
        back = shift_bins(until, -int(lookback), freq)
        start = max(first, back)
    cube = count_cube(ev, units, freq=freq, start=start, end=until, weights=weights)
    return drop_gaps(cube)


#: A bin with no incident at all, in an area averaging at least this many per
#: bin, is a gap in the record, not a quiet period (Poisson P(0 | 20) ~ 2e-9).
GAP_MIN_MEAN = 20.0


def drop_gaps(cube: CountCube) -> CountCube:
    """Remove bins that are gaps in the record (e.g. Northumbria's missing 2022-01).

    A bin whose total over all units is zero while the area averages at least
    :data:`GAP_MIN_MEAN` incidents per bin is a missing file, not a month
    without crime; keeping it would read as a collapse of crime. The bin is
    dropped, so "the last period" is the last *recorded* period.
    """
    tot = cube.counts.sum(axis=0)
    if len(tot) < 2 or tot.mean() < GAP_MIN_MEAN:
        return cube
    keep = tot > 0
    if keep.all():
        return cube
    return CountCube(
        units=cube.units,
        periods=np.array(cube.periods[keep], copy=True),
        freq=cube.freq,
        counts=np.array(cube.counts[:, keep], copy=True),
        dropped=cube.dropped,
    )


def shift_bins(t: np.datetime64, k: int, freq: str) -> np.datetime64:
    """The bin start ``k`` bins after the bin holding ``t``."""
    b = bin_starts(np.array([t]), freq)[0]
    if freq == "M":
        return (b.astype("datetime64[M]") + k).astype("datetime64[s]")
    return b + np.timedelta64(int(round(k * _STEP_DAYS[freq] * 86400)), "s")


def bin_coord(t: np.datetime64, freq: str) -> float:
    """Continuous time in bins since the epoch (fractional inside a bin)."""
    t = as_time(t)
    if freq == "M":
        m = t.astype("datetime64[M]")
        m0 = m.astype("datetime64[s]")
        m1 = (m + 1).astype("datetime64[s]")
        frac = (t - m0).astype(float) / (m1 - m0).astype(float)
        return float(m.astype(np.int64)) + frac
    return float(t.astype(np.int64)) / (86400.0 * _STEP_DAYS[freq])


def window_bins(
    until: np.datetime64, start: np.datetime64, end: np.datetime64, freq: str
) -> tuple[float, float]:
    """``(gap, h)``: bins from ``until`` to ``start`` and the window length in bins."""
    u, s, e = bin_coord(until, freq), bin_coord(start, freq), bin_coord(end, freq)
    return s - u, e - s


def window_periods(
    start: np.datetime64, end: np.datetime64, freq: str
) -> tuple[np.ndarray, np.ndarray]:
    """Bin starts overlapping ``[start, end)`` and the fraction of each bin inside it."""
    s, e = bin_coord(start, freq), bin_coord(end, freq)
    k0, k1 = int(np.floor(s)), int(np.ceil(e))
    idx = np.arange(k0, max(k1, k0 + 1))
    frac = np.clip(np.minimum(idx + 1, e) - np.maximum(idx, s), 0.0, 1.0)
    if freq == "M":
        starts = idx.astype("datetime64[M]").astype("datetime64[s]")
    else:
        step = int(round(_STEP_DAYS[freq] * 86400))
        starts = (idx * step).astype("datetime64[s]")
    keep = frac > 0
    return starts[keep], frac[keep]


def mean_weight(events: IncidentTable, weights: Mapping[str, float] | None) -> float:
    """Size-biased mean weight per incident (1 for volume); scales count bands for harm."""
    if weights is None or len(events) == 0:
        return 1.0
    w = category_weights(events, weights)
    pos = w[w > 0]
    return float(np.sum(pos**2) / np.sum(pos)) if len(pos) else 1.0


def band_scale(
    events: IncidentTable, until: np.datetime64, weights: Mapping[str, float] | None
) -> float:
    """:func:`mean_weight` of the training incidents (no filtering when counting volume)."""
    return 1.0 if weights is None else mean_weight(training_events(events, until), weights)


def kernel_matrix(
    units: Units,
    radius: float,
    weight: Callable[[np.ndarray], np.ndarray],
    *,
    metric: str = "euclidean",
    include_self: bool = True,
) -> sparse.csr_matrix:
    """Sparse ``(n, n)`` matrix ``K[a, b] = weight(d(a, b))`` for ``d <= radius``.

    ``metric="chebyshev"`` gives square rings on grids (``radius = r * size``
    selects the ``(2r+1)^2`` block).
    """
    n = len(units)
    p = np.inf if metric == "chebyshev" else 2.0
    tree = cKDTree(np.asarray(units.centroids, float))
    # A small epsilon so cells exactly ``radius`` away are included despite rounding.
    pairs = tree.query_pairs(radius * (1 + 1e-9) + 1e-9, p=p, output_type="ndarray")
    a = pairs[:, 0] if len(pairs) else np.empty(0, np.int64)
    b = pairs[:, 1] if len(pairs) else np.empty(0, np.int64)
    c = units.centroids
    if metric == "chebyshev":
        d = np.max(np.abs(c[a] - c[b]), axis=1) if len(a) else np.empty(0)
    else:
        d = np.hypot(*(c[a] - c[b]).T) if len(a) else np.empty(0)
    w = weight(d)
    rows = [a, b]
    cols = [b, a]
    vals = [w, w]
    if include_self:
        idx = np.arange(n)
        rows.append(idx)
        cols.append(idx)
        vals.append(weight(np.zeros(n)))
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
