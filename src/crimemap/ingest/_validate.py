"""Vectorised validation helpers shared by the readers."""

from __future__ import annotations

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
    blank = pc.equal(pc.utf8_trim_whitespace(arr), "")
    return pc.if_else(blank, pa.scalar(None, pa.string()), arr)


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
    # Work on the distinct pairs: police.uk has few distinct snap points per
    # file, so validating the dictionary is far cheaper than every row.
    pair = pc.binary_join_element_wise(xs, ys, "\x1f")
    enc = pc.dictionary_encode(pair)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    idx = enc.indices.to_numpy(zero_copy_only=False)
    parts = pc.split_pattern(enc.dictionary, "\x1f")
    ux = pc.list_element(parts, 0)
    uy = pc.list_element(parts, 1)
    xblank = pc.equal(pc.utf8_trim_whitespace(ux), "").to_numpy(zero_copy_only=False)
    yblank = pc.equal(pc.utf8_trim_whitespace(uy), "").to_numpy(zero_copy_only=False)
    xnum = pc.match_substring_regex(ux, NUMBER_RE).to_numpy(zero_copy_only=False)
    ynum = pc.match_substring_regex(uy, NUMBER_RE).to_numpy(zero_copy_only=False)
    missing = xblank & yblank
    ok = xnum & ynum
    bad = ~missing & ~ok
    fx = _to_float(ux, ok)
    fy = _to_float(uy, ok)
    px, py = fx, fy
    if src_crs is not None and dst_crs is not None and src_crs != dst_crs:
        px = np.full(len(fx), np.nan)
        py = np.full(len(fy), np.nan)
        if ok.any():
            px[ok], py[ok] = project(fx[ok], fy[ok], src_crs, dst_crs)
    return fx[idx], fy[idx], missing[idx], bad[idx], px[idx], py[idx]


def distinct(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dictionary-encode: (row -> code indices, distinct values)."""
    enc = pc.dictionary_encode(arr)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    return enc.indices.to_numpy(zero_copy_only=False), enc.dictionary


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
