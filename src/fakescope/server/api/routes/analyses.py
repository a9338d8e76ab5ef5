"""``/v1/analyses``: submit an image or video, poll its job, download its artifacts, delete it.

Status codes: 202 accepted · 400 malformed form · 401 token · 404 unknown job or artifact ·
409 artifact of an unfinished job · 413 upload over ``max_upload_mb`` · 415 bytes that are no
supported image/video (sniffed, whatever the name) · 422 bad options, undecodable media, or a video
over ``max_duration_s`` / ``max_frames`` · 408 a body that stalls or takes too long · 429 every
worker busy and the queue full, or too many uploads in progress (``Retry-After``).
The body is received before a job slot is taken, so a slow client holds no slot.
"""

from __future__ import annotations

import logging
import mimetypes
import os
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, ValidationError

from ....progress import describe
from ...deps import SettingsDep, StoreDep
from ...jobs import AnalysisOptions, Job, QueueFull, Rejected, options_error
from ...uploads import ClientGone, UploadError, discard_body, receive_upload

log = logging.getLogger(__name__)
router = APIRouter(prefix="/analyses", tags=["analyses"])

_REPORT_CSP = (
    "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)


class JobCreated(BaseModel):
    id: str
    status: str
    url: str = Field(description="where to poll the job")


class Progress(BaseModel):
    stage: str = Field(description="decode, detect, classify, explain or render")
    done: int = Field(description="units of the stage done so far (frames, faces, maps)")
    total: int | None = Field(description="units of the stage expected (None when unknown)")
    text: str = Field(description="the same as one line, e.g. 'Explaining: 3 of 8 maps'")


class JobView(BaseModel):
    id: str
    status: str = Field(description="queued, running, done or failed")
    created: str
    started: str | None = None
    finished: str | None = None
    filename: str | None = Field(None, description="the client's file name, sanitised (metadata only)")
    kind: str | None = None
    size_bytes: int | None = None
    options: dict[str, Any]
    error: str | None = Field(None, description="one-line reason when failed")
    progress: Progress | None = Field(None, description="while running: the current stage and its progress")
    queue_position: int | None = Field(None, description="while queued: 1 = next to run")
    artifacts: list[str] = Field([], description="names for GET /v1/analyses/{id}/artifacts/{name}")
    result: dict[str, Any] | None = Field(None, description="result.json (same schema as the CLI) when done")


def view(job: Job, result: dict | None = None) -> JobView:
    p = job.progress
    return JobView(
        id=job.id,
        status=job.status,
        created=job.created,
        started=job.started,
        finished=job.finished,
        filename=job.filename,
        kind=job.kind,
        size_bytes=job.size_bytes,
        options=job.options,
        error=job.error,
        progress=Progress(stage=p[0], done=p[1], total=p[2], text=describe(*p)) if p else None,
        queue_position=job.queue_position,
        artifacts=job.artifacts,
        result=result,
    )


def parse_options(fields: dict[str, list[str]]) -> AnalysisOptions:
    """Form fields → options (422 on any unknown field or invalid value). ``explain`` may repeat."""
    data: dict[str, Any] = {}
    for key, values in fields.items():
        values = [v for v in values if v.strip()]
        if values:
            data[key] = values if key == "explain" else values[-1]
    try:
        return AnalysisOptions.model_validate(data)
    except ValidationError as e:
        raise HTTPException(422, detail=options_error(e)) from None


_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "image or video"},
                        **{
                            k: {**v, "description": v.get("description", "")}
                            for k, v in AnalysisOptions.model_json_schema()["properties"].items()
                            if k != "explain"
                        },
                        "explain": {"type": "string", "description": "explanation methods, comma list"},
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobCreated,
    openapi_extra=_FORM_SCHEMA,
    responses={400: {}, 408: {}, 413: {}, 415: {}, 422: {}, 429: {}},
)
async def create_analysis(request: Request, response: Response, store: StoreDep, settings: SettingsDep) -> JobCreated:
    """Upload one image or video (multipart field ``file``) with options; the analysis runs in the background."""

    def busy(why: str) -> HTTPException:
        return HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, detail=f"busy: {why}; retry later", headers={"Retry-After": "5"}
        )

    if not store.has_capacity():  # refuse at once rather than after the whole body
        await discard_body(request, settings.max_upload_bytes, settings.upload_idle_timeout_s)
        raise busy(f"all {settings.workers} worker(s) busy and {settings.queue_size} job(s) queued")
    body_read = False
    try:
        with store.upload_slot() as staging:
            body_read = True
            try:
                upload = await receive_upload(
                    request, staging, settings.max_upload_bytes,
                    idle_timeout=settings.upload_idle_timeout_s, total_timeout=settings.upload_timeout_s,
                )
            except ClientGone:
                log.info("upload abandoned: the client disconnected before its body was complete")
                return Response(status_code=400)  # nobody is left to read it
            except UploadError as e:
                headers = {"Connection": "close"} if e.status_code == 408 else None
                raise HTTPException(e.status_code, detail=e.detail, headers=headers) from None
            options = parse_options(upload.fields)
            with store.admission() as ticket:  # only now, with the whole body on disk, take a job slot
                os.replace(staging, ticket.upload_path)
                try:
                    job = await run_in_threadpool(store.submit, ticket, upload.filename, options)
                except Rejected as e:
                    raise HTTPException(e.status_code, detail=e.detail) from None
    except QueueFull as e:
        if not body_read:
            await discard_body(request, settings.max_upload_bytes, settings.upload_idle_timeout_s)
        raise busy(str(e)) from None
    url = str(request.url_for("get_analysis", job_id=job.id).path)
    response.headers["Location"] = url
    return JobCreated(id=job.id, status=job.status, url=url)


@router.get("", response_model=list[JobView])
def list_analyses(store: StoreDep, limit: int = 50) -> list[JobView]:
    """The most recent jobs (without their results)."""
    return [view(j) for j in store.list(max(1, min(limit, 500)))]


def _job_or_404(store, job_id: str) -> Job:
    job = store.get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such analysis")
    return job


@router.get("/{job_id}", response_model=JobView)
def get_analysis(job_id: str, store: StoreDep) -> JobView:
    """The job's status; when done, ``result`` is the same JSON as the CLI's ``result.json``."""
    job = _job_or_404(store, job_id)
    return view(job, store.load_result(job) if job.status == "done" else None)


@router.get("/{job_id}/artifacts/{name:path}", response_class=FileResponse, responses={404: {}, 409: {}})
def get_artifact(job_id: str, name: str, store: StoreDep) -> FileResponse:
    """A file of a finished job: ``result.json``, ``report.html``, ``annotated.mp4|png``, ``heatmaps/<file>``."""
    job = _job_or_404(store, job_id)
    if job.status in ("queued", "running"):
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"the analysis is {job.status}; artifacts come when done")
    path = store.artifact_path(job, name)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such artifact")
    media_type = "application/octet-stream" if path.suffix == ".npy" else mimetypes.guess_type(path.name)[0]
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}
    if path.suffix == ".html":
        headers["Content-Security-Policy"] = _REPORT_CSP
    return FileResponse(
        path,
        media_type=media_type or "application/octet-stream",
        headers=headers,
        filename=path.name,
        content_disposition_type="attachment" if path.suffix in (".npy", ".json") else "inline",
    )


@router.delete("/{job_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_analysis(job_id: str, store: StoreDep) -> Response:
    """Cancel and delete the job and its files: a queued one never runs, a running one stops at its next
    frame, face or heatmap."""
    if not store.delete(job_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such analysis")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
