"""Rich notebook display: result_html embeds real PNGs, escapes text, caps what it embeds, and
the apps' result classes show through it."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from rung.report.notebook import MAX_IMAGES, result_html

HOSTILE = '<script>alert("x")</script>'


def _png(path: Path) -> Path:
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    fig.savefig(path, format="png", dpi=40)
    return path


def test_result_html_embeds_plots_and_escapes_text(tmp_path):
    pngs = [_png(tmp_path / f"plot{i}.png") for i in range(MAX_IMAGES + 2)]
    (tmp_path / "fake.png").write_bytes(b"not a png")
    board = pd.DataFrame({"model": [HOSTILE, "rf"], "accuracy": [0.8412, 0.8]})
    html = result_html(
        "Table run", {"accuracy": 0.8412}, f"summary {HOSTILE}", [*pngs, tmp_path / "fake.png",
        tmp_path / "metrics.csv"], board,
    )  # fmt: skip
    assert "<script>" not in html and html.count("&lt;script&gt;") == 2
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == MAX_IMAGES  # the capped number; fake.png is not embedded
    assert base64.b64decode(images[0]) == pngs[0].read_bytes()
    assert "3 more plots in the run folder" in html  # 8 real + fake beyond the cap of 6
    assert '<td class="num">0.8412</td>' in html


def test_image_result_shows_as_html(tmp_path):
    from rung.vision.runs import ImageTrainResult

    loss = _png(tmp_path / "loss.png")
    result = ImageTrainResult(
        run_dir=tmp_path, model_path=tmp_path / "model.rung", metrics={"accuracy": 0.975},
        classes=["cat", "dog"], arch="resnet18", weights="imagenet", lr=2e-3, lr_source="finder",
        size=128, epochs=1, freeze_epochs=1, n_train=480, n_valid=120, seconds=30.0,
        files={"loss": loss, "model": tmp_path / "model.rung"},
    )  # fmt: skip
    html = result._repr_html_()
    assert html.startswith('<div class="rung-result"><h3>Image run</h3>')
    assert "0.9750" in html and "Fine-tuned resnet18" in html and html.count("<img ") == 1


def test_text_result_shows_as_html(tmp_path):
    from rung.text.train import TextTrainResult

    result = TextTrainResult(
        run_dir=tmp_path, model_path=tmp_path / "model.rung", metrics={"pearson": 0.8123},
        main_metric="pearson", best_epoch=2, epochs=2, lr=1e-4, model="minilm",
        data={"n_train": 450, "task": "regression", "template": "{anchor} [SEP] {target}",
              "max_len": 64, "n_valid": 150, "split": "group:anchor", "notes": []},
        seconds=20.0, files={"loss": _png(tmp_path / "loss.png")},
    )  # fmt: skip
    html = result._repr_html_()
    assert html.startswith('<div class="rung-result"><h3>Text run</h3>')
    assert "0.8123" in html and "split group:anchor" in html and html.count("<img ") == 1
