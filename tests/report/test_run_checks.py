"""The run checks on real run folders: tiny Learners trained to over-fit, to diverge (a huge LR
gives NaN), to barely move (a tiny LR), and a good fit that must stay silent; a real tables run
on a shuffled target for the baseline check."""

from __future__ import annotations

from pathlib import Path

import pytest

from rung.report.doctor import ERROR, INFO, WARNING, check_name
from rung.report.run_checks import RUN_CHECKS, diagnose_run, lr_far_from_finder, next_steps
from rung.report.run_folder import atomic_write_text, new_run_dir, save_json


def _learner(n: int, noise: float, layers: list[int]):
    """Two Gaussian blobs (``n`` points each), ``noise`` of the labels flipped, half held out."""
    import torch

    from rung.data.core import DataLoaders
    from rung.learner import Learner
    from rung.metrics import accuracy
    from rung.models.registry import build_model

    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(n, 2, generator=g) - 0.6, torch.randn(n, 2, generator=g) + 0.6])
    y = torch.cat([torch.zeros(n), torch.ones(n)]).long()
    y = torch.where(torch.rand(2 * n, generator=g) < noise, 1 - y, y)
    dls = DataLoaders.from_tensors(x, y, valid_pct=0.5, seed=42, batch_size=16)
    torch.manual_seed(0)
    model = build_model("mlp", n_in=2, n_out=2, layers=layers)
    return Learner(
        model, dls, loss_func=torch.nn.CrossEntropyLoss(), metrics=[accuracy],
        progress=False, cpu=True,
    )  # fmt: skip


def _run(root: Path, learn, epochs: int, lr: float, one_cycle: bool, **config) -> Path:
    (learn.fit_one_cycle if one_cycle else learn.fit)(epochs, lr)
    run = new_run_dir(root, "images")
    learn.recorder.to_csv(run / "metrics.csv")
    save_json(run / "config.json", {"app": "images", "lr": lr, "epochs": epochs, **config})
    return run


def test_a_good_fit_is_silent_and_lists_every_check(tmp_path):
    run = _run(tmp_path, _learner(100, 0.0, [8]), 3, 0.05, one_cycle=True)
    diagnosis = diagnose_run(run)
    assert diagnosis.findings == [] and next_steps(diagnosis) == []
    assert diagnosis.checks == [check_name(c) for c in RUN_CHECKS] and len(RUN_CHECKS) == 7
    assert diagnosis.facts["epochs"] == 3 and diagnosis.facts["lr"] == 0.05


def test_over_fitting_names_the_best_epoch(tmp_path):
    # 60 points, 30% of labels flipped, a 256x256 net at a constant LR for 12 epochs
    run = _run(tmp_path, _learner(30, 0.3, [256, 256]), 12, 1e-2, one_cycle=False)
    diagnosis = diagnose_run(run)
    (found,) = diagnosis.findings
    assert found.check == "run.over_fitting" and found.severity == WARNING
    best = found.evidence["best"]
    assert found.evidence["valid_end"] > 1.1 * found.evidence["valid_best"]
    assert found.evidence["train_end"] < found.evidence["train_best"]
    assert f"the best validation loss was at epoch {best}" in found.next_step
    assert found.next_step.startswith(f"train for {best + 1} epochs instead of 12")


def test_a_huge_learning_rate_gives_nan_and_an_error(tmp_path):
    run = _run(tmp_path, _learner(100, 0.0, [8]), 3, 1e4, one_cycle=False)
    diagnosis = diagnose_run(run)
    assert diagnosis.worst == ERROR
    (found,) = diagnosis.findings
    assert found.check == "run.nan_loss" and "became NaN at epoch 1" in found.message
    assert "from 1e+04 to ~1e-03" in found.next_step  # not "a tenth" (1e3), still absurd
    assert next_steps(diagnosis) == [found.next_step]


def test_a_tiny_learning_rate_is_under_fitting(tmp_path):
    run = _run(tmp_path, _learner(100, 0.0, [8]), 2, 1e-4, one_cycle=False)
    (found,) = diagnose_run(run).findings
    assert found.check == "run.under_fitting" and "barely learning" in found.message
    assert found.evidence["last_train_loss"] > 0.95 * found.evidence["first_train_loss"]
    assert found.next_step.startswith("raise the learning rate (it was 1e-04)")


def test_a_loss_still_falling_fast_at_the_end_is_under_fitting(tmp_path):
    run = new_run_dir(tmp_path, "text")
    atomic_write_text(
        run / "metrics.csv",
        "epoch,train_loss,valid_loss,accuracy\n0,1.2,1.0,0.5\n1,0.9,0.8,0.6\n2,0.6,0.55,0.7\n",
    )
    (found,) = diagnose_run(run).findings
    assert found.check == "run.under_fitting" and "cut the training loss by 33%" in found.message
    assert "e.g. 6 instead of 3" in found.next_step


def test_a_learning_rate_far_from_the_finders_valley(tmp_path):
    learn = _learner(100, 0.0, [8])
    suggestion = learn.lr_find(plot_path=None)  # no plot in the working folder
    lr = suggestion.valley * 300
    run = _run(
        tmp_path, learn, 1, lr, one_cycle=True,
        lr_find={"valley": suggestion.valley, "recommended": suggestion.recommended},
    )  # fmt: skip
    found = diagnose_run(run).by_check("run.lr_far_from_finder")
    assert len(found) == 1 and "above the LR finder's suggestions" in found[0].message
    assert (
        found[0].next_step
        == f"lower the learning rate to ~{suggestion.valley:.0e} (the LR finder's valley)"
    )
    # the same LR, said to come from the finder, and an LR near the valley: silent
    save_json(run / "config.json", {"lr": lr, "lr_source": "lr_find", "lr_find": {"valley": 1e-3}})
    assert diagnose_run(run).by_check("run.lr_far_from_finder") == []
    save_json(run / "config.json", {"lr": 2e-3, "lr_find": {"valley": 1e-3}})
    assert diagnose_run(run).by_check("run.lr_far_from_finder") == []


def test_validation_loss_up_while_the_metric_improves_is_a_disagreement_not_over_fitting(
    tmp_path,
):
    run = new_run_dir(tmp_path, "images")
    atomic_write_text(
        run / "metrics.csv",
        "epoch,train_loss,valid_loss,error_rate\n"
        "0,0.8,0.40,0.20\n1,0.5,0.35,0.15\n2,0.3,0.42,0.12\n3,0.2,0.50,0.10\n",
    )
    diagnosis = diagnose_run(run)
    (found,) = diagnosis.findings
    assert found.check == "run.metric_loss_disagree" and found.severity == INFO
    assert "error_rate improved from 0.15 to 0.1" in found.message
    # the metric getting worse instead makes it over-fitting
    atomic_write_text(
        run / "metrics.csv",
        "epoch,train_loss,valid_loss,error_rate\n"
        "0,0.8,0.40,0.20\n1,0.5,0.35,0.15\n2,0.3,0.42,0.17\n3,0.2,0.50,0.19\n",
    )
    assert [f.check for f in diagnose_run(run).findings] == ["run.over_fitting"]


@pytest.fixture(scope="module")
def titanic_runs(tmp_path_factory, titanic_dir):
    """Two real tables runs (logistic regression): Titanic, and Titanic with a shuffled target."""
    import numpy as np
    import pandas as pd

    from rung.tabular.train import train_table

    out = tmp_path_factory.mktemp("runs")
    df = pd.read_csv(titanic_dir / "train.csv")
    real = train_table(df, "Survived", models="linear", out=out, explain=False)
    df["Survived"] = np.random.default_rng(0).permutation(df["Survived"].to_numpy())
    noise = train_table(df, "Survived", models="linear", out=out, explain=False)
    return real.run_dir, noise.run_dir


def test_a_table_model_no_better_than_its_baseline(titanic_runs):
    real, noise = titanic_runs
    assert diagnose_run(real).by_check("run.no_better_than_baseline") == []
    (found,) = diagnose_run(noise).by_check("run.no_better_than_baseline")
    ev = found.evidence
    assert ev["model"] == "linear" and ev["metric"] == "accuracy"
    assert ev["score"] <= ev["baseline"] or ev["ci"][0] <= ev["baseline"] <= ev["ci"][1]
    assert "rung doctor on the CSV" in found.next_step


def test_no_baseline_recorded_says_nothing(tmp_path):
    run = new_run_dir(tmp_path, "images")
    atomic_write_text(run / "leaderboard.csv", "model,accuracy\nresnet18,0.5\n")
    assert diagnose_run(run).by_check("run.no_better_than_baseline") == []


def test_a_missing_run_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run folder at .*nowhere"):
        diagnose_run(tmp_path / "nowhere")


def test_the_lr_and_its_source_are_read_where_the_apps_keep_them(tmp_path):
    """Text runs keep lr and lr_source under "hyperparameters", tables under "net", images
    under "training"; the checks read them there, as at the top level."""
    run = new_run_dir(tmp_path, "text")
    atomic_write_text(run / "metrics.csv", "epoch,train_loss,valid_loss\n0,0.7,0.6\n")
    far = {"valley": 1e-4, "recommended": 3e-4}
    for holder in ("hyperparameters", "net", "training"):
        save_json(run / "config.json", {holder: {"lr": 0.5, "lr_source": "lr_find (slide)"},
                                        "lr_find": far})  # fmt: skip
        assert diagnose_run(run).facts["lr"] == 0.5, holder
        assert diagnose_run(run).by_check("run.lr_far_from_finder") == [], holder
        save_json(run / "config.json", {holder: {"lr": 0.5, "lr_source": "given"}, "lr_find": far})
        assert len(diagnose_run(run).by_check("run.lr_far_from_finder")) == 1, holder


def test_lr_find_entry_is_what_the_lr_check_reads():
    from rung.callbacks.lr_finder import LRFindResult
    from rung.report.run_checks import lr_find_entry
    from rung.report.run_info import RunInfo

    found = LRFindResult(lrs=None, losses=None, suggestions={"valley": 1e-3, "slide": 2e-2})
    entry = lr_find_entry(found)
    assert entry == {"valley": 1e-3, "slide": 2e-2, "recommended": 1e-2}
    info = RunInfo(path=Path("run"), config={"lr": 10.0, "lr_find": entry})
    (finding,) = lr_far_from_finder(info)
    assert finding.evidence["lr_find"] == entry


def test_only_the_finders_suggestions_count_not_other_numbers_kept_beside_them():
    """An image run keeps the sweep's cost (``seconds``) and what it swept beside the
    suggestions; a 2-second sweep is not a suggested LR of 2."""
    from rung.report.run_info import RunInfo

    kept = {"valley": 1e-3, "slide": 1e-2, "recommended": 1e-3, "seconds": 2.0, "how": "head"}
    info = RunInfo(path=Path("run"), config={"lr": 5.0, "lr_source": "given", "lr_find": kept})
    (finding,) = lr_far_from_finder(info)
    assert finding.evidence["lr_find"] == {"valley": 1e-3, "slide": 1e-2, "recommended": 1e-3}
    assert "500x above" in finding.message


def test_a_training_loss_that_ends_far_above_its_start_is_exploding(tmp_path):
    """Planted: a loss that triples over three epochs (finite), at a known LR; the same run
    with the loss falling, and one that went NaN (the NaN check's), stay silent here."""
    run = new_run_dir(tmp_path, "images")
    atomic_write_text(
        run / "metrics.csv",
        "epoch,train_loss,valid_loss,accuracy\n0,0.7,0.69,0.5\n1,1.4,1.6,0.5\n2,2.3,2.5,0.5\n",
    )
    save_json(run / "config.json", {"app": "images", "training": {"lr": 0.5, "lr_source": "given"}})
    found = diagnose_run(run).by_check("run.exploding_loss")
    assert len(found) == 1 and found[0].severity == ERROR
    assert "grew from 0.7 (epoch 0) to 2.3 (epoch 2): training diverged" in found[0].message
    assert found[0].next_step.startswith("lower the learning rate from 5e-01 to ~")
    assert found[0].evidence["last_train_loss"] == 2.3
    for rows in ("0,0.7,0.69,0.5\n1,0.5,0.55,0.7\n2,0.4,0.5,0.8\n",
                 "0,0.7,0.69,0.5\n1,nan,nan,0.5\n2,nan,nan,0.5\n"):  # fmt: skip
        atomic_write_text(run / "metrics.csv", "epoch,train_loss,valid_loss,accuracy\n" + rows)
        assert diagnose_run(run).by_check("run.exploding_loss") == [], rows
