"""The time budget of a table run: it cuts folds, models and the net's epochs, and says so."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from rung.tabular.budget import DEFAULT_BUDGET, TableBudget, resolve_budget
from rung.tabular.data import TabularData
from rung.tabular.fit import fit_nn, net_settings
from rung.tabular.settings import parse_models
from rung.tabular.train import fit_models, train_table


@pytest.fixture(scope="module")
def data(titanic_dir) -> TabularData:
    """Titanic's 891 rows: 713 to train on, 178 held out."""
    return TabularData.from_df(pd.read_csv(titanic_dir / "train.csv"), "Survived")


def spent(seconds: float, already: float) -> TableBudget:
    """A budget of ``seconds`` of which ``already`` are gone (the run started that long ago)."""
    budget = TableBudget(seconds)
    budget.start -= already
    return budget


def test_a_run_whose_fitting_time_is_spent_keeps_its_first_model_and_the_forest(data):
    budget = spent(60.0, already=50.0)  # 45 s for fitting, all gone
    settings = {"models": parse_models("auto"), "folds": 5, "folds_given": None, "seed": 0}
    fits = fit_models(data, settings, budget=budget)
    assert settings["folds"] == 3  # a budget under 2 minutes: 3 folds
    assert set(fits) == {"baseline", "linear", "rf", "weighted_ensemble"}
    assert len(fits["linear"].extras["members"]) == 3
    left_out = [n.split(" ")[0] for n in budget.notes if " left out: " in n]
    assert left_out == ["nn", "gbm", "lgbm"]
    assert "3 folds, not 5, for a 60 s budget" in budget.notes
    assert budget.describe().startswith("Time budget: 60 s (3 folds, not 5")


def test_folds_given_by_hand_are_kept_under_any_budget(data):
    assert spent(10.0, already=0.0).folds(n_train=713, given=4) == 4
    assert TableBudget(DEFAULT_BUDGET).folds(n_train=713, given=None) == 5
    assert TableBudget(DEFAULT_BUDGET).folds(n_train=200_000, given=None) == 3
    assert TableBudget(None).folds(n_train=200_000, given=None) == 5


def test_the_net_trains_the_epochs_that_fit_its_share(data):
    wanted = net_settings(len(data.split.train)).epochs
    assert wanted > 1
    cut = fit_nn(data, seed=0, seconds_for_epochs=0.0)
    assert cut.extras["epochs"] == 1
    assert cut.extras["learner"].recorder.final_metrics()  # it trained and validated
    whole = fit_nn(data, seed=0, seconds_for_epochs=1e6)
    assert whole.extras["epochs"] == wanted


class NoTimeForAnEpoch(TableBudget):
    """A budget with time to spare for every fold, but none for the net's epochs."""

    def net_seconds_per_fold(self, n_folds: int) -> float:
        return 0.0


def test_every_fold_of_the_net_trains_as_many_epochs_as_the_first(data):
    budget = NoTimeForAnEpoch(DEFAULT_BUDGET)
    settings = {"models": ["nn"], "folds": 3, "folds_given": 3, "seed": 0}
    fits = fit_models(data, settings, budget=budget)
    assert [m.extras["epochs"] for m in fits["nn"].extras["members"]] == [1, 1, 1]
    assert re.search(r"the net trains 1 of its \d+ epochs on each fold", budget.describe())


def test_the_default_run_is_within_its_budget_and_says_nothing_was_cut(titanic_dir, tmp_path):
    run = train_table(titanic_dir / "train.csv", "Survived", models="linear,rf", folds=3, out=tmp_path,
                      explain=False)  # fmt: skip
    assert "Time budget: 300 s (nothing cut)." in run.note
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["budget"] == {"seconds": 300.0, "cut": []}
    assert config["seconds"] < 300


@pytest.mark.parametrize("text", ["soon", "-5", "0s"])
def test_a_budget_that_is_not_a_duration_is_refused_before_reading(text, tmp_path):
    with pytest.raises(ValueError, match=r"budget .*e\.g\. --budget 3m"):
        train_table(tmp_path / "missing.csv", "y", budget=text, out=tmp_path)


def test_budgets_read_as_people_write_them():
    assert resolve_budget("auto") == DEFAULT_BUDGET
    assert resolve_budget("10m") == 600.0 and resolve_budget("none") is None
