"""The tables app on the real Titanic data: leaderboard on the course's split, the run folder,
the model file predicting a Kaggle submission (also in a fresh process), and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import rung
from rung.modelfile import read_model_config
from rung.tabular.predict import TabularPredictor
from rung.tabular.procs import MissingColumnsError
from rung.tabular.roles import ColumnNotFoundError
from rung.tabular.train import parse_models, train_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def titanic(titanic_dir) -> pd.DataFrame:
    return pd.read_csv(titanic_dir / "train.csv")


@pytest.fixture(scope="module")
def titanic_test(titanic_dir) -> pd.DataFrame:
    return pd.read_csv(titanic_dir / "test.csv")


@pytest.fixture(scope="module")
def run(titanic_dir, tmp_path_factory):
    """Every model on Titanic with the course's features, split and seed (one run, ~10 s)."""
    out = tmp_path_factory.mktemp("runs")
    return train_table(
        titanic_dir / "train.csv", "Survived", models="all", features="titanic", out=out
    )


# ----------------------------------------------------------------------------- the leaderboard
@pytest.mark.slow
def test_titanic_leaderboard_reaches_the_course_figures(run):
    board = run.leaderboard.set_index("model")
    assert set(board.index) == {
        "baseline", "linear", "nn", "rf", "gbm", "lgbm", "nn_ensemble", "blend"
    }  # fmt: skip
    acc = board["accuracy"]
    assert acc["nn"] >= 0.82, acc  # the course's nets: 0.8258
    assert acc["rf"] >= 0.82, acc
    assert acc["nn_ensemble"] >= 0.83 and acc["blend"] >= 0.83, acc
    assert acc["baseline"] == pytest.approx(106 / 178)  # always 'died' on the 178 rows
    assert (acc.drop("baseline") > acc["baseline"] + 0.15).all()
    assert board.loc["baseline", "loss"] > board["loss"].drop("baseline").max()
    assert 0.75 < board.loc["rf", "oob_score"] < 0.9
    assert list(run.leaderboard["accuracy"]) == sorted(run.leaderboard["accuracy"], reverse=True)
    assert run.exported == run.leaderboard["model"][0] != "baseline"


@pytest.mark.slow
def test_every_model_is_scored_on_the_same_178_course_rows(run):
    torch.manual_seed(42)
    course_valid = torch.randperm(891)[:178].numpy()
    assert (run.data.split.valid == course_valid).all()
    y = run.data.ys("valid")
    for name, fit in run.fits.items():
        assert fit.valid_preds.shape == (178, 2), name
        assert (fit.valid_preds.argmax(1) == y).mean() == pytest.approx(fit.metrics["accuracy"])
    nets = run.fits["nn_ensemble"].extras["members"]
    assert len(nets) == 5 and nets[0] is run.fits["nn"]
    assert len({n.extras["seed"] for n in nets}) == 5 and len({n.extras["lr"] for n in nets}) == 1


@pytest.mark.slow
def test_run_folder_holds_config_history_plots_and_model(run):
    names = {p.name for p in run.run_dir.iterdir()}
    expected = {
        "config.json", "leaderboard.csv", "metrics.csv", "lr_find.png", "loss.png",
        "importance.png", "importance.csv", "permutation_importance.png",
        "permutation_importance.csv", "partial_dependence.png", "partial_dependence.csv",
        "model.rung",
    }  # fmt: skip
    assert expected <= names
    assert run.run_dir.name.endswith("-train-Survived") and run.run_dir.name[:8].isdigit()
    config = json.loads((run.run_dir / "config.json").read_text())
    assert (
        config["target"] == "Survived" and config["seed"] == 42 and config["features"] == "titanic"
    )
    metrics = pd.read_csv(run.run_dir / "metrics.csv")
    assert len(metrics) == 16 and {"train_loss", "valid_loss", "accuracy"} <= set(metrics.columns)
    board = pd.read_csv(run.run_dir / "leaderboard.csv")
    assert board["model"].tolist() == run.leaderboard["model"].tolist()
    for png in ("lr_find.png", "partial_dependence.png"):
        assert (run.run_dir / png).read_bytes()[:4] == b"\x89PNG"
    result = json.loads(json.dumps(run.to_dict()))  # JSON-ready for the CLI
    assert result["model_path"] == str(run.model_path) and result["exported"] == run.exported
    assert result["metrics"]["accuracy"] >= 0.83 and len(result["leaderboard"]) == 8


@pytest.mark.slow
def test_model_file_holds_preprocessing_classes_and_description(run):
    config = read_model_config(run.model_path)
    assert config["kind"] == "tabular" and config["task"] == "classification"
    assert config["classes"] == [0, 1] and config["target"] == "Survived"
    assert config["id_name"] == "PassengerId" and config["features"] == "titanic"
    assert config["model_name"] == run.exported and config["description"]
    assert config["preprocessing"]["processor"]["vocab"]["Title"] == ["Master", "Miss", "Mr", "Mrs"]
    assert config["metrics"]["accuracy"] == pytest.approx(run.metrics["accuracy"])


# ----------------------------------------------------------------------------- predicting
@pytest.mark.slow
def test_loaded_model_predicts_exactly_the_validation_scores(run, titanic):
    predictor = rung.load(run.model_path)
    assert isinstance(predictor, TabularPredictor)
    valid = run.data.split.valid
    # the whole table: TicketFreq counts passengers per ticket within the table predicted
    probs = predictor.predict_proba(titanic)[valid]
    np.testing.assert_array_equal(probs, run.fits[run.exported].valid_preds)
    table = predictor.predict(titanic).iloc[valid]
    assert list(table.columns) == ["PassengerId", "Survived", "P(0)", "P(1)"]
    accuracy = (table["Survived"] == titanic["Survived"].iloc[valid]).mean()
    assert accuracy == pytest.approx(run.metrics["accuracy"])
    one = predictor.predict(titanic.iloc[0].to_dict())  # one row, as a dict
    assert one.label in (0, 1) and sum(one.probs.values()) == pytest.approx(1.0)


@pytest.mark.slow
def test_submission_for_test_csv_in_kaggle_format(run, titanic_dir, tmp_path):
    predictor = rung.load(run.model_path)
    out = tmp_path / "submission.csv"
    result = predictor.predict_for_cli(titanic_dir / "test.csv", out)
    assert result == {
        "out": str(out),
        "rows": 418,
        "columns": ["PassengerId", "Survived"],
        "summary": f"wrote 418 predictions to {out}",
    }
    lines = out.read_text().splitlines()
    assert lines[0] == "PassengerId,Survived" and len(lines) == 419
    sub = pd.read_csv(out)
    assert sub["PassengerId"].tolist() == list(range(892, 1310))
    assert set(sub["Survived"]) == {0, 1} and sub["Survived"].dtype == np.int64
    assert 0.25 < sub["Survived"].mean() < 0.5  # about the training share of survivors
    assert all(line.split(",")[1] in ("0", "1") for line in lines[1:])


@pytest.mark.slow
def test_fresh_process_predicts_the_same_submission_without_sklearn(run, titanic_dir, tmp_path):
    mine = tmp_path / "here.csv"
    rung.load(run.model_path).predict_for_cli(titanic_dir / "test.csv", mine)
    theirs = tmp_path / "fresh.csv"
    code = (
        "import sys, rung\n"
        f"rung.load({str(run.model_path)!r}).predict_for_cli("
        f"__import__('pathlib').Path({str(titanic_dir / 'test.csv')!r}), "
        f"__import__('pathlib').Path({str(theirs)!r}))\n"
        "assert 'sklearn' not in sys.modules, 'predicting imported scikit-learn'\n"
        "assert 'rung.learner' not in sys.modules, 'predicting imported the training loop'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
    assert theirs.read_text() == mine.read_text()


@pytest.mark.slow
def test_test_csv_missing_a_training_column_is_a_clear_error(run, titanic_test):
    predictor = rung.load(run.model_path)
    with pytest.raises(MissingColumnsError, match=r"missing column\(s\) \['Age'\].*Its columns"):
        predictor.predict(titanic_test.drop(columns=["Age"]))
    with pytest.raises(MissingColumnsError, match=r"\['Name'\].*'titanic' features"):
        predictor.predict(titanic_test.drop(columns=["Name"]))
    with pytest.raises(ValueError, match="no rows to predict"):
        predictor.predict(titanic_test.iloc[:0])
    with pytest.raises(FileNotFoundError, match="no CSV file"):
        predictor.predict("no/such/file.csv")


@pytest.mark.slow
def test_unseen_categories_and_missing_values_still_predict(run, titanic_test):
    predictor = rung.load(run.model_path)
    odd = titanic_test.copy()
    odd.loc[0, "Embarked"], odd.loc[1, "Sex"], odd.loc[2, "Name"] = "X", "unknown", "Doe, Sir. J"
    odd.loc[3, ["Age", "Fare", "Cabin"]] = np.nan
    probs = predictor.predict_proba(odd)
    assert probs.shape == (418, 2) and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(1), 1.0)
    plain = predictor.predict_proba(titanic_test)
    assert np.allclose(probs[4:], plain[4:])  # other rows are untouched by the odd ones


# ----------------------------------------------------------------------------- more tables
def test_raw_titanic_without_feature_engineering(titanic_dir, tmp_path):
    run = train_table(
        titanic_dir / "train.csv", "Survived", models="linear,rf", out=tmp_path, explain=False
    )
    acc = run.leaderboard.set_index("model")["accuracy"]
    assert acc["rf"] >= 0.80 and acc["linear"] >= 0.78, acc
    assert read_model_config(run.model_path)["features"] is None


def test_export_a_chosen_model_and_regression(titanic, tmp_path):
    run = train_table(
        titanic.dropna(subset=["Age"]), "Fare", models="linear,rf,nn", out=tmp_path,
        export="forest", epochs=4, explain=False,
    )  # fmt: skip
    assert run.exported == "rf" and run.data.task == "regression"
    board = run.leaderboard.set_index("model")
    assert {"rmse", "mae", "r2", "loss"} <= set(board.columns)
    assert board.loc["rf", "rmse"] < 0.8 * board.loc["baseline", "rmse"]
    assert list(run.leaderboard["rmse"]) == sorted(run.leaderboard["rmse"])  # best first
    assert board.loc["baseline", "r2"] == pytest.approx(0.0, abs=0.05)
    predictor = rung.load(run.model_path)
    fares = predictor.predict(titanic.head(5))
    assert list(fares.columns) == ["PassengerId", "Fare"] and fares["Fare"].dtype == np.float64
    assert isinstance(predictor.predict(titanic.iloc[0].to_dict()), float)
    with pytest.raises(ValueError, match="predict_proba is for classification"):
        predictor.predict_proba(titanic.head(2))


def test_model_names_and_aliases():
    assert parse_models("all") == ["linear", "nn", "rf", "gbm", "lgbm", "nn_ensemble", "blend"]
    assert parse_models("auto") == ["linear", "nn", "rf", "gbm", "lgbm"]
    assert parse_models("LightGBM") == ["lgbm"]
    assert parse_models("forest, boosting") == ["rf", "gbm"]
    assert parse_models("ensemble") == ["nn", "rf", "nn_ensemble", "blend"]
    with pytest.raises(ValueError, match="unknown model 'forrest'.*did you mean 'forest'"):
        parse_models("forrest")


# ----------------------------------------------------------------------------- bad input
def test_target_that_does_not_exist_lists_the_columns(titanic_dir, tmp_path):
    with pytest.raises(ColumnNotFoundError) as err:
        train_table(titanic_dir / "train.csv", "Survivd", out=tmp_path)
    assert "columns are: ['PassengerId', 'Survived'," in str(err.value)
    assert "Did you mean 'Survived'?" in str(err.value)
    assert not list(tmp_path.iterdir())  # no run folder for a run that never started
    with pytest.raises(FileNotFoundError, match="no CSV file at 'nope.csv'"):
        train_table("nope.csv", "Survived", out=tmp_path)


def test_nan_in_target_rows_are_dropped_with_a_note(titanic, tmp_path):
    df = titanic.copy()
    df.loc[[0, 5, 9], "Survived"] = np.nan
    run = train_table(df, "Survived", models="linear", out=tmp_path, explain=False)
    assert "Survived: 3 rows with no target value were dropped" in run.data.notes
    assert len(run.data.df) == 888 and run.data.classes == [0, 1]
    sub = rung.load(run.model_path).predict(df.head(3))
    assert sub["Survived"].dtype == np.int64  # labels stay 0/1 ints, not 0.0/1.0


def test_one_row_table_is_a_clear_error(titanic, tmp_path):
    with pytest.raises(ValueError, match="too few rows for a validation set"):
        train_table(titanic.head(1), "Survived", out=tmp_path)


def test_all_nan_column_is_dropped_and_not_needed_to_predict(titanic, tmp_path):
    run = train_table(
        titanic.assign(Empty=np.nan), "Survived", models="rf", out=tmp_path, explain=False
    )
    assert "Empty: dropped - all values missing" in run.data.notes
    assert "Empty" not in run.data.cat_names + run.data.cont_names
    assert len(rung.load(run.model_path).predict(titanic.head(4))) == 4  # no Empty column


def test_a_net_run_keeps_the_lr_finders_suggestions_for_the_lr_check(titanic, tmp_path):
    """config.json holds the net's LR, where it came from and the finder's suggestions, so
    rung doctor's LR check can judge a table run as it does the other apps'."""
    from rung.report.run_checks import diagnose_run
    from rung.report.run_folder import save_json

    run = train_table(titanic, "Survived", models="nn", epochs=1, out=tmp_path, explain=False)
    config = json.loads((run.run_dir / "config.json").read_text())
    net, found = config["net"], config["lr_find"]
    assert net["lr_source"].startswith("lr_find") and 0 < net["lr"] < 10
    assert found["recommended"] == pytest.approx(net["lr"]) and found["valley"] > 0
    assert diagnose_run(run.run_dir).by_check("run.lr_far_from_finder") == []
    # the same run said to be trained at a given LR 1000x the valley: the check names it
    config["net"] |= {"lr": found["valley"] * 1000, "lr_source": "given"}
    save_json(run.run_dir / "config.json", config)
    (finding,) = diagnose_run(run.run_dir).by_check("run.lr_far_from_finder")
    assert finding.evidence["lr"] == pytest.approx(found["valley"] * 1000)
