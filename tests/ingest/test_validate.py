"""Vectorised validation helpers: dictionary-encoded and plain string columns agree."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crimemap.ingest._validate import decode, distinct, null_if_blank, parse_coords


def _dict_chunks(*chunks: list[str]) -> pa.ChunkedArray:
    """Several chunks, each with its own dictionary (as the CSV reader makes them)."""
    return pa.chunked_array([pc.dictionary_encode(pa.array(c, pa.string())) for c in chunks])


def _rows(idx: np.ndarray, uniq: pa.Array) -> list[str]:
    return uniq.take(pa.array(idx)).to_pylist()


def test_distinct_maps_back_to_the_rows_for_every_encoding() -> None:
    values = [["b", "a", "b", " "], ["c", "a", ""]]
    flat = [v for c in values for v in c]
    for arr in (
        pa.chunked_array([pa.array(c, pa.string()) for c in values]),
        _dict_chunks(*values),
        _dict_chunks(flat),
        pc.dictionary_encode(pa.array(flat, pa.string())),
    ):
        idx, uniq = distinct(arr)
        assert _rows(idx, uniq) == flat
        assert sorted(set(uniq.to_pylist())) == sorted(set(flat))
        assert pa.chunked_array([decode(arr)]).to_pylist() == flat


def test_null_if_blank_and_coords_on_dictionary_columns() -> None:
    loc = ["On or near A", " ", "", "On or near B"]
    assert null_if_blank(_dict_chunks(loc[:2], loc[2:])).to_pylist() == [
        "On or near A",
        None,
        None,
        "On or near B",
    ]
    lon = ["-1.5", "", "x", "-1.5"]
    lat = ["53.9", "", "53.9", "53.9"]
    plain = parse_coords(pa.array(lon), pa.array(lat), src_crs=4326, dst_crs=27700)
    coded = parse_coords(
        _dict_chunks(lon[:1], lon[1:]), _dict_chunks(lat), src_crs=4326, dst_crs=27700
    )
    for a, b in zip(plain, coded, strict=True):
        np.testing.assert_array_equal(a, b)
    _, _, missing, bad, px, _ = coded
    assert missing.tolist() == [False, True, False, False]
    assert bad.tolist() == [False, False, True, False]
    assert 400_000 < px[0] < 500_000 and px[0] == px[3]


def test_projection_memo_gives_the_same_points_as_projecting() -> None:
    from crimemap.ingest._validate import _ProjectionMemo, project

    rng = np.random.default_rng(1)
    x = np.round(rng.uniform(-3, 1, 300), 6)
    y = np.round(rng.uniform(51, 55, 300), 6)
    memo = _ProjectionMemo(4326, 27700)
    # First call fills the memo; the second mixes known and new points.
    first = memo.project(x[:200], y[:200])
    again = memo.project(x[100:], y[100:])
    direct = project(x, y, 4326, 27700)
    np.testing.assert_array_equal(first[0], direct[0][:200])
    np.testing.assert_array_equal(again[0], direct[0][100:])
    np.testing.assert_array_equal(again[1], direct[1][100:])
