"""Readers for data.police.uk downloads: street crime, outcomes, stop and search.

Column maps
-----------
Street files (``YYYY-MM-<force>-street.csv``)::

    Crime ID               -> incident_id (see below)
    Month                  -> t_start = first day of month, t_end = next month,
                              t_precision = "month"
    Falls within           -> force (slug taken from the file name when it
                              follows the data.police.uk pattern)
    Longitude, Latitude    -> lon, lat; x, y in British National Grid
                              (EPSG:27700); loc_precision = "snap"
    Location               -> location (blank "On or near " -> null)
    LSOA code              -> lsoa
    Crime type             -> raw_category; category via POLICE_UK_LABELS
    Last outcome category  -> outcome

Known caveats (see the shared data README)
------------------------------------------
* Times are month-only. Locations are snapped to anonymous map points.
* Anti-social behaviour has no Crime ID and no outcome, and many rows are
  byte-identical: they are separate incidents and are all kept. Their id is
  built from force, month, category and snap point plus the occurrence index
  ``~k`` of identical rows, so a re-download of the same month maps onto the
  same ids whatever its row order.
* A Crime ID may appear twice in one file (North Yorkshire, usually with
  different outcomes): both rows are kept, the second as ``<id>~1``, and
  counted as ``kept:duplicate_crime_id_in_file``. A Crime ID seen again in a
  later file updates the stored incident's outcome instead of adding a row.
* Rows without coordinates also lack an LSOA; they are kept and flagged
  ``loc_precision = "none"``.
* Some crimes are located outside the force area (elsewhere in England and
  Wales); they are kept. Coordinates outside the UK are rejected.
* LSOA codes are 2011 codes up to 2023-02 and 2021 codes afterwards.
* Outcomes files: ``Month`` is the month of the outcome, not of the crime.
* Stop-and-search files have ISO timestamps with a time of day and no LSOA;
  they are stored in their own table, never mixed with crimes.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crimemap.errors import IngestError, UnmappedLabelsError
from crimemap.ingest._csv import header_of, parse_csv
from crimemap.ingest._io import SourceFile
from crimemap.ingest._validate import (
    UK_BOUNDS,
    decode,
    distinct,
    issues_for,
    null_if_blank,
    occurrence_index,
    parse_coords,
)
from crimemap.ingest.base import ReadContext, ReadResult, register_reader
from crimemap.table import INCIDENT_SCHEMA
from crimemap.taxonomy import POLICE_UK_LABELS

__all__ = [
    "PoliceUKStreetReader",
    "PoliceUKOutcomesReader",
    "PoliceUKStopSearchReader",
    "STREET_COLUMNS",
    "OUTCOME_COLUMNS",
    "STOP_SEARCH_COLUMNS",
    "OUTCOMES_SCHEMA",
    "STOP_SEARCH_SCHEMA",
]

SOURCE = "police.uk"
STREET_COLUMNS = (
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
)
OUTCOME_COLUMNS = (
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Outcome type",
)
STOP_SEARCH_COLUMNS = (
    "Type",
    "Date",
    "Part of a policing operation",
    "Policing operation",
    "Latitude",
    "Longitude",
    "Gender",
    "Age range",
    "Self-defined ethnicity",
    "Officer-defined ethnicity",
    "Legislation",
    "Object of search",
    "Outcome",
    "Outcome linked to object of search",
    "Removal of more than just outer clothing",
)
_STREET_USED = (
    "Crime ID",
    "Month",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "Crime type",
    "Last outcome category",
)
#: Few distinct values per file: parsed dictionary-encoded, validated per value.
_STREET_DICT = (
    "Month",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "Crime type",
    "Last outcome category",
)
_NAME_RE = re.compile(r"^(\d{4})-(\d{2})-(.+)-(street|outcomes|stop-and-search)\.csv$")
_MONTH_RE = r"^\d{4}-(0[1-9]|1[0-2])$"

OUTCOMES_SCHEMA = pa.schema(
    [
        ("crime_id", pa.string()),
        ("force", pa.string()),
        ("month", pa.timestamp("s")),
        ("outcome", pa.string()),
        ("lsoa", pa.string()),
        ("file_id", pa.int64()),
        ("row_no", pa.int64()),
    ]
)
STOP_SEARCH_SCHEMA = pa.schema(
    [
        ("force", pa.string()),
        ("type", pa.string()),
        ("t", pa.timestamp("s", tz="UTC")),
        ("operation", pa.string()),
        ("lon", pa.float64()),
        ("lat", pa.float64()),
        ("x", pa.float64()),
        ("y", pa.float64()),
        ("gender", pa.string()),
        ("age_range", pa.string()),
        ("self_defined_ethnicity", pa.string()),
        ("officer_defined_ethnicity", pa.string()),
        ("legislation", pa.string()),
        ("object_of_search", pa.string()),
        ("outcome", pa.string()),
        ("outcome_linked", pa.string()),
        ("removal_of_clothing", pa.string()),
        ("file_id", pa.int64()),
        ("row_no", pa.int64()),
    ]
)


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[: -len("-police")] if s.endswith("-police") else s


def _force_from(src: SourceFile, falls_within: pa.ChunkedArray) -> pa.Array:
    m = _NAME_RE.match(src.basename)
    if m:
        return pa.repeat(pa.scalar(m.group(3)), len(falls_within))
    idx, uniq = distinct(falls_within)
    slugs = pa.array([_slug(lab) or "unknown" for lab in uniq.to_pylist()], pa.string())
    return slugs.take(pa.array(idx))


def _months(
    name: str,
    col: pa.ChunkedArray,
    lines: np.ndarray,
    column: str = "Month",
    expected: str | None = None,
):
    """Validity, start, end and issues per row, plus rows whose month differs from ``expected``."""
    # Validate the few distinct values, then map back to rows.
    idx, uniq = distinct(col)
    uok = pc.match_substring_regex(uniq, _MONTH_RE).to_numpy(zero_copy_only=False)
    ok = uok[idx]
    issues = issues_for(name, ~ok, lines, column, col, "unparseable_month", "expected YYYY-MM")
    clean = pc.if_else(pa.array(uok), uniq, pa.scalar("1970-01"))
    ustart = pc.strptime(pc.binary_join_element_wise(clean, "01", "-"), "%Y-%m-%d", "s").to_numpy(
        zero_copy_only=False
    )
    uend = (ustart.astype("datetime64[M]") + 1).astype("datetime64[s]")
    differs = np.zeros(len(idx), bool)
    if expected is not None:
        differs = (uok & pc.not_equal(uniq, expected).to_numpy(zero_copy_only=False))[idx]
    return ok, pa.array(ustart[idx], pa.timestamp("s")), uend[idx], issues, differs


def _coords(name: str, t: pa.Table, lines: np.ndarray):
    lon, lat, missing, bad, px, py = parse_coords(
        t["Longitude"], t["Latitude"], src_crs=4326, dst_crs=27700
    )
    issues = issues_for(
        name,
        bad,
        lines,
        "Longitude",
        t["Longitude"],
        "unparseable_coordinate",
        "longitude/latitude must both be numbers or both be blank",
    )
    rng = ~missing & ~bad & ((np.abs(lon) > 180) | (np.abs(lat) > 90))
    issues += issues_for(
        name,
        rng,
        lines,
        "Longitude",
        t["Longitude"],
        "coordinate_out_of_range",
        "longitude must be within ±180 and latitude within ±90",
    )
    w, s, e, n = UK_BOUNDS
    out = ~missing & ~bad & ~rng & ((lon < w) | (lon > e) | (lat < s) | (lat > n))
    issues += issues_for(
        name,
        out,
        lines,
        "Longitude",
        t["Longitude"],
        "outside_uk",
        f"point ({'{'}lon{'}'}, {'{'}lat{'}'}) is outside the UK bounds {UK_BOUNDS}",
    )
    ok = ~missing & ~bad & ~rng & ~out
    x = np.where(ok, px, np.nan)
    y = np.where(ok, py, np.nan)
    return lon, lat, x, y, missing, ok | missing, issues


@register_reader("police.uk-street")
class PoliceUKStreetReader:
    """data.police.uk street-level crime files."""

    name = "police.uk-street"
    target = "incidents"

    def sniff(self, src: SourceFile) -> bool:
        if src.basename.endswith("-street.csv"):
            return True
        try:
            head = header_of(src.raw[:4096] if not src.name.endswith(".gz") else src.data[:4096])
        except IngestError:
            return False  # not this reader's file; parse_csv reports the bad header
        return head[:3] == list(STREET_COLUMNS[:3])

    def read(self, src: SourceFile, ctx: ReadContext) -> ReadResult:
        p = parse_csv(src, required=STREET_COLUMNS, columns=_STREET_USED, dictionary=_STREET_DICT)
        t, lines, name = p.table, p.lines, src.name
        rejects = list(p.issues)
        counts: Counter[str] = Counter()
        n = t.num_rows
        m = _NAME_RE.match(src.basename)

        month_ok, t_start, t_end, iss, differs = _months(
            name, t["Month"], lines, expected=f"{m.group(1)}-{m.group(2)}" if m else None
        )
        rejects += iss
        counts["kept:month_differs_from_file_name"] += int(differs.sum())
        lon, lat, x, y, missing, coord_ok, iss = _coords(name, t, lines)
        rejects += iss

        # Categories: validated and mapped once per distinct label.
        ci, cu = distinct(t["Crime type"])
        labels = cu.to_pylist()
        unmapped = {lab for lab in labels if lab not in POLICE_UK_LABELS and lab.strip()}
        if unmapped:
            per_label = np.bincount(ci, minlength=len(labels))
            raise UnmappedLabelsError(
                name,
                "Crime type",
                {lab: int(k) for lab, k in zip(labels, per_label, strict=True) if lab in unmapped},
            )
        blank_u = np.array([not lab.strip() for lab in labels], bool)
        blank_cat = blank_u[ci]
        rejects += issues_for(
            name, blank_cat, lines, "Crime type", None, "missing_category", "Crime type is blank"
        )
        ci_arr = pa.array(ci)
        raw_cat = cu.take(ci_arr)
        # Blank labels map to a placeholder; their rows are rejected below.
        cat = pa.array(
            [POLICE_UK_LABELS.get(lab, "other-crime") for lab in labels], pa.string()
        ).take(ci_arr)

        force = _force_from(src, t["Falls within"])

        # Stable ids (see module docstring): Crime IDs where present, a
        # content key for records without one; ~k for the k-th repeat.
        crime_id = t["Crime ID"].combine_chunks()
        no_id = pc.equal(crime_id, "").to_numpy(zero_copy_only=False)
        # k-th repeat of each Crime ID (the blank ids share one key: ignored).
        k_c = np.where(no_id, 0, occurrence_index(crime_id))
        keys, k = crime_id, k_c
        if no_id.any():
            sel = pa.array(np.flatnonzero(no_id))
            content_key = pc.binary_join_element_wise(
                cat.take(sel),
                force.take(sel),
                decode(t["Month"].take(sel)),
                decode(t["Longitude"].take(sel)),
                decode(t["Latitude"].take(sel)),
                pc.if_else(
                    pa.array(missing[no_id]), decode(t["Location"].take(sel)), pa.scalar("")
                ),
                ":",
            )
            if isinstance(content_key, pa.ChunkedArray):
                content_key = content_key.combine_chunks()
            k_a = occurrence_index(content_key)
            counts["kept:repeated_record_without_id"] += int((k_a > 0).sum())
            # One copy of the id column: content keys written into the blank ids.
            keys = pc.replace_with_mask(crime_id, pa.array(no_id), content_key)
            k = k_c.copy()
            k[no_id] = k_a
        incident_id = _suffixed(keys, k)
        counts["kept:duplicate_crime_id_in_file"] += int((k_c > 0).sum())
        counts["kept:no_location"] += int(missing.sum())

        # Place names: validated on the distinct values.
        li, lu = distinct(t["Location"])
        trimmed = pc.utf8_trim_whitespace(lu)
        blank_place_u = pc.equal(trimmed, "On or near").to_numpy(zero_copy_only=False)
        blank_u = pc.equal(trimmed, "").to_numpy(zero_copy_only=False)
        counts["repaired:blank_place_name"] += int((blank_place_u[li] & ~missing).sum())
        # Rows without coordinates get no place name either.
        null_u = blank_place_u | blank_u
        if missing.any():
            li = np.where(missing, len(lu), li)
            null_u = np.append(null_u, True)
            lu = pa.concat_arrays([lu, pa.array([""], lu.type)])
        location = pc.if_else(pa.array(null_u), pa.scalar(None, pa.string()), lu).take(pa.array(li))

        good = month_ok & coord_ok & ~blank_cat
        out = pa.table(
            {
                "incident_id": incident_id,
                "source": pa.repeat(pa.scalar(SOURCE), n),
                "force": force,
                "category": cat,
                "raw_category": raw_cat,
                "t_start": t_start,
                "t_end": pa.array(t_end, pa.timestamp("s")),
                "t_precision": pa.repeat(pa.scalar("month"), n),
                "lon": _floats(lon),
                "lat": _floats(lat),
                "x": _floats(x),
                "y": _floats(y),
                "crs": pa.array(np.full(n, 27700, dtype=np.int32)),
                "loc_precision": pc.if_else(pa.array(missing), "none", "snap"),
                "location": location,
                "lsoa": null_if_blank(t["LSOA code"]),
                "outcome": null_if_blank(t["Last outcome category"]),
                "file_id": pa.array(np.full(n, ctx.file_id, dtype=np.int64)),
                "row_no": pa.array(lines, pa.int64()),
                "attrs": pa.nulls(n, pa.string()),
            },
            schema=INCIDENT_SCHEMA,
        )
        if not good.all():
            out = out.filter(pa.array(good))
        return ReadResult("incidents", out, rejects, counts, n + _n_field_rejects(p.issues), SOURCE)


def _floats(v: np.ndarray) -> pa.Array:
    """Float column with NaN as null (without pyarrow's pandas conversion path)."""
    return pa.array(v, pa.float64(), mask=np.isnan(v))


def _suffixed(keys: pa.Array, k: np.ndarray) -> pa.Array:
    """Keys with ``~k`` appended to the k-th repeat (k > 0)."""
    rep = k > 0
    if not rep.any():
        return keys
    suffix = pc.binary_join_element_wise(pa.scalar("~"), pc.cast(pa.array(k), pa.string()), "")
    return pc.if_else(pa.array(rep), pc.binary_join_element_wise(keys, suffix, ""), keys)


def _n_field_rejects(issues: list) -> int:
    return sum(1 for i in issues if i.reason in ("wrong_field_count", "invalid_utf8"))


@register_reader("police.uk-outcomes")
class PoliceUKOutcomesReader:
    """data.police.uk outcomes files: they update the outcome of known crimes."""

    name = "police.uk-outcomes"
    target = "outcomes"

    def sniff(self, src: SourceFile) -> bool:
        return src.basename.endswith("-outcomes.csv")

    def read(self, src: SourceFile, ctx: ReadContext) -> ReadResult:
        p = parse_csv(src, required=OUTCOME_COLUMNS)
        t, lines, name = p.table, p.lines, src.name
        rejects = list(p.issues)
        n = t.num_rows
        month_ok, t_start, _, iss, _ = _months(name, t["Month"], lines)
        rejects += iss
        cid = pc.utf8_trim_whitespace(t["Crime ID"])
        no_id = pc.equal(cid, "").to_numpy(zero_copy_only=False)
        rejects += issues_for(
            name, no_id, lines, "Crime ID", None, "missing_crime_id", "an outcome needs a Crime ID"
        )
        good = month_ok & ~no_id
        out = pa.table(
            {
                "crime_id": cid,
                "force": _force_from(src, t["Falls within"]),
                "month": t_start,
                "outcome": null_if_blank(t["Outcome type"]),
                "lsoa": null_if_blank(t["LSOA code"]),
                "file_id": pa.array(np.full(n, ctx.file_id, dtype=np.int64)),
                "row_no": pa.array(lines, pa.int64()),
            },
            schema=OUTCOMES_SCHEMA,
        ).filter(pa.array(good))
        return ReadResult(
            "outcomes", out, rejects, Counter(), n + _n_field_rejects(p.issues), SOURCE
        )


@register_reader("police.uk-stop-and-search")
class PoliceUKStopSearchReader:
    """data.police.uk stop-and-search files (their own table)."""

    name = "police.uk-stop-and-search"
    target = "stop_search"

    def sniff(self, src: SourceFile) -> bool:
        return src.basename.endswith("-stop-and-search.csv")

    def read(self, src: SourceFile, ctx: ReadContext) -> ReadResult:
        p = parse_csv(src, required=STOP_SEARCH_COLUMNS)
        t, lines, name = p.table, p.lines, src.name
        rejects = list(p.issues)
        counts: Counter[str] = Counter()
        n = t.num_rows
        date = t["Date"]
        ts = pc.strptime(date, "%Y-%m-%dT%H:%M:%S%z", "s", error_is_null=True)
        bad_date = ts.is_null().to_numpy(zero_copy_only=False)
        rejects += issues_for(
            name,
            bad_date,
            lines,
            "Date",
            date,
            "unparseable_date",
            "expected an ISO timestamp like 2021-06-01T02:38:00+00:00",
        )
        lon, lat, x, y, missing, coord_ok, iss = _coords(name, t, lines)
        rejects += iss
        counts["kept:no_location"] += int(missing.sum())
        m = _NAME_RE.match(src.basename)
        if m:
            month = np.datetime64(f"{m.group(1)}-{m.group(2)}", "M")
            tm = ts.to_numpy(zero_copy_only=False).astype("datetime64[M]")
            counts["kept:dated_outside_file_month"] += int(((tm != month) & ~bad_date).sum())
        good = ~bad_date & coord_ok
        cols = {
            "force": pa.array([m.group(3) if m else "unknown"] * n, pa.string()),
            "type": t["Type"],
            "t": ts,
            "operation": null_if_blank(t["Policing operation"]),
            "lon": _floats(lon),
            "lat": _floats(lat),
            "x": _floats(x),
            "y": _floats(y),
            "gender": null_if_blank(t["Gender"]),
            "age_range": null_if_blank(t["Age range"]),
            "self_defined_ethnicity": null_if_blank(t["Self-defined ethnicity"]),
            "officer_defined_ethnicity": null_if_blank(t["Officer-defined ethnicity"]),
            "legislation": null_if_blank(t["Legislation"]),
            "object_of_search": null_if_blank(t["Object of search"]),
            "outcome": null_if_blank(t["Outcome"]),
            "outcome_linked": null_if_blank(t["Outcome linked to object of search"]),
            "removal_of_clothing": null_if_blank(t["Removal of more than just outer clothing"]),
            "file_id": pa.array(np.full(n, ctx.file_id, dtype=np.int64)),
            "row_no": pa.array(lines, pa.int64()),
        }
        out = pa.table(cols, schema=STOP_SEARCH_SCHEMA).filter(pa.array(good))
        return ReadResult(
            "stop_search", out, rejects, counts, n + _n_field_rejects(p.issues), SOURCE
        )
