"""choose_plot's rules on real columns of Titanic and California housing, and the shown code:
run as a learner would run it on ``df``, it draws the same kind of plot."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from matplotlib.collections import PatchCollection, PathCollection, QuadMesh
from matplotlib.figure import Figure

from rung.report.explore_plots import (
    PlotChoice,
    choose_plot,
    draw,
    missing_code,
    plot_code,
    scatter_code,
)

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture(scope="module")
def titanic() -> pd.DataFrame:
    return pd.read_csv(DATA / "titanic" / "train.csv")


@pytest.fixture(scope="module")
def housing() -> pd.DataFrame:
    return pd.read_csv(DATA / "california_housing" / "housing.csv")


def test_titanic_columns_without_a_target(titanic):
    kinds = {c: choose_plot(titanic[c]).kind for c in titanic.columns}
    assert kinds == {
        "PassengerId": "skip",  # 1..891 in order: an id
        "Survived": "count",
        "Pclass": "count",  # whole numbers, 3 values: a category
        "Name": "skip",  # every value different: free text
        "Sex": "count",
        "Age": "hist",  # skew 0.39: linear axis
        "SibSp": "count",
        "Parch": "count",
        "Ticket": "skip",
        "Fare": "log_hist",  # skew 4.8, positive
        "Cabin": "skip",
        "Embarked": "count",
    }
    fare = choose_plot(titanic["Fare"])
    assert fare.log and "15 zeros left out" in fare.reason


def test_titanic_columns_against_the_target(titanic):
    y = titanic["Survived"]
    fare = choose_plot(titanic["Fare"], y)
    assert (fare.kind, fare.log) == ("boxen", True)
    assert (choose_plot(titanic["Age"], y).kind, choose_plot(titanic["Age"], y).log) == (
        "boxen",
        False,
    )
    for c in ("Sex", "Pclass", "Embarked"):
        choice = choose_plot(titanic[c], y)
        assert choice.kind == "count" and "split by Survived" in choice.reason
    assert choose_plot(y, y).kind == "count"  # the target is plotted as itself


def test_california_columns(housing):
    y = housing["median_house_value"]
    kinds = {c: choose_plot(housing[c], y) for c in housing.columns}
    assert {c for c, k in kinds.items() if k.kind == "log_hist"} == {
        "total_rooms", "total_bedrooms", "population", "households", "median_income",
    }  # fmt: skip
    assert kinds["housing_median_age"].kind == "hist"
    assert kinds["median_house_value"].kind == "hist"  # skew 0.98: just under the log rule
    assert kinds["ocean_proximity"].kind == "boxen"  # a category against a numeric target
    assert choose_plot(housing["ocean_proximity"]).kind == "count"


def _kind_drawn(ax) -> str:
    """What an axes shows, from its artists."""
    if any(isinstance(c, QuadMesh) for c in ax.collections):
        return "missing"
    if any(isinstance(c, PatchCollection) for c in ax.collections):
        return "boxen"
    if any(isinstance(c, PathCollection) for c in ax.collections):
        return "scatter"
    if ax.patches:
        # a histogram's bars touch; a count plot's bars have gaps
        bars = sorted(ax.patches, key=lambda p: p.get_x())
        touching = all(
            abs(a.get_x() + a.get_width() - b.get_x()) < 1e-6 * max(1, abs(b.get_x()))
            for a, b in zip(bars, bars[1:], strict=False)
            if a.get_height() and b.get_height()
        )
        hist = touching and len(bars) > 5 and not ax.get_yticklabels()[0].get_text().isalpha()
        return ("log_hist" if ax.get_xscale() == "log" else "hist") if hist else "count"
    return "nothing"


def _run_as_learner(df: pd.DataFrame, code: str):
    """The code as a learner runs it: their own seaborn import, df and ax."""
    import seaborn as sns

    fig = Figure()
    ax = fig.subplots()
    exec(code, {"df": df.copy(), "sns": sns, "ax": ax})
    return ax


@pytest.mark.parametrize("target", [None, "Survived"])
def test_shown_code_draws_the_chosen_plot(titanic, target):
    y = titanic[target] if target else None
    for column in titanic.columns:
        choice = choose_plot(titanic[column], y)
        if choice.kind == "skip":
            assert plot_code(titanic, column, choice, target) == ""
            continue
        code = plot_code(titanic, column, choice, target)
        ax = _run_as_learner(titanic, code)
        assert _kind_drawn(ax) == choice.kind, (column, code)
        if choice.kind == "boxen" and choice.log:
            assert ax.get_yscale() == "log"
        if choice.kind == "count":
            heights = [p.get_height() for p in ax.patches if p.get_height() > 0]
            assert sum(heights) == titanic[column].notna().sum()


def test_scatter_and_missing_code_draw_them(housing):
    ax = _run_as_learner(housing, scatter_code(housing, "total_rooms", "households"))
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points.get_offsets()) == 2000 and points.get_alpha() == 0.3  # a sample, see-through
    ax = _run_as_learner(housing, missing_code())
    assert _kind_drawn(ax) == "missing"
    # the map's cells: one per row and column, 1 where missing
    assert ax.collections[0].get_array().sum() == housing.isna().sum().sum()


def test_hostile_column_names_stay_names():
    name = 'x", ax=ax); import os; os.remove("y'
    values = [1.0, 2.0, 2.5, 4.0, 3.0, 2.2, 1.7, 3.3, 2.9, 3.8] * 4
    df = pd.DataFrame({name: values, "'b'\n": ["a", "b", "a", "a", "b"] * 8})
    for column in df.columns:
        choice = choose_plot(df[column])
        fig = draw(df, plot_code(df, column, choice))  # runs; no code from the name runs
        assert _kind_drawn(fig.axes[0]) == choice.kind
    with pytest.raises(ValueError, match="unknown plot kind 'pie'"):
        plot_code(df, name, PlotChoice("pie", ""))
