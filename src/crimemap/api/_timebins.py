"""Day and hour time bins of the API: parsing, labels and the fine time window of a filter.

Sources with exact times (``t_precision`` ``day`` or ``minute``: St. Louis,
Portland, partner data) can be viewed by day or by hour; police.uk data is
published by month only and is never spread into days. Fine bins are counted
in *hours since 1970-01-01 00:00* (local time of the source, as stored); a
day is 24 of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from crimemap.api._cellids import month_index
from crimemap.api._layers import Filter
from crimemap.errors import InputError

__all__ = [
    "FINE_PRECISIONS",
    "TimeBound",
    "day_label",
    "fine_note",
    "is_fine",
    "time_resolution",
    "window",
    "hour_label",
    "hour_of_day_mask",
    "hours_since_epoch",
    "month_of_hour",
    "parse_hours",
    "parse_time_bound",
]

#: Time precisions that place an incident in a day (``minute`` also in an hour).
FINE_PRECISIONS = ("day", "minute")

_MONTH = re.compile(r"^\d{4}-\d{2}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}(:00)?$")


@dataclass(frozen=True)
class TimeBound:
    """One end of a time window as given: its resolution and its first/last hour.

    Attributes
    ----------
    resolution : str
        ``month``, ``day`` or ``hour``.
    month : int
        Month index (months since 1970-01) holding the bound.
    first_hour, last_hour : int
        First and last hour (since 1970-01-01 00:00) the bound covers.
    """

    resolution: str
    month: int
    first_hour: int
    last_hour: int


def _hours(day: np.datetime64) -> int:
    return int(day.astype("datetime64[h]").astype(np.int64))


def parse_time_bound(text: str, name: str) -> TimeBound:
    """``YYYY-MM``, ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH`` -> :class:`TimeBound`.

    Raises
    ------
    crimemap.errors.InputError
        Naming the parameter and the value when it is none of these.
    """
    t = text.strip()
    try:
        if _MONTH.match(t):
            m = month_index(t)
            first = np.datetime64(t, "M")
            return TimeBound(
                "month", m, _hours(first.astype("datetime64[D]")), _hours(first + 1) - 1
            )
        if _DAY.match(t):
            d = np.datetime64(t, "D")
            return TimeBound("day", month_index(t[:7]), _hours(d), _hours(d) + 23)
        if _HOUR.match(t):
            h = np.datetime64(t[:13], "h")
            if int(t[11:13]) > 23:
                raise ValueError(t)
            hi = int(h.astype(np.int64))
            return TimeBound("hour", month_index(t[:7]), hi, hi)
    except (ValueError, InputError):
        pass
    raise InputError(
        f"bad {name} {text!r}; expected YYYY-MM (month), YYYY-MM-DD (day) or YYYY-MM-DDTHH (hour)"
    )


def parse_hours(text: str) -> tuple[int, int]:
    """Hour-of-day filter ``"18-23"``, ``"22-3"`` (wraps midnight) or ``"7"`` -> (first, last)."""
    parts = text.strip().split("-")
    try:
        if len(parts) == 1:
            a = b = int(parts[0])
        elif len(parts) == 2:
            a, b = int(parts[0]), int(parts[1])
        else:
            raise ValueError(text)
    except ValueError:
        raise InputError(f"bad hours {text!r}; expected H or H1-H2 with hours 0-23") from None
    if not (0 <= a <= 23 and 0 <= b <= 23):
        raise InputError(f"bad hours {text!r}; hours of the day run from 0 to 23")
    return a, b


def hour_of_day_mask(hours: tuple[int, int]) -> np.ndarray:
    """``(24,)`` booleans: the hours of the day in the inclusive, possibly wrapping range."""
    a, b = hours
    h = np.arange(24)
    return (h >= a) & (h <= b) if a <= b else (h >= a) | (h <= b)


def hours_since_epoch(t: np.ndarray) -> np.ndarray:
    """Timestamps (numpy datetime64) -> whole hours since 1970-01-01 00:00."""
    return np.asarray(t).astype("datetime64[h]").astype(np.int64)


def month_of_hour(h: np.ndarray | int) -> np.ndarray:
    """Hours since 1970 -> month index (months since 1970-01)."""
    m = np.asarray(h, np.int64).astype("datetime64[h]").astype("datetime64[M]")
    return np.asarray(m.astype(np.int64))


def day_label(day: int) -> str:
    """Days since 1970-01-01 -> ``YYYY-MM-DD``."""
    return str(np.datetime64(int(day), "D"))


def hour_label(hour: int) -> str:
    """Hours since 1970-01-01 00:00 -> ``YYYY-MM-DDTHH``."""
    return str(np.datetime64(int(hour), "h"))[:13]


def is_fine(f: Filter) -> bool:
    """True when ``f`` asks for a day/hour window or an hour-of-day filter."""
    return f.fine is not None or f.hours is not None


def window(f: Filter) -> tuple[int, int, Callable[[np.ndarray], np.ndarray] | None]:
    """Time field range ``[lo, hi)`` and row predicate of a filter, for its index."""
    if not is_fine(f):
        lo = 0 if f.start is None else f.start
        hi = (1 << 22) if f.end is None else f.end + 1
        return lo, hi, None
    h0, h1 = f.fine if f.fine is not None else (0, (1 << 21) - 1)
    if f.hours is None:
        return 2 * h0, 2 * (h1 + 1), None
    mask = hour_of_day_mask(f.hours)
    return 2 * h0, 2 * (h1 + 1), lambda t: ((t & 1) == 1) & mask[(t >> 1) % 24]


def time_resolution(f: Filter) -> str:
    """``month``, ``day`` or ``hour``: the finest time bin the filter uses."""
    if f.hours is not None:
        return "hour"
    return "day" if f.fine is not None else "month"


def fine_note(f: Filter) -> str:
    """What a day/hour window counts."""
    base = "day/hour windows count incidents timed to the day or minute only (month-only records left out)"
    if f.hours is not None:
        return base + "; an hour filter counts minute-precision records only"
    return base
