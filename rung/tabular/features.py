"""Named feature engineering for tables, applied the same way in training and at predict time.

A model file can't hold code (it is never unpickled), so it records the *name* of the feature
function it was trained with (``config["features"]``) and the predictor looks the name up in
:data:`FEATURES`. ``"titanic"`` is the course's Lesson 5 framework version.

>>> import pandas as pd
>>> df = pd.DataFrame({"Name": ["Braund, Mr. Owen", "Heikkinen, Miss. Laina"],
...                    "Fare": [7.25, 7.925], "Cabin": [None, "C85"], "SibSp": [1, 0],
...                    "Parch": [0, 0], "Ticket": ["A/5 21171", "A/5 21171"]})
>>> titanic_features(df)[["Title", "Deck", "Family", "Alone", "TicketFreq"]].values.tolist()
[['Mr', nan, 1, False, 2], ['Miss', 'ABC', 0, True, 2]]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rung.utils import closest

__all__ = [
    "FeatureSet",
    "titanic_features",
    "FEATURES",
    "get_features",
    "TITANIC_CAT_NAMES",
    "TITANIC_CONT_NAMES",
]

# The course's columns for its Titanic tabular learner (06-why-you-should-use-a-framework).
TITANIC_CAT_NAMES = ["Sex", "Pclass", "Embarked", "Deck", "Title"]
TITANIC_CONT_NAMES = ["Age", "SibSp", "Parch", "LogFare", "Alone", "TicketFreq", "Family"]
_DECKS = {"A": "ABC", "B": "ABC", "C": "ABC", "D": "DE", "E": "DE", "F": "FG", "G": "FG"}
_TITLES = {"Mr": "Mr", "Miss": "Miss", "Mrs": "Mrs", "Master": "Master"}
_TITANIC_NEEDS = ("Name", "Fare", "Cabin", "SibSp", "Parch", "Ticket")


@dataclass(frozen=True)
class FeatureSet:
    """A feature function and the input columns it reads (checked before it runs)."""

    name: str
    fn: Callable[[pd.DataFrame], pd.DataFrame]
    needs: tuple[str, ...]

    def __call__(self, df: pd.DataFrame) -> pd.DataFrame:
        absent = [c for c in self.needs if c not in df.columns]
        if absent:
            from rung.tabular.procs import MissingColumnsError

            raise MissingColumnsError(
                f"the table is missing column(s) {absent} that the {self.name!r} features are "
                f"made from; its columns are: {[str(c) for c in df.columns]}."
            )
        return self.fn(df)


def titanic_features(df: pd.DataFrame) -> pd.DataFrame:
    """The course's Titanic features, added to a copy of ``df``: ``LogFare`` (log1p of Fare),
    ``Deck`` (cabin letter grouped ABC/DE/FG), ``Family`` (SibSp + Parch), ``Alone``
    (Family == 0), ``TicketFreq`` (passengers on the same ticket in this table) and ``Title``
    (Mr/Miss/Mrs/Master from the name, else missing).

    It reads the columns Name, Fare, Cabin, SibSp, Parch and Ticket. Like the course's,
    ``TicketFreq`` counts within the table it is given, so predict a test file whole.
    """
    df = df.copy()
    df["LogFare"] = np.log1p(pd.to_numeric(df["Fare"], errors="coerce"))
    df["Deck"] = df["Cabin"].astype("string").str[0].map(_DECKS).astype(object)
    df["Family"] = df["SibSp"] + df["Parch"]
    df["Alone"] = df["Family"] == 0
    df["TicketFreq"] = df.groupby("Ticket")["Ticket"].transform("count")
    # "Braund, Mr. Owen Harris" -> "Mr": after the first ", ", up to the first "."; a name
    # without ", " has no title (missing)
    title = df["Name"].astype(str).str.extract(r"^.*?, ([^.]*)", expand=False)
    df["Title"] = title.map(_TITLES).astype(object)
    return df


# feature-set name (as stored in a model file) -> the function and the columns it reads
FEATURES: dict[str, FeatureSet] = {
    "titanic": FeatureSet("titanic", titanic_features, _TITANIC_NEEDS),
}


def get_features(name: str | None) -> FeatureSet | None:
    """The feature set registered as ``name`` (``None`` for none).

    >>> get_features("titanic").fn is titanic_features, get_features(None)
    (True, None)
    """
    if name is None:
        return None
    if name not in FEATURES:
        raise ValueError(
            f"unknown features {name!r}; known: {list(FEATURES)}{closest(name, FEATURES)}"
        )
    return FEATURES[name]
