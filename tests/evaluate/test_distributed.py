"""Back-tests and forecasts on Dask give exactly the serial numbers.

A small real back-test (2 forces x 2 crime sets x 2 fast models, 6 months of
police.uk data, 2 origins) runs serially in this process and on a real
2-worker Dask cluster whose workers open the DuckDB store read-only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crimemap.errors import InputError, NotFoundError
from crimemap.evaluate import backtest
from crimemap.evaluate.distributed import (
    distributed_backtest,
    distributed_forecasts,
    worker_store_url,
)
from crimemap.ingest import ingest
from crimemap.store import open_store

FORCES = ("north-yorkshire", "south-yorkshire")
MONTHS = ("2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12")
SETS = ("all-crime", "burglary")
MODELS = ("mean:k=3", "ewm")
TIMINGS = ["fit_seconds", "predict_seconds"]


@pytest.fixture(scope="module")
def store_path(police_uk, tmp_path_factory):
    path = tmp_path_factory.mktemp("dist") / "two.duckdb"
    files = [police_uk / m / f"{m}-{f}-street.csv.gz" for f in FORCES for m in MONTHS]
    with open_store(path) as st:
        ingest(st, files)
    return path


@pytest.fixture(scope="module")
def cluster():
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    ) as c:
        yield c


def _same(a, b):
    """Every metric, every prediction and the data description, exactly equal."""
    pa_, pb = a.per_origin().drop(columns=TIMINGS), b.per_origin().drop(columns=TIMINGS)
    pd.testing.assert_frame_equal(pa_, pb, check_exact=True)
    assert len(a.results) == len(b.results) > 0
    for ra, rb in zip(a.results, b.results, strict=True):
        np.testing.assert_array_equal(ra.ij, rb.ij)
        np.testing.assert_array_equal(ra.mean, rb.mean)
        for x, y in ((ra.lo90, rb.lo90), (ra.hi90, rb.hi90)):
            assert (x is None) == (y is None)
            if x is not None:
                np.testing.assert_array_equal(x, y)
    assert [dict(m) for m in a.meta] == [dict(m) for m in b.meta]


@pytest.mark.slow
def test_serial_equals_dask(store_path, cluster):
    kw = dict(forces=FORCES, crime_sets=SETS, models=MODELS, n_origins=2)
    seen = []
    serial = distributed_backtest(store_path, **kw)
    dask = distributed_backtest(
        store_path,
        **kw,
        scheduler=cluster.scheduler_address,
        progress=lambda done, total: seen.append((done, total)),
    )
    _same(serial, dask)
    # Shared fits: one task per force x crime set (2 x 2), each reported once.
    assert seen[-1] == (4, 4) and [d for d, _ in seen] == list(range(1, 5))
    # One task per model gives the same numbers: 2 forces x 2 sets x (2 references + 2 models).
    seen.clear()
    alone = distributed_backtest(
        store_path,
        **kw,
        scheduler=cluster.scheduler_address,
        share_fits=False,
        progress=lambda done, total: seen.append((done, total)),
    )
    _same(serial, alone)
    assert seen[-1] == (16, 16) and [d for d, _ in seen] == list(range(1, 17))
    df = dask.per_origin()
    assert list(dict.fromkeys(df.force)) == list(FORCES)
    assert set(df.model) == {"oracle", "hindsight", *MODELS}
    assert sorted(set(df.origin)) == ["2025-11-01T00:00:00", "2025-12-01T00:00:00"]
    assert (df[df.model == "oracle"]["pei@5%"] == 1.0).all()


@pytest.mark.slow
def test_serial_run_equals_the_single_force_backtest(store_path):
    with open_store(store_path, read_only=True) as st:
        inc = st.incidents(forces=["north-yorkshire"])
    ref = backtest(inc, crime_sets=SETS, models=MODELS, n_origins=2, force="north-yorkshire")
    ours = distributed_backtest(
        store_path, forces=["north-yorkshire"], crime_sets=SETS, models=MODELS, n_origins=2
    )
    _same(ref, ours)


@pytest.mark.slow
def test_forecasts_serial_equal_dask(store_path, cluster):
    kw = dict(forces=FORCES, crime_sets=SETS, model="ewm", horizon="1m")
    serial = distributed_forecasts(store_path, **kw)
    dask = distributed_forecasts(store_path, **kw, scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(serial, dask, check_exact=True)
    assert set(serial.origin) == {"2026-01"}
    assert list(dict.fromkeys(zip(serial.force, serial.crime_set, strict=True))) == [
        (f, cs) for f in FORCES for cs in SETS
    ]


@pytest.mark.slow
def test_errors_of_a_task_reach_the_caller(store_path, cluster):
    with pytest.raises(NotFoundError, match="atlantis"):
        distributed_backtest(
            store_path,
            forces=["atlantis"],
            crime_sets=["burglary"],
            models=["mean"],
            scheduler=cluster.scheduler_address,
        )


def test_store_url_for_workers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert worker_store_url("x.duckdb") == f"duckdb:///{tmp_path / 'x.duckdb'}"
    assert worker_store_url("duckdb:///x.duckdb") == f"duckdb:///{tmp_path / 'x.duckdb'}"
    assert worker_store_url("postgresql://u@h:5/db") == "postgresql://u@h:5/db"
    for bad in (":memory:", "duckdb://", "sqlite:///x.db"):
        with pytest.raises(InputError):
            worker_store_url(bad)


@pytest.mark.slow
def test_backtest_command_on_a_local_dask_cluster(store_path, tmp_path):
    from typer.testing import CliRunner

    from crimemap.cli.app import app

    out = tmp_path / "rep"
    export = tmp_path / "pred.parquet"
    res = CliRunner().invoke(
        app,
        [
            "backtest", "--force", "all", "--crime-set", "burglary", "--model", "mean:k=3",
            "--origins", "1", "--workers", "2", "--out", str(out), "--export", str(export),
            "--store", str(store_path),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    md = (out / "report.md").read_text()
    assert all(f"## {f} - burglary" in md for f in FORCES)
    df = pd.read_parquet(export)
    assert set(df.force) == set(FORCES) and set(df.origin) == {"2025-12"}
    serial = distributed_backtest(
        store_path, forces=FORCES, crime_sets=["burglary"], models=["mean:k=3"], n_origins=1
    )
    from crimemap.evaluate import predictions_frame

    pd.testing.assert_frame_equal(
        df.reset_index(drop=True), predictions_frame(serial), check_exact=True
    )


def test_an_unreachable_scheduler_is_a_clean_error(tmp_path):
    from tests._live import free_port

    with open_store(tmp_path / "s.duckdb"):
        pass
    with pytest.raises(InputError, match="Dask scheduler"):
        distributed_backtest(
            tmp_path / "s.duckdb",
            forces=["kent"],
            crime_sets=["burglary"],
            models=["mean"],
            scheduler=f"tcp://127.0.0.1:{free_port()}",
            connect_timeout=1.0,
        )
