"""Where a text model is wrong: the validation inputs with the largest losses, shown as text;
predicted against actual scores (regression) or the confusion matrix (classification); and
the token lengths of the inputs.

A text run writes ``valid_predictions.csv`` (every validation row: its input, the actual and
predicted values, class probabilities, the loss); :meth:`TextInterpretation.from_run` reads it
back, so ``rung interpret RUN`` needs no model and no re-prediction.

>>> import numpy as np
>>> interp = TextInterpretation(["a", "b", "c"], np.array([0.0, 0.5, 1.0]),
...                             np.array([0.1, 0.5, 0.2]), task="regression")
>>> interp.top_losses(1)[["input", "actual", "predicted"]].values.tolist()
[['c', 1.0, 0.2]]
>>> round(interp.pearson, 3)
0.24
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TextInterpretation", "plot_token_lengths", "PREDICTIONS_FILE"]

PREDICTIONS_FILE = "valid_predictions.csv"


class TextInterpretation:
    """Validation ``texts``, their ``targets`` (values, or class indices) and ``preds``
    (values (N,), or class probabilities (N, C)), for ``task``; ``classes`` names the
    columns of the probabilities; ``ids`` the rows."""

    def __init__(
        self,
        texts: Sequence[str],
        targets: np.ndarray,
        preds: np.ndarray,
        task: str,
        classes: Sequence[Any] | None = None,
        ids: Sequence[Any] | None = None,
    ) -> None:
        self.texts, self.task = list(texts), task
        self.targets, self.preds = np.asarray(targets), np.asarray(preds, dtype=np.float64)
        if task == "regression":
            self.targets, self.preds = self.targets.astype(float).ravel(), self.preds.ravel()
            self.losses = (self.preds - self.targets) ** 2
        elif task == "multilabel":  # targets (N, labels) 0/1; the loss: mean BCE over labels
            self.targets = self.targets.astype(np.float64)
            p = np.clip(self.preds, 1e-12, 1 - 1e-12)
            bce = -(self.targets * np.log(p) + (1 - self.targets) * np.log(1 - p))
            self.losses = bce.mean(1)
        else:
            self.targets = self.targets.astype(np.int64).ravel()
            picked = self.preds[np.arange(len(self.targets)), self.targets]
            self.losses = -np.log(np.clip(picked, 1e-12, 1.0))
        if not len(self.texts) == len(self.targets) == len(self.preds):
            raise ValueError(
                f"{len(self.texts)} texts, {len(self.targets)} targets, {len(self.preds)} preds."
            )
        self.classes = list(classes) if classes is not None else None
        self.ids = list(ids) if ids is not None else None

    @classmethod
    def from_run(cls, run: str | os.PathLike) -> TextInterpretation:
        """Read a text run's ``valid_predictions.csv`` (and its config.json for the task)."""
        run = Path(run)
        config_path, preds_path = run / "config.json", run / PREDICTIONS_FILE
        for p in (config_path, preds_path):
            if not p.is_file():
                raise FileNotFoundError(
                    f"{str(run)!r} is not a finished text run: it has no {p.name}. Give a folder "
                    "that `rung train text` (rung.text.train.train_text) wrote."
                )
        config = json.loads(config_path.read_text())
        df = pd.read_csv(preds_path, keep_default_na=False)
        task, classes = config["task"], config.get("classes")
        ids = df["id"].tolist() if "id" in df.columns else None
        if task == "regression":
            return cls(df["input"], df["actual_value"].to_numpy(float),
                       df["predicted_value"].to_numpy(float), task, ids=ids)  # fmt: skip
        probs = df[[f"P({c})" for c in classes]].to_numpy(float)
        if task == "multilabel":
            actual = df[[f"y({c})" for c in classes]].to_numpy(float)
            return cls(df["input"], actual, probs, task, classes, ids)
        return cls(df["input"], df["actual_index"].to_numpy(), probs, task, classes, ids)

    @property
    def decoded(self) -> np.ndarray:
        """Predicted values, class indices, or (multi-label) 0/1 per label (over 0.5)."""
        if self.task == "multilabel":
            from rung.metrics import MULTI_LABEL_THRESHOLD

            return (self.preds > MULTI_LABEL_THRESHOLD).astype(np.float64)
        return self.preds if self.task == "regression" else self.preds.argmax(1)

    @property
    def pearson(self) -> float:
        """Pearson correlation of predicted and actual scores (regression)."""
        return float(np.corrcoef(self.preds, self.targets)[0, 1])

    def _label(self, values: np.ndarray) -> list[Any]:
        if self.task == "regression":
            return [float(v) for v in values]
        if self.task == "multilabel":
            return [";".join(str(c) for c, on in zip(self.classes, row) if on) for row in values]
        return [self.classes[int(i)] if self.classes else int(i) for i in values]

    def table(self) -> pd.DataFrame:
        """Every row: (id), input, actual, predicted, loss (+ probabilities, + the indices)."""
        columns: dict[str, Any] = {} if self.ids is None else {"id": self.ids}
        columns["input"] = self.texts
        columns["actual"] = self._label(self.targets)
        columns["predicted"] = self._label(self.decoded)
        columns["loss"] = self.losses
        if self.task == "regression":
            columns["actual_value"], columns["predicted_value"] = self.targets, self.preds
        elif self.task == "multilabel":
            for i, c in enumerate(self.classes):
                columns[f"P({c})"] = self.preds[:, i]
            for i, c in enumerate(self.classes):
                columns[f"y({c})"] = self.targets[:, i].astype(int)
        else:
            columns["actual_index"] = self.targets
            for i, c in enumerate(self.classes or range(self.preds.shape[1])):
                columns[f"P({c})"] = self.preds[:, i]
        return pd.DataFrame(columns)

    def top_losses(self, k: int = 9) -> pd.DataFrame:
        """The ``k`` rows with the largest losses, worst first: the text and what went wrong."""
        order = np.argsort(-self.losses, kind="stable")[:k]
        shown = ["input", "actual", "predicted", "loss"]
        return self.table().iloc[order][(["id"] if self.ids else []) + shown]

    def plot_predicted_vs_actual(self, path: str | Path) -> Path:
        """Regression: predicted score against actual, one box per actual value when there
        are few (the patents' five scores), else a scatter."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.5, 4.5))
        ax = fig.add_subplot()
        values = np.unique(self.targets)
        if len(values) <= 12:
            groups = [self.preds[self.targets == v] for v in values]
            ax.boxplot(groups, positions=range(len(values)), widths=0.6)
            ax.set_xticks(range(len(values)), [f"{v:g}" for v in values])
        else:
            ax.scatter(self.targets, self.preds, s=4, alpha=0.4)
        ax.set_xlabel("actual")
        ax.set_ylabel("predicted")
        ax.set_title(f"Predicted vs actual (Pearson {self.pearson:.3f}, {len(self.targets)} rows)")
        fig.tight_layout()
        return _save(fig, path)

    def save(self, folder: str | os.PathLike, k: int = 9) -> dict[str, Path]:
        """Write ``top_losses.csv`` and ``predicted_vs_actual.png`` (regression) or the
        confusion matrix and most-confused pairs (classification) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files = {"top_losses_csv": folder / "top_losses.csv"}
        self.top_losses(k).to_csv(files["top_losses_csv"], index=False)
        if self.task == "regression":
            files["predicted_vs_actual"] = self.plot_predicted_vs_actual(
                folder / "predicted_vs_actual.png"
            )
            return files
        if self.task == "multilabel":  # no confusion matrix: each label's own scores instead
            files["per_label"] = folder / "per_label.csv"
            self.per_label().to_csv(files["per_label"], index=False)
            return files
        from rung.interpret import ClassificationInterpretation

        interp = ClassificationInterpretation(self.preds, self.targets, classes=self.classes)
        files["confusion_matrix"] = interp.plot_confusion_matrix(folder / "confusion_matrix.png")
        pd.DataFrame(interp.most_confused(), columns=["actual", "predicted", "count"]).to_csv(
            folder / "most_confused.csv", index=False
        )
        files["most_confused"] = folder / "most_confused.csv"
        return files

    def per_label(self) -> pd.DataFrame:
        """Multi-label: per label, how many validation rows have it, how many it was predicted
        for, and its precision, recall and F1 (labels over 0.5)."""
        pred, targ = self.decoded > 0.5, self.targets > 0.5
        tp, fp, fn = (pred & targ).sum(0), (pred & ~targ).sum(0), (~pred & targ).sum(0)
        return pd.DataFrame({
            "label": self.classes, "actual": targ.sum(0), "predicted": pred.sum(0),
            "precision": tp / np.maximum(tp + fp, 1), "recall": tp / np.maximum(tp + fn, 1),
            "f1": 2 * tp / np.maximum(2 * tp + fp + fn, 1),
        })  # fmt: skip

    def summary(self, k: int = 9) -> dict[str, Any]:
        """JSON-ready: the task, the main figure, the top ``k`` losses with their texts."""
        out: dict[str, Any] = {"task": self.task, "n_items": len(self.targets)}
        if self.task == "regression":
            out["pearson"] = self.pearson
        elif self.task == "multilabel":
            out["accuracy_multi"] = float((self.decoded == self.targets).mean())
        else:
            out["accuracy"] = float((self.decoded == self.targets).mean())
        tops = self.top_losses(k)
        out["top_losses"] = json.loads(tops.to_json(orient="records"))
        return out


def plot_token_lengths(
    lengths: np.ndarray, max_len: int, path: str | Path, n_truncated: int | None = None
) -> Path:
    """A histogram of the inputs' token lengths, with ``max_len`` marked."""
    from matplotlib.figure import Figure

    lengths = np.asarray(lengths)
    cut = int((lengths > max_len).sum()) if n_truncated is None else n_truncated
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    ax.hist(lengths, bins=min(60, max(10, int(lengths.max() - lengths.min() + 1))), color="#4a78b5")
    ax.axvline(max_len, color="#c0392b", linestyle="--", label=f"max_len {max_len}")
    ax.set_xlabel("tokens per input (special tokens included)")
    ax.set_ylabel("inputs")
    ax.set_title(f"Token lengths of {len(lengths)} inputs; {cut} longer than max_len (cut)")
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
