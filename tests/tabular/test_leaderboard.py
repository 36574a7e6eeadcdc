"""The leaderboard says which rows scored the models, gives each score's bootstrap spread and
says when the winner's margin is noise; it prints whole."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from rung.tabular.data import TabularData
from rung.tabular.fit import FittedModel, baseline, score
from rung.tabular.leaderboard import Leaderboard, bootstrap_scores, leaderboard, selection_note
from rung.tabular.train import train_table


@pytest.fixture(scope="module")
def titanic(titanic_dir) -> pd.DataFrame:
    return pd.read_csv(titanic_dir / "train.csv")


@pytest.fixture(scope="module")
def run(titanic, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return train_table(titanic, "Survived", models="linear,rf", out=out, explain=False)


def test_each_score_says_its_rows_and_its_spread(run):
    board = run.leaderboard
    assert (board["scored_on"] == "valid: 178 rows").all()
    assert (board["ci_low"] <= board["accuracy"]).all() and (
        board["accuracy"] <= board["ci_high"]
    ).all()
    width = (board["ci_high"] - board["ci_low"]).set_axis(board["model"])
    assert 0.06 < width["linear"] < 0.16, width  # ~ 2 * 1.645 * sqrt(0.8 * 0.2 / 178) = 0.099
    saved = pd.read_csv(run.run_dir / "leaderboard.csv")
    assert {"ci_low", "ci_high", "scored_on"} <= set(saved.columns)


def test_the_note_says_the_rows_chose_the_model_and_whether_it_is_noise(run):
    note = run.note
    assert "same 178 validation rows" in note and "those rows also chose the best model" in note
    assert f"{run.exported}: accuracy" in note and "90% bootstrap interval" in note
    assert "of the resamples:" in note
    assert note in run.summary and "ci_low/ci_high" in run.summary
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["notes"] == note
    assert "those rows also chose the best model" in (run.run_dir / "report.md").read_text()
    assert run.to_dict()["note"] == note


def _fit(name: str, data: TabularData, preds: np.ndarray) -> FittedModel:
    return FittedModel(name, None, preds, score(data, preds), name)


def test_a_one_row_margin_is_called_noise_and_a_wide_one_clear(titanic):
    data = TabularData.from_df(titanic, "Survived")
    y = data.ys("valid")
    right = np.eye(2)[y] * 0.8 + 0.1  # (178, 2): the right class at 0.9
    a = right.copy()
    a[:30] = a[:30, ::-1]  # wrong on 30 rows
    b = a.copy()
    b[30] = b[30, ::-1]  # wrong on one more
    fits = {"baseline": baseline(data), "a": _fit("a", data, a), "b": _fit("b", data, b)}
    board = leaderboard(fits, data)
    assert board["model"].tolist() == ["a", "b", "baseline"]
    note = selection_note(board, fits, data, "a")
    assert "It beats the next best, b (accuracy 0.8258)" in note
    assert "the margin is within noise" in note
    fits = {"baseline": fits["baseline"], "a": fits["a"]}
    note = selection_note(leaderboard(fits, data), fits, data, "a")
    assert "next best, baseline" in note and "a clear margin" in note


def test_bootstrap_uses_the_same_resamples_for_every_model(titanic):
    data = TabularData.from_df(titanic, "Survived")
    y = data.ys("valid")
    same = np.eye(2)[y]
    fits = {"x": _fit("x", data, same), "y": _fit("y", data, same.copy())}
    boot = bootstrap_scores(data, fits, n_boot=200)
    assert boot["x"].shape == (200,) and np.array_equal(boot["x"], boot["y"])


def test_leaderboard_prints_every_column_whole(run, capsys):
    print(run.leaderboard)
    printed = capsys.readouterr().out
    for description in run.leaderboard["description"]:
        assert description in printed  # not cut at 50 characters
    header = printed.splitlines()[0]
    for column in run.leaderboard.columns:
        assert column in header  # one block: every column on the first line
    assert "..." not in printed
    assert isinstance(run.leaderboard.set_index("model"), Leaderboard)


def test_a_large_validation_set_takes_fewer_resamples_quickly():
    import time

    from rung.tabular.leaderboard import resamples

    assert resamples(178) == 1000 and resamples(50_000) == 1000 and resamples(10**6) == 100
    n = 400_000
    df = pd.DataFrame({"x": np.arange(2 * n, dtype=float), "y": np.arange(2 * n) % 2})
    data = TabularData.from_df(df, "y", valid_pct=0.5)
    preds = np.full((n, 2), 0.5)
    start = time.perf_counter()
    boot = bootstrap_scores(data, {"a": _fit("a", data, preds)})
    assert boot["a"].shape == (125,) and time.perf_counter() - start < 5
