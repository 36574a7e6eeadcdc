"""From a table of texts to tokenized, split data: real patents rows, and each kind of bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rung.text.data import TextData
from rung.text.tokenizer import TextTokenizer

from .conftest import PATENT_FIELDS


@pytest.fixture(scope="module")
def tok(minilm_path):
    return TextTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def rows(patents):
    return patents.sample(n=2000, random_state=0).reset_index(drop=True)


def test_patents_as_lesson_4_prepares_them(rows, tok):
    data = TextData.from_df(rows, PATENT_FIELDS, "score", tokenizer=tok)
    assert data.task == "regression" and data.target.y_range == (0.0, 1.0)
    assert (len(data.split.train), len(data.split.valid)) == (1500, 500)  # 25%, as the course
    assert data.texts[0] == (
        f"TEXT1: {rows.context[0]}; TEXT2: {rows.target[0]}; ANC1: {rows.anchor[0]}"
    )
    assert data.id_name == "id"
    # max_len: the 99th percentile of the training inputs' lengths, rounded up to 8
    p99 = np.percentile(data.lengths[data.split.train], 99)
    assert data.max_len == int(np.ceil(np.ceil(p99) / 8) * 8) and data.max_len < 64
    assert data.n_truncated == int((data.lengths > data.max_len).sum()) < 20
    assert data.y.dtype == np.float32 and data.y.shape == (2000, 1)
    sample = data.sample(3)
    assert sample["tokens"][0].startswith("[CLS] text ##1 :")


def test_group_split_keeps_every_anchor_on_one_side(rows, tok):
    data = TextData.from_df(rows, PATENT_FIELDS, "score", tokenizer=tok, split="group:anchor")
    train = set(data.frame.anchor[data.split.train])
    valid = set(data.frame.anchor[data.split.valid])
    assert train and valid and not train & valid
    assert 0.15 < len(data.split.valid) / len(rows) < 0.35
    assert "none in both sets" in data.split_description
    # a random split of the same rows shares most anchors: what the group split prevents
    random = TextData.from_df(rows, PATENT_FIELDS, "score", tokenizer=tok)
    shared = set(random.frame.anchor[random.split.train]) & set(
        random.frame.anchor[random.split.valid]
    )
    assert len(shared) > 100


def test_nan_labels_are_dropped_with_a_note(rows, tok):
    df = rows.head(200).copy()
    df.loc[[3, 50, 120], "score"] = np.nan
    data = TextData.from_df(df, PATENT_FIELDS, "score", tokenizer=tok)
    assert len(data.frame) == 197
    assert data.notes[0] == "dropped 3 of 200 rows with no label (score is missing)"
    assert not np.isnan(data.y).any()


def test_empty_and_nan_texts(rows, tok):
    df = rows.head(100).copy()
    df.loc[0, ["anchor", "target", "context"]] = np.nan  # no text at all: dropped
    df.loc[1, ["anchor", "target", "context"]] = ""  # no text at all: dropped
    df.loc[2, "target"] = np.nan  # one field missing: kept, as an empty field
    data = TextData.from_df(df, PATENT_FIELDS, "score", tokenizer=tok)
    assert len(data.frame) == 98
    assert any("dropped 2 rows whose text columns" in n for n in data.notes)
    assert data.texts[0] == f"TEXT1: {df.context[2]}; TEXT2: ; ANC1: {df.anchor[2]}"


def test_overlong_texts_are_cut_and_counted(rows, tok):
    df = rows.head(100).copy()
    df.loc[:4, "target"] = "a very long target phrase " * 30
    data = TextData.from_df(df, PATENT_FIELDS, "score", tokenizer=tok, max_len=32)
    assert data.n_truncated == 5
    assert max(len(i) for i in data.ids) == 32
    assert any(n.startswith("truncated 5 of 100 inputs (5.0%) longer than 32") for n in data.notes)
    with pytest.raises(ValueError, match="max_len must be between 2 and the model's maximum 512"):
        TextData.from_df(df, PATENT_FIELDS, "score", tokenizer=tok, max_len=4096)


def test_a_single_class_is_refused(rows, tok):
    df = rows.head(50).assign(label="same")
    with pytest.raises(ValueError, match=r"single value, 'same', in all 50 labelled rows"):
        TextData.from_df(df, "anchor,target", "label", tokenizer=tok)


def test_missing_columns_name_the_columns_there_are(rows, tok):
    with pytest.raises(
        KeyError, match=r"'anchr'.*\['id', 'anchor', 'target', 'context', 'score'\]"
    ):
        TextData.from_df(rows, "anchr,target", "score", tokenizer=tok)
    with pytest.raises(KeyError, match=r"target column 'scor'.*did you mean 'score'"):
        TextData.from_df(rows, "anchor,target", "scor", tokenizer=tok)
    with pytest.raises(KeyError, match="split column 'anchr'"):
        TextData.from_df(rows, "anchor", "score", tokenizer=tok, split="group:anchr")


def test_classification_labels_and_task_inference(rows, tok):
    df = rows.head(300).assign(label=np.where(rows.head(300).score >= 0.5, "related", "not"))
    data = TextData.from_df(df, "anchor,target", "label", tokenizer=tok)
    assert data.task == "classification" and data.target.classes == ["not", "related"]
    assert data.y.dtype == np.int64 and set(data.y.tolist()) == {0, 1}
    scores = TextData.from_df(rows.head(300), "anchor", "score", tokenizer=tok,
                              task="classification")  # fmt: skip
    assert scores.target.classes == [0, 0.25, 0.5, 0.75, 1]  # by value
    assert scores.dataloaders(8).info == {
        "task": "classification",
        "classes": scores.target.classes,
    }


def test_dataloaders_batch_the_split_rows(rows, tok):
    data = TextData.from_df(rows.head(200), PATENT_FIELDS, "score", tokenizer=tok)
    dls = data.dataloaders(16, seed=0)
    x, mask, y = next(iter(dls.valid))
    assert x.shape == mask.shape and x.shape[0] == 32 and y.shape == (32, 1)
    assert sum(len(b[2]) for b in dls.train) == 150


def test_the_config_carries_what_prediction_needs(rows, tok):
    data = TextData.from_df(rows.head(100), PATENT_FIELDS, "score", tokenizer=tok)
    config = data.to_config()
    assert set(config) == {"fields", "template", "tokenizer", "max_len", "target"}
    assert isinstance(config["tokenizer"]["tokenizer_json"], str)
    assert config["target"]["y_min"] == data.frame.score[data.split.train].min()
    assert pd.Series(data.describe()).notna().any()


def test_a_label_only_in_the_validation_rows_gets_a_note(rows, tok):
    df = rows.head(200).assign(label=np.where(rows.head(200).score >= 0.5, "related", "not"))
    df["is_valid"] = np.arange(200) >= 150
    df.loc[[160, 170], "label"] = "identical"  # never in the training rows
    data = TextData.from_df(df, "anchor,target", "label", tokenizer=tok, split="column:is_valid")
    assert data.target.classes == ["identical", "not", "related"]
    assert data.notes == [
        "1 label(s) only in the validation rows, never in training: 'identical' (2 rows); the "
        "model can't learn them, so those rows count as wrong. Add training rows with them, or "
        "use another split"
    ]
    with pytest.raises(ValueError, match=r"not among the classes .*\['exact'\]"):
        data.target.encode(pd.Series(["not", "exact"]))
