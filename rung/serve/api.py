"""The JSON API: ``GET /api/health`` and ``POST /api/predict``, on a FastAPI app.

``/api/predict`` takes

- images as a multipart upload (``curl -F image=@cat.jpg``; several ``image`` parts for a
  batch) or as JSON ``{"image": "<base64>"}`` / ``{"images": [...]}``;
- table rows as JSON ``{"row": {"Sex": "female", "Age": 30}}`` / ``{"rows": [...]}``;
- texts as JSON ``{"text": "..."}`` or ``{"row": {column: text}}`` (and their lists);

and answers ``{"prediction": {...}}`` for one item, ``{"predictions": [...]}`` for a list.
The body is read by the route itself, in chunks, up to the size cap (413 past it), so a
missing field or a wrong type gets a 4xx whose JSON names it (``{"error": ..., "status": ...}``)
rather than a framework's generic answer. Every request holds one of the batcher's in-flight
places from its first byte to its answer.

>>> from fastapi.testclient import TestClient
>>> import tempfile
>>> from rung.modelfile import save_model_file
>>> from rung.models.registry import build_model
>>> from rung.serve.model import load_served
>>> config = {"kind": "image", "task": "classification", "classes": ["a", "b"],
...           "preprocessing": {"size": 32, "resize": "squish", "mean": [0.5] * 3, "std": [0.5] * 3}}
>>> path = save_model_file(tempfile.mkdtemp() + "/m.rung",
...     build_model("timm", arch="resnet18", n_classes=2, pretrained=False), config)
>>> client = TestClient(build_api(load_served(path)))
>>> client.get("/api/health").json()["classes"]
['a', 'b']
>>> r = client.post("/api/predict", json={"picture": "..."})
>>> r.status_code, r.json()["error"].split(" (")[0]
(400, "the JSON body needs the field 'image'")
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from rung.serve.batching import Batcher
from rung.serve.limits import ApiError, read_capped
from rung.serve.model import ServedModel

__all__ = ["build_api", "make_batcher", "parse_request"]


def make_batcher(served: ServedModel) -> Batcher:
    """The batcher of a served model, sized by its limits."""
    limits = served.limits
    return Batcher(
        served.predict_groups, max_batch=limits.max_batch,
        max_wait=limits.max_wait_ms / 1000, max_in_flight=limits.max_in_flight,
    )  # fmt: skip


def build_api(
    served: ServedModel,
    batcher: Batcher | None = None,
    page: str | None = None,
    app: FastAPI | None = None,
) -> FastAPI:
    """A FastAPI app (or ``app``) with the API's routes, and ``GET /index.html`` serving
    ``page`` (the static page's HTML) when given. Register these before mounting gradio at
    ``/``: a route added after that mount is never reached."""
    batcher = batcher or make_batcher(served)
    app = app or FastAPI(title=f"rung: {served.title}", docs_url="/api/docs", redoc_url=None,
                         openapi_url="/api/openapi.json")  # fmt: skip
    app.state.served, app.state.batcher = served, batcher
    started = time.time()

    @app.exception_handler(ApiError)
    async def refuse(request: Request, e: ApiError) -> JSONResponse:
        return JSONResponse(e.to_json(), status_code=e.status, headers=e.headers)

    @app.exception_handler(Exception)
    async def fail(request: Request, e: Exception) -> JSONResponse:  # a bug: logged, then this
        message = f"the server failed on this request ({type(e).__name__}: {e}); it keeps serving"
        return JSONResponse({"error": message, "status": 500}, status_code=500)

    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok", **served.info(), "limits": served.limits.to_dict(),
            "stats": {**batcher.stats.to_dict(), "in_flight": batcher.in_flight},
            "uptime_s": round(time.time() - started, 1),
        }  # fmt: skip

    @app.post("/api/predict")
    async def predict(request: Request) -> dict[str, Any]:
        async with batcher.admit():
            items, single = await parse_request(request, served)
            prepared = await asyncio.to_thread(lambda: [served.prepare(i) for i in items])
            results = await batcher.predict(prepared)
        return {"prediction": results[0]} if single else {"predictions": results}

    if page is not None:

        @app.get("/index.html", response_class=HTMLResponse)
        async def index() -> str:
            return page

    return app


async def parse_request(request: Request, served: ServedModel) -> tuple[list[Any], bool]:
    """``(items, single)`` from a request: the body read up to the cap, then JSON or
    multipart by its Content-Type; a batch over ``max_items`` is refused (413)."""
    limits = served.limits
    body = await read_capped(
        request.stream(), limits.max_body_bytes, request.headers.get("content-length")
    )
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        items, single = served.items_from_json(_json(body))
    elif kind == "multipart/form-data":
        items = served.items_from_files(await _files(request, body, limits.max_items))
        single = len(items) == 1
    else:
        raise ApiError(
            415, f"Content-Type {kind or 'none'!r} is not one /api/predict reads; send JSON "
            "(application/json) or, for images, a multipart upload. " + served.example(),
        )  # fmt: skip
    if len(items) > limits.max_items:
        raise ApiError(
            413, f"{len(items)} items in one request, over the server's cap of "
            f"{limits.max_items}; split them into several requests (or start the server with "
            "a larger --max-items)",
        )  # fmt: skip
    return items, single


def _json(body: bytes) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON; send null for a missing value")

    try:
        return json.loads(body, parse_constant=refuse)
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"the body is not valid JSON: {e}") from None


async def _files(request: Request, body: bytes, max_items: int) -> list[tuple[str, bytes]]:
    """The ``image`` parts of a multipart body already read (the body is replayed to the
    form parser, so nothing is read twice)."""

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(
            max_files=max_items + 1, max_fields=max_items + 1
        )
    except Exception as e:  # a malformed body, too many parts
        detail = getattr(e, "detail", None) or str(e)
        raise ApiError(400, f"the multipart body can't be read: {detail}") from None
    try:
        unknown = [k for k in form if k not in ("image", "images")]
        if unknown:
            raise ApiError(
                400, f"unknown form field(s) {unknown}; send each image as a file field named "
                "'image' (curl -F image=@photo.jpg)",
            )  # fmt: skip
        parts = form.getlist("image") + form.getlist("images")
        if not parts:
            raise ApiError(400, "no 'image' field in the upload; curl -F image=@photo.jpg")
        files = []
        for i, part in enumerate(parts):
            if isinstance(part, str):
                raise ApiError(422, "the 'image' field must be a file, got a plain text value")
            name = part.filename or f"image[{i}]"
            files.append((name, await part.read()))
        return files
    finally:
        await form.close()
