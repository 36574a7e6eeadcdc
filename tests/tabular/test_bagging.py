"""Models chosen without flattery: cross-validated on the training rows, an ensemble selected on
their out-of-fold predictions, the validation rows scoring the choice once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rung
from rung.tabular.bagging import fit_cv, forest_cv, greedy_ensemble, kfold
from rung.tabular.classic import fit_forest, fit_linear
from rung.tabular.data import TabularData
from rung.tabular.train import train_table


@pytest.fixture(scope="module")
def titanic(titanic_dir) -> pd.DataFrame:
    return pd.read_csv(titanic_dir / "train.csv")


@pytest.fixture(scope="module")
def data(titanic) -> TabularData:
    return TabularData.from_df(titanic, "Survived")


@pytest.fixture(scope="module")
def run(titanic, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return train_table(titanic, "Survived", models="linear,rf", folds=3, out=out, explain=False)


def test_folds_hold_out_every_training_row_once_with_the_same_class_shares(data):
    folds = kfold(data, k=5, seed=0)
    held = np.concatenate([h for _, h in folds])
    assert sorted(held) == list(range(713))
    y = data.ys("train")
    shares = [y[h].mean() for _, h in folds]
    assert max(shares) - min(shares) < 0.01, shares  # stratified: 0.38 survived in each
    for fit_rows, h in folds:
        assert not set(fit_rows) & set(h) and len(fit_rows) + len(h) == 713


def test_out_of_fold_predictions_come_from_the_model_that_did_not_see_the_row(data):
    folds = kfold(data, k=4)
    fit = fit_cv("linear", fit_linear, data, folds)
    members = fit.extras["members"]
    for member, (fit_rows, held) in zip(members, folds):
        np.testing.assert_array_equal(fit.oof_preds[held], member.valid_preds)
        assert len(member.valid_preds) == len(held) and len(fit_rows) + len(held) == 713
    assert len(fit.fold_scores) == 4 and 0.7 < fit.oof_metrics["accuracy"] < 0.9
    assert fit.valid_preds.shape == (178, 2)  # the 4 fold models averaged, on valid rows


def test_a_forests_out_of_bag_predictions_are_its_out_of_fold_ones(data):
    fit = forest_cv(fit_forest(data, n_jobs=1), data, kfold(data, k=5))
    est = fit.extras["estimator"]
    np.testing.assert_allclose(fit.oof_preds, est.oob_decision_function_)
    assert fit.oof_metrics["accuracy"] == pytest.approx(est.oob_score_)


def test_greedy_selection_beats_the_best_single_model_out_of_fold(data):
    folds = kfold(data, k=4)
    fits = {
        "linear": fit_cv("linear", fit_linear, data, folds),
        "rf": forest_cv(fit_forest(data, n_jobs=1), data, folds),
    }
    weights = greedy_ensemble({n: f.oof_preds for n, f in fits.items()}, data, rounds=20)
    assert sum(weights.values()) == 20 and set(weights) == {"linear", "rf"}
    y = data.ys("train")

    def loss(p):
        return -np.log(p[np.arange(len(y)), y]).mean()

    mix = sum(w * fits[n].oof_preds for n, w in weights.items()) / 20
    assert loss(mix) < min(loss(f.oof_preds) for f in fits.values())


def test_the_leaderboard_says_its_rows_and_the_choice_is_scored_once(run):
    board = run.leaderboard
    assert run.exported == "weighted_ensemble"
    cv_rows = board.iloc[:-1]
    assert (cv_rows["scored_on"] == "cv: out-of-fold, 3 folds of 713 training rows").all()
    held = board.iloc[-1]
    assert held["model"] == "weighted_ensemble (held out)"
    assert held["scored_on"].startswith("valid: 178 rows, held out, scored once")
    assert held["accuracy"] == run.metrics["accuracy"] and held["cv_std"] > 0
    assert "; weighted_ensemble (held out) on valid: 178 rows, held out" in run.summary
    assert (cv_rows["cv_std"].drop(cv_rows.index[cv_rows["model"] == "baseline"]) > 0).all()
    assert "the 178 validation rows took no part in any choice" in run.note
    assert "held-out accuracy" in run.note and "from fold to fold" in run.note
    probs = rung.load(run.model_path).predict_proba(run.data.df)[run.data.split.valid]
    np.testing.assert_allclose(probs, run.fits["weighted_ensemble"].valid_preds, atol=1e-12)


def test_the_validation_rows_take_no_part_in_the_choice(titanic, run, tmp_path):
    flipped = titanic.copy()
    valid = run.data.split.valid
    flipped.loc[flipped.index[valid], "Survived"] = 1 - flipped["Survived"].iloc[valid]
    again = train_table(flipped, "Survived", models="linear,rf", folds=3, out=tmp_path,
                        explain=False)  # fmt: skip
    assert (again.data.split.valid == valid).all()
    ens, ens2 = run.fits["weighted_ensemble"], again.fits["weighted_ensemble"]
    assert ens.extras["weights"] == ens2.extras["weights"]
    pd.testing.assert_frame_equal(run.leaderboard.iloc[:-1].drop(columns="seconds"),
                                  again.leaderboard.iloc[:-1].drop(columns="seconds"))  # fmt: skip
    assert again.metrics["accuracy"] == pytest.approx(1 - run.metrics["accuracy"])


def test_models_scored_on_validation_rows_cant_be_mixed_with_folds(titanic, tmp_path):
    with pytest.raises(ValueError, match=r"\['nn_ensemble', 'blend'\].*--folds 0"):
        train_table(titanic, "Survived", models="blend", folds=5, out=tmp_path)
    with pytest.raises(ValueError, match="folds must be 0 .* or >= 2, got 1"):
        train_table(titanic, "Survived", models="rf", folds=1, out=tmp_path)


def test_a_log_target_is_turned_back_into_means_by_the_out_of_fold_smearing_factor(
    california, tmp_path
):
    run = train_table(california, "median_house_value", models="lgbm", folds=3, out=tmp_path,
                      explain=False)  # fmt: skip
    target, ens = run.data.target, run.fits["weighted_ensemble"]
    y = run.data.ys("train").astype(float)
    assert target.log_factor == pytest.approx(np.mean(np.exp(y - ens.oof_preds)))
    assert 1.0 < target.log_factor < 1.1
    mean_of = lambda p: np.mean(np.exp(p))  # noqa: E731  (on the log1p scale)
    plain, smeared = (
        mean_of(ens.oof_preds) / mean_of(y),
        target.log_factor * mean_of(ens.oof_preds) / mean_of(y),
    )
    assert abs(smeared - 1) < 0.002 < 0.01 < abs(plain - 1)  # the factor puts the mean right
    predictor = rung.load(run.model_path)
    rows = california.iloc[run.data.split.valid]
    values = predictor.predict(rows)["median_house_value"].to_numpy()
    np.testing.assert_allclose(values, np.exp(ens.valid_preds) * target.log_factor - 1)
    truth = rows["median_house_value"].to_numpy()
    assert run.metrics["rmse"] == pytest.approx(np.sqrt(np.mean((values - truth) ** 2)))
    assert run.metrics["rmsle"] == pytest.approx(
        np.sqrt(np.mean((np.log1p(values) - np.log1p(truth)) ** 2))
    )
    assert "Duan's smearing factor" in run.note and "Feature steps: none" in run.note


def test_a_cross_validated_run_keeps_no_fold_curves_as_validation_figures(titanic, tmp_path):
    run = train_table(titanic, "Survived", models="nn", folds=2, epochs=2, out=tmp_path,
                      explain=False)  # fmt: skip
    names = {p.name for p in run.run_dir.iterdir()}
    assert {"loss.png", "lr_find.png", "leaderboard.csv", "model.rung"} <= names
    assert "metrics.csv" not in names  # the first fold's curves are not the validation rows'


@pytest.mark.slow
def test_the_ensembles_model_file_predicts_in_a_fresh_process_without_training_code(
    run, titanic_dir
):
    import json
    import subprocess
    import sys

    code = (
        "import json, sys, rung, pandas as pd\n"
        f"rows = pd.read_csv({str(titanic_dir / 'test.csv')!r}).head(20)\n"
        f"probs = rung.load({str(run.model_path)!r}).predict_proba(rows)[:, 1]\n"
        "print(json.dumps(probs.tolist()))\n"
        "banned = [m for m in ('sklearn', 'lightgbm', 'rung.learner') if m in sys.modules]\n"
        "assert not banned, banned\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout  # fmt: skip
    rows = pd.read_csv(titanic_dir / "test.csv").head(20)
    here = rung.load(run.model_path).predict_proba(rows)[:, 1]
    np.testing.assert_allclose(json.loads(out), here, rtol=0, atol=1e-12)


def test_a_table_split_by_groups_is_folded_by_groups(titanic):
    data = TabularData.from_df(titanic, "Survived", group_col="Ticket")
    tickets = titanic["Ticket"].to_numpy()[data.split.train]
    folds = kfold(data, k=5)
    assert sorted(np.concatenate([h for _, h in folds])) == list(range(len(tickets)))
    for fit_rows, held in folds:
        assert not set(tickets[fit_rows]) & set(tickets[held])  # no ticket on both sides
    assert kfold(TabularData.from_df(titanic, "Survived"), k=5)[0][1].size == 143


def test_a_table_split_by_time_is_folded_into_blocks_of_time(titanic):
    # a time column with ties: every 7 passengers share a "day"
    table = titanic.assign(day=(titanic["PassengerId"] // 7).astype(float))
    data = TabularData.from_df(table, "Survived", time_col="day", valid_pct=0.2)
    days = table["day"].to_numpy()[data.split.train]
    folds = kfold(data, k=5)
    assert sorted(np.concatenate([h for _, h in folds])) == list(range(len(days)))
    for before, after in zip(folds, folds[1:]):
        assert days[before[1]].max() < days[after[1]].min()  # consecutive blocks, no day split
    assert [len(h) for _, h in folds] == pytest.approx([len(days) / 5] * 5, abs=7)
    with pytest.raises(ValueError, match="needs 5 blocks of distinct times"):
        kfold(TabularData.from_df(table.assign(day=table["Sex"].eq("male") * 1.0), "Survived",
                                  time_col="day", valid_pct=0.3), k=5)  # fmt: skip
