"""``rung deploy space``: a folder that runs a model as a Hugging Face Space, as it is.

The folder holds ``app.py`` (serves the model with :func:`rung.serve.server.serve`: the gradio
page and the JSON API on one port), ``requirements.txt``, ``README.md`` (the Space's YAML
header: title, ``sdk: gradio``, ``app_file: app.py``...), ``.gitattributes`` (the model file
goes through Git LFS, which Spaces need for files over 10 MB), the model file (copied, checked
first), and with ``static=True`` an ``index.html`` (see :mod:`rung.serve.page`); example photos
go in ``examples/``. ``python app.py`` in the folder serves it on this machine.

An existing folder with files in it is only written into with ``force=True``, and then only
the files above are replaced.

>>> import tempfile
>>> from rung.modelfile import save_model_file
>>> from rung.models.registry import build_model
>>> config = {"kind": "image", "task": "classification", "classes": ["cat", "dog"],
...           "preprocessing": {"size": 32, "resize": "squish", "mean": [0.5] * 3, "std": [0.5] * 3}}
>>> model = save_model_file(tempfile.mkdtemp() + "/pets.rung",
...     build_model("timm", arch="resnet18", n_classes=2, pretrained=False), config)
>>> out = tempfile.mkdtemp() + "/space"
>>> sorted(write_space(model, out)["files"])
['.gitattributes', 'README.md', 'app.py', 'model.rung', 'requirements.txt']
>>> write_space(model, out)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
FileExistsError: .../space is not empty; pass --force to write the Space's files into it (other files are kept), or choose a new --out folder.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import rung
from rung.modelfile import ModelFileError, read_model_config
from rung.utils import atomic_write

__all__ = ["write_space", "space_readme", "APP_PY"]

APP_PY = '''"""A rung model as a web page and a JSON API (written by `rung deploy space`).

Here: `python app.py`, then open http://127.0.0.1:7860 (PORT or GRADIO_SERVER_PORT move it).
On a Hugging Face Space it starts by itself, on the port and address the Space gives.
"""

import os
from pathlib import Path

from rung.serve.server import serve

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    on_space = "SPACE_ID" in os.environ
    serve(
        HERE / "model.rung",
        host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0" if on_space else "127.0.0.1"),
        port=int(os.environ.get("PORT") or os.environ.get("GRADIO_SERVER_PORT") or 7860),
        examples=HERE / "examples" if (HERE / "examples").is_dir() else None,
        page=HERE / "index.html" if (HERE / "index.html").is_file() else None,
        title=__TITLE_REPR__,
    )
'''


def write_space(
    model: str | os.PathLike,
    out: str | os.PathLike,
    static: bool = False,
    force: bool = False,
    title: str | None = None,
    examples: str | os.PathLike | None = None,
    requirement: str | None = None,
) -> dict[str, Any]:
    """Write the Space folder ``out`` for the model file ``model``; returns ``{"out",
    "files", "summary"}``. ``requirement``: how the Space installs rung (default
    ``rung[serve]==<this version>``; a git URL or wheel works too)."""
    from rung.serve.model import SERVED_KINDS

    model, out = Path(model), Path(out)
    config = read_model_config(model)  # refuses anything that isn't a readable model file
    if config.get("kind") not in SERVED_KINDS:
        raise ModelFileError(
            model, f"rung serves {sorted(SERVED_KINDS)} models; this one is {config.get('kind')!r}."
        )
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file; give a folder for the Space.")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FileExistsError(
            f"{out} is not empty; pass --force to write the Space's files into it (other files "
            "are kept), or choose a new --out folder."
        )
    title = title or (model.parent.name if model.stem == "model" else model.stem)
    texts = {
        "app.py": APP_PY.replace("__TITLE_REPR__", repr(title)),
        "requirements.txt": (requirement or f"rung[serve]=={rung.__version__}") + "\n",
        "README.md": space_readme(title, config, static=static),
        ".gitattributes": "*.rung filter=lfs diff=lfs merge=lfs -text\n",
    }
    if static:
        from rung.serve.page import index_html

        texts["index.html"] = index_html(title)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        atomic_write(out / name, lambda f, text=text: f.write(text.encode("utf-8")))
    target = out / "model.rung"
    if not (target.exists() and target.resolve() == model.resolve()):
        atomic_write(target, lambda f: _copy(model, f))
    files = [*texts, "model.rung", *_copy_examples(examples, out / "examples")]
    return {"out": str(out), "files": files,
            "summary": f"wrote a Space for {model.name} in {out}: {', '.join(files)}; run it "
                       f"here with: cd {out} && python app.py"}  # fmt: skip


def _copy(source: Path, f: Any) -> None:
    with open(source, "rb") as src:
        shutil.copyfileobj(src, f)


def _copy_examples(folder: str | os.PathLike | None, dest: Path) -> list[str]:
    if folder is None:
        return []
    from rung.serve.app import MAX_EXAMPLES
    from rung.vision.io import get_image_files

    files = get_image_files(folder)[:MAX_EXAMPLES] if Path(folder).is_dir() else []
    if not files:
        raise ValueError(f"--examples {folder} holds no image files (jpg, png, webp, bmp).")
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for i, path in enumerate(files):
        name = f"{i:02d}-{path.name}"  # two photos may share a name in different folders
        atomic_write(dest / name, lambda f, path=path: _copy(path, f))
        copied.append(f"examples/{name}")
    return copied


def space_readme(title: str, config: dict[str, Any], static: bool = False) -> str:
    """The Space's README: its YAML header, then how to use and run it.

    >>> header = space_readme("pets", {"kind": "image", "classes": ["cat", "dog"]}).split("---")[1]
    >>> print(header)  # doctest: +ELLIPSIS
    <BLANKLINE>
    title: "pets"
    emoji: 🪜
    colorFrom: blue
    colorTo: green
    sdk: gradio
    sdk_version: ...
    app_file: app.py
    pinned: false
    <BLANKLINE>
    """
    try:
        gradio_version = version("gradio")
    except PackageNotFoundError:  # pragma: no cover - the serve extra brings it
        gradio_version = "..."
    kind = config.get("kind")
    if kind == "image":
        call = "curl -F image=@photo.jpg URL/api/predict"
    else:
        call = "curl -H 'content-type: application/json' -d '{\"row\": {...}}' URL/api/predict"
    what = f"classes {', '.join(map(str, config['classes']))}" if config.get("classes") else (
        f"predicts {config.get('target') or 'a number'}"
    )  # fmt: skip
    page = "\n- `/index.html`: a plain page (no build step) that calls the API" if static else ""
    return f"""---
title: {json.dumps(title, ensure_ascii=False)}
emoji: 🪜
colorFrom: blue
colorTo: green
sdk: gradio
sdk_version: {gradio_version}
app_file: app.py
pinned: false
---

# {title}

A {kind} model ({what}), trained with [rung](https://pypi.org/project/rung/) and served by
`rung deploy space`.

- `/`: the page: give it an input and see the answer
- `POST /api/predict`: the JSON API, e.g. `{call}`
- `GET /api/health`: what the model is and takes{page}

Run it on your machine: `pip install -r requirements.txt && python app.py`, then open
http://127.0.0.1:7860.

Publish it: create a Space (SDK: Gradio) on huggingface.co, then push this folder to it:
`git init && git lfs install && git add . && git commit -m "model" && git push
https://huggingface.co/spaces/<you>/<name> HEAD:main` (the model file goes through Git LFS).
"""
