"""Vectorised validation helpers shared by the readers."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import Transformer

from crimemap.errors import RowIssue

__all__ = [
    "NUMBER_RE",
    "UK_BOUNDS",
    "issues_for",
    "parse_coords",
    "distinct",
    "decode",
    "project",
    "null_if_blank",
    "occurrence_index",
]

NUMBER_RE = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
#: WGS84 box around the United Kingdom, Channel Islands and Isle of Man.
UK_BOUNDS = (-8.75, 49.8, 1.85, 60.95)

_TRANSFORMERS: dict[tuple[int, int], Transformer] = {}


def _transformer(src: int, dst: int) -> Transformer:
    key = (src, dst)
    if key not in _TRANSFORMERS:
        _TRANSFORMERS[key] = Transformer.from_crs(src, dst, always_xy=True)
    return _TRANSFORMERS[key]


def project(x: np.ndarray, y: np.ndarray, src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """Transform coordinates between EPSG codes (lon/lat order for 4326)."""
    if len(x) == 0:
        return np.asarray(x, float), np.asarray(y, float)
    ox, oy = _transformer(src, dst).transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(ox, float), np.asarray(oy, float)


class _ProjectionMemo:
    """Points already projected between two CRSs, kept sorted for vectorised look-up.

    police.uk snaps every month's crimes to the same few thousand anonymous
    map points per force, so across the files of a batch most points repeat;
    looking them up costs a fraction of projecting them again. Projection is
    a pure function of the point, so results are identical either way.
    Readers run on threads: the arrays are replaced, never changed in place,
    and a lost update only costs a later miss.
    """

    #: Start afresh beyond this many points (32 bytes each: 16 MB); the four
    #: forces in the shared data use well under 100,000 snap points.
    LIMIT = 500_000

    def __init__(self, src: int, dst: int) -> None:
        self.src, self.dst = src, dst
        self._lock = threading.Lock()
        self._state = (np.empty(0, np.complex128), np.empty(0), np.empty(0))

    def project(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Set the parts directly: arithmetic would turn (x, inf) into (nan, inf).
        q = np.empty(len(x), np.complex128)
        q.real, q.imag = x, y
        keys, kx, ky = self._state
        ox, oy = np.empty(len(q)), np.empty(len(q))
        hit = np.zeros(len(q), bool)
        if len(keys):
            pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
            hit = keys[pos] == q
            ox[hit], oy[hit] = kx[pos[hit]], ky[pos[hit]]
        miss = ~hit
        if miss.any():
            mx, my = project(q.real[miss], q.imag[miss], self.src, self.dst)
            ox[miss], oy[miss] = mx, my
            self._add(q[miss], mx, my)
        return ox, oy

    def _add(self, q: np.ndarray, mx: np.ndarray, my: np.ndarray) -> None:
        order = np.argsort(q)
        q, mx, my = q[order], mx[order], my[order]
        with self._lock:
            keys, kx, ky = self._state
            if len(keys) + len(q) > self.LIMIT:
                keys, kx, ky = keys[:0], kx[:0], ky[:0]
            at = np.searchsorted(keys, q)
            self._state = (np.insert(keys, at, q), np.insert(kx, at, mx), np.insert(ky, at, my))


_MEMOS: dict[tuple[int, int], _ProjectionMemo] = {}


def _memo(src: int, dst: int) -> _ProjectionMemo:
    key = (src, dst)
    if key not in _MEMOS:
        _MEMOS[key] = _ProjectionMemo(src, dst)
    return _MEMOS[key]


def issues_for(
    name: str,
    mask: np.ndarray,
    lines: np.ndarray,
    column: str | None,
    values: pa.Array | np.ndarray | None,
    reason: str,
    detail: str,
) -> list[RowIssue]:
    """One RowIssue per row where ``mask`` is true."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    vals: Iterable[object]
    if values is None:
        vals = [None] * idx.size
    elif isinstance(values, np.ndarray):
        vals = values[idx]
    else:
        vals = values.take(pa.array(idx)).to_pylist()
    return [
        RowIssue(name, int(lines[i]), column, None if v is None else str(v), reason, detail)
        for i, v in zip(idx, vals, strict=True)
    ]


def null_if_blank(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Empty or whitespace-only strings become nulls."""
    idx, uniq = distinct(arr)
    blank = pc.equal(pc.utf8_trim_whitespace(uniq), "")
    clean = pc.if_else(blank, pa.scalar(None, pa.string()), uniq)
    return clean.take(pa.array(idx))


def parse_coords(
    xs: pa.ChunkedArray | pa.Array,
    ys: pa.ChunkedArray | pa.Array,
    *,
    src_crs: int | None = None,
    dst_crs: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse two string columns of coordinates.

    Returns
    -------
    x, y : numpy.ndarray
        Floats, NaN where missing or unparseable.
    missing : numpy.ndarray
        Both values blank (a record without a location: kept and flagged).
    bad : numpy.ndarray
        Present but unparseable, or only one of the pair present.
    px, py : numpy.ndarray
        ``x, y`` transformed from ``src_crs`` to ``dst_crs`` (NaN where not
        parseable or not finite after projection); copies of x, y if no CRS.
    """
    # Validate the distinct values of each column and map back to rows:
    # police.uk has few distinct snap points, so this is far cheaper than
    # per-row string work.
    xi, xu = distinct(xs)
    yi, yu = distinct(ys)
    xblank, xnum, xf = _classify(xu)
    yblank, ynum, yf = _classify(yu)
    missing = xblank[xi] & yblank[yi]
    ok = xnum[xi] & ynum[yi]
    bad = ~missing & ~ok
    fx = xf[xi]
    fy = yf[yi]
    px, py = fx, fy
    if src_crs is not None and dst_crs is not None and src_crs != dst_crs:
        px = np.full(len(fx), np.nan)
        py = np.full(len(fy), np.nan)
        if ok.any():
            # Project each distinct point once.
            code = xi[ok].astype(np.int64) * max(len(yu), 1) + yi[ok]
            uniq, inv = np.unique(code, return_inverse=True)
            ux, uy = _memo(src_crs, dst_crs).project(
                xf[uniq // max(len(yu), 1)], yf[uniq % max(len(yu), 1)]
            )
            px[ok] = ux[inv.ravel()]
            py[ok] = uy[inv.ravel()]
    return fx, fy, missing, bad, px, py


def _classify(u: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blank flags, numeric flags and float values of distinct strings."""
    blank = pc.equal(pc.utf8_trim_whitespace(u), "").to_numpy(zero_copy_only=False)
    num = pc.match_substring_regex(u, NUMBER_RE).to_numpy(zero_copy_only=False)
    return blank, num, _to_float(u, num)


def distinct(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dictionary-encode: (row -> code indices, distinct values).

    Columns the CSV parser already read dictionary-encoded are used as they
    are (no hashing). A dictionary array that was filtered may hold values no
    row uses; callers that count or report distinct values must not pass one
    (:func:`~crimemap.ingest._csv.parse_csv` decodes its columns whenever it
    drops rejected lines, so its output is safe).
    """
    if pa.types.is_dictionary(arr.type):
        if isinstance(arr, pa.ChunkedArray) and arr.num_chunks == 1:
            arr = arr.chunk(0)
        if isinstance(arr, pa.Array) and arr.null_count == 0:
            return arr.indices.to_numpy(zero_copy_only=False), arr.dictionary
        # Several chunks carry several dictionaries: decode and re-encode.
        arr = arr.cast(arr.type.value_type)
    enc = pc.dictionary_encode(arr)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    return enc.indices.to_numpy(zero_copy_only=False), enc.dictionary


def decode(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Plain strings from a possibly dictionary-encoded string column."""
    if pa.types.is_dictionary(arr.type):
        return arr.cast(arr.type.value_type)
    return arr


def _to_float(arr: pa.ChunkedArray | pa.Array, ok: np.ndarray) -> np.ndarray:
    clean = pc.if_else(pa.array(ok), arr, pa.scalar("nan"))
    return np.asarray(
        pc.cast(pc.utf8_trim_whitespace(clean), pa.float64()).to_numpy(zero_copy_only=False), float
    )


def occurrence_index(keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """For each row, how many earlier rows carry the same key (0, 1, 2 ...).

    Used to give byte-identical records (police.uk anti-social behaviour has
    no id) distinct but stable ids: the k-th copy of a record is the same
    k-th copy in any later download, whatever the row order.
    """
    enc = pc.dictionary_encode(keys)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    if codes.size == 0:
        return codes
    order = np.argsort(codes, kind="stable")
    sc = codes[order]
    start = np.r_[True, sc[1:] != sc[:-1]]
    run_start = np.maximum.accumulate(np.where(start, np.arange(len(sc)), 0))
    k = np.empty_like(codes)
    k[order] = np.arange(len(sc)) - run_start
    return k
