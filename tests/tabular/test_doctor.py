"""The table doctor on the real Titanic and California housing files, each check with its
defect planted (a leak, a row-number column, a date, a drifted test file...) and on the clean
file, where it must stay silent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rung.report.doctor import ERROR, INFO, WARNING
from rung.tabular.doctor import TABLE_CHECKS, diagnose_table


@pytest.fixture(scope="module")
def titanic(titanic_dir) -> pd.DataFrame:
    return pd.read_csv(titanic_dir / "train.csv")


@pytest.fixture(scope="module")
def housing(shared_data) -> pd.DataFrame:
    return pd.read_csv(shared_data / "california_housing" / "housing.csv")


@pytest.fixture(scope="module")
def clean_titanic(titanic_dir):
    return diagnose_table(
        titanic_dir / "train.csv", "Survived", test=titanic_dir / "test.csv"
    )  # fmt: skip


def test_clean_titanic_finds_only_the_real_cabin_gaps_and_the_id(clean_titanic):
    d = clean_titanic
    assert d.subject == "train.csv" and len(d.checks) == len(TABLE_CHECKS) == 8
    assert [(f.check, f.severity) for f in d.sorted_findings()] == [
        ("table.missing", WARNING), ("table.id_like", INFO),
    ]  # fmt: skip
    assert d.by_check("table.missing")[0].evidence["column"] == "Cabin"  # 687 of 891: real
    assert d.facts == {"rows": 891, "columns": 12, "target": "Survived",
                       "task": "classification", "test_rows": 418}  # fmt: skip


def test_a_column_that_is_the_answer_is_leakage(titanic, clean_titanic):
    df = titanic.assign(outcome=titanic["Survived"].map({0: "lost", 1: "saved"}))
    (found,) = diagnose_table(df, "Survived").by_check("table.leakage")
    assert found.severity == ERROR and found.evidence["column"] == "outcome"
    assert found.evidence["score"] == 1.0 and found.evidence["baseline"] < 0.7
    assert clean_titanic.by_check("table.leakage") == []  # Sex alone is ~0.78, not a leak


def test_a_regression_leak_in_other_units(housing):
    df = housing.assign(price_k=housing["median_house_value"] / 1000)
    (found,) = diagnose_table(df, "median_house_value").by_check("table.leakage")
    assert found.evidence["column"] == "price_k" and found.evidence["metric"] == "R^2"
    assert found.evidence["score"] > 0.99


def test_clean_housing_only_notes_the_log_target(housing):
    (found,) = diagnose_table(housing, "median_house_value").findings
    assert found.check == "table.target_skew" and found.severity == INFO
    assert found.evidence["log1p"] and "log1p(target)" in found.next_step


def test_a_row_number_used_as_a_feature(titanic):
    row = titanic["PassengerId"].copy()
    row.iloc[1] = row.iloc[0]  # not quite unique, so it reads as a number, not an id
    found = diagnose_table(titanic.drop(columns="PassengerId").assign(row=row), "Survived")
    (warn,) = [f for f in found.by_check("table.id_like") if f.severity == WARNING]
    assert warn.evidence["column"] == "row" and warn.evidence["row_correlation"] > 0.99
    assert "drop row" in warn.next_step


def test_heavy_missingness_is_found_where_planted(housing):
    rng = np.random.default_rng(0)
    df = housing.copy()
    df.loc[rng.random(len(df)) < 0.6, "median_income"] = np.nan
    (found,) = diagnose_table(df, "median_house_value").by_check("table.missing")
    assert found.evidence["column"] == "median_income"
    assert 0.58 < found.evidence["missing_share"] < 0.62


def test_a_date_column_with_a_random_split_suggests_a_time_split(housing):
    rng = np.random.default_rng(0)
    days = pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, len(housing)), "D")
    df = housing.assign(sold_on=days.strftime("%Y-%m-%d"))
    (found,) = diagnose_table(df, "median_house_value").by_check("table.date_random_split")
    assert "sold_on holds dates (2020-01-01 to 2022-06-1" in found.message
    assert "'time_col': 'sold_on'" in found.next_step
    timed = diagnose_table(df, "median_house_value", split="time:sold_on")
    assert timed.by_check("table.date_random_split") == []
    with pytest.raises(ValueError, match="'random', 'time:COL'"):
        diagnose_table(df, "median_house_value", split="sometimes")


def test_constant_columns_are_named(titanic, clean_titanic):
    (found,) = diagnose_table(titanic.assign(country="UK"), "Survived").by_check("table.constant")
    assert found.evidence["columns"] == ["country"]
    assert clean_titanic.by_check("table.constant") == []


def test_a_drifted_test_file_names_the_columns_that_moved(titanic_dir, titanic, clean_titanic):
    test = pd.read_csv(titanic_dir / "test.csv")
    test["Fare"] = test["Fare"] * 3  # another currency
    test["Embarked"] = "S"
    (found,) = diagnose_table(titanic, "Survived", test=test).by_check("table.drift")
    assert set(found.evidence["shift"]) == {"Fare", "Embarked"}
    assert found.evidence["shift"]["Fare"] > 0.3
    assert clean_titanic.by_check("table.drift") == []  # the real test file is like train
    (lacking,) = diagnose_table(titanic, "Survived", test=test.drop(columns="Age")).by_check(
        "table.drift"
    )[1:]
    assert lacking.severity == ERROR and lacking.evidence["missing_in_test"] == ["Age"]


def test_an_imbalanced_target(titanic, clean_titanic):
    survivors = titanic.index[titanic["Survived"] == 1][:30]
    df = titanic.drop(index=titanic.index[titanic["Survived"] == 1].difference(survivors))
    (found,) = diagnose_table(df, "Survived").by_check("table.imbalance")
    assert found.evidence["shares"]["1"] == pytest.approx(30 / 579)
    assert "always answering '0' is 94.8% accurate" in found.message
    assert clean_titanic.by_check("table.imbalance") == []  # 38% survived


def test_a_skewed_target_with_zeros_is_learned_as_it_is(titanic):
    (found,) = diagnose_table(titanic, "Fare").by_check("table.target_skew")  # 15 fares are 0
    assert found.severity == WARNING and not found.evidence["log1p"]
    assert diagnose_table(titanic, "Age").by_check("table.target_skew") == []  # skew 0.39


def test_without_a_target_only_the_column_checks_run(titanic_dir):
    d = diagnose_table(titanic_dir / "train.csv")
    assert {f.check for f in d.findings} == {"table.missing", "table.id_like"}


def test_a_target_not_in_the_table_names_the_columns(titanic):
    with pytest.raises(KeyError, match="Survivd.*Survived"):
        diagnose_table(titanic, "Survivd")
