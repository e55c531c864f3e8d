"""Area covariates per spatial unit: deprivation and population (IMD 2019), partner layers.

Method
------
The English Indices of Deprivation 2019 are published per 2011 LSOA. A grid
cell is given the covariates of the **modal 2011 LSOA code of its incidents**
(police.uk records the LSOA of every located incident; the most frequent code
in a cell is the area most of its crime happens in). Cells with no coded
incident, or whose modal code is not in the table (Welsh LSOAs, 2021 codes
that changed), get NaN, which the learned models treat as missing.

The join uses only the ``lsoa`` column of the incidents passed in: to keep a
back-test honest, build covariates from the incidents before the first origin
(the codes are administrative, not outcomes, so the leak would be tiny, but it
costs nothing to avoid).

:func:`read_imd` reads the two IMD 2019 workbooks (File 1: IMD rank and
decile; File 6: population denominators, mid-2015) with openpyxl in read-only
mode. Partner data layers (any per-unit numeric table) are added with
:meth:`UnitCovariates.combine`.

References
----------
Ministry of Housing, Communities & Local Government (2019). *The English
Indices of Deprivation 2019: Technical report* and *File 1* / *File 6*
(Open Government Licence v3.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crimemap.errors import InputError, NotFoundError
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

__all__ = [
    "IMD_FILES",
    "LsoaCovariates",
    "UnitCovariates",
    "read_imd",
    "unit_covariates",
    "cell_lsoa",
]

#: File names of the two IMD 2019 workbooks (as published by MHCLG).
IMD_FILES = {
    "imd": "File_1_-_IMD2019_Index_of_Multiple_Deprivation.xlsx",
    "population": "File_6_-_IoD2019_Population_Denominators.xlsx",
}

_IMD_COLUMNS = {
    "LSOA code (2011)": "code",
    "Index of Multiple Deprivation (IMD) Rank": "imd_rank",
    "Index of Multiple Deprivation (IMD) Decile": "imd_decile",
}
_POP_COLUMNS = {
    "LSOA code (2011)": "code",
    "Total population: mid 2015 (excluding prisoners)": "population",
    "Dependent Children aged 0-15: mid 2015 (excluding prisoners)": "pop_0_15",
    "Population aged 16-59: mid 2015 (excluding prisoners)": "pop_16_59",
    "Older population aged 60 and over: mid 2015 (excluding prisoners)": "pop_60_plus",
}


@dataclass(frozen=True, eq=False)
class LsoaCovariates:
    """Covariates per 2011 LSOA.

    Attributes
    ----------
    codes : numpy.ndarray
        ``(m,)`` LSOA 2011 codes, sorted.
    names : tuple of str
        Covariate names (columns of ``values``).
    values : numpy.ndarray
        ``(m, k)`` float values (NaN where unknown).
    """

    codes: np.ndarray
    names: tuple[str, ...]
    values: np.ndarray

    def __post_init__(self) -> None:
        if self.values.shape != (len(self.codes), len(self.names)):
            raise InputError("LSOA covariates: values must be (n_codes, n_names)")
        self.codes.setflags(write=False)
        self.values.setflags(write=False)

    def lookup(self, codes: np.ndarray) -> np.ndarray:
        """Rows for ``codes`` (NaN rows where a code is unknown or missing)."""
        codes = np.asarray(codes, dtype=object)
        out = np.full((len(codes), len(self.names)), np.nan)
        ok = np.array([isinstance(c, str) for c in codes], bool)
        if not ok.any() or len(self.codes) == 0:
            return out
        key = codes[ok].astype(str)
        pos = np.clip(np.searchsorted(self.codes, key), 0, len(self.codes) - 1)
        hit = self.codes[pos] == key
        rows = np.flatnonzero(ok)[hit]
        out[rows] = self.values[pos[hit]]
        return out


@dataclass(frozen=True, eq=False)
class UnitCovariates:
    """Frozen covariates per spatial unit, keyed by unit id.

    Attributes
    ----------
    ids : numpy.ndarray
        ``(n,)`` unit ids.
    names : tuple of str
        Covariate names.
    values : numpy.ndarray
        ``(n, k)`` float values, NaN where unknown.
    source : str
        Where the values came from (for provenance in model params).
    """

    ids: np.ndarray
    names: tuple[str, ...]
    values: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        if self.values.shape != (len(self.ids), len(self.names)):
            raise InputError("unit covariates: values must be (n_units, n_names)")
        self.ids.setflags(write=False)
        self.values.setflags(write=False)

    def align(self, units: Units) -> np.ndarray:
        """Values in the order of ``units`` (NaN rows for units not covered)."""
        out = np.full((len(units), len(self.names)), np.nan)
        if len(self.ids) == 0:
            return out
        order = np.argsort(self.ids)
        sid = self.ids[order]
        pos = np.clip(np.searchsorted(sid, units.ids), 0, len(sid) - 1)
        hit = sid[pos] == units.ids
        out[hit] = self.values[order[pos[hit]]]
        return out

    def combine(self, other: UnitCovariates) -> UnitCovariates:
        """Columns of both (e.g. IMD plus a partner layer), over the union of ids."""
        clash = set(self.names) & set(other.names)
        if clash:
            raise InputError(f"covariates: duplicate names {sorted(clash)}")
        ids = np.union1d(self.ids.astype(str), other.ids.astype(str)).astype(object)
        probe = Units(kind="any", ids=ids, centroids=np.zeros((len(ids), 2)))
        vals = np.hstack([self.align(probe), other.align(probe)])
        src = "+".join(s for s in (self.source, other.source) if s)
        return UnitCovariates(ids=ids, names=self.names + other.names, values=vals, source=src)


def _read_sheet(path: Path, columns: dict[str, str]) -> dict[str, list[object]]:
    import openpyxl  # local: only this reader needs it

    if not path.exists():
        raise NotFoundError(f"IMD workbook not found: {path}")
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for ws in wb.worksheets:
            rows = ws.iter_rows(values_only=True)
            header = next(rows, None)
            if header is None or "LSOA code (2011)" not in header:
                continue
            idx = {}
            for col, name in columns.items():
                if col not in header:
                    raise InputError(f"{path.name}: column {col!r} missing")
                idx[name] = header.index(col)
            out: dict[str, list[object]] = {name: [] for name in columns.values()}
            for row in rows:
                if row is None or row[idx["code"]] is None:
                    continue
                for name, i in idx.items():
                    out[name].append(row[i])
            return out
    finally:
        wb.close()
    raise InputError(f"{path.name}: no sheet with an 'LSOA code (2011)' header")


def _num(v: object) -> float:
    """A spreadsheet cell as a float (NaN if empty or not numeric)."""
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def read_imd(folder: str | Path) -> LsoaCovariates:
    """Read IMD 2019 rank/decile and mid-2015 population per 2011 LSOA.

    Parameters
    ----------
    folder : path
        Folder holding the two workbooks named in :data:`IMD_FILES`.

    Returns
    -------
    LsoaCovariates
        Columns ``imd_rank`` (1 = most deprived), ``imd_decile``,
        ``population``, ``pop_0_15``, ``pop_16_59``, ``pop_60_plus``.
    """
    folder = Path(folder)
    imd = _read_sheet(folder / IMD_FILES["imd"], _IMD_COLUMNS)
    pop = _read_sheet(folder / IMD_FILES["population"], _POP_COLUMNS)
    codes = np.array(sorted(set(map(str, imd["code"])) | set(map(str, pop["code"]))))
    names = ("imd_rank", "imd_decile", "population", "pop_0_15", "pop_16_59", "pop_60_plus")
    values = np.full((len(codes), len(names)), np.nan)
    for table in (imd, pop):
        c = np.array(table["code"], dtype=str)
        pos = np.searchsorted(codes, c)
        for j, name in enumerate(names):
            if name in table:
                values[pos, j] = [_num(v) for v in table[name]]
    return LsoaCovariates(codes=codes, names=names, values=values)


def cell_lsoa(units: Units, incidents: IncidentTable) -> np.ndarray:
    """Modal LSOA code of the incidents in each grid unit (``None`` if none)."""
    from crimemap.spatial.grid import cell_index

    pos = cell_index(units, incidents)
    codes = incidents.column("lsoa")
    ok = (pos >= 0) & np.array([isinstance(c, str) and c != "" for c in codes], bool)
    out = np.full(len(units), None, dtype=object)
    if not ok.any():
        return out
    uniq, code_ix = np.unique(codes[ok].astype(str), return_inverse=True)
    # Count (unit, code) pairs with one integer key, then keep each unit's most
    # frequent code (ties: the smallest code, for determinism).
    key = pos[ok] * len(uniq) + code_ix
    k, n = np.unique(key, return_counts=True)
    unit = k // len(uniq)
    order = np.lexsort((k % len(uniq), -n, unit))
    first = np.unique(unit[order], return_index=True)[1]
    best = order[first]
    out[unit[best]] = uniq[k[best] % len(uniq)]
    return out


def unit_covariates(
    units: Units, incidents: IncidentTable, lsoa: LsoaCovariates, *, source: str = "imd-2019"
) -> UnitCovariates:
    """Covariates of each grid unit from the modal 2011 LSOA of its incidents.

    Parameters
    ----------
    units : Units
        Grid units.
    incidents : IncidentTable
        Incidents whose ``lsoa`` codes locate the units (use data before the
        first forecast origin).
    lsoa : LsoaCovariates
        E.g. from :func:`read_imd`.

    Returns
    -------
    UnitCovariates
        ``lsoa``'s columns plus ``imd_rank_pct`` (rank / number of LSOAs,
        0 = most deprived) for every unit, NaN where no code joins.
    """
    codes = cell_lsoa(units, incidents)
    vals = lsoa.lookup(codes)
    names = lsoa.names
    if "imd_rank" in names:
        pct = vals[:, names.index("imd_rank")] / max(len(lsoa.codes), 1)
        vals = np.column_stack([vals, pct])
        names = names + ("imd_rank_pct",)
    return UnitCovariates(
        ids=np.array(units.ids, copy=True), names=names, values=vals, source=source
    )
