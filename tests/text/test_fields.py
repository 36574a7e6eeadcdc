"""Joining text columns into one input, and reading CSVs of texts (bad encodings included)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rung.text.fields import TextCSVError, TextFields, read_text_csv


def test_the_course_format_from_markers(patents):
    fields = TextFields.parse("TEXT1=context,TEXT2=target,ANC1=anchor")
    row = patents.iloc[:1]
    expected = f"TEXT1: {row.context[0]}; TEXT2: {row.target[0]}; ANC1: {row.anchor[0]}"
    assert fields.join(row) == [expected]
    assert fields.template == "TEXT1: {context}; TEXT2: {target}; ANC1: {anchor}"


def test_columns_without_markers_are_labelled_by_name_in_the_order_given():
    df = pd.DataFrame({"a": ["x"], "b": ["y"]})
    assert TextFields.parse("b,a").join(df) == ["b: y; a: x"]
    assert TextFields.parse(["a"]).join(df) == ["x"]  # one column: the text itself


def test_missing_and_empty_text_are_empty_fields():
    df = pd.DataFrame({"a": ["x", np.nan, "", None], "b": ["y", "z", " ", None]})
    fields = TextFields.parse("a,b")
    assert fields.join(df) == ["a: x; b: y", "a: ; b: z", "a: ; b:  ", "a: ; b: "]
    assert fields.empty_rows(df).tolist() == [False, False, True, True]


def test_a_missing_text_column_names_the_columns_there_are():
    df = pd.DataFrame({"anchor": ["x"], "target": ["y"], "score": [0.5]})
    with pytest.raises(KeyError, match=r"'contxt'.*\['anchor', 'target', 'score'\]"):
        TextFields.parse("anchor,contxt").join(df)


@pytest.mark.parametrize("bad", ["", "a,,b", "a,a"])
def test_bad_column_lists_are_refused(bad):
    with pytest.raises(ValueError):
        TextFields.parse(bad)


def test_fields_round_trip_through_the_config():
    fields = TextFields.parse("TEXT1=context,target")
    assert TextFields.from_config(fields.to_config()) == fields


def test_a_non_utf8_file_names_the_encoding_option(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_bytes("text,label\nUn film très réussi,pos\nNul,neg\n".encode("latin-1"))
    with pytest.raises(TextCSVError, match=r"reviews\.csv is not utf-8.*--encoding latin-1"):
        read_text_csv(path)
    assert read_text_csv(path, encoding="latin-1")["text"][0] == "Un film très réussi"
    with pytest.raises(ValueError, match="unknown encoding 'latin-9000'"):
        read_text_csv(path, encoding="latin-9000")


def test_size_is_checked_before_reading(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("text,label\n" + "words,1\n" * 100)
    with pytest.raises(TextCSVError, match="more than the 100 bytes"):
        read_text_csv(path, max_bytes=100)


def test_texts_that_look_like_missing_values_stay_text(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text,score\nNA,0.5\nNone,1\n,0\nnull,\n")
    df = read_text_csv(path)
    assert df["text"].tolist()[:2] == ["NA", "None"] and pd.isna(df["text"][2])
    assert df["score"].dtype == float and pd.isna(df["score"][3])
