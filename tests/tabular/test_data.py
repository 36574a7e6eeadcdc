"""TabularData on the real Titanic CSVs: the course split, test.csv, config, a sanity model;
and every kind of bad input the tables issue lists."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from rung.data.core import DataLoaders
from rung.data.splitters import Split, random_split
from rung.tabular.data import TabularData
from rung.tabular.procs import MissingColumnsError, TabularProcessor
from rung.tabular.target import TabularTarget


@pytest.fixture(scope="module")
def titanic(titanic_dir) -> pd.DataFrame:
    return pd.read_csv(titanic_dir / "train.csv")


@pytest.fixture(scope="module")
def data(titanic_dir) -> TabularData:
    return TabularData.from_csv(titanic_dir / "train.csv", "Survived")


def test_titanic_roles_task_and_classes(data):
    assert data.task == "classification" and data.classes == [0, 1] and data.y_range is None
    assert data.id_name == "PassengerId"
    assert data.roles.text_names == ["Name", "Ticket"]
    assert {"Sex", "Embarked", "Pclass"} <= set(data.cat_names)
    assert data.cont_names == ["Age", "Fare"]
    assert not {"PassengerId", "Name", "Ticket", "Survived"} & set(data.cat_names + data.cont_names)
    assert data.processor.log_names == ["Fare"]
    assert any("Fare: skewed" in n for n in data.notes)
    assert "Fare: skewed" in data.summary()


def test_titanic_course_split(data):
    assert (len(data.split.train), len(data.split.valid)) == (713, 178)
    torch.manual_seed(42)
    course_valid = torch.randperm(891)[:178].numpy()  # DATA.md: the course's validation rows
    assert (data.split.valid == course_valid).all()
    train, valid = data.train, data.valid
    assert train.cats.shape == (713, len(data.cat_names)) and train.cats.dtype == torch.int64
    assert train.conts.shape == (713, 2) and train.conts.dtype == torch.float32
    assert valid.y.shape == (178,) and valid.y.dtype == torch.int64
    assert (valid.y.numpy() == data.df["Survived"].to_numpy()[course_valid]).all()


def test_preprocessing_fitted_on_training_rows(data):
    train_rows = data.df.iloc[data.split.train]
    assert data.processor.fill_cont["Age"] == pytest.approx(train_rows["Age"].median())
    age = train_rows["Age"].fillna(train_rows["Age"].median())
    assert data.processor.mean["Age"] == pytest.approx(age.mean())
    everything = TabularProcessor(data.roles.cat_names, data.roles.cont_names).fit(data.df)
    assert everything.mean["Age"] != pytest.approx(data.processor.mean["Age"])  # no leak
    assert data.train.conts.mean(0).abs().max() < 1e-5  # standardised on exactly these rows
    assert data.valid.conts.mean(0).abs().max() > 1e-3


def test_embedding_sizes_follow_fastai_rule(data):
    sizes = dict(zip(data.cat_names, data.embedding_sizes))
    assert sizes["Sex"] == (3, 3)  # female, male + unknown
    assert sizes["Pclass"] == (4, 3)
    assert all(w == min(600, round(1.6 * n**0.56)) for n, w in data.embedding_sizes)
    codes = data.train.cats
    assert all(int(codes[:, j].max()) < n for j, (n, _) in enumerate(data.embedding_sizes))


def test_dataloaders_batch_from_tensors(data):
    dls = data.dataloaders(batch_size=64)
    assert isinstance(dls, DataLoaders)
    cats, conts, y = next(iter(dls.train))
    assert cats.shape == (64, len(data.cat_names)) and conts.shape == (64, 2) and y.shape == (64,)
    assert len(dls.train) == 713 // 64  # the last partial batch is dropped in training
    assert sum(len(b[2]) for b in dls.valid) == 178  # every validation row, in order
    assert torch.equal(torch.cat([b[2] for b in dls.valid]), data.valid.y)
    assert dls.info["n_out"] == 2 and dls.info["embedding_sizes"] == data.embedding_sizes


def test_test_csv_transforms(data, titanic_dir):
    test = pd.read_csv(titanic_dir / "test.csv")
    assert test["Fare"].isna().sum() == 1
    cats, conts = data.transform(test)
    assert cats.shape == (418, len(data.cat_names)) and conts.shape == (418, 2)
    assert not torch.isnan(conts).any()
    xs = data.test_xs(test)
    assert list(xs.columns) == data.cat_names + data.cont_names and len(xs) == 418
    assert sum(len(b[0]) for b in data.test_dl(test, batch_size=100)) == 418
    assert test[data.id_name].tolist()[:2] == [892, 893]
    with pytest.raises(MissingColumnsError, match=r"missing column\(s\) \['Fare'\]"):
        data.transform(test.drop(columns=["Fare"]))


def test_config_round_trip_gives_identical_tensors(data, titanic_dir):
    config = json.loads(json.dumps(data.to_config()))
    processor = TabularProcessor.from_config(config["processor"])
    test = pd.read_csv(titanic_dir / "test.csv")
    for df in (data.df, test):
        a, b = data.transform(df), processor.transform(df)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    target = TabularTarget.from_config(config["target"])
    assert target.decode([1, 0]) == [1, 0] and config["id_name"] == "PassengerId"


def test_random_forest_on_processed_features(data):
    from sklearn.ensemble import RandomForestClassifier

    rf = RandomForestClassifier(100, min_samples_leaf=5, random_state=0, n_jobs=1)
    rf.fit(data.xs("train"), data.ys("train"))
    accuracy = (rf.predict(data.xs("valid")) == data.ys("valid")).mean()
    assert accuracy >= 0.80, accuracy


# --------------------------------------------------------------------------- bad input
def test_target_not_found_suggests_closest(titanic):
    with pytest.raises(KeyError) as err:
        TabularData.from_df(titanic, "survived ")
    assert "columns are: ['PassengerId', 'Survived'," in str(err.value)
    assert "Did you mean 'Survived'?" in str(err.value)


def test_missing_target_rows_dropped_with_note_or_error(titanic):
    df = titanic.copy()
    df.loc[[3, 10, 500], "Survived"] = np.nan
    data = TabularData.from_df(df, "Survived")
    assert len(data.df) == 888 and data.classes == [0, 1]  # classes stay ints, not 0.0/1.0
    assert "Survived: 3 rows with no target value were dropped" in data.notes
    assert len(data.split.valid) == int(0.2 * 888)
    with pytest.raises(ValueError, match="missing in 3 of 891 rows; drop them"):
        TabularData.from_df(df, "Survived", dropna_target=False)


def test_explicit_split_maps_past_dropped_rows(titanic):
    df = titanic.copy()
    df.loc[0, "Survived"] = np.nan
    split = Split(np.arange(0, 700), np.arange(700, 891))
    data = TabularData.from_df(df, "Survived", split=split)
    assert (len(data.split.train), len(data.split.valid)) == (699, 191)
    assert data.df.index[data.split.valid[0]] == 700


def test_one_row_and_tiny_tables(titanic):
    with pytest.raises(ValueError, match="too few rows for a validation set"):
        TabularData.from_df(titanic.iloc[:1], "Survived")
    with pytest.raises(ValueError, match=r"too few rows \(4\) for a validation set"):
        TabularData.from_df(titanic.iloc[:4], "Survived")


def test_all_nan_column_dropped_with_note(titanic):
    data = TabularData.from_df(titanic.assign(Empty=np.nan), "Survived")
    assert data.roles.role_of("Empty") == "dropped"
    assert "Empty: dropped - all values missing" in data.notes
    assert "Empty" not in data.cat_names + data.cont_names


def test_unseen_categories_map_to_unknown(data, titanic_dir):
    test = pd.read_csv(titanic_dir / "test.csv")
    test.loc[0, "Embarked"], test.loc[1, "Sex"] = "X", "unknown"
    xs = data.test_xs(test)
    assert xs.loc[0, "Embarked"] == 0 and xs.loc[1, "Sex"] == 0
    assert (xs.loc[2:, "Sex"] > 0).all()


def test_single_class_target_is_an_error(titanic):
    with pytest.raises(ValueError, match="single value"):
        TabularData.from_df(titanic.assign(Survived=1), "Survived")


# --------------------------------------------------------------------------- splits, regression
def _sales(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "date": pd.date_range("2020-01-01", periods=n, freq="W").strftime("%Y-%m-%d"),
            "store": rng.choice(["a", "b", "c", "d", "e", "f"], n),
            "size": rng.normal(100, 20, n),
            "is_valid": np.arange(n) % 5 == 0,
            "sales": rng.normal(1000, 100, n),
        }
    )


def test_regression_with_dates_and_y_range():
    df = _sales()
    data = TabularData.from_df(df, "sales")
    assert data.task == "regression" and data.classes is None
    assert data.y_range == (
        pytest.approx(df["sales"].iloc[data.split.train].min()),
        pytest.approx(df["sales"].iloc[data.split.train].max()),
    )
    assert data.train.y.shape == (48, 1) and data.train.y.dtype == torch.float32
    assert "date_year" in data.cont_names and "date_month" in data.cat_names
    assert data.ys("valid").shape == (12,)
    assert (
        TabularData.from_df(
            df.assign(sales=df["sales"] // 100), "sales", task="classification"
        ).task
        == "classification"
    )


def test_column_time_and_group_splits():
    df = _sales()
    by_col = TabularData.from_df(df, "sales", valid_col="is_valid")
    assert (by_col.split.valid == np.flatnonzero(df["is_valid"])).all()
    assert by_col.roles.role_of("is_valid") == "dropped"  # the split marker is not a feature
    by_time = TabularData.from_df(df, "sales", time_col="date", valid_pct=0.25)
    assert by_time.split.valid.min() > by_time.split.train.max()  # validation is the future
    by_group = TabularData.from_df(df, "sales", group_col="store", valid_pct=0.34)
    stores = df["store"].to_numpy()
    assert not set(stores[by_group.split.valid]) & set(stores[by_group.split.train])
    with pytest.raises(ValueError, match="give one way to split"):
        TabularData.from_df(df, "sales", time_col="date", group_col="store")


def test_same_split_as_random_split(titanic):
    data = TabularData.from_df(titanic, "Survived", valid_pct=0.25, seed=7)
    expected = random_split(891, valid_pct=0.25, seed=7)
    assert (data.split.valid == expected.valid).all() and (data.split.train == expected.train).all()


# --------------------------------------------------------------------------- column names
def test_non_string_column_names_are_refused_up_front(titanic):
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 3)))  # columns 0, 1, 2
    df["y"] = (df[0] > 0).astype(int)
    with pytest.raises(ValueError, match=r"column names must be strings; \[0, 1, 2\] are not.*str"):
        TabularData.from_df(df, "y")  # before: failed only when the model file was written


def test_duplicate_column_names_are_refused(titanic):
    df = titanic[["Age", "Fare", "Survived"]].copy()
    df.columns = ["Age", "Age", "Survived"]
    with pytest.raises(ValueError, match=r"the table has two or more columns named \['Age'\]"):
        TabularData.from_df(df, "Survived")


def test_a_filtered_or_shuffled_frame_keeps_rows_and_targets_together(titanic):
    order = np.random.default_rng(0).permutation(len(titanic))[:600]
    df = titanic.iloc[order]  # index no longer 0..n-1
    data = TabularData.from_df(df, "Survived")
    assert (data.ys("valid") == df["Survived"].to_numpy()[data.split.valid]).all()
    assert (data.xs("valid").index == df.index[data.split.valid]).all()
