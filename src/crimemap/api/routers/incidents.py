"""``POST /api/incidents``: new incidents in real time, through the ingest pipeline."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from crimemap.api._access import ACTION_KEY, audit, require
from crimemap.api._cells import BASE_CELL_M
from crimemap.api._json_incidents import IncidentBatch, json_issues, to_street_csv
from crimemap.api._state import AppState
from crimemap.api.deps import State
from crimemap.api.errors import UploadTooLarge
from crimemap.errors import IngestError, InputError, RowIssue
from crimemap.safeguards import Principal

__all__ = ["router", "IngestResult"]

router = APIRouter(prefix="/api", tags=["incidents"])

_JSON_CSV = "incidents-street.csv"


class IngestResult(BaseModel):
    """What an upload did."""

    batch_id: int = Field(description="Batch id in the store (0: nothing new was written).")
    rows_read: int
    rows_inserted: int
    rows_updated: int = Field(description="Known incidents whose outcome changed.")
    rows_rejected: int = Field(description="Rows quarantined (policy=quarantine only).")
    skipped: list[str] = Field(description="Files already ingested (same bytes).")
    cells: list[str] = Field(description="250 m cells whose counts changed.")
    months: list[str]


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(f"upload of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise UploadTooLarge(f"upload exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _safe_name(name: str | None, default: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    return base.strip("._") or default


def _readdress(exc: IngestError, folder: str, name: str) -> IngestError:
    issues = [
        RowIssue(
            name if i.file.startswith(folder) else i.file,
            i.row,
            i.column,
            i.value,
            i.reason,
            i.detail,
        )
        for i in exc.issues
    ]
    return IngestError(issues, str(exc).split("\n", 1)[0].replace(folder + "/", ""))


def _ingest_bytes(
    state: AppState, data: bytes, name: str, policy: str, is_json: bool
) -> tuple[Any, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="crimemap-upload-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            return state.ingest_files([path], policy=policy)
        except IngestError as exc:
            if is_json:
                raise json_issues(exc, name) from None
            raise _readdress(exc, tmp, name) from None
        except InputError as exc:
            raise InputError(str(exc).replace(tmp + "/", "")) from None


@router.post(
    "/incidents",
    status_code=201,
    response_model=IngestResult,
    summary="Add incidents (JSON batch or CSV upload)",
    openapi_extra={
        ACTION_KEY: "ingest",
        "requestBody": {
            "content": {
                "application/json": {"schema": IncidentBatch.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
                "text/csv": {"schema": {"type": "string"}},
            }
        },
    },
)
async def post_incidents(
    request: Request,
    state: State,
    who: Annotated[Principal, Depends(require("ingest"))],
    policy: Annotated[
        str,
        Query(
            description="strict: any bad row refuses the whole batch; quarantine: good rows land, "
            "bad rows go to the rejects table.",
            pattern="^(strict|quarantine)$",
        ),
    ] = "strict",
    filename: Annotated[
        str | None,
        Query(
            description="File name of a raw CSV body (picks the reader, e.g. 2023-02-northumbria-street.csv)."
        ),
    ] = None,
) -> IngestResult:
    """Validate with the ingest pipeline, store atomically, update the layers, notify the maps.

    Bodies over ``max_upload_bytes`` are refused with 413; invalid JSON or
    rows with 422 (``issues`` lists file, row, column, value and reason).
    Nothing is written when a batch is refused.
    """
    limit = state.settings.max_upload_bytes
    body = await _read_body(request, limit)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_json = ctype in ("application/json", "")
    if is_json:
        try:
            batch = IncidentBatch.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(
                exc.errors(include_url=False, include_context=False)
            ) from None
        data, name = to_street_csv(batch), _JSON_CSV
    elif ctype == "multipart/form-data":

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        form = await Request(request.scope, receive).form(
            max_files=1, max_fields=10, max_part_size=limit
        )
        up = form.get("file")
        if not isinstance(up, UploadFile):
            raise InputError("multipart upload needs a 'file' field")
        data, name = await up.read(), _safe_name(up.filename, "upload.csv")
        await form.close()
    else:
        data, name = body, _safe_name(filename, "upload.csv")
    if not data:
        raise InputError("the upload is empty")
    report, change = await run_in_threadpool(_ingest_bytes, state, data, name, policy, is_json)
    cells = [f"g{BASE_CELL_M:g}:{i}:{j}" for i, j in change["cells"]]
    await audit(
        request,
        who,
        "ingest",
        n_rows=int(report.rows_inserted),
        detail={
            "batch_id": report.batch_id,
            "rows_read": report.rows_read,
            "rows_updated": report.rows_updated,
            "rows_rejected": report.rows_rejected,
            "forces": change["forces"],
            "via": "api",
        },
    )
    if report.rows_inserted or report.rows_updated:
        event = {
            "batch_id": report.batch_id,
            "rows_inserted": report.rows_inserted,
            "layers": ["incidents", "hotspots", "emerging"],
            "cells": cells[:2000],
            "months": change["months"],
            "forces": change["forces"],
            "version": list(state.version),
        }
        # Other workers (PostgreSQL) get the file ids instead of the cells: they
        # load those files' counts into their own index.
        relay = {k: v for k, v in event.items() if k not in ("cells", "version")}
        state.broker.publish("change", event, relay={**relay, "file_ids": change["file_ids"]})
    if report.rows_inserted:
        # Off the request path: a debounced background refit, announced on the stream.
        state.refitter.schedule(change["forces"], change["categories"])
    return IngestResult(
        batch_id=report.batch_id,
        rows_read=report.rows_read,
        rows_inserted=report.rows_inserted,
        rows_updated=report.rows_updated,
        rows_rejected=report.rows_rejected,
        skipped=[Path(s).name for s in report.skipped],
        cells=cells,
        months=change["months"],
    )
