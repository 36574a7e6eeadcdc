"""Settings that make no sense are refused before anything is read or trained, through
train_table and `rung train table`, each with a message that names the bad value and the fix."""

from __future__ import annotations

import pandas as pd
import pytest

from rung.cli import main
from rung.tabular.train import parse_models, train_table


@pytest.fixture(scope="module")
def titanic(titanic_dir) -> pd.DataFrame:
    return pd.read_csv(titanic_dir / "train.csv")


def _cli(titanic_dir, tmp_path, *flags: str) -> int:
    argv = ["train", "table", str(titanic_dir / "train.csv"), "--target", "Survived"]
    return main([*argv, "--out", str(tmp_path / "runs"), *flags])


def test_empty_models_fail_and_name_the_valid_ones(titanic_dir, tmp_path, capsys):
    assert _cli(titanic_dir, tmp_path, "--models", "") != 0
    err = capsys.readouterr().err
    assert "no models given (models='')" in err and "'linear', 'nn', 'rf'" in err
    assert not (tmp_path / "runs").exists()  # nothing trained, no run folder
    for empty in ("", " , ", []):
        with pytest.raises(ValueError, match="no models given"):
            parse_models(empty)


def test_unknown_model_lists_the_models_and_the_closest(titanic, tmp_path):
    with pytest.raises(
        ValueError, match=r"unknown model 'forrest'; choose from \['linear'.*'forest'"
    ):
        train_table(titanic, "Survived", models="linear,forrest", out=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_valid_pct_outside_0_1_says_so(titanic_dir, titanic, tmp_path, capsys):
    assert _cli(titanic_dir, tmp_path, "--models", "linear", "--valid-pct", "-0.2") != 0
    err = capsys.readouterr().err
    assert "valid_pct must be in (0, 1), got -0.2" in err and "--valid-pct 0.2" in err
    assert "rows" not in err.split("got -0.2")[0]  # not "-178 rows"
    for pct in (0, 1, 1.5):
        with pytest.raises(ValueError, match=r"valid_pct must be in \(0, 1\)"):
            train_table(titanic, "Survived", models="linear", valid_pct=pct, out=tmp_path)


def test_an_export_that_is_not_trained_fails_before_training(titanic, tmp_path):
    with pytest.raises(ValueError, match=r"export='nn' is not among the models to train, \['rf'\]"):
        train_table(titanic, "Survived", models="rf", export="nn", out=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()  # before: every model trained, then the error


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"epochs": 0}, "epochs must be a whole number >= 1, got 0"),
        ({"lr": -1.0}, "lr must be a number > 0, got -1.0; e.g. lr=0.003"),
        ({"batch_size": 2.5}, "batch_size must be a whole number >= 1, got 2.5"),
        ({"layers": [10, 0]}, r"layers must be a list of layer sizes >= 1, e.g. \[200, 100\]"),
        ({"n_seeds": 0, "models": "nn_ensemble"}, "n_seeds must be a whole number >= 1, got 0"),
        ({"n_estimators": 0}, "n_estimators must be a whole number >= 1, got 0"),
        ({"min_samples_leaf": -5}, "min_samples_leaf must be a whole number >= 1, got -5"),
        ({"data_options": {"seed": 1}}, r"data_options has \['seed'\], which are train_table's"),
        ({"data_options": {"cat_name": ["Sex"]}}, r"unknown keys \['cat_name'\]"),
    ],
)
def test_numbers_that_make_no_sense_are_refused(titanic, tmp_path, setting, message):
    kwargs = {"models": "rf", **setting}
    with pytest.raises(ValueError, match=message):
        train_table(titanic, "Survived", out=tmp_path / "runs", **kwargs)
    assert not (tmp_path / "runs").exists()
