"""Lesson 6's one-rule models and Gini, checked against the course's pandas code and sklearn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

from rung.scratch.splits import (
    OneRule,
    best_binary_split,
    best_split_for_column,
    gini,
    one_r,
    side_score,
    split_score,
)


def course_score(col: pd.Series, y: pd.Series, split: float) -> float:
    """The course's ``score``, verbatim (pandas std, ddof=1)."""

    def _side_score(side, y):
        tot = side.sum()
        if tot <= 1:
            return 0
        return y[side].std() * tot

    lhs = col <= split
    return (_side_score(lhs, y) + _side_score(~lhs, y)) / len(y)


def test_split_score_equals_the_course(lesson6):
    xs, y = lesson6.train_xs, lesson6.train_y
    assert split_score(xs["Sex"], y, 0.5) == pytest.approx(0.40787530982063946, rel=1e-12)
    assert split_score(xs["LogFare"], y, 2.7) == pytest.approx(0.47180873952099694, rel=1e-12)
    for name in xs.columns:
        for split in xs[name].quantile([0.1, 0.5, 0.9]):
            assert split_score(xs[name], y, split) == pytest.approx(
                course_score(xs[name], y, split), rel=1e-12
            )


def test_one_r_finds_the_courses_rule_for_every_column(lesson6):
    course = {  # the course notebook's output
        "Sex": (0, 0.40787530982063946),
        "Embarked": (0, 0.47883342573147836),
        "Age": (6.0, 0.478316717508991),
        "SibSp": (4, 0.4783740258817434),
        "Parch": (0, 0.4805296527841601),
        "LogFare": (2.4390808375825834, 0.4620823937736597),
        "Pclass": (2, 0.46048261885806596),
    }
    rules = one_r(lesson6.train_xs, lesson6.train_y)
    assert rules.keys() == course.keys()
    for name, (split, score) in course.items():
        assert rules[name] == pytest.approx((split, score), rel=1e-12), name
    assert best_binary_split(lesson6.train_xs, lesson6.train_y)[0] == "Sex"


def test_sex_one_rule_scores_the_courses_validation_mae(lesson6):
    rule = OneRule.fit(lesson6.train_xs, lesson6.train_y)
    assert (rule.column, rule.left, rule.right) == ("Sex", 1, 0)  # women survive, men don't
    mae = np.abs(lesson6.valid_y.to_numpy() - rule.predict(lesson6.valid_xs)).mean()
    assert mae == pytest.approx(0.215, abs=0.01)
    assert mae == pytest.approx(0.21524663677130046)


def test_gini_equals_sklearns_node_impurities(lesson6):
    xs, y = lesson6.train_xs, lesson6.train_y
    stump = DecisionTreeClassifier(max_depth=1).fit(xs, y)
    root, left, right = stump.tree_.impurity
    assert gini(y) == pytest.approx(root)
    lhs = xs["Sex"] <= stump.tree_.threshold[0]
    assert gini(y[lhs]) == pytest.approx(left) and gini(y[~lhs]) == pytest.approx(right)
    assert gini(["a", "b", "c", "d"]) == pytest.approx(0.75)


def test_side_score_and_column_search_edge_cases():
    assert side_score(np.array([True, False]), np.array([1.0, 0.0])) == 0.0  # one row: no spread
    assert best_split_for_column([1.0, np.nan, 2.0], [0, 1, 1])[0] in (1.0, 2.0)  # NaN skipped
    rule = OneRule.fit(pd.DataFrame({"c": [1, 1, 1]}), [0, 1, 1])  # nothing to split on
    assert rule.predict(pd.DataFrame({"c": [0, 5]})).tolist() == [1, 1]
    with pytest.raises(KeyError, match="needs column 'c'"):
        rule.predict(pd.DataFrame({"d": [1]}))
