"""Export of back-test predictions and forecast surfaces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crimemap.errors import InputError
from crimemap.evaluate import (
    EXPORT_COLUMNS,
    backtest,
    predictions_frame,
    read_predictions,
    write_predictions,
    write_surface,
    write_surface_geojson,
)
from crimemap.forecast.surface import RiskSurface
from crimemap.spatial.grid import Grid

from ._synth import table


@pytest.fixture
def result():
    return backtest(
        table(), crime_sets=["burglary"], models=["_test_recorder"], origins=["2020-04"]
    )


def test_frame_columns_and_cells(result):
    df = predictions_frame(result)
    assert tuple(df.columns) == EXPORT_COLUMNS
    rec = df[df.model == "_test_recorder"].reset_index(drop=True)
    assert set(rec.origin) == {"2020-04"} and set(rec.force) == {"synthetic"}
    # Cells A (125,125), C (125,375), B (375,125), D (625,125): easting // 250.
    assert list(zip(rec.cell_e, rec.cell_n, strict=True)) == [(0, 0), (0, 1), (1, 0), (2, 0)]
    np.testing.assert_allclose(rec.score, [3, 0, 0, 1])
    assert rec.lo90.isna().all() and rec.hi90.isna().all()  # the recorder has no band
    assert len(predictions_frame(result, include_references=False)) == 4


@pytest.mark.parametrize("name", ["pred.csv", "pred.csv.gz", "pred.parquet"])
def test_round_trip(result, tmp_path, name):
    path = write_predictions(result, tmp_path / name)
    back = read_predictions(path)
    ref = predictions_frame(result)
    assert list(back.columns) == list(EXPORT_COLUMNS)
    assert back["origin"].tolist() == ref["origin"].tolist()
    np.testing.assert_allclose(back["score"], ref["score"])
    np.testing.assert_array_equal(back["cell_e"], ref["cell_e"])
    assert back["lo90"].isna().sum() == ref["lo90"].isna().sum()
    if name.endswith(".csv"):
        first = (tmp_path / name).read_text().splitlines()[0]
        assert first == ",".join(EXPORT_COLUMNS)


def test_unknown_suffix_is_refused(result, tmp_path):
    with pytest.raises(InputError):
        write_predictions(result, tmp_path / "pred.xlsx")


def _surface():
    g = Grid(250.0)
    units = g.units(np.array([[1699, 2256], [1700, 2256], [1699, 2257]]))
    return RiskSurface(
        model="toy",
        units=units,
        start=np.datetime64("2025-01-01"),
        end=np.datetime64("2025-02-01"),
        mean=np.array([2.0, 0.0, 0.5]),
        lo90=np.array([0.0, 0.0, 0.0]),
        hi90=np.array([5.0, 0.0, 2.0]),
    )


def test_surface_parquet_and_geojson(tmp_path):
    s = _surface()
    p = write_surface(s, tmp_path / "f.parquet", force="northumbria", crime_set="burglary")
    df = read_predictions(p)
    assert tuple(df.columns) == EXPORT_COLUMNS
    assert df.origin.tolist() == ["2025-01"] * 3
    np.testing.assert_allclose(df.hi90, [5, 0, 2])
    gj = json.loads(
        write_surface_geojson(
            s, tmp_path / "f.geojson", force="northumbria", crime_set="burglary"
        ).read_text()
    )
    assert len(gj["features"]) == 2  # the zero-score cell is left out
    f0 = gj["features"][0]
    assert (f0["properties"]["cell_e"], f0["properties"]["cell_n"]) == (1699, 2256)
    ring = np.array(f0["geometry"]["coordinates"][0])
    assert ring.shape == (5, 2) and np.allclose(ring[0], ring[-1])
    # BNG (424750, 564000) is central Newcastle upon Tyne: about 54.97 N, 1.61 W.
    assert ring[:, 0].min() == pytest.approx(-1.61, abs=0.02)
    assert ring[:, 1].min() == pytest.approx(54.97, abs=0.02)
