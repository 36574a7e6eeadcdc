"""One server for a model file: the JSON API and the gradio page on one port, run by uvicorn.

The API's routes are registered first and gradio is mounted at ``/`` after them (a route added
after that mount is never reached; gradio keeps its own API under ``/gradio_api``). The model
file is loaded once, when the server is built; requests never name a file to load.

>>> build_server  # doctest: +ELLIPSIS
<function build_server at ...>
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rung.serve.limits import Limits

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["build_server", "serve", "check_port"]


def build_server(
    model: str | os.PathLike,
    limits: Limits | None = None,
    examples: str | os.PathLike | None = None,
    page: str | os.PathLike | None = None,
    allow_origins: Sequence[str] = (),
    title: str | None = None,
) -> FastAPI:
    """The app serving ``model``: ``/api/*``, the gradio page at ``/``, and ``page`` (an HTML
    file, read now) at ``/index.html``. ``allow_origins``: sites whose pages may call the API
    from the browser (CORS), e.g. where a static page is published. ``title`` names the model
    on the pages (default: its file or run folder)."""
    from fastapi import FastAPI
    from fastapi.middleware.cors import CORSMiddleware

    from rung.serve.api import build_api, make_batcher
    from rung.serve.app import build_ui, example_images, gr
    from rung.serve.model import load_served

    served = load_served(model, limits, title)
    if examples is not None and served.kind != "image":
        raise ValueError(f"--examples is a folder of photos, for image models; this is {served.kind}.")  # fmt: skip
    shown = example_images(examples)
    html = Path(page).read_text(encoding="utf-8") if page is not None else None
    batcher = make_batcher(served)
    app = FastAPI(title=f"rung: {served.title}", docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json")  # fmt: skip
    if allow_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(allow_origins),
                           allow_methods=["GET", "POST"], allow_headers=["*"])  # fmt: skip
    build_api(served, batcher, page=html, app=app)
    app.router.on_shutdown.append(batcher.close)
    demo = build_ui(served, batcher, shown)
    return gr.mount_gradio_app(
        app, demo, path="/", max_file_size=served.limits.max_body_bytes, ssr_mode=False,
        allowed_paths=[str(Path(examples).resolve())] if examples is not None else None,
        footer_links=["api"],
    )  # fmt: skip


def check_port(host: str, port: int) -> None:
    """Refuse at once, with the fix, when ``port`` is taken (uvicorn would log and exit).

    >>> with socket.socket() as s:
    ...     s.bind(("127.0.0.1", 0)); s.listen(); taken = s.getsockname()[1]
    ...     check_port("127.0.0.1", taken)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    OSError: port ... on 127.0.0.1 is in use; pass another, e.g. --port ...
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise OSError(
                    f"port {port} on {host} is in use; pass another, e.g. --port {port + 1}"
                ) from None
            raise OSError(f"can't serve on {host}:{port}: {e.strerror}") from None


def serve(
    model: str | os.PathLike,
    host: str = "127.0.0.1",
    port: int = 7860,
    limits: Limits | None = None,
    examples: str | os.PathLike | None = None,
    page: str | os.PathLike | None = None,
    allow_origins: Sequence[str] = (),
    title: str | None = None,
    log_level: str = "info",
) -> None:
    """Serve ``model`` until Ctrl-C: the page at ``http://host:port/``, the API at
    ``/api/predict`` and ``/api/health``. ``host`` defaults to this machine only; pass
    ``0.0.0.0`` to let others reach it."""
    import uvicorn

    check_port(host, port)
    app = build_server(
        model, limits, examples=examples, page=page, allow_origins=allow_origins, title=title
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
