"""CSVs from outside: a Latin-1 file, an empty file, a semicolon file and an oversized file
each get one message naming the file and the fix, through train_table and TabularData.from_csv;
the fix (encoding=, sep=) then trains."""

from __future__ import annotations

import pandas as pd
import pytest

from rung.tabular.data import TabularData
from rung.tabular.train import train_table


@pytest.fixture(scope="module")
def titanic(titanic_dir) -> pd.DataFrame:
    return pd.read_csv(titanic_dir / "train.csv")


@pytest.fixture
def latin1_csv(titanic, tmp_path):
    df = titanic.copy()
    df.loc[0, "Name"] = "Müller, Mr. Jürgen"  # ü is one byte, 0xfc, in Latin-1
    path = tmp_path / "passagiere.csv"
    df.to_csv(path, index=False, encoding="latin-1")
    return path


def test_latin1_csv_names_the_file_and_the_encoding_flag(latin1_csv, tmp_path):
    with pytest.raises(ValueError) as err:
        train_table(latin1_csv, "Survived", models="linear", out=tmp_path / "runs")
    message = str(err.value)
    assert "passagiere.csv" in message and "0xfc" in message
    assert "--encoding latin-1" in message and "encoding='latin-1'" in message
    assert not (tmp_path / "runs").exists()  # nothing written for a run that never started
    with pytest.raises(ValueError, match="passagiere.csv.*--encoding latin-1"):
        TabularData.from_csv(latin1_csv, "Survived")


def test_latin1_csv_trains_with_its_encoding(latin1_csv, tmp_path):
    run = train_table(
        latin1_csv, "Survived", models="linear", out=tmp_path, explain=False, encoding="latin-1"
    )
    assert run.data.df.loc[0, "Name"] == "Müller, Mr. Jürgen"
    data = TabularData.from_csv(latin1_csv, "Survived", encoding="latin-1")
    assert len(data.df) == 891


def test_empty_csv_says_the_file_is_empty(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.csv.*empty") as err:
        train_table(path, "Survived", out=tmp_path)
    assert "No columns to parse" not in str(err.value)
    path.write_text("\n\n")
    with pytest.raises(ValueError, match="empty.csv has no columns"):
        TabularData.from_csv(path, "Survived")


def test_semicolon_csv_says_pass_sep_and_trains_with_it(titanic, tmp_path):
    path = tmp_path / "semi.csv"
    titanic.to_csv(path, index=False, sep=";")
    with pytest.raises(ValueError, match=r"looks like ';'-separated: pass --sep ';'"):
        train_table(path, "Survived", models="linear", out=tmp_path)
    run = train_table(path, "Survived", models="linear", out=tmp_path, explain=False, sep=";")
    assert run.data.df.shape == (891, 12)
    tabs = tmp_path / "tabs.txt"
    titanic.to_csv(tabs, index=False, sep="\t")
    with pytest.raises(ValueError, match="looks like tab-separated: pass --sep tab"):
        TabularData.from_csv(tabs, "Survived")
    assert TabularData.from_csv(tabs, "Survived", sep="tab").df.shape == (891, 12)


def test_csv_over_the_size_cap_is_refused_before_reading(titanic_dir, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"train.csv is 60,301 bytes, more than the 1,000 bytes"):
        TabularData.from_csv(titanic_dir / "train.csv", "Survived", max_bytes=1000)
    monkeypatch.setenv("RUNG_MAX_CSV_BYTES", "1000")
    with pytest.raises(ValueError, match="RUNG_MAX_CSV_BYTES"):
        train_table(titanic_dir / "train.csv", "Survived", out=tmp_path)
    monkeypatch.setenv("RUNG_MAX_CSV_BYTES", "100000")
    assert len(TabularData.from_csv(titanic_dir / "train.csv", "Survived").df) == 891


def test_unknown_encoding_and_bad_separator_are_clear(titanic_dir):
    with pytest.raises(ValueError, match="unknown encoding 'latn1'.*latin-1"):
        TabularData.from_csv(titanic_dir / "train.csv", "Survived", encoding="latn1")
    with pytest.raises(ValueError, match="sep must be one character"):
        TabularData.from_csv(titanic_dir / "train.csv", "Survived", sep=";;")


def test_a_tsv_file_reads_as_tab_separated(titanic, tmp_path):
    path = tmp_path / "train.tsv"
    titanic.to_csv(path, index=False, sep="\t")
    assert TabularData.from_csv(path, "Survived").df.shape == (891, 12)


def test_the_cli_reads_with_encoding_and_sep(latin1_csv, titanic, tmp_path, capsys):
    from rung.cli import main

    base = ["train", "table", "--target", "Survived", "--models", "linear", "--out", str(tmp_path)]
    assert main([*base[:2], str(latin1_csv), *base[2:]]) != 0
    assert "--encoding latin-1" in capsys.readouterr().err
    assert main([*base[:2], str(latin1_csv), *base[2:], "--encoding", "latin-1", "--json"]) == 0
    semi = tmp_path / "semi.csv"
    titanic.to_csv(semi, index=False, sep=";")
    assert main([*base[:2], str(semi), *base[2:], "--sep", ";", "--json"]) == 0
