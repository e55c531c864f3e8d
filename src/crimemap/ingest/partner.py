"""The generic partner reader, driven by a mapping file.

Council and social-services extracts, and police data from outside the UK,
have no fixed layout. A YAML mapping (:mod:`crimemap.ingest._mapping`, see
``docs/partner-data.md``) declares where id, time, place and category are,
how to parse them, which rows to drop and which columns are personal
identifiers; this reader applies it and returns incidents in
:data:`crimemap.table.INCIDENT_SCHEMA`, exactly like the police.uk readers:
every refused row is a :class:`~crimemap.errors.RowIssue` naming file, row,
column, value and reason, and every row dropped or repaired by a declared
rule is counted by reason.

Steps, in order (each step only sees rows still alive):

1. parse (CSV via :func:`~crimemap.ingest._csv.parse_csv`, or the ``.dbf``
   of a zipped shapefile) and resolve column aliases (schema drift);
2. ``rules``: drop matching rows, counted ``dropped:<reason>``;
3. category: derive the key, map it; ``drop`` labels are counted
   ``dropped:excluded_category``; unmapped labels refuse the file
   (:class:`~crimemap.errors.UnmappedLabelsError`) unless ``unmapped`` says
   otherwise;
4. ids ``<source>:<id columns joined by ':'>`` (or a content key when the
   source has no id), with the police.uk occurrence-index rule ``~k`` for
   repeats; a ``cancels`` rule row removes the last copy of its id in the
   same file (``dropped:cancelled_by_<reason>``); cancels whose target is
   not in the file are returned in :attr:`PartnerReadResult.cancels` and
   counted ``pending:<reason>_target_not_in_file`` (see
   :func:`apply_cancellations`);
5. time: formats tried in order, then the plausibility window;
6. place: coordinates projected to ``store_crs`` (missing-value markers mean
   "no location": kept, ``loc_precision = "none"``), or LSOA, or an address
   point lookup;
7. ``attrs``: ``keep`` and ``keep_free_text`` columns as given, personal
   identifiers as HMAC-SHA256 of the value keyed with ``ReadContext.pii_key``.
   Other columns, including undeclared free text, are not read further.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import CRS, Transformer

from crimemap.errors import ConfigError, IngestError, RowIssue, UnmappedLabelsError
from crimemap.ingest._cancel import apply_cancellations
from crimemap.ingest._csv import header_of, parse_csv
from crimemap.ingest._io import SourceFile
from crimemap.ingest._mapping import DROP, Mapping, load_mapping, parse_datetimes
from crimemap.ingest._shapefile import read_zipped_shapefile
from crimemap.ingest._validate import (
    distinct,
    issues_for,
    null_if_blank,
    occurrence_index,
    parse_coords,
)
from crimemap.ingest.base import ReadContext, ReadResult, register_reader
from crimemap.table import INCIDENT_SCHEMA
from crimemap.taxonomy import CATEGORY_SLUGS

__all__ = ["PartnerReader", "PartnerReadResult", "apply_cancellations", "hash_identifier"]

_STEP = {"minute": np.timedelta64(60, "s"), "day": np.timedelta64(1, "D")}
_TRANSFORMERS: dict[tuple[str, str], Transformer] = {}


@dataclass
class PartnerReadResult(ReadResult):
    """A :class:`ReadResult` plus the ids of incidents cancelled by rows of
    this file whose cancelled row is not in the file (one entry per cancel).
    """

    cancels: tuple[str, ...] = ()


def hash_identifier(value: str, key: bytes) -> str:
    """Keyed hash of a personal identifier: hex HMAC-SHA256 of its UTF-8 bytes."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def _transformer(src: str, dst: str) -> Transformer:
    key = (src, dst)
    if key not in _TRANSFORMERS:
        _TRANSFORMERS[key] = Transformer.from_crs(
            CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True
        )
    return _TRANSFORMERS[key]


def _np(a: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(a.to_numpy(zero_copy_only=False))


@dataclass
class _Run:
    """The state of reading one file: every step sees only ``alive`` rows."""

    name: str
    lines: np.ndarray
    s: dict[str, pa.ChunkedArray]  # required columns, whitespace-stripped
    alive: np.ndarray
    counts: Counter[str] = field(default_factory=Counter)
    issues: list[RowIssue] = field(default_factory=list)

    def reject(
        self,
        mask: np.ndarray,
        column: str | None,
        values: pa.ChunkedArray | np.ndarray | None,
        reason: str,
        detail: str,
    ) -> np.ndarray:
        """Report the alive rows of ``mask`` (they stay alive for other checks)."""
        mask = mask & self.alive
        self.issues += issues_for(self.name, mask, self.lines, column, values, reason, detail)
        return mask

    def drop(self, mask: np.ndarray, reason: str) -> np.ndarray:
        """Drop the alive rows of ``mask``, counted ``dropped:<reason>``."""
        hit = mask & self.alive
        self.counts[f"dropped:{reason}"] += int(hit.sum())
        self.alive &= ~hit
        return hit

    def blank(self, column: str) -> np.ndarray:
        return _np(pc.equal(self.s[column], "")).astype(bool)


@register_reader("partner")
class PartnerReader:
    """Partner extracts read through a mapping (YAML path, dict or name).

    Parameters
    ----------
    mapping : str, Path, dict or Mapping
        The mapping; a bare name (``"stl-slmpd"``) selects a built-in one.

    Raises
    ------
    ConfigError
        If the mapping is invalid (file, key and problem named).
    TypeError
        Without a mapping (so that reader sniffing skips this reader).
    """

    name = "partner"
    target = "incidents"

    def __init__(self, mapping: str | Path | dict[str, Any] | Mapping) -> None:
        self.mapping = load_mapping(mapping)
        self._points: dict[str, tuple[float, float]] | None = None

    def sniff(self, src: SourceFile) -> bool:
        """True if the file has every column the mapping needs."""
        if self.mapping.format == "shapefile":
            return src.name.lower().endswith(".zip")
        try:
            header = header_of(src.data[:65536], src.name)
        except IngestError:
            return False
        return not self.mapping.missing_columns(header)

    # ------------------------------------------------------------------ read
    def read(self, src: SourceFile, ctx: ReadContext) -> PartnerReadResult:
        m = self.mapping
        if m.personal_identifiers and not ctx.pii_key:
            raise ConfigError(
                f"{m.origin}: key 'personal_identifiers': the mapping lists "
                f"{list(m.personal_identifiers)} but no pii_key was given; personal "
                "identifiers are only ever stored as keyed hashes"
            )
        t, lines, pre, crs = self._parse(src)
        n = t.num_rows
        s = {c: pc.utf8_trim_whitespace(t[c]) for c in m.required_columns()}
        run = _Run(src.name, lines, s, np.ones(n, bool))

        cancel_rows, cancel_reason = np.zeros(n, bool), ""
        for rule in m.rules:
            hit = run.drop(rule.when.mask(s[rule.when.column]), rule.reason)
            if rule.cancels:
                cancel_rows |= hit
                cancel_reason = rule.reason
        cat, bad_cat = self._categories(run)
        incident_id, no_id, pending = self._ids(run, cancel_rows, cancel_reason)
        t_start, t_end, time_ok = self._times(run)
        loc = self._locations(run, crs)

        good = run.alive & ~bad_cat & ~no_id & time_ok & loc["ok"]
        run.counts["kept:no_location"] += int((good & (loc["precision"] == "none")).sum())
        spec = m.location
        out = pa.table(
            {
                "incident_id": incident_id,
                "source": pa.repeat(pa.scalar(m.source), n),
                "force": pa.repeat(pa.scalar(m.force), n),
                "category": pa.array(cat, pa.string()),
                "raw_category": null_if_blank(s[m.category.column]),
                "t_start": pa.array(t_start, pa.timestamp("s")),
                "t_end": pa.array(t_end, pa.timestamp("s")),
                "t_precision": pa.repeat(pa.scalar(m.time.precision), n),
                **{k: pa.array(loc[k], from_pandas=True) for k in ("lon", "lat", "x", "y")},
                "crs": pa.array(np.full(n, spec.store_crs, dtype=np.int32)),
                "loc_precision": pa.array(loc["precision"], pa.string()),
                "location": _optional(s, spec.text, n),
                "lsoa": _optional(s, spec.lsoa, n),
                "outcome": _optional(s, m.outcome, n),
                "file_id": pa.array(np.full(n, ctx.file_id, dtype=np.int64)),
                "row_no": pa.array(lines, pa.int64()),
                "attrs": self._attrs(s, good, ctx.pii_key),
            },
            schema=INCIDENT_SCHEMA,
        ).filter(pa.array(good))
        if m.personal_identifiers:
            # The CSV parser quotes a malformed line whole: withhold it, as it
            # may hold identifiers in clear.
            pre = [_withhold(i) if i.value is not None else i for i in pre]
        n_unparsed = sum(1 for i in pre if i.reason in ("wrong_field_count", "invalid_utf8"))
        rejects = pre + sorted(run.issues, key=lambda i: (i.row or 0, i.reason))
        return PartnerReadResult(
            "incidents", out, rejects, +run.counts, n + n_unparsed, m.source, tuple(pending)
        )

    # ----------------------------------------------------------------- steps
    def _parse(self, src: SourceFile) -> tuple[pa.Table, np.ndarray, list[RowIssue], str | None]:
        """All-string table (canonical column names), line numbers, parser issues, CRS."""
        m = self.mapping
        crs = m.location.crs
        header_row: int | None = 1
        if m.format == "shapefile":
            p = read_zipped_shapefile(src, encoding=m.encoding)
            t, lines, issues, header, header_row = p.table, p.lines, [], p.header, None
            if crs == "prj":
                if p.prj is None:
                    detail = "the mapping says crs: prj but the archive has no .prj"
                    raise IngestError([RowIssue(src.name, None, None, None, "no_prj", detail)])
                crs = p.prj
        else:
            c = parse_csv(src, required=(), encoding=m.encoding, invalid_utf8=m.invalid_utf8)
            t, lines, issues, header = c.table, c.lines, list(c.issues), c.header
            if len(t.column_names) == len(header):
                t = t.rename_columns(header)
        missing = m.missing_columns(header)
        if missing:
            shown = ",".join(header)[:200]
            raise IngestError(
                [
                    RowIssue(
                        src.name,
                        header_row,
                        col,
                        shown,
                        "missing_column",
                        f"the mapping {m.origin} needs column {col!r}"
                        + (
                            f" (or an alias: {', '.join(m.aliases[col])})"
                            if col in m.aliases
                            else ""
                        ),
                    )
                    for col in missing
                ]
            )
        ren = m.renames(header)
        return t.rename_columns([ren.get(c, c) for c in t.column_names]), lines, issues, crs

    def _categories(self, run: _Run) -> tuple[np.ndarray, np.ndarray]:
        """Slug per row (``drop`` rows leave ``alive``), and rows without a key."""
        spec = self.mapping.category
        raw = run.s[spec.column]
        idx, uniq = distinct(raw)
        keys = [spec.key_of(str(v)) for v in uniq.to_pylist()]
        key = np.array(keys, dtype=object)[idx]
        slug = np.array([spec.slug_of(k) for k in keys], dtype=object)[idx]
        detail = "no category key could be derived from this value"
        blank = run.reject(key == "", spec.column, raw, "missing_category", detail)
        unmapped = run.alive & ~blank & (slug == None)  # noqa: E711  (object array)
        if unmapped.any():
            if spec.unmapped == "error":
                found = Counter(key[unmapped].tolist())
                raise UnmappedLabelsError(run.name, spec.column, dict(found))
            if spec.unmapped == DROP:
                run.drop(unmapped, "unmapped_category")
            else:
                run.counts[f"kept:unmapped_category_as_{spec.unmapped}"] += int(unmapped.sum())
                slug = np.where(unmapped, spec.unmapped, slug)
        run.drop(slug == DROP, "excluded_category")
        # Placeholders for rows that never reach the output.
        usable = np.isin(slug, CATEGORY_SLUGS)
        return np.where(usable, slug, "other-crime").astype(object), blank

    def _ids(
        self, run: _Run, cancel_rows: np.ndarray, reason: str
    ) -> tuple[pa.Array, np.ndarray, list[str]]:
        """Stable ids, rows refused for a blank id, and cancels not in the file.

        Cancelled rows (the last copies of a cancelled id) leave ``alive``.
        """
        m = self.mapping
        n = len(run.alive)
        no_id = np.zeros(n, bool)
        if m.id is not None:
            for c in m.id.columns:
                no_id |= run.reject(
                    run.blank(c) & ~no_id, c, None, "missing_id", f"id column {c!r} is blank"
                )
            parts = [run.s[c] for c in m.id.columns]
        else:
            # No id in the source: the content identifies the record, and
            # identical records are told apart by their occurrence index.
            parts = [run.s[c] for c in m.content_columns()]
        key = pc.binary_join_element_wise(pa.scalar(m.source), *parts, ":")
        live = np.flatnonzero(run.alive & ~no_id)
        k = np.zeros(n, np.int64)
        k[live] = occurrence_index(key.take(pa.array(live)))
        run.counts["kept:repeated_id_in_file"] += int((k > 0).sum())
        suffix = pc.binary_join_element_wise("~", pc.cast(pa.array(k), pa.string()), "")
        ids = pc.if_else(pa.array(k > 0), pc.binary_join_element_wise(key, suffix, ""), key)

        pending: list[str] = []
        if cancel_rows.any():
            # A cancel removes the last copy of its id, so the ids left are
            # still ~0 .. ~(m-1), as a later download without them would be.
            want = Counter(key.filter(pa.array(cancel_rows)).to_pylist())
            keys = _np(key).astype(object)
            target = np.zeros(n, bool)
            target[live] = np.isin(keys[live], list(want))
            have = Counter(keys[target].tolist())
            cancelled = np.zeros(n, bool)
            for row in np.flatnonzero(target):
                cancelled[row] = k[row] >= have[keys[row]] - want[keys[row]]
            run.drop(cancelled, f"cancelled_by_{reason}")
            for kk, nc in want.items():
                pending += [kk] * max(0, nc - have.get(kk, 0))
            run.counts[f"pending:{reason}_target_not_in_file"] += len(pending)
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        return ids, no_id, pending

    def _times(self, run: _Run) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``t_start``, ``t_end`` and rows with a usable, plausible time."""
        spec = self.mapping.time
        col = run.s[spec.column]
        if spec.time_column:
            col = pc.binary_join_element_wise(col, run.s[spec.time_column], " ")
        start = parse_datetimes(col, spec.formats)
        blank = run.reject(
            run.blank(spec.column), spec.column, None, "missing_date", "date is blank"
        )
        formats = f"matches none of the formats {list(spec.formats)}"
        run.reject(~blank & np.isnat(start), spec.column, col, "unparseable_date", formats)
        ok = run.alive & ~np.isnat(start)
        if spec.precision == "month":
            start = start.astype("datetime64[M]").astype("datetime64[s]")
            end = (start.astype("datetime64[M]") + 1).astype("datetime64[s]")
        else:
            start = start.astype("datetime64[D]" if spec.precision == "day" else "datetime64[m]")
            start = start.astype("datetime64[s]")
            end = start + _STEP[spec.precision]
        late = np.zeros(len(start), bool)
        limits = []
        if spec.not_before is not None:
            late |= start < np.datetime64(spec.not_before, "s")
            limits.append(f"on or after {spec.not_before}")
        if spec.not_after is not None:
            late |= start >= np.datetime64(spec.not_after, "D") + np.timedelta64(1, "D")
            limits.append(f"on or before {spec.not_after}")
        if (ref := spec.before_month_of) is not None:
            rmonth = parse_datetimes(run.s[ref.column], (ref.format,)).astype("datetime64[M]")
            detail = f"expected a month in format {ref.format!r}"
            ok &= ~run.reject(
                ok & np.isnat(rmonth),
                ref.column,
                run.s[ref.column],
                "unparseable_reference_month",
                detail,
            )
            late |= ~np.isnat(rmonth) & (start >= (rmonth + ref.months).astype("datetime64[s]"))
            limits.append(f"before the start of {ref.column} + {ref.months} month(s)")
        if spec.implausible == "reject":
            detail = "the date must be " + " and ".join(limits)
            ok &= ~run.reject(ok & late, spec.column, col, "implausible_date", detail)
        else:
            ok &= ~run.drop(ok & late, "implausible_date")
        # Placeholders for rows that never reach the output (the schema's
        # time columns are not nullable).
        nat = np.isnat(start) | np.isnat(end)
        start = np.where(nat, np.datetime64(0, "s"), start)
        end = np.where(nat, np.datetime64(1, "s"), end)
        return start, end, ok

    def _locations(self, run: _Run, crs: str | None) -> dict[str, np.ndarray]:
        """lon/lat, x/y in ``store_crs``, precision, and rows not refused."""
        spec = self.mapping.location
        n = len(run.alive)
        store = f"EPSG:{spec.store_crs}"
        fx, fy = np.full(n, np.nan), np.full(n, np.nan)
        none, ok = np.ones(n, bool), np.ones(n, bool)
        if spec.x is not None and spec.y is not None and crs is not None:
            fx, fy, blank, bad, _, _ = parse_coords(run.s[spec.x], run.s[spec.y])
            xm, ym = np.isin(fx, spec.missing), np.isin(fy, spec.missing)
            none = blank | (xm & ym)
            bad = run.reject(
                ~none & (bad | xm | ym),
                spec.x,
                pc.binary_join_element_wise(run.s[spec.x], run.s[spec.y], " "),
                "unparseable_coordinate",
                "x/y must both be numbers, or both blank or missing markers",
            )
            ok &= ~bad
            fx, fy = np.where(none | bad, np.nan, fx), np.where(none | bad, np.nan, fy)
        if spec.address is not None and spec.lookup is not None:
            if self._points is None:
                self._points = self.mapping.address_points()
            idx, uniq = distinct(run.s[spec.address])
            pts = [self._points.get(str(a), (np.nan, np.nan)) for a in uniq.to_pylist()]
            ux, uy = np.array(pts, float).reshape(-1, 2)[idx].T
            use = none & ok & ~run.blank(spec.address)
            detail = "the address is not in the mapping's lookup table"
            unknown = run.reject(
                use & np.isnan(ux), spec.address, run.s[spec.address], "unknown_address", detail
            )
            ok &= ~unknown
            use &= ~unknown & ~np.isnan(ux)
            if use.any():
                tr = _transformer(spec.lookup.crs or crs or store, crs or store)
                fx[use], fy[use] = tr.transform(ux[use], uy[use])
                none &= ~use
        lon, lat, x, y = (np.full(n, np.nan) for _ in range(4))
        has = ~none & ok & np.isfinite(fx) & np.isfinite(fy)
        if has.any():
            lon[has], lat[has] = _transformer(crs or store, "EPSG:4326").transform(fx[has], fy[has])
            x[has], y[has] = _transformer(crs or store, store).transform(fx[has], fy[has])
        if spec.bounds is not None:
            w, so, e, no = spec.bounds
            out = has & ((lon < w) | (lon > e) | (lat < so) | (lat > no))
            shown = np.array([f"{a:.6f} {b:.6f}" for a, b in zip(lon, lat, strict=True)], object)
            detail = (
                f"the point (lon lat shown) is outside the mapping's bounds {list(spec.bounds)}"
            )
            ok &= ~run.reject(out, spec.x or spec.address, shown, "outside_bounds", detail)
        prec = "exact" if spec.x is None else spec.precision
        precision = np.where(has & ok, prec, "none").astype(object)
        return {"lon": lon, "lat": lat, "x": x, "y": y, "ok": ok, "precision": precision}

    def _attrs(
        self, s: dict[str, pa.ChunkedArray], good: np.ndarray, key: bytes | None
    ) -> pa.Array:
        """JSON object per output row: kept columns, and identifiers hashed."""
        m = self.mapping
        cols = m.attr_columns()
        if not cols:
            return pa.nulls(len(good), pa.string())
        rows = np.flatnonzero(good)
        values: dict[str, list[str | None]] = {}
        for c in cols:
            v = s[c].take(pa.array(rows)).to_pylist()
            if c in m.personal_identifiers:
                assert key is not None
                values[c] = _hashed(v, key)
            else:
                values[c] = [x if x else None for x in v]
        out: list[str | None] = [None] * len(good)
        for j, row in enumerate(rows):
            out[row] = json.dumps({c: values[c][j] for c in cols}, ensure_ascii=False)
        return pa.array(out, pa.string())


def _hashed(values: list[Any], key: bytes) -> list[str | None]:
    # Blank stays null: a hash of "" would be one linkable constant.
    cache: dict[str, str] = {}
    for x in values:
        if x and x not in cache:
            cache[x] = hash_identifier(x, key)
    return [cache[x] if x else None for x in values]


def _withhold(i: RowIssue) -> RowIssue:
    detail = i.detail + " (value withheld: the line may contain personal identifiers)"
    return RowIssue(i.file, i.row, i.column, None, i.reason, detail)


def _optional(s: dict[str, pa.ChunkedArray], col: str | None, n: int) -> pa.Array:
    return null_if_blank(s[col]) if col else pa.nulls(n, pa.string())
