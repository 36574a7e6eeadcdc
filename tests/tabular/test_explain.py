"""Explaining tabular models on Titanic: impurity and permutation importance, out-of-bag score,
partial dependence; tables in CSV-ready DataFrames and plots as PNG files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rung.tabular.classic import fit_forest, fit_linear
from rung.tabular.data import TabularData
from rung.tabular.explain import (
    explain,
    impurity_importance,
    partial_dependence,
    permutation_importance,
    plot_importance,
)


@pytest.fixture(scope="module")
def data(titanic_dir) -> TabularData:
    return TabularData.from_csv(titanic_dir / "train.csv", "Survived")


@pytest.fixture(scope="module")
def forest(data):
    return fit_forest(data, seed=42, n_jobs=1)


@pytest.fixture(scope="module")
def linear(data):
    return fit_linear(data)


def test_impurity_importance_of_the_forest(data, forest):
    table = impurity_importance(forest.extras["estimator"], data.cat_names + data.cont_names)
    assert list(table.columns) == ["feature", "importance"]
    assert table["importance"].sum() == pytest.approx(1.0)
    assert table["importance"].is_monotonic_decreasing
    assert set(table["feature"].head(3)) & {"Sex", "Fare", "Age"}
    with pytest.raises(TypeError, match="use permutation_importance"):
        impurity_importance(object(), ["a"])


def test_out_of_bag_score_is_close_to_validation(forest):
    oob = forest.extras["oob_score"]
    assert 0.78 < oob < 0.88 and abs(oob - forest.metrics["accuracy"]) < 0.06
    assert f"out-of-bag score {oob:.4f}" in forest.description


def test_permutation_importance_finds_sex_for_any_model(data, linear, forest):
    for fit in (linear, forest):
        table = permutation_importance(fit.module, data, n_repeats=3)
        assert list(table.columns) == ["feature", "importance", "importance_std", "loss_increase"]
        assert len(table) == len(data.cat_names) + len(data.cont_names)
        assert table["feature"].iloc[0] == "Sex", table.head()
        assert table["importance"].iloc[0] > 0.1  # accuracy falls ~20 points without it
        assert table.set_index("feature").loc["Sex", "loss_increase"] > 0.1
    again = permutation_importance(linear.module, data, n_repeats=3)
    pd.testing.assert_frame_equal(again, permutation_importance(linear.module, data, n_repeats=3))


def test_partial_dependence_reads_in_the_csvs_values(data, forest):
    sex = partial_dependence(forest.module, data, "Sex")
    assert sex["value"].tolist() == ["female", "male"] and list(sex.columns) == ["value", "P(1)"]
    p = sex.set_index("value")["P(1)"]
    assert p["female"] > p["male"] + 0.2  # women survived far more often
    age = partial_dependence(forest.module, data, "Age", grid=10)
    assert 1 < len(age) <= 10 and age["value"].is_monotonic_increasing
    assert 0 < age["value"].min() < 20 < 40 < age["value"].max() < 80  # years, not z-scores
    fare = partial_dependence(forest.module, data, "Fare", grid=5)
    assert fare["value"].min() > 0  # log1p and normalisation undone
    with pytest.raises(KeyError, match="'Agee' is not a model column"):
        partial_dependence(forest.module, data, "Agee")


def test_explain_writes_tables_and_pngs(data, forest, tmp_path):
    paths = explain(forest.module, data, tmp_path, forest=forest.extras["estimator"], n_repeats=2)
    assert set(paths) == {"importance", "permutation_importance", "partial_dependence"}
    for name in ("importance", "permutation_importance", "partial_dependence"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert len(pd.read_csv(tmp_path / f"{name}.csv")) > 1
    pd_table = pd.read_csv(tmp_path / "partial_dependence.csv")
    assert pd_table["feature"].nunique() == 4 and "Sex" in set(pd_table["feature"])


def test_plot_importance_returns_a_figure(tmp_path):
    table = pd.DataFrame({"feature": ["a", "b"], "importance": [0.7, 0.3]})
    fig = plot_importance(table, "test", tmp_path / "x.png")
    assert fig.axes[0].get_title() == "test" and (tmp_path / "x.png").stat().st_size > 1000
    assert np.allclose([p.get_width() for p in fig.axes[0].patches], [0.3, 0.7])


def test_permutation_importance_samples_rows_past_max_rows(data, linear):
    full = permutation_importance(linear.module, data, n_repeats=2, max_rows=None)
    some = permutation_importance(linear.module, data, n_repeats=2, max_rows=60)
    again = permutation_importance(linear.module, data, n_repeats=2, max_rows=60)
    pd.testing.assert_frame_equal(some, again)  # a seeded sample
    assert not np.allclose(full["importance"], some.set_index("feature").loc[full["feature"]][
        "importance"])  # fmt: skip
    assert full["feature"].iloc[0] == "Sex"  # the sample is smaller, not another table
    assert len(data.split.valid) == 178  # the data itself is left as it was
