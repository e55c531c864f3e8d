"""A national-size SYNTHETIC data set in the data.police.uk street format.

For benchmarks only: 43 forces x 36 months, about 18 million rows by default
(England and Wales record about 6.5 million street-level incidents a year).
Nothing here is real crime: every row is a resampled copy of a real row of
the source forces (``../shared/data/police-uk``), moved to another place.

Method
------
1. **Sources.** Every street file under ``source`` is read; rows are grouped
   by source force and month. Records far outside their force (more than
   twice the 95th percentile of the distance to the force's median point)
   are not resampled, so they cannot land outside the country.
2. **Placement.** Each synthetic force (the real 43, see
   :mod:`crimemap.ingest._synth_forces`) takes the source force of the
   closest population density, and that force's snap points are moved onto
   its approximate centre in British National Grid metres: scaled by the
   square root of the ratio of the two areas, rotated by a seeded angle and
   shifted by a seeded offset of up to 10 % of its radius. Points that
   would fall outside the UK are dropped from its pool.
3. **Volumes.** The requested rows are split between forces in proportion
   to their (approximate) populations, then between months in proportion to
   the source's volume in the same calendar month (seasonality), all by
   largest remainders, so the total is exactly ``rows``.
4. **Rows.** Each (force, month) file draws its rows with replacement from
   the source month's rows (seeded): snap point, place text, LSOA code and
   name, category and outcome travel together, so the category mix, the
   spatial concentration and the category-place association are the
   source's. LSOA codes are those of the source point, **not** of the
   synthetic location.

Labelling: ``Reported by`` and ``Falls within`` are ``"<Force> (SYNTHETIC)"``,
every Crime ID starts ``SYNTH-`` (anti-social behaviour keeps an empty id, as
in real files), ``Context`` says ``SYNTHETIC``, and the folder gets a
``README.txt`` and a ``synth.json`` manifest (parameters and row counts).
Files are named as data.police.uk names them, so the police.uk reader reads
them: ``YYYY-MM/YYYY-MM-<force>-street.csv.gz``.

The same ``seed`` and parameters give byte-identical files. Files are
written one at a time (memory holds the sources plus one file) through a
temporary name, so no half-written file is ever left under a real name.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from isal import igzip

from crimemap.errors import InputError
from crimemap.ingest._synth_forces import FORCES, ForceInfo
from crimemap.ingest._validate import UK_BOUNDS, project
from crimemap.ingest.policeuk import STREET_COLUMNS

__all__ = ["DEFAULT_ROWS", "SynthReport", "synthesize", "synth_forces"]

#: Rows of the default national set (43 forces x 36 months).
DEFAULT_ROWS = 18_000_000
_NAME = re.compile(r"^(\d{4}-\d{2})-(.+)-street\.csv(\.gz)?$")
_KEEP = (
    "Month",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
)
_BNG = 27700
README = """SYNTHETIC DATA - NOT REAL CRIME RECORDS

Written by `crimemap synth` for benchmarks. Every row is a seeded random
resample of a real data.police.uk street record of the source forces, moved
to another part of England and Wales (scaled, rotated and shifted). Force
names carry "(SYNTHETIC)", Crime IDs start with "SYNTH-", the Context column
says SYNTHETIC. LSOA codes and place names are those of the resampled source
record, not of the synthetic location. Do not use for any analysis of crime.

Parameters and row counts: synth.json. Source data: data.police.uk, Open
Government Licence v3.0.
"""


@dataclass(frozen=True)
class SynthReport:
    """What :func:`synthesize` wrote.

    Attributes
    ----------
    out : Path
        The output folder.
    files : tuple of Path
        Every street file, in writing order (month, then force).
    rows : int
        Rows written (exactly the requested number).
    sources : dict
        Synthetic force -> the source force it resamples.
    """

    out: Path
    files: tuple[Path, ...]
    rows: int
    sources: dict[str, str]


def synth_forces() -> list[str]:
    """Slugs of the 43 forces a synthetic set can hold."""
    return [f.slug for f in FORCES]


@dataclass
class _Source:
    force: str
    rows: pa.Table  # _KEEP columns, rows of kept records sorted by month
    months: np.ndarray  # distinct source months (datetime64[M])
    month_slices: list[tuple[int, int]]  # row range of each month
    snap: np.ndarray  # per row: index of its snap point, -1 if unlocated
    xy: np.ndarray  # (n_snap, 2) BNG metres
    lon_lat: tuple[np.ndarray, np.ndarray]
    centre: np.ndarray


def _read_sources(source: Path) -> dict[str, _Source]:
    files: dict[str, list[Path]] = {}
    for p in sorted(source.rglob("*-street.csv*")):
        m = _NAME.match(p.name)
        if m:
            files.setdefault(m.group(2), []).append(p)
    if not files:
        raise InputError(f"no police.uk street files (YYYY-MM-<force>-street.csv[.gz]) in {source}")
    conv = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in STREET_COLUMNS},
        include_columns=list(_KEEP),
        strings_can_be_null=False,
    )
    out = {}
    for force, paths in sorted(files.items()):
        t = pa.concat_tables(pacsv.read_csv(p, convert_options=conv) for p in paths)
        for c in ("Location", "LSOA name", "Crime type", "Last outcome category"):
            t = t.set_column(t.column_names.index(c), c, _quote(t[c]))
        out[force] = _index_source(force, t, source)
    return out


def _index_source(force: str, t: pa.Table, where: Path) -> _Source:
    located = pc.and_(pc.not_equal(t["Longitude"], ""), pc.not_equal(t["Latitude"], ""))
    loc = located.to_numpy(zero_copy_only=False)
    try:
        lon = pc.cast(pc.if_else(located, t["Longitude"], "nan"), pa.float64()).to_numpy()
        lat = pc.cast(pc.if_else(located, t["Latitude"], "nan"), pa.float64()).to_numpy()
    except pa.ArrowInvalid as exc:
        raise InputError(f"{where}: force {force}: unparseable coordinates: {exc}") from exc
    keys = np.where(loc, np.round(lon * 1e6) * 1e9 + np.round(lat * 1e6), np.nan)
    uk, inv = np.unique(keys[loc], return_inverse=True)
    snap = np.full(len(t), -1, np.int64)
    snap[loc] = inv
    first = np.zeros(len(uk), np.int64)
    first[inv] = np.flatnonzero(loc)
    slon, slat = lon[first], lat[first]
    x, y = project(slon, slat, 4326, _BNG)
    xy = np.column_stack([x, y])
    # Robust centre and spread of the force's records (row-weighted).
    centre = np.median(xy[snap[loc]], axis=0)
    d = np.hypot(*(xy - centre).T)
    r95 = float(np.quantile(d[snap[loc]], 0.95))
    keep = ~loc | (d[np.maximum(snap, 0)] <= 2 * r95)
    months = pc.cast(pc.binary_join_element_wise(t["Month"], "01", "-"), pa.date32())
    mon = months.to_numpy(zero_copy_only=False).astype("datetime64[M]")
    order = np.flatnonzero(keep)
    order = order[np.argsort(mon[order], kind="stable")]
    mon = mon[order]
    u, starts = np.unique(mon, return_index=True)
    ends = np.append(starts[1:], len(order))
    return _Source(
        force=force,
        rows=t.take(pa.array(order)),
        months=u,
        month_slices=list(zip(starts.tolist(), ends.tolist(), strict=True)),
        snap=snap[order],
        xy=xy,
        lon_lat=(slon, slat),
        centre=centre,
    )


def _apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` summing to ``total`` (largest remainders)."""
    w = np.asarray(weights, float)
    share = total * w / w.sum()
    out = np.floor(share).astype(np.int64)
    rest = total - int(out.sum())
    # Ties go to the earlier entry: stable, so the split is deterministic.
    out[np.argsort(-(share - out), kind="stable")[:rest]] += 1
    return out


def _info(slug: str) -> ForceInfo:
    for f in FORCES:
        if f.slug == slug:
            return f
    return ForceInfo(slug, slug, 0.0, 0.0, 1.0, 1.0)


def _pick_source(target: ForceInfo, sources: dict[str, _Source]) -> str:
    """The source force whose population density is closest (log scale)."""
    dens = np.log(target.population_m / target.area_km2)
    names = sorted(sources)
    gaps = [abs(np.log(_info(s).population_m / _info(s).area_km2) - dens) for s in names]
    return names[int(np.argmin(gaps))]


def _place(
    target: ForceInfo, src: _Source, rng: np.random.Generator
) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """The source's snap points moved onto ``target``: lon and lat text, and which are in the UK."""
    scale = np.sqrt(target.area_km2 / _info(src.force).area_km2)
    theta = rng.uniform(0, 2 * np.pi)
    radius = np.sqrt(target.area_km2 / np.pi) * 1000.0
    shift = rng.uniform(-0.1, 0.1, size=2) * radius
    (ce,), (cn,) = project(np.array([target.lon]), np.array([target.lat]), 4326, _BNG)
    rel = (src.xy - src.centre) * scale
    c, s = np.cos(theta), np.sin(theta)
    x = ce + shift[0] + c * rel[:, 0] - s * rel[:, 1]
    y = cn + shift[1] + s * rel[:, 0] + c * rel[:, 1]
    lon, lat = project(x, y, _BNG, 4326)
    lon, lat = np.round(lon, 6), np.round(lat, 6)
    inside = (lon >= UK_BOUNDS[0]) & (lon <= UK_BOUNDS[2]) & (lat >= UK_BOUNDS[1])
    inside &= lat <= UK_BOUNDS[3]
    return pc.cast(pa.array(lon), pa.string()), pc.cast(pa.array(lat), pa.string()), inside


def _month_list(start: str, months: int) -> np.ndarray:
    try:
        first = np.datetime64(start, "M")
    except ValueError as exc:
        raise InputError(f"start month must be YYYY-MM, got {start!r}") from exc
    return first + np.arange(months)


def synthesize(
    source: Path | str,
    out: Path | str,
    *,
    forces: Sequence[str] | None = None,
    months: int = 36,
    rows: int = DEFAULT_ROWS,
    start: str = "2023-01",
    seed: int = 0,
    compress: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> SynthReport:
    """Write a synthetic national set of police.uk street files.

    Parameters
    ----------
    source : path
        Folder of real street files (``YYYY-MM/YYYY-MM-<force>-street.csv[.gz]``).
    out : path
        Output folder (created; refused if it holds anything but a synthetic set).
    forces : sequence of str, optional
        Force slugs (default: all 43, see :func:`synth_forces`).
    months : int
        Number of consecutive months from ``start``.
    rows : int
        Total rows over every file.
    start : str
        First month, ``YYYY-MM``.
    seed : int
        Seed of every random choice.
    compress : bool
        Write ``.csv.gz`` (default) or plain ``.csv``.
    progress : callable, optional
        ``progress(done, total)`` after each file.

    Raises
    ------
    crimemap.errors.InputError
        On an unknown force, non-positive sizes, or an output folder that
        holds other files.
    """
    known = {f.slug: f for f in FORCES}
    names = list(dict.fromkeys(forces)) if forces else list(known)
    unknown = [f for f in names if f not in known]
    if unknown:
        raise InputError(f"unknown force(s) {unknown}; choose from {', '.join(known)}")
    if months < 1 or rows < 0:
        raise InputError(f"months must be >= 1 and rows >= 0 (got {months}, {rows})")
    cal = _month_list(start, months)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / "README.txt").exists():
        raise InputError(f"{out} is not empty and holds no synthetic set: refusing to write there")
    sources = _read_sources(Path(source))
    out.mkdir(parents=True, exist_ok=True)
    (out / "README.txt").write_text(README)

    targets = [known[f] for f in names]
    per_force = _apportion(rows, np.array([f.population_m for f in targets]))
    plans = []
    for target, n_force in zip(targets, per_force, strict=True):
        fi = [f.slug for f in FORCES].index(target.slug)  # stable across subsets
        rng = np.random.default_rng([seed, fi])
        src = sources[_pick_source(target, sources)]
        lon_s, lat_s, inside = _place(target, src, rng)
        # Source month of each synthetic month: same calendar month, cycling.
        cands = [np.flatnonzero(src.months.astype(int) % 12 == m.astype(int) % 12) for m in cal]
        off = int(rng.integers(0, 1 << 30))
        pick = [
            (c[(off + k // 12) % len(c)] if len(c) else (off + k) % len(src.months))
            for k, c in enumerate(cands)
        ]
        vol = np.array([np.subtract(*src.month_slices[p][::-1]) for p in pick], float)
        plans.append((target, fi, src, lon_s, lat_s, inside, pick, _apportion(int(n_force), vol)))

    label = pa.scalar(f"SYNTHETIC (crimemap synth; seed {seed})")
    files: list[Path] = []
    counts: dict[str, dict[str, int]] = {}
    total_files = len(cal) * len(plans)
    for k, month in enumerate(cal):
        ym = str(month)
        (out / ym).mkdir(exist_ok=True)
        for target, fi, src, lon_s, lat_s, inside, pick, n_month in plans:
            rng = np.random.default_rng([seed, fi, k])
            a, b = src.month_slices[pick[k]]
            snap = src.snap[a:b]
            pool = a + np.flatnonzero((snap < 0) | inside[np.maximum(snap, 0)])
            n = int(n_month[k])
            if n and not len(pool):
                raise InputError(f"{target.slug}: no usable source rows in {src.force} month")
            idx = pool[rng.integers(0, len(pool), size=n)] if n else pool[:0]
            table = _rows(target, fi, ym, src, lon_s, lat_s, idx, label, seed)
            path = out / ym / f"{ym}-{target.slug}-street.csv{'.gz' if compress else ''}"
            _write(table, path, compress)
            files.append(path)
            counts.setdefault(target.slug, {})[ym] = n
            if progress is not None:
                progress(len(files), total_files)
    used = {p[0].slug: p[2].force for p in plans}
    manifest = {
        "synthetic": True,
        "generator": "crimemap synth",
        "seed": seed,
        "rows": rows,
        "start": str(cal[0]),
        "months": months,
        "forces": names,
        "sources": used,
        "rows_per_force_month": counts,
    }
    (out / "synth.json").write_text(json.dumps(manifest, indent=1))
    return SynthReport(out, tuple(files), rows, used)


def _rows(
    target: ForceInfo,
    fi: int,
    ym: str,
    src: _Source,
    lon_s: pa.Array,
    lat_s: pa.Array,
    idx: np.ndarray,
    label: pa.Scalar,
    seed: int,
) -> pa.Table:
    """One file's rows, in the street file's column order."""
    n = len(idx)
    t = src.rows.take(pa.array(idx))
    snap = src.snap[idx]
    loc = snap >= 0
    safe = pa.array(np.maximum(snap, 0))
    lon = pc.if_else(pa.array(loc), lon_s.take(safe), "")
    lat = pc.if_else(pa.array(loc), lat_s.take(safe), "")
    cat = t["Crime type"]
    seq = pc.utf8_lpad(pc.cast(pa.array(np.arange(n)), pa.string()), 7, "0")
    ids = pc.binary_join_element_wise(f"SYNTH-{seed}-{fi:02d}-{ym}-", seq, "")
    ids = pc.if_else(pc.equal(cat, "Anti-social behaviour"), "", ids)
    name = pa.scalar(f"{target.name} (SYNTHETIC)")
    cols = {
        "Crime ID": ids,
        "Month": pa.repeat(pa.scalar(ym), n),
        "Reported by": pa.repeat(name, n),
        "Falls within": pa.repeat(name, n),
        "Longitude": lon,
        "Latitude": lat,
        "Location": t["Location"],
        "LSOA code": t["LSOA code"],
        "LSOA name": t["LSOA name"],
        "Crime type": cat,
        "Last outcome category": t["Last outcome category"],
        "Context": pa.repeat(label, n),
    }
    return pa.table({c: cols[c] for c in STREET_COLUMNS})


def _quote(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """CSV-quote the values that need it, as data.police.uk does (and only those)."""
    need = pc.match_substring_regex(col, '[,"\r\n]')
    esc = pc.replace_substring(col, '"', '""')
    return pc.if_else(need, pc.binary_join_element_wise('"', esc, '"', ""), col)


def _csv_bytes(table: pa.Table) -> pa.Buffer:
    """The file's bytes: header, then one line per row, built column-wise by Arrow.

    Arrow's own CSV writer quotes every string (real files quote only values
    with a comma), so lines are joined here; text columns were quoted where
    needed when the sources were read.
    """
    line = pc.binary_join_element_wise(*table.columns, ",")
    lines = pc.binary_join_element_wise(line, "\n", "").combine_chunks()
    header = (",".join(table.column_names) + "\n").encode()
    if len(lines) == 0:
        return pa.py_buffer(header)
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
    body = lines.buffers()[2][offsets[0] : offsets[-1]]
    return pa.py_buffer(header + body.to_pybytes())


def _write(table: pa.Table, path: Path, compress: bool) -> None:
    """Write through a temporary name: a file exists under its real name only when complete."""
    tmp = path.with_name(f".{path.name}.tmp")
    data = _csv_bytes(table)
    if compress:
        with igzip.open(tmp, "wb", compresslevel=1) as f:
            f.write(data)
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)
