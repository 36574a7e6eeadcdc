"""What the doctor reads from a table of texts: the very rows, inputs, split and max_len that
training uses, with the dropped rows still in view."""

from __future__ import annotations

import numpy as np

from rung.text.data import TextData
from rung.text.scan import scan_texts
from rung.text.tokenizer import TextTokenizer

from .conftest import PATENT_FIELDS


def test_scan_keeps_splits_and_measures_as_training_does(patents, minilm_path):
    tokenizer = TextTokenizer.from_pretrained(minilm_path)
    rows = patents.sample(1000, random_state=1).reset_index(drop=True)
    rows.loc[[4, 8], "score"] = np.nan  # no target: dropped
    rows.loc[[15], ["anchor", "target", "context"]] = None  # no text: dropped
    for split in ("random", "group:anchor"):
        scan = scan_texts(rows, PATENT_FIELDS, "score", split=split, tokenizer=tokenizer)
        data = TextData.from_df(rows, PATENT_FIELDS, "score", tokenizer=tokenizer, split=split)
        assert scan.texts == data.texts and len(scan.raw) == 1000
        assert [4, 8, 15] == sorted(set(range(1000)) - set(scan.frame.index))
        assert np.array_equal(scan.split.valid, data.split.valid)
        assert np.array_equal(scan.lengths, data.lengths) and scan.max_len == data.max_len
        assert scan.split_description == data.split_description
