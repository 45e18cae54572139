"""HTTP intake: `POST /api/v1/lane-events` and `POST /api/v1/transactions` (FastAPI router).

The body is one JSON message or an array of up to `max_batch`; the answer lists every message with its
status (`accepted`, `updated`, `duplicate`, `rejected` with the reason, `queued` while the database is
away). Bearer-token auth (constant-time compare) comes before the body is read; the body is read in
chunks and refused past `max_body_bytes`. A body that is unusable as a whole (too big, not UTF-8, not JSON)
gets 413/400 and one dead letter; 503 means nothing was taken and the batch should be sent again.
"""

from __future__ import annotations

import contextlib
import hmac
from collections import Counter
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from ingest.events.intake import Intake, StoreUnavailable
from ingest.events.models import MODELS, Stream
from ingest.events.store import Outcome, Status
from ingest.events.validate import (
    MAX_DEAD_PAYLOAD,
    MAX_MESSAGE_BYTES,
    DeadLetter,
    PayloadError,
    decode_batch,
    validate_message,
)


class MessageResult(BaseModel):
    index: int
    message_id: str | None
    status: Status
    reason: str | None = None


class BatchResult(BaseModel):
    accepted: int
    updated: int
    duplicate: int
    rejected: int
    queued: int
    results: list[MessageResult]


class _BodyTooLarge(Exception):
    def __init__(self, size: str, head: bytes) -> None:
        self.size, self.head = size, head


_REFUSED = object()  # no token matched


def create_router(intake: Intake, token: str, *, lane_tokens: Mapping[str, Collection[str]] | None = None,
                  max_body_bytes: int = 1024 * 1024, max_batch: int = 500,
                  max_message_bytes: int = MAX_MESSAGE_BYTES, max_future_s: float = 300.0) -> APIRouter:
    """`token` may report every lane of the intake's scope (Intake.scope); each of `lane_tokens` only its
    lanes."""
    if not token:
        raise ValueError("the intake API needs a bearer token")
    # (token bytes, the lanes it may report: None for all)
    tokens = [(token.encode("utf-8"), None)] + [(t.encode("utf-8"), frozenset(lanes))
                                                 for t, lanes in (lane_tokens or {}).items()]
    router = APIRouter(prefix="/api/v1", tags=["intake"])

    def lanes_of(request: Request) -> Collection[str] | None | object:
        """The lanes the request's token may report (None: all), or _REFUSED."""
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        given_bytes = given.strip().encode("utf-8")
        found: Collection[str] | None | object = _REFUSED
        for expected, lanes in tokens:  # every token compared, so the time says nothing of which matched
            # compare_digest on bytes: constant time in the token's content (its length is not secret).
            if hmac.compare_digest(given_bytes, expected) and scheme.lower() == "bearer":
                found = lanes
        return found

    async def handle(request: Request, stream: Stream) -> JSONResponse:
        token_lanes = lanes_of(request)
        if token_lanes is _REFUSED:
            return JSONResponse({"detail": "missing or invalid bearer token"}, 401,
                                headers={"WWW-Authenticate": "Bearer"})
        source = f"http:{stream}"
        try:
            raw = await _read_body(request, max_body_bytes)
        except _BodyTooLarge as exc:
            reason = f"body of {exc.size} bytes exceeds {max_body_bytes}"
            return await _refuse(intake, DeadLetter.of(source, reason, exc.head), 413)
        try:
            items = decode_batch(raw, max_batch)
        except PayloadError as exc:
            return await _refuse(intake, DeadLetter.of(source, str(exc), raw), 413 if exc.too_large else 400)
        now = datetime.now(UTC)
        results = [validate_message(item, stream, source=source, now=now, max_future_s=max_future_s,
                                    max_message_bytes=max_message_bytes) for item in items]
        try:
            outcomes = await run_in_threadpool(intake.submit, results, token_lanes)
        except StoreUnavailable as exc:
            return JSONResponse({"detail": f"{exc}; nothing was taken, send the batch again"}, 503,
                                headers={"Retry-After": "5"})
        return JSONResponse(_summary(outcomes).model_dump())

    for path, stream in (("/lane-events", "lane_events"), ("/transactions", "transactions")):
        item = MODELS[stream].model_json_schema()
        body = {"oneOf": [item, {"type": "array", "items": item, "maxItems": max_batch}]}

        async def endpoint(request: Request, _stream: Stream = stream) -> JSONResponse:  # type: ignore[assignment]
            return await handle(request, _stream)

        router.add_api_route(
            path, endpoint, methods=["POST"], response_model=BatchResult,
            summary=f"Submit {stream.replace('_', ' ')} (one message or an array)",
            openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                           "security": [{"bearer": []}]})
    return router


def create_app(intake: Intake, token: str, **limits: Any) -> FastAPI:
    app = FastAPI(title="jianguan event intake", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.include_router(create_router(intake, token, **limits))
    return app


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    chunks: list[bytes] = []
    size = 0
    if declared.isdigit() and int(declared) > limit:
        head = b""
        async for chunk in request.stream():  # keep the start for the dead letter, stop reading there
            head += chunk
            if len(head) >= MAX_DEAD_PAYLOAD:
                break
        raise _BodyTooLarge(declared, head)
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge(f"more than {limit}", b"".join(chunks)[:MAX_DEAD_PAYLOAD])
        chunks.append(chunk)
    return b"".join(chunks)


async def _refuse(intake: Intake, dead: DeadLetter, status: int) -> JSONResponse:
    with contextlib.suppress(StoreUnavailable):  # the sender is told the body is unusable either way
        await run_in_threadpool(intake.submit, [dead])
    return JSONResponse({"detail": dead.reason}, status)


def _summary(outcomes: list[Outcome]) -> BatchResult:
    counts = Counter(o.status for o in outcomes)
    return BatchResult(accepted=counts["accepted"], updated=counts["updated"], duplicate=counts["duplicate"],
                       rejected=counts["rejected"], queued=counts["queued"],
                       results=[MessageResult(index=i, message_id=o.message_id, status=o.status, reason=o.reason)
                                for i, o in enumerate(outcomes)])
