"""Reader contract and registry.

A reader turns one :class:`~crimemap.ingest._io.SourceFile` into a
:class:`ReadResult`: Arrow rows for one target table (``incidents``,
``outcomes`` or ``stop_search``), every rejected row as a
:class:`~crimemap.errors.RowIssue`, and every repaired or notable row counted
by reason. Readers never touch the store; the pipeline does, in one
transaction per batch.

Built-in readers register with :func:`register_reader` exactly as add-on
readers would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pyarrow as pa

from crimemap.errors import InputError, NotFoundError, RowIssue
from crimemap.ingest._io import SourceFile

__all__ = [
    "ReadContext",
    "ReadResult",
    "Reader",
    "register_reader",
    "readers",
    "get_reader",
    "sniff_reader",
]

TARGETS = ("incidents", "outcomes", "stop_search")


@dataclass(frozen=True)
class ReadContext:
    """What a reader may need besides the file.

    Attributes
    ----------
    file_id : int
        Provenance id assigned by the pipeline (stored on every row).
    pii_key : bytes or None
        Secret for keyed hashing of personal identifiers (HMAC-SHA256).
    options : dict
        Reader-specific options (e.g. a partner mapping).
    """

    file_id: int = 0
    pii_key: bytes | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReadResult:
    """The output of reading one file.

    Attributes
    ----------
    target : str
        ``incidents``, ``outcomes`` or ``stop_search``.
    table : pyarrow.Table
        Accepted rows, in the target table's schema.
    rejects : list of RowIssue
        Rows refused, with file, row, column, value and reason.
    counts : collections.Counter
        Rows repaired, kept-with-a-note or dropped-by-rule, by reason
        (e.g. ``kept:no_location``, ``dropped:unfounded``).
    rows_read : int
        Data rows seen in the file (excluding the header).
    source : str
        Source family (``police.uk``, ``stl-slmpd`` ...).
    cancels : tuple of str
        Ids of incidents that rows of this file cancel (e.g. St. Louis
        "unfounded" rows) but whose target is not in the file: the pipeline
        applies them across the batch, the store to earlier batches.
    """

    target: str
    table: pa.Table
    rejects: list[RowIssue]
    counts: Counter[str]
    rows_read: int
    source: str
    cancels: tuple[str, ...] = ()


class Reader(Protocol):
    """What a reader implements."""

    name: str
    target: str

    def sniff(self, src: SourceFile) -> bool:
        """True if this reader recognises the file (by name or header)."""
        ...

    def read(self, src: SourceFile, ctx: ReadContext) -> ReadResult:
        """Read and validate one file."""
        ...


_R = TypeVar("_R")
_REGISTRY: dict[str, Callable[[], Reader]] = {}


def register_reader(name: str) -> Callable[[_R], _R]:
    """Class decorator registering a reader factory under ``name``."""

    def deco(cls: _R) -> _R:
        if name in _REGISTRY:
            raise InputError(f"reader {name!r} is already registered")
        _REGISTRY[name] = cls  # type: ignore[assignment]
        return cls

    return deco


def readers() -> list[str]:
    """Names of the registered readers."""
    return sorted(_REGISTRY)


def get_reader(name: str, **kwargs: Any) -> Reader:
    """Instantiate the reader registered as ``name``."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise NotFoundError(f"unknown reader {name!r}; known: {', '.join(readers())}") from None
    return factory(**kwargs)


def sniff_reader(src: SourceFile) -> Reader | None:
    """The first registered reader (in name order) that recognises ``src``."""
    for name in readers():
        try:
            r = _REGISTRY[name]()
        except TypeError:
            continue  # readers that need options (partner mappings) never sniff
        if r.sniff(src):
            return r
    return None
