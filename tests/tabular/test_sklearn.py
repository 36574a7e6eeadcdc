"""TabularClassifier and TabularRegressor: scikit-learn's own estimator checks, and the
estimators on real data (a Titanic DataFrame with strings and missing values, in a pipeline)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from rung.tabular.sklearn import TabularClassifier, TabularRegressor

# Tiny nets and few epochs keep the ~100 checks at a few seconds in all.
FAST = {"layers": (16,), "epochs": 10, "lr": 0.03, "random_state": 0}


@parametrize_with_checks([TabularClassifier(**FAST), TabularRegressor(**FAST)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def titanic(titanic_dir) -> pd.DataFrame:
    return pd.read_csv(titanic_dir / "train.csv")


def test_predict_before_fit_says_call_fit():
    for est in (TabularClassifier(), TabularRegressor()):
        with pytest.raises(NotFittedError, match=r"is not fitted yet; call fit\(X, y\) first"):
            est.predict(np.zeros((2, 3)))


def test_init_only_stores_and_fit_returns_self():
    clf = TabularClassifier(layers=(8,), epochs=3, lr=0.03, random_state=1)
    assert clf.get_params()["layers"] == (8,) and not hasattr(clf, "model_")
    X = np.random.default_rng(0).normal(size=(40, 2))
    assert clf.fit(X, (X[:, 0] > 0).astype(int)) is clf
    assert clf.layers == (8,)  # fit never rewrites a parameter
    assert clf.n_features_in_ == 2 and list(clf.classes_) == [0, 1]
    assert len(clf.history_) == 3 and "accuracy" in clf.valid_score_


def test_classifier_on_a_titanic_dataframe_with_strings_and_missing_values(titanic):
    X = titanic[["Pclass", "Sex", "Age", "SibSp", "Parch", "Fare", "Embarked"]]
    y = titanic["Survived"].map({0: "died", 1: "survived"})
    train, test = np.arange(0, 700), np.arange(700, 891)
    clf = TabularClassifier(epochs=8, lr=0.03, random_state=0, cat_names=["Pclass"])
    clf.fit(X.iloc[train], y.iloc[train])
    assert list(clf.classes_) == ["died", "survived"]
    assert list(clf.feature_names_in_) == list(X.columns)
    assert {"Sex", "Embarked", "Pclass"} <= set(clf.processor_.cat_columns)
    pred = clf.predict(X.iloc[test])
    assert set(pred) <= {"died", "survived"}
    assert (pred == y.iloc[test].to_numpy()).mean() > 0.75
    probs = clf.predict_proba(X.iloc[test])
    assert probs.shape == (191, 2) and np.allclose(probs.sum(1), 1)
    with pytest.raises(ValueError, match="cat_names \\['Deck'\\] are not columns of X"):
        clone(clf).set_params(cat_names=["Deck"]).fit(X, y)


def test_regressor_in_cross_validation(titanic):
    df = titanic.dropna(subset=["Age"])
    X, y = df[["Pclass", "SibSp", "Parch", "Fare"]].to_numpy(float), df["Age"].to_numpy()
    scores = cross_val_score(TabularRegressor(epochs=5, lr=0.03, random_state=0), X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.1  # R2: beats predicting the mean
    reg = TabularRegressor(epochs=5, lr=0.03, random_state=0).fit(X, y)
    assert 20 < reg.predict(X).mean() < 40 and reg.y_std_ > 10


def test_errors_name_the_problem():
    X = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match="one class .*at least 2 classes"):
        TabularClassifier().fit(X, np.ones(10))
    with pytest.raises(ValueError, match="1 sample"):
        TabularClassifier().fit(X[:1], [0])
    with pytest.raises(ValueError, match="needs at least 3"):
        TabularClassifier().fit(X[:2], [0, 1])
    with pytest.raises(ValueError, match="valid_pct must be between 0 and 1"):
        TabularClassifier(valid_pct=0.0).fit(X, [0, 1] * 5)
