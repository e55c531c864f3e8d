"""Ingest: readers for police, council and social-services data, validation, pipeline."""

from crimemap.ingest import partner as _partner  # noqa: F401  (registers built-in readers)
from crimemap.ingest import policeuk as _policeuk  # noqa: F401
from crimemap.ingest.base import (
    ReadContext,
    Reader,
    ReadResult,
    get_reader,
    readers,
    register_reader,
)
from crimemap.ingest.pipeline import POLICIES, Batch, FileRecord, ingest, read_batch, read_incidents

__all__ = [
    "POLICIES",
    "Batch",
    "FileRecord",
    "ReadContext",
    "ReadResult",
    "Reader",
    "get_reader",
    "ingest",
    "read_batch",
    "read_incidents",
    "readers",
    "register_reader",
]
