"""The course's Titanic feature recipe, on rows a user might type."""

from __future__ import annotations

import pandas as pd

from rung.tabular.features import titanic_features


def _rows(names: list[str]) -> pd.DataFrame:
    n = len(names)
    return pd.DataFrame({"Name": names, "Fare": [7.25] * n, "Cabin": ["C85"] * n,
                         "SibSp": [1] * n, "Parch": [0] * n, "Ticket": ["A/5 21171"] * n})  # fmt: skip


def test_titles_come_from_the_name_and_a_name_without_one_gives_missing():
    df = titanic_features(_rows(["Braund, Mr. Owen Harris", "Smith", "Heikkinen, Miss. Laina"]))
    assert df["Title"].tolist()[0] == "Mr" and df["Title"].tolist()[2] == "Miss"
    assert pd.isna(df["Title"].iloc[1])


def test_one_row_whose_name_has_no_comma_still_gets_its_features():
    """A served form or a single dict often holds one name like "Smith" (no ", Title.")."""
    df = titanic_features(_rows(["Smith"]))
    assert pd.isna(df["Title"].iloc[0]) and df["Family"].iloc[0] == 1
