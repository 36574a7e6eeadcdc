"""TabularProcessor: statistics from training rows only, unknown codes, dates, JSON config."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from rung.tabular.procs import (
    MissingColumnsError,
    TabularProcessor,
    category_keys,
    emb_sz_rule,
)

CATS, CONTS = ["Pclass", "Sex", "Embarked"], ["Age", "Fare"]


@pytest.fixture(scope="module")
def titanic(titanic_dir) -> pd.DataFrame:
    return pd.read_csv(titanic_dir / "train.csv")


@pytest.fixture(scope="module")
def fitted(titanic) -> TabularProcessor:
    return TabularProcessor(CATS, CONTS).fit(titanic.iloc[:600])


def test_statistics_come_from_training_rows_only(titanic, fitted):
    train = titanic.iloc[:600]
    assert fitted.fill_cont["Age"] == pytest.approx(train["Age"].median())
    assert fitted.fill_cat["Embarked"] == "S"
    log_fare = np.log1p(train["Fare"].to_numpy())
    assert fitted.mean["Fare"] == pytest.approx(log_fare.mean())
    assert fitted.std["Fare"] == pytest.approx(log_fare.std())
    # training conts come out standardised: mean 0, std 1
    _, conts = fitted.transform_numpy(train)
    assert np.allclose(conts.mean(0), 0, atol=1e-5) and np.allclose(conts.std(0), 1, atol=1e-4)


def test_skewed_fare_is_logged_and_reported(fitted):
    assert fitted.log_names == ["Fare"]
    assert any(n.startswith("Fare: skewed") for n in fitted.notes)
    assert fitted.to_config()["log_names"] == ["Fare"]


def test_missing_values_filled_and_flagged(titanic, fitted):
    assert fitted.na_names == ["Embarked", "Age"]
    assert fitted.cat_columns == [*CATS, "Embarked_na", "Age_na"]
    cats, conts = fitted.transform_numpy(titanic)
    age_missing = titanic["Age"].isna().to_numpy()
    age_na = cats[:, fitted.cat_columns.index("Age_na")]
    assert (age_na == np.where(age_missing, 2, 1)).all()  # codes: 1 = 'False', 2 = 'True'
    filled = (fitted.fill_cont["Age"] - fitted.mean["Age"]) / fitted.std["Age"]
    assert np.allclose(conts[age_missing, 0], filled)
    assert not np.isnan(conts).any()


def test_unseen_and_missing_categories_at_predict_time(fitted):
    new = pd.DataFrame(
        {"Pclass": [1, 4], "Sex": ["female", "robot"], "Embarked": [None, "Q"], "Age": [30, None]}
    ).assign(Fare=[10.0, 20.0])
    cats, conts = fitted.transform(new)
    assert cats.dtype == torch.int64 and conts.dtype == torch.float32
    assert cats.shape == (2, 5) and conts.shape == (2, 2)
    pclass, sex, embarked = cats[:, 0].tolist(), cats[:, 1].tolist(), cats[:, 2].tolist()
    assert pclass == [1, 0] and sex == [1, 0]  # 4 and 'robot' were never seen: code 0
    assert embarked[0] == fitted.vocab["Embarked"].index("S") + 1  # missing -> the mode


def test_missing_column_error_names_it(titanic, fitted):
    with pytest.raises(MissingColumnsError) as err:
        fitted.transform(titanic.drop(columns=["Age", "Sex"]))
    assert "['Sex', 'Age']" in str(err.value)
    # an empty column is fine: it is filled as in training
    cats, _ = fitted.transform(titanic.assign(Sex=None))
    assert (cats[:, 1] == fitted.vocab["Sex"].index(fitted.fill_cat["Sex"]) + 1).all()


def test_text_in_a_number_column_is_an_error(titanic, fitted):
    bad = titanic.iloc[:3].astype({"Fare": object})
    bad.loc[1, "Fare"] = "free"
    with pytest.raises(ValueError, match="'Fare' holds a value that is not a number, 'free'"):
        fitted.transform(bad)


def test_config_round_trip_through_json_is_exact(titanic, fitted):
    again = TabularProcessor.from_config(json.loads(json.dumps(fitted.to_config())))
    a, b = fitted.transform(titanic), again.transform(titanic)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert again.embedding_sizes == fitted.embedding_sizes
    with pytest.raises(ValueError, match="newer"):
        TabularProcessor.from_config({**fitted.to_config(), "version": 99})


def test_unfitted_processor_says_call_fit(titanic):
    with pytest.raises(RuntimeError, match="call fit"):
        TabularProcessor(CATS, CONTS).transform(titanic)


def test_column_empty_in_training_rows_is_dropped_with_a_note():
    train = pd.DataFrame({"a": [np.nan, np.nan], "b": [1.0, 2.0]})
    proc = TabularProcessor(cont_names=["a", "b"]).fit(train)
    assert proc.cont_columns == ["b"]
    assert any("a: dropped" in n for n in proc.notes)


def test_category_keys_and_embedding_rule():
    # ints read as floats (one value missing) still match the vocabulary
    assert (
        category_keys(pd.Series([3, 1])).tolist() == category_keys(pd.Series([3.0, 1.0])).tolist()
    )
    assert [emb_sz_rule(n) for n in (2, 4, 8, 50)] == [2, 3, 5, 14]


def test_infinite_numbers_count_as_missing():
    train = pd.DataFrame({"x": [1.0, np.inf, 3.0, 5.0]})
    proc = TabularProcessor(cont_names=["x"], log_names=[]).fit(train)
    assert proc.fill_cont["x"] == 3.0 and proc.na_names == ["x"]
    cats, conts = proc.transform_numpy(pd.DataFrame({"x": [-np.inf]}))
    assert cats.tolist() == [[2]] and np.isfinite(conts).all()
