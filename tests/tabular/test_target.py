"""Targets that can't be learned are refused with a reason and a way out: a column with a class
per row (Name, Ticket), an id, a column with no values, one class, one class in training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rung.cli import main
from rung.tabular.data import TabularData
from rung.tabular.train import train_table


@pytest.fixture(scope="module")
def titanic(titanic_dir) -> pd.DataFrame:
    return pd.read_csv(titanic_dir / "train.csv")


def test_a_class_per_row_target_is_refused(titanic, tmp_path):
    with pytest.raises(ValueError) as err:
        train_table(titanic, "Name", models="linear", out=tmp_path / "runs")
    message = str(err.value)
    assert "target 'Name' has 891 distinct values in 891 rows" in message
    assert "like an id or free text" in message and "choose another target" in message
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ValueError, match="target 'Ticket' has 681 distinct values in 891 rows"):
        TabularData.from_df(titanic, "Ticket")
    with pytest.raises(ValueError, match="'Cabin' has 147 distinct values in 204 rows"):
        TabularData.from_df(titanic, "Cabin")  # 687 rows without a cabin are dropped first


def test_the_cli_exits_with_the_reason(titanic_dir, tmp_path, capsys):
    argv = ["train", "table", str(titanic_dir / "train.csv"), "--target", "Name"]
    assert main([*argv, "--out", str(tmp_path), "--models", "linear"]) != 0
    assert "target 'Name' has 891 distinct values" in capsys.readouterr().err


def test_an_id_target_is_refused_unless_the_task_is_given(titanic):
    with pytest.raises(
        ValueError, match="target 'PassengerId' looks like an id.*task='regression'"
    ):
        TabularData.from_df(titanic, "PassengerId")
    data = TabularData.from_df(titanic, "PassengerId", task="regression")  # asked for: allowed
    assert data.task == "regression"
    with pytest.raises(ValueError, match="891 distinct values in 891 rows"):
        TabularData.from_df(titanic, "PassengerId", task="classification")


def test_many_classes_with_several_rows_each_are_fine(titanic):
    df = titanic.assign(Group=titanic.index % 40).astype({"Group": str})
    assert TabularData.from_df(df, "Group").classes[:3] == ["0", "1", "10"]


def test_a_target_with_no_values_says_so(titanic):
    with pytest.raises(ValueError, match=r"target 'Empty' is missing in every row \(891 of 891\)"):
        TabularData.from_df(titanic.assign(Empty=np.nan), "Empty")


def test_a_one_class_target_says_what_to_check(titanic):
    with pytest.raises(ValueError, match="single value, 1, in all 891 rows.*choose another"):
        TabularData.from_df(titanic.assign(Survived=1), "Survived")
    survivors = titanic[titanic["Survived"] == 1]
    with pytest.raises(ValueError, match="single value, 1, in all 342 rows"):
        TabularData.from_df(survivors, "Survived")


def test_training_rows_with_one_class_are_refused(titanic):
    df = titanic.sort_values("Survived", kind="stable").reset_index(drop=True)
    df["is_valid"] = df.index >= 549  # every survivor in validation, none in training
    with pytest.raises(ValueError, match=r"training rows hold one class \(0\).*valid"):
        TabularData.from_df(df, "Survived", valid_col="is_valid")


def test_an_infinite_regression_target_is_refused(shared_data):
    housing = pd.read_csv(shared_data / "california_housing" / "housing.csv")
    housing.loc[[5, 7], "median_house_value"] = [np.inf, -np.inf]
    with pytest.raises(ValueError, match=r"'median_house_value' has 2 infinite values.*\[5, 7\]"):
        TabularData.from_df(housing, "median_house_value")  # before: y_range (14999.0, inf)


def test_the_cli_can_say_the_task(titanic_dir, tmp_path, capsys):
    argv = ["train", "table", str(titanic_dir / "train.csv"), "--models", "linear"]
    argv += ["--out", str(tmp_path), "--json"]
    assert main([*argv, "--target", "PassengerId"]) != 0
    assert "(--task regression)" in capsys.readouterr().err
    assert main([*argv, "--target", "PassengerId", "--task", "regression"]) == 0
    assert '"task": "regression"' in capsys.readouterr().out


# ----------------------------------------------------------------------------- the log scale
def test_a_skewed_positive_target_is_learned_on_the_log_scale(california):
    data = TabularData.from_df(california, "median_house_value")
    assert data.target.log and data.target.fit_range[1] < 14  # log1p(500,001) = 13.1
    raw = california["median_house_value"].to_numpy()[data.split.train]
    np.testing.assert_allclose(data.ys("train"), np.log1p(raw), rtol=1e-6)
    assert data.y_range == (raw.min(), raw.max())  # the range stays in dollars
    assert any(n.startswith("target scale: log1p (every training value is > 0 and the skew is")
               for n in data.notes)  # fmt: skip
    plain = TabularData.from_df(california, "median_house_value", log_target=False)
    assert not plain.target.log and plain.ys("train")[0] == raw[0]


def test_a_target_with_zeros_or_little_skew_stays_as_it_is(titanic):
    fare = TabularData.from_df(titanic, "Fare")  # skew 4.8, but free tickets cost 0
    assert not fare.target.log and "not every training value is > 0" in fare.target.log_reason
    age = TabularData.from_df(titanic.dropna(subset=["Age"]), "Age")  # positive, skew 0.4
    assert not age.target.log and "skew 0.3" in age.target.log_reason
    with pytest.raises(ValueError, match=r"log_target=True needs target values > -1"):
        TabularData.from_df(titanic.assign(Fare=titanic["Fare"] - 10), "Fare", log_target=True)


def test_log_scale_scores_are_in_the_targets_units_plus_rmsle(california):
    from rung.tabular.fit import score

    data = TabularData.from_df(california, "median_house_value")
    truth = california["median_house_value"].to_numpy()[data.split.valid]
    guess = truth * 1.1  # 10% too high everywhere
    metrics = score(data, np.log1p(guess))
    assert metrics["rmse"] == pytest.approx(np.sqrt(((0.1 * truth) ** 2).mean()), rel=1e-5)
    assert metrics["mae"] == pytest.approx(np.abs(0.1 * truth).mean(), rel=1e-5)
    assert metrics["rmsle"] == pytest.approx(np.log(1.1), abs=2e-3)  # ~ the relative error
