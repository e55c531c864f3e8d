"""The validated, immutable incident table that flows through the pipeline.

Every stage after ingest (spatial units, detection, forecasting, evaluation,
safeguards, allocation, API) takes and returns :class:`IncidentTable`. It wraps
an Apache Arrow table whose schema is :data:`INCIDENT_SCHEMA`; Arrow tables are
immutable, so an ``IncidentTable`` is too. Filters return new tables.

Time is an interval ``[t_start, t_end)`` in the source's local wall-clock time
with a precision (``month``, ``day``, ``minute``): police.uk publishes months
only, so a police.uk incident spans its whole month. Location is kept in WGS84
(``lon``, ``lat``) and in a projected metric CRS (``x``, ``y``, EPSG code in
``crs``: British National Grid, EPSG:27700, for UK sources), with a precision
(``snap`` for police.uk's anonymous map points, ``exact``, ``centroid`` of an
area, or ``none``). Incidents without coordinates are kept (``loc_precision ==
"none"``) so that area totals by LSOA stay right. ``attrs`` holds a JSON
object of extra source columns that a partner mapping keeps (personal
identifiers only ever as keyed hashes).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crimemap._time import dt64
from crimemap.errors import InputError
from crimemap.taxonomy import CATEGORY_SLUGS

__all__ = [
    "INCIDENT_SCHEMA",
    "TIME_PRECISIONS",
    "LOC_PRECISIONS",
    "IncidentTable",
]

TIME_PRECISIONS = ("month", "day", "minute")
LOC_PRECISIONS = ("snap", "exact", "centroid", "none")

INCIDENT_SCHEMA = pa.schema(
    [
        pa.field("incident_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("force", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("raw_category", pa.string()),
        pa.field("t_start", pa.timestamp("s"), nullable=False),
        pa.field("t_end", pa.timestamp("s"), nullable=False),
        pa.field("t_precision", pa.string(), nullable=False),
        pa.field("lon", pa.float64()),
        pa.field("lat", pa.float64()),
        pa.field("x", pa.float64()),
        pa.field("y", pa.float64()),
        pa.field("crs", pa.int32()),
        pa.field("loc_precision", pa.string(), nullable=False),
        pa.field("location", pa.string()),
        pa.field("lsoa", pa.string()),
        pa.field("outcome", pa.string()),
        pa.field("file_id", pa.int64()),
        pa.field("row_no", pa.int64()),
        pa.field("attrs", pa.string()),
    ]
)

_DEFAULTS: dict[str, Any] = {
    "source": "synthetic",
    "force": "synthetic",
    "raw_category": None,
    "t_precision": "month",
    "lon": None,
    "lat": None,
    "crs": 27700,
    "location": None,
    "lsoa": None,
    "outcome": None,
    "file_id": None,
    "row_no": None,
    "attrs": None,
}


class IncidentTable:
    """An immutable, schema-checked table of incidents.

    Parameters
    ----------
    table : pyarrow.Table
        Must contain every column of :data:`INCIDENT_SCHEMA` with a castable
        type; extra columns are dropped.

    Raises
    ------
    crimemap.errors.InputError
        If a column is missing, a category is not canonical, a precision is
        unknown or an interval is empty.
    """

    # ``_memo`` caches arrays derived from the (immutable) table: the start
    # times and the located mask, which every model's time cut re-reads;
    # ``_digests`` the fingerprints by cut (every fit of a back-test task asks).
    __slots__ = ("_t", "_memo", "_digests")
    _t: pa.Table
    _memo: dict[Hashable, np.ndarray]
    _digests: dict[np.datetime64, tuple[int, int, float, float]]

    def __init__(self, table: pa.Table) -> None:
        missing = [f.name for f in INCIDENT_SCHEMA if f.name not in table.column_names]
        if missing:
            raise InputError(f"incident table lacks column(s): {', '.join(missing)}")
        try:
            t = table.select(INCIDENT_SCHEMA.names).cast(INCIDENT_SCHEMA)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
            raise InputError(f"incident table has wrong column types: {exc}") from exc
        _check(t)
        object.__setattr__(self, "_t", t)
        object.__setattr__(self, "_memo", {})
        object.__setattr__(self, "_digests", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("IncidentTable is immutable")

    def rows(self, table: pa.Table) -> IncidentTable:
        """A table of some of this table's rows (a slice, take or filter of ``self.arrow``).

        Not validated again: every row of an already validated table is valid,
        and re-checking costs more than the slice on large forces. The caller
        guarantees ``table`` was derived from ``self.arrow`` by row selection.
        """
        if table.schema != self._t.schema:
            raise InputError("IncidentTable.rows: not a row selection of this table")
        out = object.__new__(IncidentTable)
        object.__setattr__(out, "_t", table)
        object.__setattr__(out, "_memo", {})
        object.__setattr__(out, "_digests", {})
        return out

    #: At most this many per-units entries (e.g. cell positions) are kept per table.
    _MAX_KEYED = 4

    def per_row(self, key: Hashable, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """A read-only array with one value per row, derived from this table, computed once.

        The table is immutable, so the array stays valid; row selections made by
        :meth:`filter` inherit it (the selected rows' values) instead of
        recomputing it. ``key`` names the derivation: a string, or a tuple whose
        first item is a string and whose other items are the objects it depends
        on (compared by identity: e.g. ``("cell_index", units)``).
        """
        got = self._memo.get(key)
        if got is None:
            got = np.asarray(compute())
            if got.shape[:1] != (len(self),):
                raise InputError(f"per_row({key!r}): {got.shape} values for {len(self)} rows")
            got.setflags(write=False)
            if isinstance(key, tuple):
                keyed = [k for k in self._memo if isinstance(k, tuple) and k[0] == key[0]]
                for k in keyed[: max(len(keyed) - self._MAX_KEYED + 1, 0)]:
                    del self._memo[k]
            self._memo[key] = got
        return got

    def digest(self, end: datetime | np.datetime64 | str) -> tuple[int, int, float, float]:
        """A cheap content fingerprint of the located incidents that start before ``end``.

        ``(count, sum of start times in seconds, sum of x, sum of y)``, from
        cached arrays (no table is copied): what a model's time cut at ``end``
        would see. Used to recognise the same fit asked for twice.
        """
        cut = dt64(end, "s")
        got = self._digests.get(cut)
        if got is None:
            m = self._located() & (self.starts() < cut)
            t = self.starts().view(np.int64)
            xy = self.per_row("xy0", lambda: np.nan_to_num(self.xy()))
            got = (
                int(m.sum()),
                int(t[m].sum()),
                float(xy[m, 0].sum()),
                float(xy[m, 1].sum()),
            )
            if len(self._digests) >= 32:
                self._digests.clear()
            self._digests[cut] = got
        return got

    def starts(self) -> np.ndarray:
        """``t_start`` as a read-only ``datetime64[s]`` array (computed once per table)."""
        return self.per_row(
            "t_start", lambda: self._t.column("t_start").to_numpy().astype("datetime64[s]")
        )

    def _located(self) -> np.ndarray:
        """Boolean mask of located incidents (``loc_precision != "none"``, cached)."""
        return self.per_row(
            "located",
            lambda: np.asarray(
                pc.not_equal(self._t.column("loc_precision"), "none").to_numpy(
                    zero_copy_only=False
                ),
                bool,
            ),
        )

    def __reduce__(self) -> tuple[type[IncidentTable], tuple[pa.Table]]:
        # Immutable with __slots__: pickle through the constructor (parallel back-tests).
        return (IncidentTable, (self._t,))

    # ------------------------------------------------------------------ build
    @classmethod
    def from_columns(cls, **cols: Sequence[Any] | np.ndarray) -> IncidentTable:
        """Build a table from column sequences, filling optional columns.

        Required: ``category``, ``t_start`` and either (``x``, ``y``) or
        nothing (no location). ``t_end`` defaults to one month after a
        month-precision ``t_start``; ``incident_id`` defaults to ``"i<row>"``;
        ``loc_precision`` to ``exact`` where ``x`` is given, else ``none``.
        """
        n = len(next(iter(cols.values())))
        data: dict[str, Any] = {
            k: list(v) if not isinstance(v, np.ndarray) else v for k, v in cols.items()
        }
        for k, v in _DEFAULTS.items():
            data.setdefault(k, [v] * n)
        data.setdefault("incident_id", [f"i{i}" for i in range(n)])
        start = np.asarray(data["t_start"], dtype="datetime64[s]")
        data["t_start"] = start
        if "t_end" not in data:
            prec = list(data["t_precision"])
            ends = []
            for s, p in zip(start, prec, strict=True):
                if p == "month":
                    ends.append((s.astype("datetime64[M]") + 1).astype("datetime64[s]"))
                elif p == "day":
                    ends.append(s.astype("datetime64[D]") + np.timedelta64(1, "D"))
                else:
                    ends.append(s + np.timedelta64(60, "s"))
            data["t_end"] = np.array(ends, dtype="datetime64[s]")
        if "x" not in data:
            data["x"] = [None] * n
            data["y"] = [None] * n
        if "loc_precision" not in data:
            data["loc_precision"] = ["none" if v is None or v != v else "exact" for v in data["x"]]
        arrays = {}
        for f in INCIDENT_SCHEMA:
            v = data[f.name]
            arrays[f.name] = pa.array(v, type=f.type, from_pandas=True)
        return cls(pa.table(arrays))

    @classmethod
    def empty(cls) -> IncidentTable:
        """An empty table with the canonical schema."""
        return cls(INCIDENT_SCHEMA.empty_table())

    @classmethod
    def concat(cls, tables: Iterable[IncidentTable]) -> IncidentTable:
        """Concatenate several tables."""
        ts = [t.arrow for t in tables]
        if not ts:
            return cls.empty()
        return cls(pa.concat_tables(ts))

    # ----------------------------------------------------------------- access
    @property
    def arrow(self) -> pa.Table:
        """The underlying (immutable) Arrow table."""
        return self._t

    def __len__(self) -> int:
        return int(self._t.num_rows)

    def __repr__(self) -> str:
        return f"IncidentTable({len(self)} incidents)"

    def column(self, name: str) -> np.ndarray:
        """One column as a read-only NumPy array (nulls become NaN/None)."""
        col = self._t.column(name)
        if pa.types.is_floating(col.type):
            arr = col.to_numpy()
        elif pa.types.is_timestamp(col.type):
            arr = col.to_numpy().astype("datetime64[s]")
        else:
            arr = np.asarray(col.to_pylist(), dtype=object)
        arr = np.array(arr, copy=True)
        arr.setflags(write=False)
        return arr

    def xy(self) -> np.ndarray:
        """Projected coordinates as an ``(n, 2)`` float array (NaN if none)."""
        x = self._t.column("x").to_numpy(zero_copy_only=False)
        y = self._t.column("y").to_numpy(zero_copy_only=False)
        out = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
        out.setflags(write=False)
        return out

    def months(self) -> np.ndarray:
        """``t_start`` truncated to months, as ``datetime64[M]``."""
        return self._t.column("t_start").to_numpy().astype("datetime64[M]")

    def has_exact_times(self) -> bool:
        """True when every incident is known to the day or better."""
        if len(self) == 0:
            return False
        prec = self._t.column("t_precision")
        return bool(pc.all(pc.not_equal(prec, "month")).as_py())

    # --------------------------------------------------------------- filtering
    def where(self, mask: np.ndarray | pa.Array) -> IncidentTable:
        """Rows where ``mask`` is true."""
        return self.rows(self._t.filter(pa.array(mask, type=pa.bool_())))

    def mask(
        self,
        *,
        categories: Iterable[str] | None = None,
        forces: Iterable[str] | None = None,
        start: datetime | np.datetime64 | str | None = None,
        end: datetime | np.datetime64 | str | None = None,
        located: bool | None = None,
    ) -> np.ndarray:
        """The boolean row mask of :meth:`filter` (same arguments), without selecting rows.

        For callers that only need a few cached per-row arrays of the selected
        rows: selecting every column of a large table costs far more.
        """
        t = self._t
        mask = np.ones(t.num_rows, bool)

        def isin(col: str, values: Iterable[str]) -> np.ndarray:
            m = pc.is_in(t[col], pa.array(sorted(set(values)), pa.string()))
            return np.asarray(m.to_numpy(zero_copy_only=False), bool)

        if categories is not None:
            mask &= isin("category", categories)
        if forces is not None:
            mask &= isin("force", forces)
        if start is not None:
            mask &= self.starts() >= dt64(start, "s")
        if end is not None:
            mask &= self.starts() < dt64(end, "s")
        if located is not None:
            mask &= self._located() if located else ~self._located()
        return mask

    def filter(
        self,
        *,
        categories: Iterable[str] | None = None,
        forces: Iterable[str] | None = None,
        start: datetime | np.datetime64 | str | None = None,
        end: datetime | np.datetime64 | str | None = None,
        located: bool | None = None,
    ) -> IncidentTable:
        """Filter by category, force, time window ``[start, end)`` and location.

        The time filter uses ``t_start``: an incident belongs to the window in
        which its interval starts.
        """
        t = self._t
        mask = self.mask(
            categories=categories, forces=forces, start=start, end=end, located=located
        )
        if mask.all():
            # Nothing to remove (e.g. a model's time cut of data already cut): same rows.
            return self
        idx = np.flatnonzero(mask)
        if len(idx) and idx[-1] - idx[0] + 1 == len(idx):
            # One contiguous block (a time cut of a table sorted by start, the
            # back-test's case): a zero-copy slice instead of a gather.
            a, b = int(idx[0]), int(idx[-1]) + 1
            out = self.rows(t.slice(a, b - a))
            sel: slice | np.ndarray = slice(a, b)
        else:
            out = self.rows(t.filter(pa.array(mask)))
            sel = mask
        for k, v in self._memo.items():
            sub = v[sel]
            sub.setflags(write=False)
            out._memo[k] = sub
        return out

    def to_pandas(self) -> Any:
        """A pandas DataFrame copy (for reports and notebooks)."""
        return self._t.to_pandas()


def _check(t: pa.Table) -> None:
    if t.num_rows == 0:
        return
    for name in (
        "incident_id",
        "source",
        "force",
        "category",
        "t_start",
        "t_end",
        "t_precision",
        "loc_precision",
    ):
        if t[name].null_count:
            raise InputError(f"incident table column {name!r} has {t[name].null_count} null(s)")
    bad = pc.invert(pc.is_in(t["category"], pa.array(CATEGORY_SLUGS)))
    if pc.any(bad).as_py():
        vals = sorted(set(t["category"].filter(bad).to_pylist()))[:10]
        raise InputError(f"incident table has non-canonical categories: {vals}")
    for name, allowed in (("t_precision", TIME_PRECISIONS), ("loc_precision", LOC_PRECISIONS)):
        bad = pc.invert(pc.is_in(t[name], pa.array(allowed)))
        if pc.any(bad).as_py():
            raise InputError(f"incident table column {name!r} has values outside {allowed}")
    if pc.any(pc.less_equal(t["t_end"], t["t_start"])).as_py():
        raise InputError("incident table has intervals with t_end <= t_start")
    located = pc.not_equal(t["loc_precision"], "none")
    if pc.any(pc.and_(located, pc.or_(pc.is_null(t["x"]), pc.is_null(t["y"])))).as_py():
        raise InputError("incident table has located incidents without projected x/y")
