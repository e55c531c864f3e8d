"""The synthetic national set: readable by the police.uk reader, labelled, seeded, sized."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from crimemap.errors import InputError
from crimemap.ingest import read_batch
from crimemap.ingest._synth_forces import FORCES
from crimemap.ingest.policeuk import STREET_COLUMNS
from crimemap.ingest.synth import synth_forces, synthesize

SOURCE_MONTHS = ("2024-11", "2024-12", "2025-01")
TARGETS = ("north-yorkshire", "metropolitan", "city-of-london")
ROWS = 30_000


@pytest.fixture(scope="module")
def source(police_uk, tmp_path_factory):
    """Three months of North Yorkshire: the only source force."""
    root = tmp_path_factory.mktemp("src")
    for m in SOURCE_MONTHS:
        (root / m).mkdir()
        name = f"{m}-north-yorkshire-street.csv.gz"
        (root / m / name).symlink_to(police_uk / m / name)
    return root


@pytest.fixture(scope="module")
def synth(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "set"
    rep = synthesize(source, out, forces=TARGETS, months=4, rows=ROWS, start="2024-11", seed=3)
    return out, rep


def _raw(path):
    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in STREET_COLUMNS}, strings_can_be_null=False
        ),
    )


def test_layout_sizes_and_manifest(synth):
    out, rep = synth
    months = ("2024-11", "2024-12", "2025-01", "2025-02")
    expected = {out / m / f"{m}-{f}-street.csv.gz" for m in months for f in TARGETS}
    assert set(rep.files) == expected and all(p.exists() for p in expected)
    assert not list(out.rglob("*.tmp"))
    man = json.loads((out / "synth.json").read_text())
    assert man["synthetic"] is True and man["seed"] == 3
    per = man["rows_per_force_month"]
    assert sum(n for f in per.values() for n in f.values()) == ROWS == rep.rows
    # Volumes follow the (approximate) populations: the Met dwarfs the City.
    tot = {f: sum(v.values()) for f, v in per.items()}
    assert tot["metropolitan"] > 10 * tot["north-yorkshire"] > 10 * tot["city-of-london"] > 0
    assert "SYNTHETIC" in (out / "README.txt").read_text()


def test_every_row_is_labelled_synthetic(synth):
    _, rep = synth
    for path in rep.files:
        t = _raw(path)
        assert tuple(t.column_names) == STREET_COLUMNS
        for col in ("Reported by", "Falls within"):
            assert pc.all(pc.ends_with(t[col], " (SYNTHETIC)")).as_py()
        assert pc.all(pc.starts_with(t["Context"], "SYNTHETIC")).as_py()
        ids, cat = t["Crime ID"], t["Crime type"]
        asb = pc.equal(cat, "Anti-social behaviour")
        assert pc.all(pc.if_else(asb, pc.equal(ids, ""), pc.starts_with(ids, "SYNTH-"))).as_py()


def test_the_police_uk_reader_reads_every_row(synth):
    out, rep = synth
    b = read_batch(sorted(rep.files))
    inc = b.incidents
    assert inc.num_rows == ROWS  # nothing rejected, nothing merged
    man = json.loads((out / "synth.json").read_text())["rows_per_force_month"]
    got = pc.value_counts(inc["force"]).to_pylist()
    assert {d["values"]: d["counts"] for d in got} == {f: sum(v.values()) for f, v in man.items()}
    # Each force sits near its own (approximate) centre, far from the others.
    centres = {f.slug: (f.lon, f.lat) for f in FORCES}
    for force in TARGETS:
        sel = pc.and_(pc.equal(inc["force"], force), pc.is_valid(inc["lon"]))
        lon = np.median(inc["lon"].filter(sel).to_numpy())
        lat = np.median(inc["lat"].filter(sel).to_numpy())
        assert abs(lon - centres[force][0]) < 0.6 and abs(lat - centres[force][1]) < 0.4


def test_category_mix_close_to_the_source(synth, source):
    _, rep = synth
    src = pa.concat_tables(_raw(p) for p in sorted(source.rglob("*.csv.gz")))
    syn = pa.concat_tables(_raw(p) for p in rep.files if "metropolitan" in p.name)

    def shares(t):
        vc = pc.value_counts(t["Crime type"]).to_pylist()
        n = sum(d["counts"] for d in vc)
        return {d["values"]: d["counts"] / n for d in vc}

    s, y = shares(src), shares(syn)
    assert set(y) <= set(s)
    assert max(abs(s[k] - y.get(k, 0.0)) for k in s) < 0.02


def test_seeded_and_deterministic(source, synth, tmp_path):
    out, rep = synth
    again = synthesize(
        source, tmp_path / "a", forces=TARGETS, months=4, rows=ROWS, start="2024-11", seed=3
    )
    for p, q in zip(rep.files, again.files, strict=True):
        assert gzip.decompress(p.read_bytes()) == gzip.decompress(q.read_bytes())
    other = synthesize(
        source, tmp_path / "b", forces=TARGETS[:1], months=1, rows=500, start="2024-11", seed=4
    )
    mine = _raw(out / "2024-11" / "2024-11-north-yorkshire-street.csv.gz")
    theirs = _raw(other.files[0])
    assert len(theirs) == 500
    assert theirs["Longitude"].to_pylist()[:50] != mine["Longitude"].to_pylist()[:50]


def test_bad_requests_are_refused(source, tmp_path):
    with pytest.raises(InputError, match="atlantis"):
        synthesize(source, tmp_path / "x", forces=["atlantis"], months=1, rows=10)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "precious.csv").write_text("keep me")
    with pytest.raises(InputError, match="not empty"):
        synthesize(source, tmp_path / "busy", forces=["kent"], months=1, rows=10)
    assert (tmp_path / "busy" / "precious.csv").read_text() == "keep me"
    with pytest.raises(InputError, match="YYYY-MM"):
        synthesize(source, tmp_path / "y", months=1, rows=10, start="spring")
    assert len(synth_forces()) == 43


def test_synth_command(source, tmp_path):
    from typer.testing import CliRunner

    from crimemap.cli.app import app

    out = tmp_path / "cli"
    res = CliRunner().invoke(
        app,
        [
            "synth", str(out), "--source", str(source), "--force", "kent", "--months", "2",
            "--rows", "700", "--start", "2024-12", "--plain",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "SYNTHETIC: 700 rows in 2 files" in res.output
    assert read_batch(sorted(out.rglob("*-street.csv"))).incidents.num_rows == 700
