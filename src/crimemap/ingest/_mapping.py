"""The partner mapping file: a validated, frozen model of one YAML mapping.

A mapping tells :class:`crimemap.ingest.partner.PartnerReader` how to turn
one partner's extract (council, social services, a non-UK police force) into
incidents: which columns hold the id, time, place and category, how to parse
them, which rows to drop and why, and which columns are personal identifiers
or free text. ``docs/partner-data.md`` documents every key with examples.

Every problem in a mapping raises :class:`~crimemap.errors.ConfigError`
naming the mapping file, the key and the problem, before any data is read.
"""

from __future__ import annotations

import csv
import re
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pyproj import CRS
from pyproj.exceptions import CRSError

from crimemap.errors import ConfigError
from crimemap.taxonomy import CATEGORY_SLUGS

__all__ = [
    "Condition",
    "Rule",
    "IdSpec",
    "MonthRef",
    "TimeSpec",
    "LookupSpec",
    "LocationSpec",
    "CategorySpec",
    "Mapping",
    "load_mapping",
    "builtin_mapping",
    "parse_datetimes",
    "MAPPINGS_DIR",
]

MAPPINGS_DIR = Path(__file__).parent / "mappings"
_SLUG = r"^[a-z0-9][a-z0-9._-]*$"
_REASON = r"^[a-z0-9_]+$"
#: Category-table value meaning "drop rows with this label" (counted).
DROP = "drop"


#: A column name: never empty (an empty name would match no header check and
#: fail only when the column is read).
Column = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_regex(v: str | None) -> str | None:
    if v is not None:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {v!r}: {exc}") from exc
    return v


class Condition(_Model):
    """A test on one column's (whitespace-stripped) value: exactly one of
    ``equals``, ``in``, ``matches`` (regex, full match) or ``blank``."""

    column: Column
    equals: str | None = None
    in_: tuple[str, ...] | None = Field(None, alias="in")
    matches: str | None = None
    blank: bool | None = None

    _re = field_validator("matches")(_check_regex)

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        n = sum(v is not None for v in (self.equals, self.in_, self.matches, self.blank))
        if n != 1:
            raise ValueError("give exactly one of equals, in, matches, blank")
        return self

    def mask(self, col: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Boolean mask of the rows of ``col`` (stripped strings) that match."""
        if self.equals is not None:
            m = pc.equal(col, self.equals)
        elif self.in_ is not None:
            m = pc.is_in(col, pa.array(list(self.in_), pa.string()))
        elif self.matches is not None:
            m = pc.match_substring_regex(col, f"^(?:{self.matches})$")
        else:
            m = pc.equal(col, "") if self.blank else pc.not_equal(col, "")
        return np.asarray(pc.fill_null(m, False).to_numpy(zero_copy_only=False), bool)


class Rule(_Model):
    """Rows matching ``when`` are dropped and counted as ``dropped:<reason>``.

    With ``cancels: true`` each such row also cancels one earlier row with
    the same incident id (e.g. St. Louis ``Count == -1`` unfounds a crime).
    """

    reason: str = Field(pattern=_REASON)
    when: Condition
    cancels: bool = False


class IdSpec(_Model):
    """Columns whose stripped values, joined by ``:``, identify an incident."""

    columns: tuple[Column, ...] = Field(min_length=1)


class MonthRef(_Model):
    """A per-row month (e.g. the month a crime was coded) bounding the dates."""

    column: Column
    format: str = "%Y-%m"
    months: int = Field(1, ge=0)


class TimeSpec(_Model):
    """Where the time is, how to parse it and what is plausible."""

    column: Column
    time_column: Column | None = None
    formats: tuple[str, ...] = Field(min_length=1)
    precision: Literal["minute", "day", "month"]
    not_before: date | None = None
    not_after: date | None = None
    before_month_of: MonthRef | None = None
    implausible: Literal["reject", "drop"] = "reject"


class LookupSpec(_Model):
    """A CSV of address points: ``key`` column -> ``x``, ``y`` in ``crs``."""

    path: str
    key: Column = "key"
    x: Column = "x"
    y: Column = "y"
    crs: str | None = None


class LocationSpec(_Model):
    """Coordinates (``x``/``y`` + ``crs``), an LSOA column, or an address
    column resolved through a lookup table (at least one)."""

    x: Column | None = None
    y: Column | None = None
    crs: str | None = None
    store_crs: int
    missing: tuple[float, ...] = ()
    bounds: tuple[float, float, float, float] | None = None
    precision: Literal["exact", "snap", "centroid"] = "exact"
    lsoa: Column | None = None
    address: Column | None = None
    lookup: LookupSpec | None = None
    text: Column | None = None

    @field_validator("crs", mode="before")
    @classmethod
    def _crs_text(cls, v: Any) -> Any:
        return f"EPSG:{v}" if isinstance(v, int) else v

    @model_validator(mode="after")
    def _consistent(self) -> LocationSpec:
        if (self.x is None) != (self.y is None):
            raise ValueError("give both x and y, or neither")
        if self.x is not None and self.crs is None:
            raise ValueError("x/y need a crs (EPSG code, 'ESRI:102696', PROJ string or 'prj')")
        if (self.address is None) != (self.lookup is None):
            raise ValueError("address needs a lookup table, and a lookup needs address")
        if self.x is None and self.lsoa is None and self.address is None:
            raise ValueError("give x/y, lsoa or address")
        for crs in (self.crs, self.lookup.crs if self.lookup else None):
            if crs is not None and crs != "prj":
                _check_crs(crs)
        try:
            store = CRS.from_epsg(self.store_crs)
        except CRSError as exc:
            raise ValueError(f"store_crs EPSG:{self.store_crs} is unknown: {exc}") from exc
        if not store.is_projected:
            raise ValueError(f"store_crs EPSG:{self.store_crs} must be a projected (metric) CRS")
        if self.bounds is not None:
            w, s, e, n = self.bounds
            if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
                raise ValueError("bounds must be [west, south, east, north] in degrees")
        return self


def _check_crs(text: str) -> None:
    try:
        CRS.from_user_input(text)
    except CRSError as exc:
        raise ValueError(f"unknown crs {text!r}: {exc}") from exc


class CategorySpec(_Model):
    """How to derive a category key from one column and map it to a slug.

    The key is the value, stripped (``strip``), left-padded with zeros to
    ``zfill`` characters, reduced to the first group of ``regex`` and/or
    ``slice``; ``match: prefix`` maps it by the longest label that is a
    prefix of it. ``unmapped`` is ``error`` (refuse the file, listing every
    unmapped label and its row count), ``drop`` or a canonical slug.
    """

    column: Column
    strip: bool = True
    zfill: int | None = Field(None, ge=1)
    regex: str | None = None
    slice: tuple[int, int] | None = None
    match: Literal["exact", "prefix"] = "exact"
    labels: dict[str, str] = Field(min_length=1)
    unmapped: str = "error"

    _re = field_validator("regex")(_check_regex)

    @field_validator("labels", mode="before")
    @classmethod
    def _label_keys_are_text(cls, v: Any) -> Any:
        # YAML reads unquoted codes such as 01 or 10 as numbers.
        if isinstance(v, dict):
            return {str(k): val for k, val in v.items()}
        return v

    @model_validator(mode="after")
    def _slugs(self) -> CategorySpec:
        bad = sorted({s for s in self.labels.values() if s not in CATEGORY_SLUGS and s != DROP})
        if bad:
            raise ValueError(
                f"labels map to unknown slug(s) {bad}; use one of {', '.join(CATEGORY_SLUGS)} "
                f"or {DROP!r}"
            )
        if self.unmapped not in ("error", DROP) and self.unmapped not in CATEGORY_SLUGS:
            raise ValueError(
                f"unmapped must be 'error', 'drop' or a slug ({', '.join(CATEGORY_SLUGS)}); "
                f"got {self.unmapped!r}"
            )
        if self.regex is not None and re.compile(self.regex).groups != 1:
            raise ValueError("regex must have exactly one capture group")
        return self

    def key_of(self, value: str) -> str:
        """The category key derived from one raw value ("" if none)."""
        v = value.strip() if self.strip else value
        if self.zfill and v:
            v = v.zfill(self.zfill)
        if self.regex is not None:
            hit = re.search(self.regex, v)
            v = hit.group(1) if hit else ""
        if self.slice is not None:
            v = v[self.slice[0] : self.slice[1]]
        return v

    def slug_of(self, key: str) -> str | None:
        """The slug (or ``drop``) for a key; ``None`` if unmapped."""
        if not key:
            return None
        if self.match == "exact":
            return self.labels.get(key)
        for end in range(len(key), 0, -1):  # longest prefix first
            hit = self.labels.get(key[:end])
            if hit is not None:
                return hit
        return None


class Mapping(_Model):
    """One partner mapping (see ``docs/partner-data.md``)."""

    source: str = Field(pattern=_SLUG)
    force: str = Field(pattern=_SLUG)
    timezone: str
    description: str | None = None
    format: Literal["csv", "shapefile"] = "csv"
    encoding: str = "utf-8"
    invalid_utf8: Literal["reject", "latin-1"] = "reject"
    aliases: dict[Column, tuple[Column, ...]] = Field(default_factory=dict)
    id: IdSpec | None = None
    time: TimeSpec
    location: LocationSpec
    category: CategorySpec
    outcome: Column | None = None
    rules: tuple[Rule, ...] = ()
    personal_identifiers: tuple[Column, ...] = ()
    free_text: tuple[Column, ...] = ()
    keep_free_text: tuple[Column, ...] = ()
    keep: tuple[Column, ...] = ()
    origin: str = Field("<dict>", exclude=True)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {v!r}") from exc
        return v

    @field_validator("encoding")
    @classmethod
    def _enc(cls, v: str) -> str:
        import codecs

        try:
            codecs.lookup(v)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _columns_consistent(self) -> Mapping:
        pii = set(self.personal_identifiers)
        structural = self.structural_columns()
        clash = sorted(pii & structural)
        if clash:
            raise ValueError(
                f"personal_identifiers {clash} are also used as id/time/location/category/"
                "outcome/rule columns, which are stored in clear; remove them from one list"
            )
        for name, cols in (("keep", self.keep), ("free_text", self.free_text)):
            both = sorted(pii & set(cols))
            if both:
                raise ValueError(f"{both} are listed both in personal_identifiers and {name}")
        both = sorted(set(self.keep) & set(self.free_text))
        if both:
            raise ValueError(
                f"{both} are free text: list them in keep_free_text to keep them, not in keep"
            )
        if sum(r.cancels for r in self.rules) > 1:
            raise ValueError("at most one rule may have cancels: true")
        extra = sorted(set(self.keep_free_text) - set(self.free_text))
        if extra:
            raise ValueError(f"keep_free_text {extra} must also be listed in free_text")
        seen: dict[str, str] = {}
        for canon, alts in self.aliases.items():
            for a in alts:
                if a in seen and seen[a] != canon:
                    raise ValueError(f"alias {a!r} is given for both {seen[a]!r} and {canon!r}")
                seen[a] = canon
        return self

    # ---------------------------------------------------------------- helpers
    def structural_columns(self) -> set[str]:
        """Columns stored in clear in the incident table or used by rules."""
        loc = self.location
        cols = {self.time.column, self.category.column}
        cols |= set(self.id.columns) if self.id else set()
        cols |= {c for c in (self.time.time_column, self.outcome) if c}
        cols |= {self.time.before_month_of.column} if self.time.before_month_of else set()
        cols |= {c for c in (loc.x, loc.y, loc.lsoa, loc.address, loc.text) if c}
        cols |= {r.when.column for r in self.rules}
        return cols

    def required_columns(self) -> list[str]:
        """Every column the mapping refers to (canonical names), sorted."""
        cols = self.structural_columns()
        cols |= set(self.personal_identifiers) | set(self.keep) | set(self.keep_free_text)
        return sorted(cols)

    def attr_columns(self) -> list[str]:
        """Columns that go into ``attrs``, in a stable order."""
        return [*self.keep, *self.keep_free_text, *self.personal_identifiers]

    def content_columns(self) -> list[str]:
        """Columns identifying a record when the source has no id."""
        loc = self.location
        cols = [self.time.column, self.time.time_column, loc.x, loc.y, loc.lsoa, loc.address]
        return [c for c in cols if c] + [self.category.column]

    def renames(self, header: list[str]) -> dict[str, str]:
        """Header name -> canonical name, for aliases found in ``header``."""
        ren: dict[str, str] = {}
        for canon, alts in self.aliases.items():
            if canon not in header:
                found = [a for a in alts if a in header]
                if found:
                    ren[found[0]] = canon
        return ren

    def missing_columns(self, header: list[str]) -> list[str]:
        """Required columns absent from ``header`` even after aliasing."""
        ren = self.renames(header)
        have = {ren.get(c, c) for c in header}
        return [c for c in self.required_columns() if c not in have]

    def address_points(self) -> dict[str, tuple[float, float]]:
        """The address-point lookup table: key -> (x, y).

        Raises
        ------
        ConfigError
            If the table cannot be read or lacks the declared columns.
        """
        lk = self.location.lookup
        if lk is None:
            return {}
        path = Path(lk.path)
        if not path.is_absolute() and self.origin != "<dict>":
            path = Path(self.origin).parent / path
        try:
            with path.open(encoding="utf-8-sig", newline="") as fh:
                return {
                    r[lk.key].strip(): (float(r[lk.x]), float(r[lk.y])) for r in csv.DictReader(fh)
                }
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(
                f"{self.origin}: key 'location.lookup.path': cannot use {path}: {exc}"
            ) from exc


def _format_error(origin: str, exc: ValidationError) -> ConfigError:
    lines = []
    for e in exc.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{origin}: key {key!r}: {msg}")
    return ConfigError("invalid partner mapping\n  " + "\n  ".join(lines))


def load_mapping(spec: str | Path | dict[str, Any] | Mapping) -> Mapping:
    """Load and validate a mapping from a YAML file, a dict or a Mapping.

    A bare name without a suffix or folder (``"stl-slmpd"``) refers to a
    mapping shipped in ``crimemap/ingest/mappings``.

    Raises
    ------
    ConfigError
        If the file is missing or not YAML, or any key is invalid; the
        message names the file, the key and the problem.
    """
    if isinstance(spec, Mapping):
        return spec
    if isinstance(spec, dict):
        data, origin = dict(spec), str(spec.get("origin", "<dict>"))
    else:
        path = Path(spec)
        if not path.suffix and len(path.parts) == 1 and not path.exists():
            path = MAPPINGS_DIR / f"{path}.yaml"
        origin = str(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{origin}: cannot read the mapping file: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{origin}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{origin}: key '(top level)': a mapping must be a YAML object")
    data["origin"] = origin
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        raise _format_error(origin, exc) from None


def parse_datetimes(col: pa.ChunkedArray | pa.Array, formats: tuple[str, ...]) -> np.ndarray:
    """``datetime64[s]`` per row, the first format that fits (NaT if none).

    Python's strptime runs once per distinct value. It is used rather than
    Arrow's because it refuses impossible dates (Arrow turns 30 February
    into 1 March) yet accepts unpadded numbers (``1/1/2001 0:01``).
    """
    enc = pc.dictionary_encode(col)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    values = enc.dictionary.to_pylist()
    out = np.full(len(values), np.datetime64("NaT", "s"))
    for i, v in enumerate(values):
        for fmt in formats:
            try:
                out[i] = np.datetime64(datetime.strptime(str(v), fmt), "s")
                break
            except ValueError:
                continue
    return out[enc.indices.to_numpy(zero_copy_only=False)]


def builtin_mapping(name: str) -> Path:
    """Path of a mapping shipped with crimemap (``stl-slmpd``, ``nij-portland``)."""
    path = MAPPINGS_DIR / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml"))
        raise ConfigError(f"no built-in mapping {name!r}; known: {', '.join(known)}")
    return path
