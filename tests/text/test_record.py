"""What a text run records for the writeup and for rung doctor (rung.text.record): the LR
finder's suggestions in config.json (read by the run check of the learning rate), and the
facts (split, target on each side, baseline, sample inputs) the writeup reasons from."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest

from rung.report.run_checks import diagnose_run
from rung.report.run_folder import save_json
from rung.text.train import train_text


def _tiny(rows, tiny_model_dir, out, **kwargs):
    kwargs = {"epochs": 1, "lr": 1e-3, "batch_size": 16, "out": out, "progress": False,
              "say": None, "model": tiny_model_dir, **kwargs}  # fmt: skip
    return train_text(rows, "anchor,target", kwargs.pop("target", "score"), **kwargs)


@pytest.fixture(scope="module")
def found_run(patents, tiny_model_dir, tmp_path_factory):
    """A score, split by anchor, the LR from lr_find: 200 rows, one epoch of a tiny BERT."""
    rows = patents.sample(n=200, random_state=7)
    return _tiny(rows, tiny_model_dir, tmp_path_factory.mktemp("runs"), lr="find",
                 split="group:anchor")  # fmt: skip


@pytest.fixture(scope="module")
def given_run(patents, tiny_model_dir, tmp_path_factory):
    """Classes (related yes/no), a random split, the LR given: 200 rows, one epoch."""
    rows = patents.sample(n=200, random_state=8)
    rows["related"] = np.where(rows.score >= 0.5, "yes", "no")
    return _tiny(rows, tiny_model_dir, tmp_path_factory.mktemp("runs"), target="related")


def _config(run) -> dict:
    return json.loads((run.run_dir / "config.json").read_text())


def _section(page: str, key: str) -> str:
    """The text of the writeup's section ``key``, its HTML entities decoded."""
    return html.unescape(re.search(rf'<section id="{key}">.*?</section>', page, re.S).group(0))


def test_the_lr_finders_suggestions_are_kept_and_the_lr_check_reads_them(found_run):
    config = _config(found_run)
    found = config["lr_find"]
    assert {"valley", "slide", "minimum", "steep", "recommended"} <= set(found)
    assert all(isinstance(v, float) and v > 0 for v in found.values())
    assert found["recommended"] == config["hyperparameters"]["lr"] == found_run.lr
    assert found["valley"] <= found["recommended"] <= 10 * found["valley"]
    # the LR came from the finder: the check stays silent
    assert diagnose_run(found_run.run_dir).by_check("run.lr_far_from_finder") == []
    # the same run had someone given an LR 1000x the finder's: the check reads the suggestions
    kept = (found_run.run_dir / "config.json").read_text()
    config["hyperparameters"] |= {"lr": 1000 * found["recommended"], "lr_source": "given"}
    save_json(found_run.run_dir / "config.json", config)
    try:
        (finding,) = diagnose_run(found_run.run_dir).by_check("run.lr_far_from_finder")
    finally:
        (found_run.run_dir / "config.json").write_text(kept)
    assert finding.evidence["lr_find"] == found
    assert "above the LR finder's suggestions" in finding.message
    assert finding.next_step.endswith("(the LR finder's valley)")


def test_a_given_lr_records_no_lr_finder_suggestions(given_run):
    config = _config(given_run)
    assert "lr_find" not in config and config["hyperparameters"]["lr_source"] == "given"


def test_a_group_split_scores_facts_and_the_writeup_reasons_from_them(found_run):
    facts = _config(found_run)["facts"]
    n_train, n_valid = found_run.data["n_train"], found_run.data["n_valid"]
    assert facts["split"] == {"kind": "group", "n_train": n_train, "n_valid": n_valid,
                              "valid_pct": 0.25, "seed": 42, "column": "anchor"}  # fmt: skip
    assert facts["task"] == "regression" and facts["target"]["name"] == "score"
    assert facts["target"]["train"]["n"] == n_train and facts["target"]["valid"]["n"] == n_valid
    base = facts["baseline"]
    assert base["kind"] == "training mean" and base["n_valid"] == n_valid
    valid = found_run.metrics
    assert valid["rmse"] == pytest.approx(np.sqrt(valid["valid_loss"]), rel=1e-5)
    sample = facts["sample"]
    assert sample["columns"] == ["input", "n_tokens", "score"] and len(sample["rows"]) == 5
    assert all(row[0].startswith("anchor: ") for row in sample["rows"])  # as the model sees it
    page = (found_run.run_dir / "report.html").read_text()
    assert "How close can a model get to score from the text?" in _section(page, "question")
    assert "Whole groups of 'anchor' validate" in _section(page, "validation")
    assert f"{n_train} rows train and {n_valid} validate" in _section(page, "validation")
    baseline = _section(page, "baseline")
    assert "Always predicting the training mean" in baseline and "The model's rmse" in baseline
    assert "anchor: " in _section(page, "question")  # the sample inputs


def test_classes_on_each_side_and_the_majority_baseline(given_run, patents):
    facts = _config(given_run)["facts"]
    assert facts["split"] == {"kind": "random", "n_train": 150, "n_valid": 50,
                              "valid_pct": 0.25, "seed": 42}  # fmt: skip
    train, valid = facts["target"]["train"]["counts"], facts["target"]["valid"]["counts"]
    assert set(train) == {"no", "yes"} and sum(train.values()) == 150
    assert sum(valid.values()) == 50
    top = max(sorted(train), key=train.get)
    assert facts["baseline"]["predicts"] == top
    assert facts["baseline"]["accuracy"] == pytest.approx(valid[top] / 50)
    page = (given_run.run_dir / "report.html").read_text()
    assert "Can related (no, yes) be predicted from the text?" in _section(page, "question")
    assert "The model gets" in _section(page, "baseline")


def test_several_labels_per_row_keep_the_split_and_a_sample_but_no_baseline(patents, minilm_path):
    from rung.text.data import TextData
    from rung.text.record import text_facts
    from rung.text.tokenizer import TextTokenizer

    rows = patents.sample(n=60, random_state=9)
    rows["labels"] = rows["context"].str[0] + np.where(rows["score"] >= 0.5, ";related", "")
    data = TextData.from_df(rows, "anchor,target", "labels", label_delim=";",
                            tokenizer=TextTokenizer.from_pretrained(minilm_path))  # fmt: skip
    facts = text_facts(data, "random", 0.25, 42)
    assert facts["task"] == "multilabel" and facts["split"]["kind"] == "random"
    assert facts["baseline"] is None and facts["target"] == {"name": "labels"}
    assert facts["sample"]["columns"] == ["input", "n_tokens", "labels"]
