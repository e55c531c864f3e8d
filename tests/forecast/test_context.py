"""The learned models' ``context``: every category as explanatory features, never leaking."""

from __future__ import annotations

import numpy as np
import pytest
from forecast_synth import block_units, cube_events

from crimemap.forecast import LightGBMForecaster, PoissonGLMForecaster
from crimemap.forecast._learned import training_set
from crimemap.table import IncidentTable

N_MONTHS = 30
UNTIL = (np.datetime64("2020-01", "M") + N_MONTHS).astype("datetime64[s]")
END = (np.datetime64("2020-01", "M") + N_MONTHS + 1).astype("datetime64[s]")


def _concat(*tables: IncidentTable) -> IncidentTable:
    import pyarrow as pa

    return IncidentTable(pa.concat_tables([t.arrow for t in tables]))


@pytest.fixture(scope="module")
def busy_quiet():
    """20 x 20 cells, half of them busy at random (context 4/month, burglary 0.1/month),
    the others quiet (context 0.5/month, burglary 0.02/month). Scattered, so that
    neighbours do not tell them apart; burglary alone is too sparse to; the context is not."""
    rng = np.random.default_rng(11)
    units = block_units(20, 20)
    ij = np.asarray(units.ij)
    busy = rng.random(len(units)) < 0.5
    b_rate = np.where(busy, 0.1, 0.02)
    c_rate = np.where(busy, 4.0, 0.5)
    burg = cube_events(rng.poisson(b_rate[:, None] * np.ones((1, N_MONTHS))), ij, "2020-01")
    other = cube_events(
        rng.poisson(c_rate[:, None] * np.ones((1, N_MONTHS))),
        ij,
        "2020-01",
        seed=5,
        categories=("shoplifting", "violent-crime", "anti-social-behaviour"),
    )
    return burg, _concat(burg, other), units, busy


def _top_precision(score: np.ndarray, truth: np.ndarray, k: int, seed: int = 0) -> float:
    # Random tie-breaking: a constant score must not look good by cell order.
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(score)), -score))
    return float(truth[order[:k]].mean())


@pytest.mark.parametrize("cls", [LightGBMForecaster, PoissonGLMForecaster])
def test_context_separates_what_sparse_counts_cannot(busy_quiet, cls):
    burg, ctx, units, busy = busy_quiet
    params = {"n_estimators": 80, "min_child_samples": 20} if cls is LightGBMForecaster else {}
    with_ctx = cls(**params).fit(burg, units=units, until=UNTIL, context=ctx)
    without = cls(**params, context_features=False).fit(burg, units=units, until=UNTIL)
    k = int(busy.sum())
    p_with = _top_precision(with_ctx.predict(start=UNTIL, end=END).mean, busy, k)
    p_without = _top_precision(without.predict(start=UNTIL, end=END).mean, busy, k)
    # Measured: lgbm 0.94 vs 0.77, glm 1.00 vs 0.83.
    assert p_with >= 0.9
    assert p_with > p_without + 0.1
    # The level follows the true burglary rates, not the context's.
    mean = with_ctx.predict(start=UNTIL, end=END).mean
    assert 0.05 < mean[busy].mean() < 0.2
    assert mean[~busy].mean() < 0.05


def test_context_after_until_changes_nothing(busy_quiet):
    burg, ctx, units, busy = busy_quiet
    late = cube_events(
        np.where(~busy, 50, 0)[:, None] * np.ones((1, 3), int),
        np.asarray(units.ij),
        str(UNTIL.astype("datetime64[M]")),
        categories=("shoplifting",),
    )
    a = LightGBMForecaster(n_estimators=40, min_child_samples=20).fit(
        burg, units=units, until=UNTIL, context=ctx
    )
    b = LightGBMForecaster(n_estimators=40, min_child_samples=20).fit(
        burg, units=units, until=UNTIL, context=_concat(ctx, late)
    )
    np.testing.assert_array_equal(
        a.predict(start=UNTIL, end=END).mean, b.predict(start=UNTIL, end=END).mean
    )


def test_context_features_hand_computed():
    """ctx_mean3 and ctx_mean_all of a cell equal hand counts; rings average neighbours."""
    units = block_units(3, 3)
    ij = np.asarray(units.ij)
    n_months = 10
    counts = np.zeros((9, n_months), int)
    centre = int(np.flatnonzero((ij[:, 0] == 1) & (ij[:, 1] == 1))[0])
    counts[centre] = np.arange(n_months)  # 0, 1, ..., 9 incidents
    other = cube_events(counts, ij, "2020-01", categories=("shoplifting",))
    burg = cube_events(np.ones((9, n_months), int), ij, "2020-01")
    until = (np.datetime64("2020-01", "M") + n_months).astype("datetime64[s]")
    ts = training_set(
        burg,
        units,
        until,
        freq="M",
        weights=None,
        covariates=np.empty((9, 0)),
        covariate_names=(),
        n_origins=4,
        min_history=2,
        context=_concat(burg, other),
    )
    names, fams = ts.builder.names_families()
    assert [n for n, f in zip(names, fams, strict=True) if f == "context"] == [
        "ctx_mean3",
        "ctx_mean_all",
        "ctx_r1_mean_all",
        "ctx_r3_mean_all",
    ]
    o = 8  # features from months 0..7
    X = ts.builder.matrix(o, 0, 9)
    col = {n: j for j, n in enumerate(names)}
    # Centre: burglary 1 per month plus 0..7 shoplifting.
    assert X[centre, col["ctx_mean3"]] == pytest.approx(1 + (5 + 6 + 7) / 3)
    assert X[centre, col["ctx_mean_all"]] == pytest.approx(1 + sum(range(8)) / 8)
    corner = int(np.flatnonzero((ij[:, 0] == 0) & (ij[:, 1] == 0))[0])
    assert X[corner, col["ctx_mean_all"]] == pytest.approx(1.0)
    # The corner's 1-ring holds 3 cells of the block (centre included), out of 8.
    assert X[corner, col["ctx_r1_mean_all"]] == pytest.approx((2 * 1.0 + 1 + 3.5) / 8)
    # Shares come from the context too: the centre is mostly shoplifting.
    assert X[centre, col["share_shoplifting"]] == pytest.approx(28 / (28 + 8))
