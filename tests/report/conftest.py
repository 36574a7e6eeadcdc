"""A realistic run folder, made the way the apps make one: a real (tiny) fit whose Recorder
writes metrics.csv and the loss plot, a confusion matrix drawn with matplotlib, and a model file
written by rung.modelfile."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


def _fit_tiny_classifier():
    """Two overlapping Gaussian blobs, an MLP, three epochs: about a second on one thread."""
    import torch

    from rung.data.core import DataLoaders
    from rung.learner import Learner
    from rung.metrics import accuracy, error_rate
    from rung.models.registry import build_model

    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(100, 2, generator=g) - 0.6, torch.randn(100, 2, generator=g) + 0.6])
    y = torch.cat([torch.zeros(100), torch.ones(100)]).long()
    dls = DataLoaders.from_tensors(x, y, valid_pct=0.2, seed=42, batch_size=16)
    torch.manual_seed(0)
    model = build_model("mlp", n_in=2, n_out=2, layers=[8])
    learn = Learner(
        model, dls, loss_func=torch.nn.CrossEntropyLoss(), metrics=[accuracy, error_rate],
        progress=False, cpu=True,
    )  # fmt: skip
    learn.fit_one_cycle(3, 0.05)
    return learn, model


def _draw_confusion_matrix(path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 4))
    ax = fig.add_subplot()
    ax.imshow([[19, 1], [2, 18]], cmap="Blues")
    for (i, j), n in {(0, 0): 19, (0, 1): 1, (1, 0): 2, (1, 1): 18}.items():
        ax.text(j, i, str(n), ha="center", va="center")
    ax.set_xticks([0, 1], ["cat", "dog"])
    ax.set_yticks([0, 1], ["cat", "dog"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


@pytest.fixture(scope="session")
def made_run(tmp_path_factory) -> Path:
    """runs/<time>-images/ with config.json, metrics.csv, loss.png, confusion_matrix.png,
    notes.txt and model.rung. Tests that change it get a copy (``run_folder``)."""
    from rung.modelfile import save_model_file
    from rung.report.run_folder import mark_complete, new_run_dir, save_json

    learn, model = _fit_tiny_classifier()
    run = new_run_dir(tmp_path_factory.mktemp("made") / "runs", "images")
    learn.recorder.to_csv(run / "metrics.csv")
    learn.recorder.plot_loss(run / "loss.png")
    _draw_confusion_matrix(run / "confusion_matrix.png")
    final = learn.recorder.final_metrics()
    save_model_file(
        run / "model.rung", model, {"task": "classification", "classes": ["cat", "dog"]}
    )
    save_json(
        run / "config.json",
        {
            "app": "images",
            "task": "classification",
            "data": {"path": "data/cats_dogs", "n_train": 160, "n_valid": 40},
            "arch": "mlp",
            "hyperparameters": {"lr": 0.05, "epochs": 3, "batch_size": 16},
            "classes": ["cat", HOSTILE],
            "metrics": final,
            "seed": 42,
        },
    )
    (run / "notes.txt").write_text(f"A first try.\n{HOSTILE}\n")
    mark_complete(run)  # as record_run does when an app finishes
    return run


@pytest.fixture
def run_folder(made_run: Path, tmp_path: Path) -> Path:
    """A fresh copy of the made run, in tmp_path/runs/."""
    dest = tmp_path / "runs" / made_run.name
    shutil.copytree(made_run, dest)
    return dest


@pytest.fixture
def interrupted_run():
    """``interrupted_run(root)``: a run stopped by Ctrl-C before it finished."""
    return _interrupted_run


def _interrupted_run(root: Path, name: str = "images") -> Path:
    """A run whose process was stopped with Ctrl-C after drawing its first plot, the way
    `rung train images` is stopped mid-epoch: it never reaches record_run."""
    code = (
        "import sys\nfrom rung.report import new_run_dir\n"
        f"run = new_run_dir(sys.argv[1], {name!r})\n"
        "(run / 'show_batch.png').write_bytes(b'\\x89PNG\\r\\n\\x1a\\n')\n"
        "print(run)\nraise KeyboardInterrupt\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, env=env
    )
    assert done.returncode != 0 and "KeyboardInterrupt" in done.stderr
    return Path(done.stdout.strip())


@pytest.fixture(scope="session")
def titanic_run(tmp_path_factory, titanic_dir: Path):
    """A tiny real Titanic run: the tabular net alone (so lr_find runs), 2 epochs, no
    explanations: about 3 s."""
    from rung.tabular.train import train_table

    return train_table(
        titanic_dir / "train.csv", "Survived", models="nn", epochs=2, explain=False,
        out=tmp_path_factory.mktemp("titanic") / "runs",
    )  # fmt: skip


@pytest.fixture(scope="session")
def cats_dogs_run(tmp_path_factory, cats_dogs_dir: Path):
    """A tiny real cats_dogs fine-tune: 20 cats and 20 dogs (a random 25% validate), 64 px,
    one frozen epoch then one unfrozen, with lr_find: about 10 s."""
    data = tmp_path_factory.mktemp("pets")
    for label in ("cats", "dogs"):
        (data / label).mkdir()
        for path in sorted((cats_dogs_dir / "train" / label).glob("*.jpg"))[:20]:
            shutil.copy(path, data / label / path.name)
    from rung.vision.train import train_images

    return train_images(
        data, size=64, epochs=1, freeze_epochs=1, batch_size=16, valid_pct=0.25, seed=42,
        out=data.parent / "runs", num_workers=0, progress=False, say=None,
    )  # fmt: skip
