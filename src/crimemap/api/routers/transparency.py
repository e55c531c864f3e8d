"""``GET /api/transparency``: the deployed system's transparency record (public)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from crimemap.api._access import ACTION_KEY, require
from crimemap.api._state import AppState
from crimemap.api.deps import State
from crimemap.safeguards import Principal, build_record

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["transparency"])


def _record(state: AppState) -> dict[str, Any]:
    s = state.settings
    # A record written by ``crimemap transparency`` (with back-test and fairness
    # results) wins; otherwise one is generated from the store and the settings.
    written = Path(s.out_dir) / "transparency" / "transparency.json"
    if written.is_file():
        data: dict[str, Any] = json.loads(written.read_text(encoding="utf-8"))
        return data
    config = {
        "model": s.forecast_model.split(":", 1)[0],
        "model_spec": s.forecast_model,
        "cell_m": s.forecast_cell_m,
        "crime_set": s.forecast_crime_set,
        "disclosure_threshold": s.disclosure_threshold,
        "retention_months": s.retention_months,
    }
    rec = build_record(state.store, config=config, now=datetime.now(UTC))
    return rec.data


@router.get(
    "/transparency",
    summary="Transparency record (ATRS-style model card) of this deployment",
    openapi_extra={ACTION_KEY: "transparency.read"},
)
async def transparency(
    state: State, who: Annotated[Principal, Depends(require("transparency.read"))]
) -> dict[str, Any]:
    """What is and is not predicted, model, data, accuracy, fairness, oversight,
    safeguards and switch-off conditions (``crimemap.safeguards.transparency``)."""
    return await run_in_threadpool(state.cached, ("transparency",), lambda: _record(state))
