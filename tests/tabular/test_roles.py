"""Column roles and task inference: on the real Titanic table and on small tables with dates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rung.tabular.roles import (
    ColumnNotFoundError,
    ColumnRoles,
    find_column,
    infer_roles,
    infer_task,
)


@pytest.fixture(scope="module")
def titanic(titanic_dir) -> pd.DataFrame:
    return pd.read_csv(titanic_dir / "train.csv")


def test_titanic_roles(titanic):
    roles = infer_roles(titanic, "Survived")
    assert roles.id_names == ["PassengerId"]
    assert roles.id_name == "PassengerId"
    assert set(roles.text_names) == {"Name", "Ticket"}
    assert {"Sex", "Embarked", "Pclass"} <= set(roles.cat_names)
    assert {"Age", "Fare"} <= set(roles.cont_names)
    assert roles.date_names == [] and roles.dropped == []
    assert "Survived" not in roles.feature_names
    assert roles.role_of("Survived") == "target"
    assert roles.role_of("Name") == "text"
    # every column but the target has a role and a reason
    assert set(roles.reasons) == set(titanic.columns) - {"Survived"}


def test_titanic_task(titanic):
    task, why = infer_task(titanic["Survived"])
    assert task == "classification" and "2 distinct integers" in why
    assert infer_task(titanic["Fare"])[0] == "regression"
    assert infer_task(titanic["Sex"])[0] == "classification"


def test_task_from_many_integers_and_bools():
    assert infer_task(pd.Series(np.arange(100)))[0] == "regression"
    assert infer_task(pd.Series([True, False, True]))[0] == "classification"
    assert infer_task(pd.Series([0.0, 0.25, 0.5, 1.0]))[0] == "regression"  # the patents scores


def test_missing_target_lists_columns_and_suggests(titanic):
    with pytest.raises(ColumnNotFoundError) as err:
        infer_roles(titanic, "Survivd")
    msg = str(err.value)
    assert (
        "'Survivd' not found" in msg
        and "'PassengerId'" in msg
        and "Did you mean 'Survived'?" in msg
    )
    # the case-insensitive match wins over fuzzy ones
    with pytest.raises(KeyError, match="Did you mean 'Fare'"):
        find_column(titanic, "fare")


def test_overrides(titanic):
    given = {"cont_names": ["SibSp", "Parch"], "cat_names": ["Ticket"], "drop": ["Cabin"]}
    roles = infer_roles(titanic, "Survived", given)
    assert {"SibSp", "Parch"} <= set(roles.cont_names)
    assert "Ticket" in roles.cat_names and "Ticket" not in roles.text_names
    assert roles.dropped == ["Cabin"] and "Cabin" not in roles.feature_names
    with pytest.raises(ValueError, match="two roles"):
        infer_roles(titanic, "Survived", {"cat_names": ["Age"], "cont_names": ["Age"]})
    with pytest.raises(ValueError, match="is the target"):
        infer_roles(titanic, "Survived", {"cat_names": ["Survived"]})
    with pytest.raises(KeyError, match="Did you mean 'Embarked'"):
        infer_roles(titanic, "Survived", {"cat_names": ["Embarkd"]})
    with pytest.raises(ValueError, match=r"unknown role arguments \['cats'\]; they are"):
        infer_roles(titanic, "Survived", {"cats": ["Sex"]})


def test_dates_empty_constant_and_string_ids():
    n = 40
    df = pd.DataFrame(
        {
            "key": [f"k{i:03d}x" for i in range(n)],
            "sold": pd.date_range("2020-01-01", periods=n, freq="7D").strftime("%Y-%m-%d"),
            "when": pd.date_range("2021-01-01", periods=n, freq="D"),
            "empty": [np.nan] * n,
            "same": ["a"] * n,
            "flag": [True, False] * (n // 2),
            "price": np.linspace(1, 2, n),
        }
    )
    roles = infer_roles(df, "price")
    assert roles.id_names == ["key"]
    assert roles.date_names == ["sold", "when"]
    assert roles.dropped == ["empty", "same"]
    assert "all values missing" in roles.reasons["empty"]
    assert roles.cat_names == ["flag"]


def test_roles_config_round_trip(titanic):
    roles = infer_roles(titanic, "Survived")
    again = ColumnRoles.from_config(roles.to_config())
    assert again == roles
