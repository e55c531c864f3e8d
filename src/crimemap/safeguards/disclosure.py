"""Disclosure control for public (role ``public``) counts.

Rules
-----
1. **Fixed, aligned base cells.** Public counts are published only per base
   cell = (spatial unit, calendar time bin), e.g. a 500 m grid cell and a
   calendar month. Units are the stable aligned grid (or LSOAs); bins are
   calendar months (or ISO weeks), never free time windows.
2. **Suppression.** A base count of 1 to ``threshold - 1`` (default 1-4) is
   suppressed (published as "fewer than ``threshold``", value ``None``/NaN).
   Zero is published as 0 (it discloses nobody).
3. **Rounding.** Every other count is rounded to the nearest multiple of
   ``base`` (default 5), halves rounded up (7 -> 5, 8 -> 10, 12.5 -> 15);
   a count at or above ``threshold`` that would round below it is lifted to
   the first multiple of ``base`` not below ``threshold``. Rounding is deterministic (no
   noise), so repeating a query gains nothing.
4. **Aggregates are sums of published base cells.** A public total over
   several bins or units (a time range, a bounding box, a crime set) is the
   sum of the *published* base values (suppressed cells count 0), together
   with the number of suppressed cells. It is never computed from raw
   counts. Hence any combination of public queries - in particular the
   difference ``total(Jan..Mar) - total(Feb..Mar)`` of two overlapping
   adjacent ranges - is a function of the published base cells only, and
   cannot reveal a suppressed count (the differencing attack of Duncan &
   Pearson 1991 needs exact totals of overlapping sets).
5. **Ranges must be aligned.** A window that does not start and end on bin
   boundaries is refused (otherwise partial bins would be new base cells).

The price: aggregates are lower-bounded and rounded; the number of
suppressed cells says how much is hidden.

References
----------
Duncan, G. T. & Pearson, R. W. (1991). Enhancing access to microdata while
protecting confidentiality. *Statistical Science* 6(3), 219-232.
Office for National Statistics (2021). *Statistical disclosure control
methods for Census 2021* (small-cell suppression, rounding to base 5).
Hundepool, A. et al. (2012). *Statistical Disclosure Control*. Wiley, ch. 5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crimemap.errors import CrimemapError, InputError
from crimemap.spatial.cube import CountCube

__all__ = [
    "DisclosurePolicy",
    "PublicCounts",
    "PublicTotal",
    "DisclosureError",
    "assert_publishable",
    "control",
    "public_counts",
    "public_total",
]


class DisclosureError(CrimemapError):
    """An output about to be published breaks the disclosure rules."""


@dataclass(frozen=True)
class DisclosurePolicy:
    """Parameters of the public disclosure rules.

    Attributes
    ----------
    threshold : int
        Counts ``1 .. threshold - 1`` are suppressed (default 5).
    base : int
        Published counts are rounded to a multiple of ``base`` (default 5;
        must not exceed ``threshold``, so rounding never yields a small count).
    freqs : tuple of str
        Time bins allowed in public output (calendar month only by default).
    min_cell_m : float
        Smallest public grid cell side, metres (default 500).
    """

    threshold: int = 5
    base: int = 5
    freqs: tuple[str, ...] = ("M",)
    min_cell_m: float = 500.0

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.base < 1 or self.base > self.threshold:
            raise InputError("disclosure policy: need 1 <= base <= threshold")


@dataclass(frozen=True, eq=False)
class PublicCounts:
    """Published base cells (unit x bin).

    Attributes
    ----------
    unit_ids : numpy.ndarray
        ``(n,)`` unit ids.
    periods : numpy.ndarray
        ``(t,)`` bin starts.
    freq : str
        Bin frequency.
    values : numpy.ndarray
        ``(n, t)`` published counts: 0, NaN (suppressed) or a multiple of
        ``policy.base`` that is at least ``policy.threshold``.
    policy : DisclosurePolicy
    """

    unit_ids: np.ndarray
    periods: np.ndarray
    freq: str
    values: np.ndarray
    policy: DisclosurePolicy

    def __post_init__(self) -> None:
        self.values.setflags(write=False)

    @property
    def suppressed(self) -> np.ndarray:
        """``(n, t)`` mask of suppressed cells."""
        return np.isnan(self.values)


def control(counts: np.ndarray, policy: DisclosurePolicy | None = None) -> np.ndarray:
    """Apply suppression and rounding elementwise (rules 2-3).

    Parameters
    ----------
    counts : numpy.ndarray
        Non-negative counts of base cells (any shape).

    Returns
    -------
    numpy.ndarray
        Float array: 0, NaN (suppressed) or a rounded count >= threshold.
    """
    p = policy or DisclosurePolicy()
    c = np.asarray(counts, dtype=float)
    if np.any(~np.isfinite(c)) or np.any(c < 0):
        raise InputError("disclosure control needs finite non-negative counts")
    # Half-up rounding to the base (np.round would round halves to even).
    out = np.floor(c / p.base + 0.5) * p.base
    # With a base that does not divide the threshold (e.g. 5 and 4), a count
    # at the threshold could round below it: lift it to the first multiple of
    # the base that is not a small count.
    floor_pub = np.ceil(p.threshold / p.base) * p.base
    big = c >= p.threshold
    out[big] = np.maximum(out[big], floor_pub)
    out[(c > 0) & (c < p.threshold)] = np.nan
    return out


def public_counts(cube: CountCube, policy: DisclosurePolicy | None = None) -> PublicCounts:
    """Published base cells of a count cube (rule 1 checked: bins and unit size).

    Raises
    ------
    crimemap.errors.InputError
        If the cube's bins are not a public frequency, or its grid cells are
        smaller than ``policy.min_cell_m``.
    """
    p = policy or DisclosurePolicy()
    if cube.freq not in p.freqs:
        raise InputError(f"public counts are published per {'/'.join(p.freqs)} bin only")
    cs = cube.units.cell_size
    if cube.units.kind == "grid" and (cs is None or cs < p.min_cell_m):
        raise InputError(f"public grid cells must be at least {p.min_cell_m:g} m")
    return PublicCounts(
        unit_ids=np.asarray(cube.units.ids),
        periods=np.asarray(cube.periods),
        freq=cube.freq,
        values=control(cube.counts, p),
        policy=p,
    )


@dataclass(frozen=True)
class PublicTotal:
    """A public aggregate (rule 4).

    Attributes
    ----------
    values : numpy.ndarray
        Sum of published base values per unit (or a scalar array).
    suppressed : numpy.ndarray
        Number of suppressed base cells in each sum (so the true count is at
        least ``values`` minus rounding, plus up to ``threshold - 1`` per
        suppressed cell).
    """

    values: np.ndarray
    suppressed: np.ndarray


def public_total(
    pub: PublicCounts,
    *,
    start: np.datetime64 | str | None = None,
    end: np.datetime64 | str | None = None,
    units: np.ndarray | None = None,
    over_units: bool = False,
) -> PublicTotal:
    """Sum published base cells over ``[start, end)`` (and optionally over units).

    Parameters
    ----------
    start, end : datetime-like, optional
        Must be bin boundaries (rule 5); default: every bin.
    units : numpy.ndarray, optional
        Unit ids to keep (default all).
    over_units : bool
        Also sum over the units (one total).

    Raises
    ------
    crimemap.errors.InputError
        If ``start``/``end`` are not bin boundaries.
    """
    per = pub.periods.astype("datetime64[s]")
    sel_t = np.ones(len(per), bool)
    if start is not None:
        s = np.datetime64(str(start), "s")
        _check_boundary(s, per, pub.freq)
        sel_t &= per >= s
    if end is not None:
        e = np.datetime64(str(end), "s")
        _check_boundary(e, per, pub.freq)
        sel_t &= per < e
    v = pub.values[:, sel_t]
    if units is not None:
        keep = np.isin(pub.unit_ids, np.asarray(units))
        v = v[keep]
    vals = np.nansum(v, axis=1)
    sup = np.isnan(v).sum(axis=1)
    if over_units:
        vals, sup = np.array(vals.sum()), np.array(sup.sum())
    return PublicTotal(values=vals, suppressed=sup)


def _check_boundary(t: np.datetime64, periods: np.ndarray, freq: str) -> None:
    if freq == "M":
        ok = t == t.astype("datetime64[M]").astype("datetime64[s]")
    else:
        ok = bool(np.isin(t, periods)) or (len(periods) > 0 and t > periods[-1])
    if not ok:
        raise InputError(f"public time ranges must start and end on {freq} bin boundaries, got {t}")


def assert_publishable(values: np.ndarray, policy: DisclosurePolicy | None = None) -> None:
    """Last check before a public response leaves the server.

    Raises
    ------
    DisclosureError
        If any value is a small count (``0 < v < threshold``) or not a
        multiple of ``base`` (NaN = suppressed is allowed).
    """
    p = policy or DisclosurePolicy()
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if np.any((v > 0) & (v < p.threshold)):
        raise DisclosureError("a public output contains a count below the threshold")
    if np.any(np.abs(v / p.base - np.round(v / p.base)) > 1e-9):
        raise DisclosureError("a public output contains an unrounded count")
