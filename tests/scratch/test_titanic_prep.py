"""The course's Titanic preprocessing and splits, checked against the course's own code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rung.data.splitters import random_split
from rung.scratch.titanic_prep import (
    LESSON5_FEATURES,
    course_split,
    lesson5_table,
    lesson6_split,
    lesson6_table,
    normalise_by_max,
    read_titanic,
)


def test_lesson5_table_has_the_courses_twelve_features(titanic_dir):
    table = lesson5_table(read_titanic(titanic_dir))
    assert list(table.columns) == [*LESSON5_FEATURES, "Survived"]
    assert len(table) == 891 and not table.isna().any().any()
    assert table["Age"].value_counts().idxmax() == 24.0  # 177 missing ages filled with the mode
    assert table[["Sex_male", "Sex_female"]].sum(axis=1).eq(1).all()
    assert table[["Embarked_C", "Embarked_Q", "Embarked_S"]].sum().tolist() == [168, 77, 646]
    np.testing.assert_allclose(table["LogFare"].max(), np.log(512.3292 + 1))


def test_lesson5_tensors_are_normalised_and_split_like_the_course(lesson5):
    assert lesson5.train_x.shape == (713, 12) and lesson5.valid_x.shape == (178, 12)
    everything = torch.cat([lesson5.train_x, lesson5.valid_x])
    torch.testing.assert_close(everything.max(0).values, torch.ones(12))
    assert everything.min() >= 0
    assert set(lesson5.train_y.unique().tolist()) == {0.0, 1.0}


def test_normalise_by_max_broadcasts_one_max_per_column():
    x = torch.tensor([[1.0, 10.0, 4.0], [2.0, 5.0, 8.0]])
    scaled, maxes = normalise_by_max(x)
    assert maxes.tolist() == [2.0, 10.0, 8.0]
    torch.testing.assert_close(scaled, x / torch.stack([maxes, maxes]))
    again, _ = normalise_by_max(x, maxes)  # reuse training maxima on new rows
    torch.testing.assert_close(again, scaled)


def test_course_split_equals_the_course_and_the_library_splitter():
    with torch.random.fork_rng():  # the course's way changes torch's global generator
        torch.manual_seed(42)
        idx = torch.randperm(891).numpy()
    train, valid = course_split(891)
    assert valid.tolist() == idx[:178].tolist() and train.tolist() == idx[178:].tolist()
    library = random_split(891, valid_pct=0.2, seed=42)
    assert library.valid.tolist() == valid.tolist() and library.train.tolist() == train.tolist()


def test_lesson6_split_equals_the_course_global_seed_version(titanic_dir):
    from sklearn.model_selection import train_test_split

    table = lesson6_table(read_titanic(titanic_dir))
    state = np.random.get_state()
    try:
        np.random.seed(42)
        course_train, course_valid = train_test_split(table, test_size=0.25)
    finally:
        np.random.set_state(state)
    data = lesson6_split(table)
    assert data.train_xs.index.tolist() == course_train.index.tolist()
    assert data.valid_xs.index.tolist() == course_valid.index.tolist()
    assert list(data.train_xs.columns) == [
        "Sex",
        "Embarked",
        "Age",
        "SibSp",
        "Parch",
        "LogFare",
        "Pclass",
    ]
    assert data.train_xs["Sex"].isin([0, 1]).all()  # codes: female 0, male 1
    assert (data.train_xs["Sex"] == 0).eq(course_train["Sex"] == "female").all()


def test_lesson6_table_prepares_the_test_file_with_training_modes(titanic_dir):
    train = read_titanic(titanic_dir)
    test = lesson6_table(read_titanic(titanic_dir, "test.csv"), modes=train.mode().iloc[0])
    assert len(test) == 418
    assert not test[["Age", "Fare", "Embarked", "LogFare"]].isna().any().any()
    assert test["Fare"].min() == 0.0  # the one missing fare becomes 0, as in the course


def test_read_titanic_says_what_is_missing(tmp_path):
    (tmp_path / "other.csv").write_text("a\n1\n")
    with pytest.raises(FileNotFoundError, match=r"no train.csv in .*it holds: \['other.csv'\]"):
        read_titanic(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        read_titanic(tmp_path / "nowhere")
    with pytest.raises(KeyError, match="lacks columns"):
        lesson5_table(pd.DataFrame({"Sex": ["male"]}))
