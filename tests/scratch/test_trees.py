"""The scratch decision tree against scikit-learn's DecisionTreeClassifier, same settings."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

from rung.scratch.trees import DecisionTree, best_gini_split, resolve_max_features


def accuracy(model, xs, y) -> float:
    return float((model.predict(xs) == np.asarray(y)).mean())


def top3(model, names) -> list[str]:
    return [names[i] for i in np.argsort(-model.feature_importances_, kind="stable")[:3]]


def test_best_gini_split_equals_sklearns_stump(lesson6):
    xs, y = lesson6.train_xs, lesson6.train_y
    stump = DecisionTreeClassifier(max_depth=1).fit(xs, y)
    split = best_gini_split(
        xs.to_numpy(float), np.eye(2)[y.to_numpy()], np.arange(len(xs)), list(range(xs.shape[1]))
    )
    assert split.feature == stump.tree_.feature[0]
    assert split.threshold == pytest.approx(stump.tree_.threshold[0])
    assert len(split.left_rows) == stump.tree_.n_node_samples[1]


@pytest.mark.parametrize(
    ("settings", "course_mae"),
    [({"max_leaf_nodes": 4}, 0.224), ({"min_samples_leaf": 50}, 0.184), ({"max_depth": 3}, None)],
)
def test_tree_matches_sklearn_with_the_same_settings(lesson6, settings, course_mae):
    ours = DecisionTree(**settings).fit(lesson6.train_xs, lesson6.train_y)
    theirs = DecisionTreeClassifier(**settings, random_state=0).fit(
        lesson6.train_xs, lesson6.train_y
    )
    ours_acc = accuracy(ours, lesson6.valid_xs, lesson6.valid_y)
    theirs_acc = accuracy(theirs, lesson6.valid_xs, lesson6.valid_y)
    assert abs(ours_acc - theirs_acc) <= 0.02
    assert ours.n_leaves_ == theirs.get_n_leaves()
    names = list(lesson6.train_xs.columns)
    assert top3(ours, names) == top3(theirs, names)
    if course_mae is not None:
        assert 1 - ours_acc == pytest.approx(course_mae, abs=0.001)


def test_a_four_leaf_tree_is_sklearns_exactly(lesson6):
    ours = DecisionTree(max_leaf_nodes=4).fit(lesson6.train_xs, lesson6.train_y)
    theirs = DecisionTreeClassifier(max_leaf_nodes=4).fit(lesson6.train_xs, lesson6.train_y)
    np.testing.assert_allclose(ours.feature_importances_, theirs.feature_importances_)
    np.testing.assert_allclose(
        ours.predict_proba(lesson6.valid_xs), theirs.predict_proba(lesson6.valid_xs)
    )
    assert ours.to_text().splitlines()[0] == "Sex <= 0.50"


def test_stopping_rules_hold(lesson6):
    xs, y = lesson6.train_xs, lesson6.train_y
    deep = DecisionTree(max_depth=3).fit(xs, y)
    assert deep.depth_ == 3 and deep.n_leaves_ <= 8
    leafy = DecisionTree(min_samples_leaf=20).fit(xs, y)
    assert np.bincount(leafy.apply(xs))[leafy.feature_ < 0].min() >= 20
    assert DecisionTree(max_leaf_nodes=7).fit(xs, y).n_leaves_ == 7
    full = DecisionTree().fit(xs, y)
    assert accuracy(full, xs, y) > 0.9  # grown out, it nearly memorises the training rows


def test_multiclass_and_weights_against_sklearn():
    x, y = load_iris(return_X_y=True)
    x = x[:, :3]  # petal length and width tie at the root; the two libraries break ties apart
    weights = np.random.default_rng(0).integers(1, 4, len(y)).astype(float)
    ours = DecisionTree(max_depth=3).fit(x, y, sample_weight=weights)
    theirs = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y, sample_weight=weights)
    assert abs(accuracy(ours, x, y) - accuracy(theirs, x, y)) <= 0.02
    np.testing.assert_allclose(ours.feature_importances_, theirs.feature_importances_, atol=0.02)
    labelled = DecisionTree(max_depth=2).fit(x, np.array(["setosa", "versicolor", "virginica"])[y])
    assert set(labelled.predict(x)) == {"setosa", "versicolor", "virginica"}


def test_errors_that_teach():
    with pytest.raises(RuntimeError, match=r"call fit\(x, y\)"):
        DecisionTree().predict([[1.0]])
    with pytest.raises(ValueError, match="missing values"):
        DecisionTree().fit([[1.0], [np.nan]], [0, 1])
    tree = DecisionTree().fit([[1.0, 2.0], [2.0, 1.0]], [0, 1])
    with pytest.raises(ValueError, match="x has 1 columns but the tree was fitted on 2"):
        tree.predict([[1.0]])
    with pytest.raises(ValueError, match="max_features='half' is not understood"):
        resolve_max_features("half", 7)
    assert repr(DecisionTree(max_leaf_nodes=4)) == "DecisionTree(max_leaf_nodes=4)"
