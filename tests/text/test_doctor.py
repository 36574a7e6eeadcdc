"""rung doctor on a table of texts: 3,000 real patents rows (a seeded sample), each test
planting one defect and asserting that its check fires with the right rows and advice, and
that no other check warns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rung.report.doctor import ERROR, INFO, WARNING
from rung.text.data import TextData
from rung.text.doctor import diagnose_texts
from rung.text.tokenizer import TextTokenizer

from .conftest import PATENT_FIELDS


@pytest.fixture(scope="module")
def tokenizer(minilm_path: Path) -> TextTokenizer:
    return TextTokenizer.from_pretrained(minilm_path)


@pytest.fixture
def rows(patents: pd.DataFrame) -> pd.DataFrame:
    """3,000 rows (no input in them repeats: the whole file has no repeated input)."""
    return patents.sample(3000, random_state=0).reset_index(drop=True)


@pytest.fixture
def marked(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with a validation column: the last 750 are validation."""
    return rows.assign(is_valid=np.arange(len(rows)) >= 2250)


def doctor(frame, tokenizer, target="score", **kwargs):
    return diagnose_texts(frame, PATENT_FIELDS, target, tokenizer=tokenizer, **kwargs)


def warned(diagnosis) -> set[str]:
    return {f.check for f in diagnosis.findings if f.severity in (ERROR, WARNING)}


def test_clean_rows_with_a_random_split_suggest_a_group_split(rows, tokenizer, tmp_path):
    path = tmp_path / "train.csv"
    rows.to_csv(path, index=False)
    diagnosis = doctor(path, tokenizer)
    assert diagnosis.subject == str(path)
    assert warned(diagnosis) == set(), diagnosis.format()
    (shared,) = diagnosis.by_check("texts.shared_groups")
    assert shared.severity == INFO and shared.evidence["column"] == "anchor"
    assert "--split group:anchor" in shared.next_step
    assert diagnosis.facts["train"] == 2250 and diagnosis.facts["task"] == "regression"


def test_clean_rows_split_by_anchor_find_only_the_cut_inputs(rows, tokenizer):
    diagnosis = doctor(rows, tokenizer, split="group:anchor")
    assert warned(diagnosis) == set() and not diagnosis.by_check("texts.shared_groups")
    assert {f.check for f in diagnosis.findings} <= {"texts.lengths"}


def test_split_is_the_one_training_uses(rows, tokenizer):
    copies = rows.iloc[:40].assign(id=[f"copy{i}" for i in range(40)])
    frame = pd.concat([rows, copies], ignore_index=True)
    diagnosis = doctor(frame, tokenizer)
    data = TextData.from_df(frame, PATENT_FIELDS, "score", tokenizer=tokenizer)
    texts = np.asarray(data.texts, dtype=object)
    expected = sorted(
        str(frame["id"][i]) for i in data.split.valid if texts[i] in set(texts[data.split.train])
    )
    (finding,) = diagnosis.by_check("texts.leakage")
    assert sorted(finding.evidence["rows"]) == expected and len(expected) >= 5
    assert diagnosis.facts["max_len"].startswith(f"{data.max_len} ")


def test_inputs_in_both_train_and_valid_are_leakage(marked, tokenizer):
    inputs = ["anchor", "target", "context", "score"]
    marked.loc[2250:2269, inputs] = marked.loc[0:19, inputs].to_numpy()
    diagnosis = doctor(marked, tokenizer, split="column:is_valid")
    assert warned(diagnosis) == {"texts.leakage"}, diagnosis.format()
    (finding,) = diagnosis.by_check("texts.leakage")
    assert finding.severity == ERROR and finding.evidence["count"] == 20
    assert finding.evidence["rows"] == marked["id"][2250:2270].tolist()  # named by their id
    assert "--split group:anchor" in finding.next_step
    assert finding.message.startswith("20 validation input(s) (2.7%) are also training inputs")


def test_overlong_inputs(rows, tokenizer):
    rows.loc[[5, 6, 7], "target"] = " ".join(["abatement"] * 600)
    diagnosis = doctor(rows, tokenizer)
    assert warned(diagnosis) == {"texts.lengths"}, diagnosis.format()
    long, cut = diagnosis.by_check("texts.lengths")
    assert long.severity == WARNING and long.evidence["limit"] == 512
    assert long.evidence["rows"] == rows["id"][5:8].tolist()
    assert cut.severity == INFO and cut.evidence["max_len"] == 32


def test_given_max_len_counts_what_it_cuts(rows, tokenizer):
    diagnosis = doctor(rows, tokenizer, max_len=16)
    (cut,) = diagnosis.by_check("texts.lengths")
    assert cut.evidence["count"] > 1500 and "16 tokens (given)" in cut.message


def test_empty_texts_and_empty_fields(rows, tokenizer):
    rows.loc[10:14, ["anchor", "target", "context"]] = None
    rows.loc[20:22, "target"] = None
    diagnosis = doctor(rows, tokenizer)
    assert warned(diagnosis) == {"texts.empty"}, diagnosis.format()
    none, partly = diagnosis.by_check("texts.empty")
    assert none.severity == WARNING and none.evidence["rows"] == rows["id"][10:15].tolist()
    assert partly.severity == INFO and partly.evidence["by_column"] == {"target": 3}
    assert diagnosis.facts["kept"] == 2995


def test_missing_targets(rows, tokenizer):
    rows.loc[[3, 30, 300, 2999], "score"] = np.nan
    diagnosis = doctor(rows, tokenizer)
    assert warned(diagnosis) == {"texts.missing_target"}, diagnosis.format()
    (finding,) = diagnosis.by_check("texts.missing_target")
    assert finding.evidence["rows"] == rows["id"][[3, 30, 300, 2999]].tolist()


def test_identical_inputs_with_different_scores(marked, tokenizer):
    twins = marked.iloc[:6].assign(id=[f"twin{i}" for i in range(6)], is_valid=False)
    twins["score"] = (twins["score"] + 0.5) % 1.25
    frame = pd.concat([marked, twins], ignore_index=True)
    diagnosis = doctor(frame, tokenizer, split="column:is_valid")
    assert warned(diagnosis) == {"texts.label_noise"}, diagnosis.format()
    (finding,) = diagnosis.by_check("texts.label_noise")
    assert finding.evidence["count"] == 6 and "different scores (12 rows)" in finding.message
    first = finding.evidence["examples"][0]
    assert len(first["labels"]) == 2 and first["input"].endswith(f"ANC1: {marked['anchor'][0]}")


def test_a_single_class(rows, tokenizer):
    diagnosis = doctor(rows.assign(label="similar"), tokenizer, target="label")
    assert warned(diagnosis) == {"texts.classes"}
    (finding,) = diagnosis.by_check("texts.classes")
    assert finding.severity == ERROR and "single value, 'similar'" in finding.message


def test_class_imbalance(rows, tokenizer):
    rare = rows.assign(label=np.where(rows["score"] >= 0.75, "match", "other"))
    diagnosis = doctor(rare, tokenizer, target="label")
    assert warned(diagnosis) == {"texts.classes"}, diagnosis.format()
    (finding,) = diagnosis.by_check("texts.classes")
    counts = rare["label"].value_counts()
    assert finding.evidence["ratio"] == round(counts["other"] / counts["match"], 2) > 3
    even = rows.assign(label=np.where(rows["score"] >= 0.5, "similar", "different"))
    assert not doctor(even, tokenizer, target="label").by_check("texts.classes")


def test_no_target_and_no_tokenizer_run_the_text_checks_only(rows):
    diagnosis = diagnose_texts(rows, PATENT_FIELDS, tokenizer=None)
    assert len(diagnosis.checks) == 7 and "task" not in diagnosis.facts
    assert [f.check for f in diagnosis.findings] == ["texts.shared_groups"]


def test_default_tokenizer_is_the_offline_minilm(rows):
    diagnosis = diagnose_texts(rows.head(400), PATENT_FIELDS, "score")
    assert diagnosis.facts["max_len"].startswith("32 (99th percentile of the training inputs")


def test_unknown_target_names_the_columns(rows):
    with pytest.raises(KeyError, match="'scor' is not in the data.*did you mean 'score'"):
        diagnose_texts(rows, PATENT_FIELDS, "scor", tokenizer=None)
