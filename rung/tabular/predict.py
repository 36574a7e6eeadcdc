"""Predict with a table model file: :class:`TabularPredictor`, what ``rung.load`` gives for
``kind="tabular"`` (train one with :func:`rung.tabular.train.train_table`).

The model file holds the fitted preprocessing (fills, vocabularies, normalisation), the target
(classes or range), the id column, the named feature set and the model (a net, a linear model,
trees as arrays, or an ensemble of them), so predicting needs neither the training data nor
scikit-learn, and never unpickles.

>>> import pandas as pd, tempfile
>>> from rung.tabular.train import train_table
>>> df = pd.DataFrame({"id": range(60), "x": [float(i % 7) for i in range(60)],
...                    "c": list("abc") * 20})
>>> df["y"] = (df["x"] > 3).astype(int)
>>> run = train_table(df, "y", models="rf", out=tempfile.mkdtemp(), explain=False)
>>> predictor = TabularPredictor.from_model_file(run.model_path)
>>> predictor.predict({"x": 6.0, "c": "a"}).label
1
>>> predictor.predict(df.head(3))["y"].tolist()
[0, 0, 0]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rung.predictor import ClassPrediction, Predictor

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["TabularPredictor"]


class TabularPredictor(Predictor):
    """Predicts a table's target for new rows: a DataFrame, a dict (one row), a list of dicts
    or a CSV path. Rows are preprocessed exactly as in training; categories never seen in
    training are read as 'unknown'; the target and id columns may be present or not. It
    predicts on the CPU in float64 (tabular models are small), so a row's prediction is the
    same whichever rows come with it.
    """

    def __init__(self, model: nn.Module, config: dict[str, Any], path: Path | None = None):
        from rung.modelfile import ModelFileError
        from rung.tabular.engineer import FeatureSteps
        from rung.tabular.features import get_features
        from rung.tabular.models import as_float64
        from rung.tabular.procs import TabularProcessor
        from rung.tabular.target import TabularTarget

        super().__init__(as_float64(model), config, path)  # float64: see as_float64
        where = path or "this model"
        try:
            prep = config["preprocessing"]
            self.processor = TabularProcessor.from_config(prep["processor"])
            self.target = TabularTarget.from_config(prep["target"])
            self.features = get_features(config.get("features"))
            steps = prep.get("engineer")
            self.steps = None if not steps else FeatureSteps.from_config(steps)
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFileError(
                where, f"its tabular config can't be read ({e}).", "Export the model again."
            ) from e
        self.id_name: str | None = config.get("id_name")
        csv = config.get("csv") if isinstance(config.get("csv"), dict) else {}
        self.csv_encoding, self.csv_sep = csv.get("encoding"), csv.get("sep")  # as in training

    @classmethod
    def from_model_file(cls, path: str | os.PathLike, device: str | torch.device = "cpu"):
        """Load a tabular model file (registering the tabular model builders first)."""
        import rung.tabular.models  # noqa: F401  (registers tabular, _linear, _trees, _ensemble)

        return super().from_model_file(path, device=device)

    # ------------------------------------------------------------------ inputs
    def _frame(self, x: Any) -> pd.DataFrame:
        if isinstance(x, pd.DataFrame):
            return x
        if isinstance(x, dict):
            return pd.DataFrame([x])
        if isinstance(x, list) and all(isinstance(r, dict) for r in x):
            return pd.DataFrame(x)
        if isinstance(x, (str, os.PathLike)):
            from rung.tabular.csvfile import read_csv

            return read_csv(x, encoding=self.csv_encoding, sep=self.csv_sep)
        raise TypeError(
            f"predict takes a DataFrame, a dict (one row), a list of dicts or a CSV path, "
            f"got {type(x).__name__}."
        )

    def predict_raw(self, x: Any) -> np.ndarray:
        """Class probabilities (N, C) or values (N,) as float64, rows in input order; values
        in the target's units (a model that learned ``log1p`` of the target is turned back
        with ``expm1``, as its config's ``target.log`` says)."""
        return self._predict_frame(self._frame(x))

    def _predict_frame(self, df: pd.DataFrame) -> np.ndarray:
        from rung.tabular.models import predict_module

        if len(df) == 0:
            raise ValueError("there are no rows to predict.")
        if self.features is not None:
            df = self.features(df)
        if self.steps is not None:
            df = self.steps.transform(df)
        cats, conts = self.processor.transform(df)
        preds = predict_module(self.model, cats, conts)
        return self.target.to_original(preds) if self.task == "regression" else preds

    # ------------------------------------------------------------------ predictions
    def predict(self, x: Any) -> Any:
        """One row (a dict): a :class:`~rung.predictor.ClassPrediction` (label, index, probs),
        or a float for regression. Several rows (DataFrame, list, CSV path): a DataFrame with
        the id column (when the input has it), the target column (labels or values) and, for
        classification, one probability column per class (``P(<class>)``). Its rows are the
        input's rows in their order, with the input's index (whatever it is: filtered,
        shuffled, repeated), so ``df.join(predictions)`` lines up."""
        df = self._frame(x)
        preds = self._predict_frame(df)
        if isinstance(x, dict):
            if self.task == "regression":
                return float(preds[0])
            index = int(preds[0].argmax())
            probs = {c: float(p) for c, p in zip(self.target.classes, preds[0])}
            return ClassPrediction(self.target.classes[index], index, probs)
        # Every column is a plain array, so it is placed by position, never matched by index.
        columns: dict[str, Any] = {}
        if self.id_name is not None and self.id_name in df.columns:
            columns[self.id_name] = df[self.id_name].to_numpy()
        if self.task == "regression":
            columns[self.target.name] = preds
        else:
            columns[self.target.name] = self._labels(preds.argmax(axis=1))
            for i, c in enumerate(self.target.classes):
                columns[f"P({c})"] = preds[:, i]
        return pd.DataFrame(columns, index=df.index)

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities (N, C), columns in the order of ``config["classes"]``."""
        if self.task != "classification":
            raise ValueError("predict_proba is for classification; this model predicts numbers.")
        return self.predict_raw(x)

    def _labels(self, indices: np.ndarray) -> np.ndarray:
        """Labels as an array in the training data's type: bools, int64 or objects."""
        labels = self.target.decode(indices)
        if all(isinstance(c, bool) for c in self.target.classes):
            return np.asarray(labels, dtype=bool)
        if all(isinstance(c, int) and not isinstance(c, bool) for c in self.target.classes):
            return np.asarray(labels, dtype=np.int64)
        return np.asarray(labels, dtype=object)

    def predict_for_cli(self, path: Path, out: Path | None = None) -> dict[str, Any]:
        """Predict every row of the CSV at ``path`` and write a submission CSV: the id column
        (if the CSV has it) and the target column in the training data's format (e.g.
        ``PassengerId,Survived`` with 0/1). ``out`` defaults to ``<stem>_predictions.csv`` in
        the current folder. Returns ``{"out", "rows", "columns", "summary"}``.
        """
        path = Path(path)
        if path.suffix.lower() not in (".csv", ".txt", ".tsv"):
            raise ValueError(f"a tabular model predicts rows of a CSV file, got {path.name!r}.")
        df = self._frame(path)
        preds = self.predict(df)
        keep = [c for c in (self.id_name, self.target.name) if c is not None and c in preds]
        out = Path(out) if out is not None else Path.cwd() / f"{path.stem}_predictions.csv"
        if out.resolve() == path.resolve():
            raise ValueError(
                f"the output {str(out)!r} is the CSV being predicted; writing there would "
                "overwrite it. Pass another output path (--out predictions.csv)."
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        preds[keep].to_csv(out, index=False)
        summary = f"wrote {len(preds)} predictions to {out}"
        if self.id_name is not None and self.id_name not in df.columns:
            summary += f" (the CSV has no {self.id_name!r} column, so rows are in input order)"
        return {"out": str(out), "rows": len(preds), "columns": keep, "summary": summary}
