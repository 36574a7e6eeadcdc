"""scikit-learn estimators around rung's tabular net: ``TabularClassifier`` and ``TabularRegressor``.

They follow the estimator contract, so they drop into pipelines, ``cross_val_score`` and
grid searches, and pass scikit-learn's own ``check_estimator``:

- ``__init__`` only stores its arguments; ``fit`` returns ``self``; what fitting learns ends
  in ``_`` (``model_``, ``processor_``, ``classes_``, ``history_``, ...);
- ``predict`` before ``fit`` raises ``NotFittedError`` saying to call ``fit()``.

Inputs: a numeric array, or a DataFrame. Numbers are continuous columns (as for any
scikit-learn model) unless named in ``cat_names``; other columns get their roles from
:class:`~rung.tabular.data.TabularData` (strings become categories, with embeddings). Missing
values are filled as the data rung does (``allow_nan``).

``fit(X, y)`` has no validation set, and rung never trains without one, so it holds out
``valid_pct`` of the rows (seeded by ``random_state``): the net trains on the rest and
``valid_score_`` / ``history_`` report how it did on the held-out rows. Predictions run in
float64, so a row's prediction doesn't depend on which rows share its batch.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 3)); y = (X[:, 0] + X[:, 1] > 0).astype(int)
>>> clf = TabularClassifier(layers=(16,), epochs=10, lr=0.03, random_state=0).fit(X, y)
>>> clf.predict_proba(X[:3]).shape, clf.score(X, y) > 0.9
((3, 2), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["TabularClassifier", "TabularRegressor"]

_TARGET = "__rung_target__"
_NOT_FITTED = "This %(name)s is not fitted yet; call fit(X, y) first."


class _TabularNet(BaseEstimator):
    """Shared by the classifier and the regressor (see the module docstring)."""

    _task = "classification"

    def __init__(
        self,
        layers: Sequence[int] | None = None,
        epochs: int | None = None,
        lr: float | None = None,
        batch_size: int | None = None,
        ps: float = 0.0,
        wd: float = 0.01,
        valid_pct: float = 0.1,
        cat_names: Sequence[str] | None = None,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.layers = layers
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.ps = ps
        self.wd = wd
        self.valid_pct = valid_pct
        self.cat_names = cat_names
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are filled, as in training tables
        return tags

    # ------------------------------------------------------------------ inputs
    def _check_X(self, X: Any, reset: bool) -> pd.DataFrame:
        """``X`` as a DataFrame with string column names, after scikit-learn's checks."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, dtype=None, ensure_all_finite="allow-nan")
            frame = X.reset_index(drop=True)
            frame.columns = [str(c) for c in frame.columns]
            return frame
        array = validate_data(self, X, reset=reset, dtype="numeric", ensure_all_finite="allow-nan")
        columns = self.columns_ if not reset else [f"x{i}" for i in range(array.shape[1])]
        return pd.DataFrame(array, columns=columns)

    def _encode_y(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any) -> _TabularNet:
        """Fit the net on ``X`` (array or DataFrame) and ``y``; returns ``self``."""
        from rung.data.splitters import Split
        from rung.tabular.data import TabularData
        from rung.tabular.fit import fit_nn
        from rung.tabular.models import as_float64

        # y first: scikit-learn's own messages for a missing or malformed target
        is_frame = isinstance(X, pd.DataFrame)
        _, y = validate_data(
            self,
            X,
            y,
            dtype=None if is_frame else "numeric",
            ensure_all_finite="allow-nan",
            ensure_min_samples=2,
            y_numeric=self._task == "regression",
        )
        frame = self._check_X(X, reset=True)
        self.columns_ = list(frame.columns)
        n = len(frame)
        if n < 3:
            raise ValueError(
                f"got {n} samples; {type(self).__name__} needs at least 3 (2 to train on and "
                "1 held out to check the training)."
            )
        if not 0 < self.valid_pct < 1:
            raise ValueError(f"valid_pct must be between 0 and 1, got {self.valid_pct!r}.")
        frame[_TARGET] = self._encode_y(np.asarray(y))
        seed = self._seed()
        order = np.random.default_rng(seed).permutation(n)
        n_valid = min(max(1, int(round(self.valid_pct * n))), n - 2)
        split = Split(np.sort(order[n_valid:]), np.sort(order[:n_valid]))
        data = TabularData.from_df(
            frame, _TARGET, split=split, task=self._task, **self._roles(frame)
        )
        fit = fit_nn(
            data,
            layers=self.layers,
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            ps=self.ps,
            wd=self.wd,
            seed=seed,
            progress=self.verbose,
        )
        self.model_ = as_float64(fit.module)  # a row's prediction can't depend on its batch
        self.processor_ = data.processor
        self.lr_ = fit.extras["lr"]
        self.n_epochs_ = fit.extras["epochs"]
        self.history_ = list(fit.extras["learner"].recorder.values)
        self.valid_score_ = fit.metrics
        self.notes_ = list(data.notes)
        return self

    def _roles(self, frame: pd.DataFrame) -> dict[str, list[str]]:
        """Numbers are continuous (as in any scikit-learn model) unless named in ``cat_names``;
        other columns get roles inferred by the data rung (strings become categories)."""
        cats = [] if self.cat_names is None else [str(c) for c in self.cat_names]
        absent = [c for c in cats if c not in self.columns_]
        if absent:
            raise ValueError(f"cat_names {absent} are not columns of X; X has {self.columns_}.")
        numeric = [
            c
            for c in self.columns_
            if c not in cats
            and pd.api.types.is_numeric_dtype(frame[c].dtype)
            and not pd.api.types.is_bool_dtype(frame[c].dtype)
        ]
        return {"cont_names": numeric, "cat_names": cats}

    def _seed(self) -> int:
        if self.random_state is None:
            return int(np.random.randint(0, 2**31 - 1))
        if isinstance(self.random_state, np.random.RandomState):
            return int(self.random_state.randint(0, 2**31 - 1))
        return int(self.random_state)

    # ------------------------------------------------------------------ predict
    def _raw(self, X: Any) -> np.ndarray:
        """Probabilities (N, C) or values (N,), float64."""
        from rung.tabular.models import predict_module

        check_is_fitted(self, msg=_NOT_FITTED)
        frame = self._check_X(X, reset=False)
        cats, conts = self.processor_.transform(frame)
        return predict_module(self.model_, cats, conts)


class TabularClassifier(ClassifierMixin, _TabularNet):
    """A scikit-learn classifier: rung's tabular net (embeddings for categories, BatchNorm,
    ``layers``, one-cycle training; see :func:`rung.tabular.fit.fit_nn`).

    Args:
        layers, epochs, batch_size: the net and its training (``None``: defaults by table size).
        lr: learning rate (``None``: ``lr_find``'s suggestion). ps: dropout. wd: weight decay.
        valid_pct: rows held out of ``fit`` to check the training (see the module docstring).
        cat_names: DataFrame columns to treat as categories (others inferred).
        random_state: seed for the split, the initial weights and the batch order.
        verbose: show training progress.
    """

    def _encode_y(self, y: np.ndarray) -> np.ndarray:
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has one class ({self.classes_[0]!r}); a classifier needs at least 2 classes."
            )
        return codes.astype(np.int64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``."""
        return self._raw(X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row (labels as in ``y``)."""
        indices = self._raw(X).argmax(axis=1)
        return self.classes_[indices]


class TabularRegressor(RegressorMixin, _TabularNet):
    """A scikit-learn regressor: rung's tabular net, trained on the standardised target (and
    squashed into a slightly widened training range, as the data rung's ``y_range``). Arguments
    as :class:`TabularClassifier`.
    """

    _task = "regression"

    def _encode_y(self, y: np.ndarray) -> np.ndarray:
        y = y.astype(np.float64)
        self.y_mean_ = float(y.mean())
        self.y_std_ = float(y.std()) or 1.0
        return (y - self.y_mean_) / self.y_std_

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values (n_samples,)."""
        return self._raw(X) * self.y_std_ + self.y_mean_
