"""TabularPredictor on real Titanic rows: predictions line up with the input rows whatever the
frame's index, and the CSV it reads is checked like a training CSV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rung
from rung.tabular.train import train_table


@pytest.fixture(scope="module")
def titanic(titanic_dir) -> pd.DataFrame:
    return pd.read_csv(titanic_dir / "train.csv")


@pytest.fixture(scope="module")
def predictor(titanic, tmp_path_factory):
    """A logistic regression on raw Titanic (well under a second)."""
    run = train_table(
        titanic, "Survived", models="linear", out=tmp_path_factory.mktemp("runs"), explain=False
    )
    return rung.load(run.model_path)


def _one_by_one(predictor, rows: pd.DataFrame) -> list:
    return [predictor.predict(row.to_dict()).label for _, row in rows.iterrows()]


def test_rows_of_a_filtered_frame_get_their_own_labels(predictor, titanic):
    rows = titanic.iloc[[5, 1, 300, 2, 9]]  # index 5, 1, 300, 2, 9: not 0..n-1
    table = predictor.predict(rows)
    assert table.index.tolist() == [5, 1, 300, 2, 9]  # the input's index, to join back on
    assert table["PassengerId"].tolist() == rows["PassengerId"].tolist()
    assert table["Survived"].tolist() == _one_by_one(predictor, rows)
    assert table["Survived"].notna().all() and table["Survived"].dtype == np.int64


def test_shuffled_and_duplicated_index_predict_as_the_plain_frame(predictor, titanic):
    plain = predictor.predict(titanic)
    order = np.random.default_rng(0).permutation(len(titanic))
    shuffled = predictor.predict(titanic.iloc[order])
    np.testing.assert_array_equal(shuffled["Survived"], plain["Survived"].to_numpy()[order])
    np.testing.assert_array_equal(shuffled["P(1)"], plain["P(1)"].to_numpy()[order])
    twice = pd.concat([titanic.head(4), titanic.head(4)])  # index 0..3 twice
    table = predictor.predict(twice)
    assert table["Survived"].tolist() == plain["Survived"].head(4).tolist() * 2


def test_string_and_bool_targets_line_up_too(titanic, tmp_path):
    df = titanic.assign(Fate=np.where(titanic["Survived"] == 1, "lived", "died"))
    df = df.drop(columns=["Survived"])
    run = train_table(df, "Fate", models="linear", out=tmp_path, explain=False)
    rows = df.iloc[[10, 3, 500]]
    table = rung.load(run.model_path).predict(rows)
    assert table["Fate"].tolist() == _one_by_one(rung.load(run.model_path), rows)
    flags = titanic.assign(Survived=titanic["Survived"] == 1)
    run = train_table(flags, "Survived", models="linear", out=tmp_path, explain=False)
    rows = flags.iloc[[10, 3, 500]]
    predictor = rung.load(run.model_path)
    table = predictor.predict(rows)
    assert table["Survived"].tolist() == _one_by_one(predictor, rows)
    assert table["Survived"].dtype == bool


def test_predicting_a_csv_never_overwrites_it(predictor, titanic_dir, tmp_path):
    test = tmp_path / "test.csv"
    test.write_bytes((titanic_dir / "test.csv").read_bytes())
    before = test.read_bytes()
    with pytest.raises(ValueError, match="is the CSV being predicted"):
        predictor.predict_for_cli(test, tmp_path / "." / "test.csv")
    assert test.read_bytes() == before
    result = predictor.predict_for_cli(test, tmp_path / "out.csv")
    assert result["rows"] == 418
