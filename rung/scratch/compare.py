"""Scratch vs library on Titanic, side by side: the course's numbers, and ours both ways.

Every row is one model of lessons 5 and 6 built twice: from scratch (this package) and with
the library it mirrors, with the same settings on the same split:

- lesson 5 (the course's 20% split, validation accuracy): each scratch net against the same
  net in ``torch.nn`` trained by ``torch.optim.SGD`` from the same initial numbers; and the
  logistic model against scikit-learn's ``LogisticRegression``, fitted to convergence;
- lesson 6 (the course's 25% split, validation MAE = 1 - accuracy for 0/1 predictions):
  one-rule, trees and forests against scikit-learn's, plus each forest's top three features.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["COLUMNS", "titanic_comparison", "format_comparison"]

COLUMNS = [
    "lesson",
    "model",
    "metric",
    "scratch",
    "library",
    "course",
    "library_model",
    "top3_scratch",
    "top3_library",
]


def _lesson5_rows(data_dir: str | Path) -> list[dict[str, Any]]:
    import torch
    from sklearn.linear_model import LogisticRegression

    from rung.scratch.mirrors import torch_module, train_torch
    from rung.scratch.nets import COURSE_NETS, accuracy, train_net
    from rung.scratch.titanic_prep import lesson5_tensors

    data = lesson5_tensors(data_dir)
    descriptions = {
        "linear": "linear: (x * coeffs).sum(1)",
        "logistic": "logistic: sigmoid((x * coeffs).sum(1))",
        "logistic_matmul": "logistic: sigmoid(x @ coeffs), unit axis",
        "one_hidden": "neural net: 1 hidden layer of 20",
        "deep": "deep net: hidden layers [10, 10]",
    }
    rows = []
    for name, net in COURSE_NETS.items():
        init = net.init(data.train_x.shape[1], torch.Generator().manual_seed(442))
        module = torch_module(name, init)  # a copy: both start from the same numbers
        trained = train_net(net, data.train_x, data.train_y, params=init)
        train_torch(module, data.train_x, data.train_y, lr=net.lr, epochs=net.epochs)
        with torch.no_grad():
            library_preds = module(data.valid_x).reshape(-1)
        rows.append(
            {
                "lesson": 5,
                "model": descriptions[name],
                "metric": "accuracy",
                "scratch": accuracy(trained.predict(data.valid_x), data.valid_y),
                "library": accuracy(library_preds, data.valid_y),
                "course": net.course_accuracy,
                "library_model": f"torch.nn + optim.SGD(lr={net.lr:g}), {net.epochs} steps",
            }
        )
    logistic = COURSE_NETS["logistic"]
    trained = train_net(logistic, data.train_x, data.train_y)
    sk = LogisticRegression(max_iter=1000).fit(data.train_x.numpy(), data.train_y.numpy())
    rows.append(
        {
            "lesson": 5,
            "model": "logistic, scratch vs fitted to convergence",
            "metric": "accuracy",
            "scratch": accuracy(trained.predict(data.valid_x), data.valid_y),
            "library": float((sk.predict(data.valid_x.numpy()) == data.valid_y.numpy()).mean()),
            "course": np.nan,
            "library_model": "sklearn LogisticRegression()",
        }
    )
    return rows


def _call(name: str, settings: dict[str, Any]) -> str:
    return f"{name}({', '.join(f'{k}={v}' for k, v in settings.items())})"


def _top3(names: list[str], importances: np.ndarray) -> str:
    return ", ".join(names[i] for i in np.argsort(-importances, kind="stable")[:3])


def _lesson6_rows(data_dir: str | Path, n_estimators: int, seed: int) -> list[dict[str, Any]]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    from rung.scratch.forest import RandomForest
    from rung.scratch.splits import OneRule
    from rung.scratch.titanic_prep import lesson6_split, lesson6_table, read_titanic
    from rung.scratch.trees import DecisionTree

    data = lesson6_split(lesson6_table(read_titanic(data_dir)))
    names = list(data.train_xs.columns)
    y = data.valid_y.to_numpy()

    def row(title: str, ours: Any, theirs: Any, course: float, library_model: str) -> dict:
        """One lesson-6 row: both sides fitted, scored by validation MAE."""
        ours, theirs = (
            ours.fit(data.train_xs, data.train_y),
            theirs.fit(data.train_xs, data.train_y),
        )
        found = {
            "lesson": 6, "model": title, "metric": "MAE", "course": course,
            "scratch": float(np.abs(y - ours.predict(data.valid_xs)).mean()),
            "library": float(np.abs(y - theirs.predict(data.valid_xs)).mean()),
            "library_model": library_model,
        }  # fmt: skip
        if hasattr(ours, "feature_importances_"):  # trees and forests: what they split on
            found["top3_scratch"] = _top3(names, ours.feature_importances_)
            found["top3_library"] = _top3(names, theirs.feature_importances_)
        return found

    rule = OneRule.fit(data.train_xs, data.train_y)
    rows = [
        row(
            f"one rule (OneR): {rule.column} <= {rule.split:g}", rule,
            DecisionTreeClassifier(max_depth=1, random_state=seed), 0.215,
            "DecisionTreeClassifier(max_depth=1)",
        )
    ]  # fmt: skip
    trees = [
        ("decision tree, 4 leaves", {"max_leaf_nodes": 4}, 0.224),
        ("decision tree, min_samples_leaf=50", {"min_samples_leaf": 50}, 0.184),
    ]
    for title, settings, course in trees:
        theirs = DecisionTreeClassifier(**settings, random_state=seed)
        library_model = _call("DecisionTreeClassifier", settings)
        rows.append(row(title, DecisionTree(**settings), theirs, course, library_model))
    forests = [
        # The course bagged 100 trees on 75% samples, but scored the mean of their 0/1 votes
        # (MAE 0.227); here both sides predict the majority class, so there is no course figure.
        (
            f"bagging: {n_estimators} trees on 75% samples",
            {"max_features": None, "max_samples": 0.75},
            np.nan,
        ),
        (f"random forest: {n_estimators} trees", {}, 0.188),
    ]
    for title, settings, course in forests:
        settings = {"n_estimators": n_estimators, "min_samples_leaf": 5, **settings}
        ours = RandomForest(**settings, random_state=seed)
        theirs = RandomForestClassifier(**settings, random_state=seed)
        library_model = _call("RandomForestClassifier", settings)
        rows.append(row(title + ", min_samples_leaf=5", ours, theirs, course, library_model))
    return rows


def titanic_comparison(
    data_dir: str | Path, n_estimators: int = 100, seed: int = 42
) -> pd.DataFrame:
    """Every lesson-5 and lesson-6 model, scratch vs library, on the course's Titanic splits.

    ``data_dir`` is the folder with Kaggle's ``train.csv``. One row per model, with the
    columns of :data:`COLUMNS`: ``scratch`` and ``library`` are validation accuracy (lesson 5)
    or MAE (lesson 6), ``course`` the course's figure, ``top3_*`` the three most important
    features of tree models. ``seed`` seeds the forests (both sides) and scikit-learn's trees.

    >>> table = titanic_comparison("../shared/data/titanic")
    >>> table.loc[table.model.str.startswith("random forest"), ["scratch", "library"]]
         scratch   library
    10  0.179372  0.179372
    """
    rows = _lesson5_rows(data_dir) + _lesson6_rows(data_dir, n_estimators, seed)
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def format_comparison(table: pd.DataFrame) -> str:
    """The comparison as a plain-text table, four decimals, top features listed underneath.

    >>> t = pd.DataFrame([{"lesson": 6, "model": "tree", "metric": "MAE", "scratch": 0.2,
    ...     "library": 0.21, "course": np.nan, "library_model": "DecisionTreeClassifier()",
    ...     "top3_scratch": "Sex, Age, Pclass", "top3_library": "Sex, Age, Pclass"}])
    >>> print(format_comparison(t))
    lesson  model  metric  scratch  library  course  library model
         6  tree   MAE      0.2000   0.2100       -  DecisionTreeClassifier()
    <BLANKLINE>
    top three features (scratch | library):
      tree: Sex, Age, Pclass | Sex, Age, Pclass
    """
    missing = [c for c in COLUMNS if c not in table]
    if missing:
        raise KeyError(f"not a titanic_comparison table: it lacks columns {missing}.")

    def number(v: float) -> str:
        return "-" if pd.isna(v) else f"{v:.4f}"

    headers = ["lesson", "model", "metric", "scratch", "library", "course", "library model"]
    right_aligned = {"lesson", "scratch", "library", "course"}
    cells = [
        [
            str(r.lesson),
            r.model,
            r.metric,
            number(r.scratch),
            number(r.library),
            number(r.course),
            r.library_model,
        ]
        for r in table.itertuples()
    ]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        padded = [
            v.rjust(w) if h in right_aligned else v.ljust(w)
            for v, w, h in zip(values, widths, headers)
        ]
        return "  ".join(padded).rstrip()

    lines = [line(headers), *(line(row) for row in cells)]
    tops = table.dropna(subset=["top3_scratch"])
    if len(tops):
        lines += ["", "top three features (scratch | library):"]
        lines += [f"  {r.model}: {r.top3_scratch} | {r.top3_library}" for r in tops.itertuples()]
    return "\n".join(lines)
