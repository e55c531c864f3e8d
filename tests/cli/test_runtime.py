"""Process tuning applied by the CLI before every command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from crimemap.cli._common import apply_runtime
from crimemap.cli.app import app
from crimemap.settings import Settings


@pytest.fixture
def restore_pool() -> Iterator[None]:
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


@pytest.mark.usefixtures("restore_pool")
@pytest.mark.parametrize("pool", ["system", "jemalloc", "mimalloc"])
def test_apply_runtime_sets_the_configured_arrow_pool(pool: str) -> None:
    assert apply_runtime(Settings(arrow_memory_pool=pool)) == pool  # type: ignore[arg-type]
    assert pa.default_memory_pool().backend_name == pool
    # Buffers allocated now come from that pool.
    before = pa.default_memory_pool().bytes_allocated()
    arr = pa.array(range(100_000), pa.int64())
    assert pa.default_memory_pool().bytes_allocated() - before >= 8 * 100_000
    del arr


@pytest.mark.usefixtures("restore_pool")
def test_default_keeps_pyarrows_pool() -> None:
    pa.set_memory_pool(pa.system_memory_pool())
    assert apply_runtime(Settings(arrow_memory_pool="default")) == "system"


@pytest.mark.usefixtures("restore_pool")
def test_every_command_applies_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRIMEMAP_ARROW_MEMORY_POOL", "system")
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    r = CliRunner().invoke(app, ["status", "--store", str(tmp_path / "s.duckdb")])
    assert r.exit_code == 0, r.output
    assert pa.default_memory_pool().backend_name == "system"


def test_unknown_pool_name_is_refused() -> None:
    with pytest.raises(ValueError, match="arrow_memory_pool"):
        Settings(arrow_memory_pool="tcmalloc")  # type: ignore[arg-type]
