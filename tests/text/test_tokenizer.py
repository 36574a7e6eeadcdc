"""The tokenizer: truncation counted, and the whole tokenizer carried as JSON text."""

from __future__ import annotations

import json

import pytest

from rung.text.tokenizer import TextTokenizer


@pytest.fixture(scope="module")
def tok(minilm_path):
    return TextTokenizer.from_pretrained(minilm_path)


def test_settings_come_from_the_model_folder(tok):
    assert tok.pad_id == 0
    assert tok.model_max_length == 512
    # the file's own truncation (128) and padding (128) are switched off: rung does both
    assert tok.tokenizer.truncation is None and tok.tokenizer.padding is None


def test_long_inputs_are_cut_to_max_len_keeping_the_closing_token(tok):
    texts = ["short one", "word " * 50, "another fairly long input " * 10]
    ids, n_cut = tok.encode(texts, max_len=12)
    assert n_cut == 2
    assert [len(i) for i in ids] == [4, 12, 12]
    assert all(i[0] == 101 and i[-1] == 102 for i in ids)  # [CLS] ... [SEP]
    uncut, none = tok.encode(texts)
    assert none == 0 and len(uncut[1]) == 52
    assert tok.lengths(texts).tolist() == [len(i) for i in uncut]


def test_the_tokenizer_round_trips_through_json(tok):
    config = json.loads(json.dumps(tok.to_config()))
    again = TextTokenizer.from_config(config)
    texts = ["TEXT1: A47; TEXT2: abatement of pollution; ANC1: abatement", "ünïcödé text"]
    assert [i.tolist() for i in again.encode(texts, 16)[0]] == [
        i.tolist() for i in tok.encode(texts, 16)[0]
    ]
    assert again.pad_id == tok.pad_id and again.model_max_length == 512
