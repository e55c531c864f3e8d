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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import CRS, Transformer

from crimemap.errors import ConfigError, IngestError, RowIssue, UnmappedLabelsError
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


def apply_cancellations(incidents: pa.Table, cancels: list[str] | tuple[str, ...]) -> pa.Table:
    """Drop one incident per cancelled id: the copy with the highest ``~k``.

    For cancels that reach across files of one batch. ``cancels`` may repeat
    an id (one entry per cancelling row); ids not present are ignored.
    """
    if not cancels or incidents.num_rows == 0:
        return incidents
    want = Counter(cancels)
    ids = incidents["incident_id"].to_pylist()
    copies: dict[str, list[tuple[int, int]]] = {}
    for row, iid in enumerate(ids):
        base, sep, k = iid.rpartition("~")
        if not sep or not k.isdigit():
            base, k = iid, "0"
        if base in want:
            copies.setdefault(base, []).append((int(k), row))
    drop = np.zeros(len(ids), bool)
    for base, rows in copies.items():
        for _, row in sorted(rows, reverse=True)[: want[base]]:
            drop[row] = True
    return incidents.filter(pa.array(~drop))


def _transformer(src: str, dst: str) -> Transformer:
    key = (src, dst)
    if key not in _TRANSFORMERS:
        _TRANSFORMERS[key] = Transformer.from_crs(
            CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True
        )
    return _TRANSFORMERS[key]


def _np(a: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(a.to_numpy(zero_copy_only=False))


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
        self._lookup: dict[str, tuple[float, float]] | None = None

    def sniff(self, src: SourceFile) -> bool:
        """True if the file has every column the mapping needs."""
        if self.mapping.format == "shapefile":
            return src.name.lower().endswith(".zip")
        try:
            header = header_of(src.data[:65536])
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
        name, n = src.name, t.num_rows
        s = {c: pc.utf8_trim_whitespace(t[c]) for c in m.required_columns()}
        counts: Counter[str] = Counter()
        rejects: list[RowIssue] = []
        alive = np.ones(n, bool)

        cancel_rows = np.zeros(n, bool)
        cancel_reason = ""
        for rule in m.rules:
            hit = rule.when.mask(s[rule.when.column]) & alive
            counts[f"dropped:{rule.reason}"] += int(hit.sum())
            alive &= ~hit
            if rule.cancels:
                cancel_rows |= hit
                cancel_reason = rule.reason

        cat, raw_cat, bad_cat, iss = self._categories(name, s, lines, alive, counts)
        rejects += iss
        alive &= cat != DROP

        incident_id, no_id, cancelled, pending, iss = self._ids(
            name, s, lines, alive, cancel_rows, cancel_reason, counts
        )
        rejects += iss
        alive &= ~cancelled

        t_start, t_end, time_ok, time_dropped, iss = self._times(name, s, lines, alive, counts)
        rejects += iss
        alive &= ~time_dropped
        loc, iss = self._locations(name, t, s, lines, alive, crs, counts)
        rejects += iss

        good = alive & ~bad_cat & ~no_id & time_ok & loc["ok"]
        counts["kept:no_location"] += int((good & (loc["precision"] == "none")).sum())
        attrs = self._attrs(s, good, ctx.pii_key)
        out = pa.table(
            {
                "incident_id": incident_id,
                "source": pa.repeat(pa.scalar(m.source), n),
                "force": pa.repeat(pa.scalar(m.force), n),
                "category": pa.array(cat, pa.string()),
                "raw_category": null_if_blank(raw_cat),
                "t_start": pa.array(t_start, pa.timestamp("s")),
                "t_end": pa.array(t_end, pa.timestamp("s")),
                "t_precision": pa.repeat(pa.scalar(m.time.precision), n),
                "lon": pa.array(loc["lon"], from_pandas=True),
                "lat": pa.array(loc["lat"], from_pandas=True),
                "x": pa.array(loc["x"], from_pandas=True),
                "y": pa.array(loc["y"], from_pandas=True),
                "crs": pa.array(np.full(n, m.location.store_crs, dtype=np.int32)),
                "loc_precision": pa.array(loc["precision"], pa.string()),
                "location": _optional(s, m.location.text, n),
                "lsoa": _optional(s, m.location.lsoa, n),
                "outcome": _optional(s, m.outcome, n),
                "file_id": pa.array(np.full(n, ctx.file_id, dtype=np.int64)),
                "row_no": pa.array(lines, pa.int64()),
                "attrs": attrs,
            },
            schema=INCIDENT_SCHEMA,
        ).filter(pa.array(good))
        if m.personal_identifiers:
            # A malformed line is quoted whole in its issue: withhold it, as
            # it may hold identifiers in clear.
            pre = [_withhold(i) if i.value is not None else i for i in pre]
        n_unparsed = sum(1 for i in pre if i.reason in ("wrong_field_count", "invalid_utf8"))
        return PartnerReadResult(
            "incidents",
            out,
            pre + sorted(rejects, key=lambda i: (i.row or 0, i.reason)),
            +counts,
            n + n_unparsed,
            m.source,
            tuple(pending),
        )

    # ----------------------------------------------------------------- steps
    def _parse(self, src: SourceFile) -> tuple[pa.Table, np.ndarray, list[RowIssue], str | None]:
        m = self.mapping
        crs = m.location.crs
        if m.format == "shapefile":
            p = read_zipped_shapefile(src, encoding=m.encoding)
            t, lines, issues, header = p.table, p.lines, [], p.header
            if crs == "prj":
                if p.prj is None:
                    raise IngestError(
                        [RowIssue(src.name, None, None, None, "no_prj", "crs: prj but no .prj")]
                    )
                crs = p.prj
            header_row: int | None = None
        else:
            pc_ = parse_csv(src, required=(), encoding=m.encoding, invalid_utf8=m.invalid_utf8)
            t, lines, issues, header = pc_.table, pc_.lines, list(pc_.issues), pc_.header
            if len(t.column_names) == len(header):
                t = t.rename_columns(header)
            header_row = 1
        ren = m.renames(header)
        missing = m.missing_columns(header)
        if missing:
            raise IngestError(
                [
                    RowIssue(
                        src.name,
                        header_row,
                        c,
                        ",".join(header)[:200],
                        "missing_column",
                        f"the mapping {m.origin} needs column {c!r}"
                        + (f" (or an alias: {', '.join(m.aliases[c])})" if c in m.aliases else ""),
                    )
                    for c in missing
                ]
            )
        if ren:
            t = t.rename_columns([ren.get(c, c) for c in t.column_names])
        return t, lines, issues, crs

    def _categories(
        self,
        name: str,
        s: dict[str, pa.ChunkedArray],
        lines: np.ndarray,
        alive: np.ndarray,
        counts: Counter[str],
    ) -> tuple[np.ndarray, pa.ChunkedArray, np.ndarray, list[RowIssue]]:
        spec = self.mapping.category
        raw = s[spec.column]
        idx, uniq = distinct(raw)
        keys = [spec.key_of(str(v)) for v in uniq.to_pylist()]
        ukey = np.array(keys, dtype=object)
        uslug = np.array([spec.slug_of(k) for k in keys], dtype=object)
        key, slug = ukey[idx], uslug[idx]
        blank = alive & (key == "")
        issues = issues_for(
            name,
            blank,
            lines,
            spec.column,
            raw,
            "missing_category",
            "no category key could be derived from this value",
        )
        unmapped = alive & ~blank & (slug == None)  # noqa: E711  (object array)
        if unmapped.any():
            if spec.unmapped == "error":
                found = Counter(key[unmapped].tolist())
                raise UnmappedLabelsError(name, spec.column, dict(found))
            if spec.unmapped == DROP:
                counts["dropped:unmapped_category"] += int(unmapped.sum())
                slug = np.where(unmapped, DROP, slug)
            else:
                counts[f"kept:unmapped_category_as_{spec.unmapped}"] += int(unmapped.sum())
                slug = np.where(unmapped, spec.unmapped, slug)
        counts["dropped:excluded_category"] += int((alive & (slug == DROP)).sum())
        # Placeholders for rows that never reach the output.
        slug = np.where((slug == None) | blank, "other-crime", slug)  # noqa: E711
        return slug.astype(object), raw, blank, issues

    def _ids(
        self,
        name: str,
        s: dict[str, pa.ChunkedArray],
        lines: np.ndarray,
        alive: np.ndarray,
        cancel_rows: np.ndarray,
        reason: str,
        counts: Counter[str],
    ) -> tuple[pa.Array, np.ndarray, np.ndarray, list[str], list[RowIssue]]:
        m = self.mapping
        n = len(alive)
        issues: list[RowIssue] = []
        no_id = np.zeros(n, bool)
        if m.id is not None:
            for c in m.id.columns:
                blank = alive & ~no_id & _np(pc.equal(s[c], "")).astype(bool)
                issues += issues_for(
                    name, blank, lines, c, None, "missing_id", f"id column {c!r} is blank"
                )
                no_id |= blank
            parts = [s[c] for c in m.id.columns]
        else:
            # No id in the source: the content identifies the record, and
            # identical records are told apart by their occurrence index.
            parts = [s[c] for c in m.content_columns()]
        key = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, ":")
        key = pc.binary_join_element_wise(pa.scalar(m.source), key, ":")
        live = alive & ~no_id
        k = np.zeros(n, np.int64)
        live_idx = np.flatnonzero(live)
        k[live_idx] = occurrence_index(key.take(pa.array(live_idx)))
        counts["kept:repeated_id_in_file"] += int((k > 0).sum())
        suffix = pc.binary_join_element_wise(pa.scalar("~"), pc.cast(pa.array(k), pa.string()), "")
        ids = pc.if_else(pa.array(k > 0), pc.binary_join_element_wise(key, suffix, ""), key)

        cancelled = np.zeros(n, bool)
        pending: list[str] = []
        if cancel_rows.any():
            want = Counter(key.filter(pa.array(cancel_rows)).to_pylist())
            keys_np = _np(key).astype(object)
            target = live & _np(pc.is_in(key, pa.array(list(want), pa.string()))).astype(bool)
            have = Counter(keys_np[target].tolist())
            for row in np.flatnonzero(target):
                kk = keys_np[row]
                if k[row] >= have[kk] - want[kk]:
                    cancelled[row] = True
            for kk, nc in want.items():
                pending += [kk] * max(0, nc - have.get(kk, 0))
            counts[f"dropped:cancelled_by_{reason}"] += int(cancelled.sum())
            counts[f"pending:{reason}_target_not_in_file"] += len(pending)
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        return ids, no_id, cancelled, pending, issues

    def _times(
        self,
        name: str,
        s: dict[str, pa.ChunkedArray],
        lines: np.ndarray,
        alive: np.ndarray,
        counts: Counter[str],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[RowIssue]]:
        spec = self.mapping.time
        col = s[spec.column]
        if spec.time_column:
            col = pc.binary_join_element_wise(col, s[spec.time_column], " ")
        start = parse_datetimes(col, spec.formats)
        blank = _np(pc.equal(s[spec.column], "")).astype(bool)
        issues = issues_for(
            name, alive & blank, lines, spec.column, None, "missing_date", "the date is blank"
        )
        bad = alive & ~blank & np.isnat(start)
        issues += issues_for(
            name,
            bad,
            lines,
            spec.column,
            col,
            "unparseable_date",
            f"matches none of the formats {list(spec.formats)}",
        )
        ok = alive & ~np.isnat(start)
        if spec.precision == "month":
            start = start.astype("datetime64[M]").astype("datetime64[s]")
            end = (start.astype("datetime64[M]") + 1).astype("datetime64[s]")
        else:
            start = start.astype(f"datetime64[{'D' if spec.precision == 'day' else 'm'}]")
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
        if spec.before_month_of is not None:
            ref = spec.before_month_of
            rmonth = parse_datetimes(s[ref.column], (ref.format,)).astype("datetime64[M]")
            no_ref = ok & np.isnat(rmonth)
            issues += issues_for(
                name,
                no_ref,
                lines,
                ref.column,
                s[ref.column],
                "unparseable_reference_month",
                f"expected a month in format {ref.format!r}",
            )
            ok &= ~no_ref
            limit = (rmonth + ref.months).astype("datetime64[s]")
            late |= ~np.isnat(rmonth) & (start >= limit)
            limits.append(f"before the start of {ref.column} + {ref.months} month(s)")
        implausible = ok & late
        dropped = np.zeros(len(start), bool)
        if spec.implausible == "reject":
            issues += issues_for(
                name,
                implausible,
                lines,
                spec.column,
                col,
                "implausible_date",
                "the date must be " + " and ".join(limits),
            )
        else:
            counts["dropped:implausible_date"] += int(implausible.sum())
            dropped = implausible
        ok &= ~implausible
        # Placeholders for rows that never reach the output (the schema's
        # time columns are not nullable).
        nat = np.isnat(start) | np.isnat(end)
        start = np.where(nat, np.datetime64(0, "s"), start)
        end = np.where(nat, np.datetime64(1, "s"), end)
        return start, end, ok, dropped, issues

    def _locations(
        self,
        name: str,
        t: pa.Table,
        s: dict[str, pa.ChunkedArray],
        lines: np.ndarray,
        alive: np.ndarray,
        crs: str | None,
        counts: Counter[str],
    ) -> tuple[dict[str, np.ndarray], list[RowIssue]]:
        spec = self.mapping.location
        n = len(alive)
        store = f"EPSG:{spec.store_crs}"
        fx = np.full(n, np.nan)
        fy = np.full(n, np.nan)
        none = np.ones(n, bool)
        ok = np.ones(n, bool)
        issues: list[RowIssue] = []
        if spec.x is not None and spec.y is not None and crs is not None:
            fx, fy, blank, bad, _, _ = parse_coords(s[spec.x], s[spec.y])
            xm = np.isin(fx, spec.missing)
            ym = np.isin(fy, spec.missing)
            none = blank | (xm & ym)
            bad = alive & ~none & (bad | xm | ym)
            issues += issues_for(
                name,
                bad,
                lines,
                spec.x,
                pc.binary_join_element_wise(s[spec.x], s[spec.y], " "),
                "unparseable_coordinate",
                "x/y must both be numbers, or both blank/missing markers",
            )
            ok &= ~bad
            fx = np.where(none | bad, np.nan, fx)
            fy = np.where(none | bad, np.nan, fy)
        if spec.address is not None:
            addr = s[spec.address]
            idx, uniq = distinct(addr)
            table = self._address_points()
            pts = [table.get(str(a)) for a in uniq.to_pylist()]
            ux = np.array([p[0] if p else np.nan for p in pts])[idx]
            uy = np.array([p[1] if p else np.nan for p in pts])[idx]
            use = none & ok & ~_np(pc.equal(addr, "")).astype(bool)
            unknown = alive & use & np.isnan(ux)
            issues += issues_for(
                name,
                unknown,
                lines,
                spec.address,
                addr,
                "unknown_address",
                "the address is not in the mapping's lookup table",
            )
            ok &= ~unknown
            lk = spec.lookup
            assert lk is not None
            src_crs = lk.crs or crs or store
            use &= ~unknown
            if use.any():
                ax, ay = _transformer(src_crs, crs or store).transform(ux[use], uy[use])
                fx[use], fy[use] = ax, ay
                none = none & ~use
        lon = np.full(n, np.nan)
        lat = np.full(n, np.nan)
        x = np.full(n, np.nan)
        y = np.full(n, np.nan)
        has = ~none & ok & np.isfinite(fx) & np.isfinite(fy)
        if has.any() and crs is not None:
            lon[has], lat[has] = _transformer(crs, "EPSG:4326").transform(fx[has], fy[has])
            x[has], y[has] = _transformer(crs, store).transform(fx[has], fy[has])
        elif has.any():
            lon[has], lat[has] = _transformer(store, "EPSG:4326").transform(fx[has], fy[has])
            x[has], y[has] = fx[has], fy[has]
        if spec.bounds is not None:
            w, so, e, no = spec.bounds
            out = alive & has & ((lon < w) | (lon > e) | (lat < so) | (lat > no))
            issues += issues_for(
                name,
                out,
                lines,
                spec.x or spec.address,
                np.array([f"{a:.6f} {b:.6f}" for a, b in zip(lon, lat, strict=True)], dtype=object)
                if out.any()
                else None,
                "outside_bounds",
                f"the point (lon lat shown) is outside the mapping's bounds {list(spec.bounds)}",
            )
            ok &= ~out
        prec = "exact" if spec.x is None else spec.precision
        precision = np.where(has & ok, prec, "none").astype(object)
        return {"lon": lon, "lat": lat, "x": x, "y": y, "ok": ok, "precision": precision}, issues

    def _address_points(self) -> dict[str, tuple[float, float]]:
        if self._lookup is None:
            self._lookup = self.mapping.address_points()
        return self._lookup

    def _attrs(
        self, s: dict[str, pa.ChunkedArray], good: np.ndarray, key: bytes | None
    ) -> pa.Array:
        m = self.mapping
        n = len(good)
        cols = m.attr_columns()
        if not cols:
            return pa.nulls(n, pa.string())
        rows = np.flatnonzero(good)
        take = pa.array(rows)
        values: dict[str, list[Any]] = {}
        for c in cols:
            v = s[c].take(take).to_pylist()
            if c in m.personal_identifiers:
                assert key is not None
                v = _hashed(v, key)
            else:
                v = [x if x else None for x in v]
            values[c] = v
        out: list[str | None] = [None] * n
        for j, row in enumerate(rows):
            out[row] = json.dumps({c: values[c][j] for c in cols}, ensure_ascii=False)
        return pa.array(out, pa.string())


def _hashed(values: list[Any], key: bytes) -> list[str | None]:
    # Blank stays null: a hash of "" would be one linkable constant.
    cache: dict[str, str] = {}
    out: list[str | None] = []
    for x in values:
        if not x:
            out.append(None)
            continue
        if x not in cache:
            cache[x] = hash_identifier(x, key)
        out.append(cache[x])
    return out


def _withhold(i: RowIssue) -> RowIssue:
    return RowIssue(
        i.file,
        i.row,
        i.column,
        None,
        i.reason,
        i.detail + " (value withheld: the line may contain personal identifiers)",
    )


def _optional(s: dict[str, pa.ChunkedArray], col: str | None, n: int) -> pa.Array:
    return null_if_blank(s[col]) if col else pa.nulls(n, pa.string())
