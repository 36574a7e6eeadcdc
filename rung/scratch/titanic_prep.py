"""The course's Titanic preprocessing, done the course's way in pandas (lessons 5 and 6).

Lesson 5 turns the table into 12 numbers per passenger for a linear model or a net:
fill every missing value with its column's mode, take ``LogFare = log(Fare + 1)`` (fares
are skewed: a few are huge), make 0/1 "dummy" columns for Sex, Pclass and Embarked, and divide
each column by its maximum so that every feature lies in [0, 1].

Lesson 6 keeps the table for trees: categories become integer codes (a tree only asks "is it
<= t?", so it needs no dummies and no scaling) and the split is scikit-learn's 25%.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import Tensor

__all__ = [
    "LESSON5_FEATURES",
    "LESSON6_CATEGORIES",
    "LESSON6_CONTINUOUS",
    "TARGET",
    "read_titanic",
    "lesson5_table",
    "normalise_by_max",
    "course_split",
    "TitanicTensors",
    "lesson5_tensors",
    "lesson6_table",
    "TreeData",
    "lesson6_split",
]

TARGET = "Survived"
# The course's column order; the seeded random init of lesson 5 depends on it.
LESSON5_FEATURES = [
    "Age",
    "SibSp",
    "Parch",
    "LogFare",
    "Sex_male",
    "Sex_female",
    "Pclass_1",
    "Pclass_2",
    "Pclass_3",
    "Embarked_C",
    "Embarked_Q",
    "Embarked_S",
]
LESSON6_CATEGORIES = ["Sex", "Embarked"]
LESSON6_CONTINUOUS = ["Age", "SibSp", "Parch", "LogFare", "Pclass"]


def read_titanic(data_dir: str | Path, file: str = "train.csv") -> pd.DataFrame:
    """Read Kaggle's Titanic ``train.csv`` (or ``test.csv``) from ``data_dir``.

    >>> read_titanic("../shared/data/titanic").shape  # doctest: +SKIP
    (891, 12)
    """
    path = Path(data_dir) / file
    if not path.is_file():
        hint = (
            f"{data_dir} is not a folder"
            if not Path(data_dir).is_dir()
            else f"it holds: {sorted(p.name for p in Path(data_dir).iterdir())[:10]}"
        )
        raise FileNotFoundError(
            f"no {file} in {data_dir} ({hint}). Point it at the folder with Kaggle's Titanic "
            "train.csv and test.csv (kaggle competitions download -c titanic)."
        )
    return pd.read_csv(path)


def lesson5_table(df: pd.DataFrame) -> pd.DataFrame:
    """The 12 lesson-5 features (as floats) and ``Survived``, from the raw Kaggle table.

    >>> raw = pd.DataFrame({"Survived": [1, 0], "Pclass": [1, 3], "Sex": ["female", "male"],
    ...     "Age": [30.0, None], "SibSp": [0, 1], "Parch": [0, 0], "Fare": [70.0, 7.0],
    ...     "Embarked": ["C", None]})
    >>> t = lesson5_table(raw)
    >>> t.shape, t.loc[1, "Age"], t.loc[1, "Embarked_C"]  # missing -> the column's mode
    ((2, 13), np.float64(30.0), np.float64(1.0))
    """
    missing = [
        c for c in ("Sex", "Pclass", "Embarked", "Fare", "Age", "SibSp", "Parch") if c not in df
    ]
    if missing:
        raise KeyError(
            f"the Titanic table lacks columns {missing}; its columns are {list(df.columns)}."
        )
    modes = df.mode().iloc[0]  # the most common value of every column
    df = df.fillna(modes)
    df["LogFare"] = np.log(df["Fare"] + 1)
    df = pd.get_dummies(df, columns=["Sex", "Pclass", "Embarked"])
    # A category absent from this table still gets its (all-zero) column.
    features = df.reindex(columns=LESSON5_FEATURES, fill_value=0).astype("float64")
    if TARGET in df:
        features[TARGET] = df[TARGET]
    return features


def normalise_by_max(x: Tensor, maxes: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Divide every column by its maximum (or by ``maxes``), so that no feature dominates.

    Broadcasting does the work: ``x`` is ``(rows, cols)`` and the maxima are ``(cols,)``,
    so each row is divided elementwise by the same vector.

    >>> normalise_by_max(torch.tensor([[1.0, 10.0], [2.0, 40.0]]))
    (tensor([[0.5000, 0.2500],
            [1.0000, 1.0000]]), tensor([ 2., 40.]))
    """
    if maxes is None:
        maxes = x.max(dim=0).values  # (cols,)
    return x / maxes, maxes


def course_split(n: int, valid_pct: float = 0.2, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """The course's split of ``n`` rows: ``torch.manual_seed(42); randperm(n)``, first 20% valid.

    Returns ``(train, valid)`` row indices. A private generator gives the same permutation as
    seeding torch's global one, without changing it. (``rung.data.splitters.random_split`` is
    the library's version of this; the tests check they agree.)

    >>> train, valid = course_split(891)
    >>> len(train), len(valid), valid[:3].tolist()
    (713, 178, [303, 778, 531])
    """
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    cut = int(valid_pct * n)
    return perm[cut:], perm[:cut]


class TitanicTensors(NamedTuple):
    """Lesson 5's data: normalised features ``(rows, 12)`` and 0/1 targets ``(rows,)``."""

    train_x: Tensor
    train_y: Tensor
    valid_x: Tensor
    valid_y: Tensor
    columns: list[str]


def lesson5_tensors(data_dir: str | Path) -> TitanicTensors:
    """Read, preprocess, normalise and split Titanic exactly as lesson 5 does.

    >>> t = lesson5_tensors("../shared/data/titanic")  # doctest: +SKIP
    >>> t.train_x.shape, t.valid_x.shape  # doctest: +SKIP
    (torch.Size([713, 12]), torch.Size([178, 12]))
    """
    table = lesson5_table(read_titanic(data_dir))
    x = torch.tensor(table[LESSON5_FEATURES].values, dtype=torch.float32)  # (891, 12)
    y = torch.tensor(table[TARGET].values, dtype=torch.float32)  # (891,)
    x, _ = normalise_by_max(x)  # the course takes the maxima over all rows, before splitting
    train, valid = course_split(len(x))
    return TitanicTensors(x[train], y[train], x[valid], y[valid], list(LESSON5_FEATURES))


def lesson6_table(df: pd.DataFrame, modes: pd.Series | None = None) -> pd.DataFrame:
    """Lesson 6's ``proc_data``: fill missing values, add ``LogFare``, make Sex/Embarked categorical.

    ``modes`` are the fill values (by default the modes of ``df`` itself); pass the training
    table's modes when preparing ``test.csv``.

    >>> raw = pd.DataFrame({"Sex": ["male", "female"], "Embarked": ["S", None], "Fare": [0.0, None],
    ...     "Age": [20.0, None], "Pclass": [3, 1], "SibSp": [0, 0], "Parch": [0, 0]})
    >>> t = lesson6_table(raw)
    >>> t["Sex"].cat.categories.tolist(), t["Embarked"].tolist(), t["LogFare"].tolist()
    (['female', 'male'], ['S', 'S'], [0.0, 0.0])
    """
    df = df.copy()
    if modes is None:
        modes = df.mode().iloc[0]
    df["Fare"] = df["Fare"].fillna(0)
    df = df.fillna(modes)
    df["LogFare"] = np.log1p(df["Fare"])
    for name in LESSON6_CATEGORIES:
        df[name] = pd.Categorical(df[name])
    return df


class TreeData(NamedTuple):
    """Lesson 6's data: feature tables (categories as codes) and targets, train and valid."""

    train_xs: pd.DataFrame
    train_y: pd.Series
    valid_xs: pd.DataFrame
    valid_y: pd.Series


def lesson6_split(df: pd.DataFrame, test_size: float = 0.25, seed: int = 42) -> TreeData:
    """Lesson 6's split of a :func:`lesson6_table`: scikit-learn's ``train_test_split``.

    The course ran ``np.random.seed(42)`` then ``train_test_split(df, test_size=0.25)``;
    handing ``train_test_split`` a fresh ``RandomState(42)`` draws the same rows without
    touching numpy's global state. Categories become their integer codes.

    >>> table = lesson6_table(read_titanic("../shared/data/titanic"))  # doctest: +SKIP
    >>> d = lesson6_split(table)  # doctest: +SKIP
    >>> len(d.train_xs), len(d.valid_xs)  # doctest: +SKIP
    (668, 223)
    """
    from sklearn.model_selection import train_test_split

    train_df, valid_df = train_test_split(
        df, test_size=test_size, random_state=np.random.RandomState(seed)
    )
    columns = LESSON6_CATEGORIES + LESSON6_CONTINUOUS

    def xs_y(part: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        xs = part[columns].copy()
        for name in LESSON6_CATEGORIES:
            xs[name] = xs[name].cat.codes
        return xs, part[TARGET]

    train_xs, train_y = xs_y(train_df)
    valid_xs, valid_y = xs_y(valid_df)
    return TreeData(train_xs, train_y, valid_xs, valid_y)
