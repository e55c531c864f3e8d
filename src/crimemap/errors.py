"""One exception hierarchy for the whole library.

Domain errors describe what went wrong in domain terms only; they know nothing
of HTTP. The API layer maps them to status codes in a single table
(``crimemap.api.errors``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CrimemapError",
    "InputError",
    "ConfigError",
    "RowIssue",
    "IngestError",
    "UnmappedLabelsError",
    "NotFoundError",
    "StoreError",
    "InsufficientDataError",
    "InfeasibleError",
    "AccessDenied",
    "AuthenticationError",
    "RateLimited",
]


class CrimemapError(Exception):
    """Base class of every error crimemap raises on purpose."""


class InputError(CrimemapError):
    """The caller's input is malformed or inconsistent."""


class ConfigError(InputError):
    """A configuration or mapping file is invalid."""


@dataclass(frozen=True, slots=True)
class RowIssue:
    """One rejected or repaired input row.

    Attributes
    ----------
    file : str
        Path of the input file (for archives: ``archive.zip!member.csv``).
    row : int or None
        1-based physical line number in the decompressed file (the header is
        line 1); ``None`` when the problem concerns the whole file.
    column : str or None
        Column name, when one column is at fault.
    value : str or None
        The offending value, truncated to 200 characters.
    reason : str
        Stable reason code, e.g. ``"unparseable_month"``.
    detail : str
        Human-readable explanation.
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        val = "" if self.value is None else f", value {self.value[:200]!r}"
        det = f": {self.detail}" if self.detail else ""
        return f"{where}{val}: {self.reason}{det}"


class IngestError(InputError):
    """An ingest batch was refused. Nothing was written to the store.

    Parameters
    ----------
    issues : list of RowIssue
        Every problem found (the message shows the first few).
    """

    def __init__(self, issues: list[RowIssue], summary: str | None = None) -> None:
        self.issues = list(issues)
        head = "\n  ".join(str(i) for i in self.issues[:20])
        more = f"\n  ... and {len(self.issues) - 20} more" if len(self.issues) > 20 else ""
        msg = summary or f"ingest refused: {len(self.issues)} problem(s)"
        super().__init__(f"{msg}\n  {head}{more}")


class UnmappedLabelsError(IngestError):
    """Category labels with no entry in the source's mapping table.

    Attributes
    ----------
    labels : dict
        Raw label -> number of rows carrying it.
    """

    def __init__(self, file: str, column: str, labels: dict[str, int]) -> None:
        self.labels = dict(labels)
        issues = [
            RowIssue(file, None, column, lab, "unmapped_label", f"{n} row(s)")
            for lab, n in sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        listing = ", ".join(f"{lab!r} ({n} rows)" for lab, n in sorted(labels.items()))
        super().__init__(
            issues,
            f"ingest refused: {len(labels)} unmapped category label(s) in {file}, "
            f"column {column!r}: {listing}. Add them to the mapping or set 'unmapped'.",
        )


class NotFoundError(CrimemapError):
    """A requested force, category, unit, model or record does not exist."""


class StoreError(CrimemapError):
    """The store is unavailable or inconsistent."""


class InsufficientDataError(CrimemapError):
    """There is too little data for the requested statistic or model."""


class InfeasibleError(InputError):
    """An optimisation request has no feasible solution."""


class AuthenticationError(CrimemapError):
    """Missing or invalid credentials."""


class AccessDenied(CrimemapError):
    """The authenticated user's role does not allow this action."""


class RateLimited(CrimemapError):
    """Too many requests from one token or address."""
