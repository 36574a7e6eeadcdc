"""Model files and live servers for the serve tests.

The image model is a small resnet18 with seeded random weights (building and exporting it takes
well under a second; training one would take 30 s here), saved the way ``train_images`` saves
one; its predictions are checked against ``rung.load(path).predict`` on real photos. The table
model is a logistic regression trained on the real Titanic rows (about 3 s).
Servers run in a thread on 127.0.0.1, on a socket bound to a free port before uvicorn starts.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

IMAGE_SIZE = 64


def make_image_model(path: Path, size: int = IMAGE_SIZE) -> Path:
    """A 2-class (cats, dogs) image model file with seeded random weights."""
    import torch

    from rung.modelfile import save_model_file
    from rung.models.registry import build_model

    torch.manual_seed(0)
    model = build_model("timm", arch="resnet18", n_classes=2, pretrained=False)
    preprocessing = {"size": size, "resize": "crop", "mean": [0.485, 0.456, 0.406],
                     "std": [0.229, 0.224, 0.225], "interpolation": "bilinear"}  # fmt: skip
    config = {"kind": "image", "task": "classification", "classes": ["cats", "dogs"],
              "preprocessing": preprocessing, "arch": "resnet18"}  # fmt: skip
    return save_model_file(path, model, config)


@pytest.fixture(scope="session")
def image_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_image_model(tmp_path_factory.mktemp("image") / "pets.rung")


@pytest.fixture(scope="session")
def trained_image_model(tmp_path_factory: pytest.TempPathFactory, cats_dogs_dir: Path) -> Path:
    """The model file of the vision tests' shared cats_dogs run (trained once per session,
    ~35 s: tests/_vision_run.py), so a browser test can check a real model's answers."""
    from _vision_run import trained_run

    result, _ = trained_run(cats_dogs_dir, tmp_path_factory.mktemp("cats_dogs_run"))
    return result.model_path


@pytest.fixture(scope="session")
def titanic_model(tmp_path_factory: pytest.TempPathFactory, titanic_dir: Path) -> Path:
    from rung.tabular.train import train_table

    run = train_table(
        titanic_dir / "train.csv", "Survived", models="linear", explain=False, progress=False,
        out=tmp_path_factory.mktemp("titanic"),
    )  # fmt: skip
    return run.model_path


@pytest.fixture(scope="session")
def photos(cats_dogs_dir: Path) -> dict[str, list[Path]]:
    """Real photos: a few cats and dogs from the validation folders."""
    return {
        "cats": sorted((cats_dogs_dir / "val" / "cats").glob("*.jpg"))[:8],
        "dogs": sorted((cats_dogs_dir / "val" / "dogs").glob("*.jpg"))[:8],
    }


class LiveServer:
    """An app served by uvicorn in a thread on 127.0.0.1; ``url`` is its address."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.app = app
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server didn't start")
            time.sleep(0.05)

    @property
    def served(self) -> Any:
        return self.app.state.served

    @property
    def batcher(self) -> Any:
        return self.app.state.batcher

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.socket.close()


@pytest.fixture(scope="session")
def live_server():
    """``start(model, **build_server kwargs) -> LiveServer``; all stopped at the end."""
    from rung.serve.server import build_server

    started: list[LiveServer] = []

    def start(model: Path, **kwargs: Any) -> LiveServer:
        server = LiveServer(build_server(model, **kwargs))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def image_server(live_server, image_model: Path) -> LiveServer:
    """The image model with the static page at /index.html; a longer batching wait than the
    default makes batching independent of how busy the machine is."""
    from rung.serve.limits import Limits
    from rung.serve.page import index_html

    page = image_model.parent / "index.html"
    page.write_text(index_html("pets"))
    return live_server(image_model, limits=Limits(max_wait_ms=50, max_items=8), page=page)


@pytest.fixture(scope="session")
def table_server(live_server, titanic_model: Path) -> LiveServer:
    return live_server(titanic_model)
