"""Property-based check of the whole API from its own OpenAPI schema (schemathesis).

Every operation gets up to 20 generated requests, as an admin (so requests reach
the handlers), on a store of its own (the fuzzed uploads write to it); no request
may produce a server error. The stream is left out (it stays open by design).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from crimemap.api import create_app  # noqa: E402
from crimemap.ingest import ingest  # noqa: E402
from crimemap.store import open_store  # noqa: E402
from crimemap.store.embedded import DuckDBStore  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_app(
    police_uk: Path, tmp_path_factory: pytest.TempPathFactory, settings_for: Any, auth: Any
) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("fuzz")
    st = open_store(tmp / "f.duckdb")
    assert isinstance(st, DuckDBStore)
    months = ["2024-01", "2024-02"]
    ingest(st, [police_uk / m / f"{m}-north-yorkshire-street.csv.gz" for m in months])
    app = create_app(settings_for(tmp, forecast_on_start=False), store=st)
    app.state.fuzz_headers = auth(st)
    yield app
    st.close()


def test_no_server_errors(fuzz_app: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app).exclude(path="/api/stream")
    headers = fuzz_app.state.fuzz_headers
    n_ops = 0
    codes: list[int] = []
    for result in schema.get_all_operations():
        op = result.ok()
        n_ops += 1

        @settings(
            max_examples=20,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy())
        def run(case: Any) -> None:
            r = case.call_and_validate(headers=headers, checks=[not_a_server_error])
            codes.append(r.status_code)

        run()
    assert n_ops >= 12
    # The generated requests reach the handlers (not all refused at validation or access).
    assert sum(200 <= c < 300 for c in codes) >= 5 and 403 not in codes
