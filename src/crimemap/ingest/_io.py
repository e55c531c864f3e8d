"""Finding, opening and decoding input files.

Inputs can be single files (``.csv``, ``.csv.gz``, other formats a reader
knows), folder trees (walked recursively, sorted), or zip archives such as the
one data.police.uk serves for download (members are read in name order). Each
becomes a :class:`SourceFile`: a display name for messages, the raw bytes as
stored (for the checksum), and lazily the decompressed bytes.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from isal import igzip

from crimemap.errors import IngestError, InputError, RowIssue

__all__ = ["SourceFile", "expand_paths", "decode_text_check", "ZIP_MEMBER_ERRORS"]

#: What reading a damaged zip member raises (bad CRC, bad local header, a
#: broken deflate stream, an unsupported method): it shows only on reading.
ZIP_MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)

_SKIP_SUFFIXES = {".md", ".txt", ".json", ".geojson", ".xlsx", ".pdf", ".yaml", ".yml", ".toml"}


@dataclass(eq=False)
class SourceFile:
    """One input file, possibly a member of an archive.

    Attributes
    ----------
    name : str
        Display name used in every message (``archive.zip!member``).
    raw : bytes
        Bytes as stored (compressed for ``.gz``); their SHA-256 is the file's
        identity for idempotent ingest.
    """

    name: str
    raw: bytes
    _data: bytes | None = field(default=None, repr=False)
    _sha: str | None = field(default=None, repr=False)
    _size: int | None = field(default=None, repr=False)

    def release(self) -> None:
        """Drop the bytes once read (keeps checksum and size) to bound memory."""
        _ = self.sha256
        self._size = len(self.raw)
        self.raw = b""
        self._data = None

    @property
    def size(self) -> int:
        """Size in bytes as stored."""
        return self._size if self._size is not None else len(self.raw)

    @property
    def basename(self) -> str:
        """File name without folders or archive prefix, without ``.gz``."""
        base = self.name.rsplit("!", 1)[-1].replace("\\", "/").rsplit("/", 1)[-1]
        return base[:-3] if base.endswith(".gz") else base

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the stored bytes."""
        if self._sha is None:
            self._sha = hashlib.sha256(self.raw).hexdigest()
        return self._sha

    @property
    def data(self) -> bytes:
        """Decompressed bytes.

        Raises
        ------
        IngestError
            ``truncated_gzip`` or ``bad_gzip`` for damaged compressed files,
            ``empty_file`` for a file with no bytes.
        """
        if self._data is None:
            raw = self.raw
            if self.name.endswith(".gz"):
                try:
                    raw = igzip.decompress(raw)
                except EOFError as exc:
                    raise IngestError(
                        [
                            RowIssue(
                                self.name,
                                None,
                                None,
                                None,
                                "truncated_gzip",
                                f"the compressed stream ends early ({exc}); the file is incomplete",
                            )
                        ]
                    ) from exc
                except Exception as exc:  # isal raises OSError/zlib-style errors
                    raise IngestError(
                        [
                            RowIssue(
                                self.name,
                                None,
                                None,
                                None,
                                "bad_gzip",
                                f"not a valid gzip file: {exc}",
                            )
                        ]
                    ) from exc
            # isspace() stops at the first other byte: no copy of the data.
            if not raw or raw.isspace():
                raise IngestError(
                    [RowIssue(self.name, None, None, None, "empty_file", "the file has no content")]
                )
            self._data = raw
        return self._data


def expand_paths(paths: list[Path | str]) -> Iterator[SourceFile]:
    """Yield every input file under ``paths`` in a stable order.

    Raises
    ------
    InputError
        If a path does not exist or a zip archive is unreadable.
    """
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if path.is_dir():
            for f in sorted(x for x in path.rglob("*") if x.is_file()):
                if f.suffix.lower() in _SKIP_SUFFIXES or f.name.startswith("."):
                    continue
                if f.name.upper() == "MANIFEST.CSV" or f.name.startswith("LICENSE"):
                    continue
                yield from _one(f)
        else:
            yield from _one(path)


def _one(path: Path) -> Iterator[SourceFile]:
    if path.suffix.lower() == ".zip" and _is_data_zip(path):
        try:
            with zipfile.ZipFile(path) as zf:
                for info in sorted(zf.infolist(), key=lambda i: i.filename):
                    if info.is_dir() or not info.filename.lower().endswith((".csv", ".csv.gz")):
                        continue
                    yield SourceFile(f"{path}!{info.filename}", zf.read(info))
        except ZIP_MEMBER_ERRORS as exc:
            raise IngestError(
                [
                    RowIssue(
                        str(path), None, None, None, "bad_zip", f"not a readable zip archive: {exc}"
                    )
                ]
            ) from exc
    else:
        yield SourceFile(str(path), path.read_bytes())


def _is_data_zip(path: Path) -> bool:
    """Zip archives of CSVs are expanded; others (shapefile bundles) go whole to a reader."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except zipfile.BadZipFile:
        return True  # let _one report it
    return not any(n.lower().endswith(".shp") for n in names)


def decode_text_check(name: str, data: bytes, limit: int = 1000) -> list[RowIssue]:
    """Locate invalid UTF-8 byte sequences, one issue per bad line.

    Only called when the fast parser refused the bytes, so the cost of a
    line-by-line scan is paid only for broken files.
    """
    issues: list[RowIssue] = []
    header: list[str] | None = None
    for lineno, line in enumerate(data.split(b"\n"), start=1):
        try:
            text = line.decode("utf-8")
            if header is None:
                header = text.rstrip("\r").split(",")
        except UnicodeDecodeError as exc:
            col = None
            if header is not None:
                col_idx = line[: exc.start].count(b",")
                col = header[col_idx] if col_idx < len(header) else f"#{col_idx + 1}"
            bad = line[max(exc.start - 10, 0) : exc.end + 10]
            issues.append(
                RowIssue(
                    name,
                    lineno,
                    col,
                    bad.decode("utf-8", "backslashreplace"),
                    "invalid_utf8",
                    f"byte(s) {line[exc.start : exc.end]!r} at offset {exc.start} are not valid UTF-8",
                )
            )
            if len(issues) >= limit:
                break
    return issues
