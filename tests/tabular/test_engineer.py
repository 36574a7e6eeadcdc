"""The generic feature steps on real tables: compound codes split, counts, words of free text,
each named in the notes, replayed by the model file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rung
from rung.tabular.data import TabularData
from rung.tabular.engineer import PRIOR_ROWS, FeatureSteps, compound_columns
from rung.tabular.procs import MissingColumnsError
from rung.tabular.train import train_table


@pytest.fixture(scope="module")
def titanic(titanic_dir) -> pd.DataFrame:
    return pd.read_csv(titanic_dir / "train.csv")


@pytest.fixture(scope="module")
def data(titanic) -> TabularData:
    return TabularData.from_df(titanic, "Survived", engineer=True)


@pytest.fixture(scope="module")
def made(data, titanic) -> pd.DataFrame:
    """The table with the steps' columns (``data.df`` stays the table as given)."""
    assert list(data.df.columns) == list(titanic.columns)
    return data.steps.transform(data.df)


def test_codes_with_digits_are_compound_and_names_are_free_text(titanic):
    assert compound_columns(titanic, ["Cabin", "Ticket", "Name", "Sex"]) == ["Cabin", "Ticket"]


def test_compound_codes_are_split_into_prefix_number_and_parts(data, made, titanic):
    df = made
    row = df.index[titanic["Ticket"] == "STON/O2. 3101282"][0]
    assert df.loc[row, "Ticket_prefix"] == "STON" and df.loc[row, "Ticket_number"] == 3101282
    row = df.index[titanic["Cabin"] == "C23 C25 C27"][0]
    assert df.loc[row, ["Cabin_prefix", "Cabin_number", "Cabin_parts"]].tolist() == ["C", 27, 3]
    no_cabin = titanic["Cabin"].isna()
    assert (df.loc[no_cabin, "Cabin_prefix"] == "(none)").all()
    assert (df.loc[no_cabin, "Cabin_parts"] == 0).all()
    train = titanic.iloc[data.split.train]
    decks = train["Cabin"].dropna().str[0]
    c_rows = df.index[titanic["Cabin"].astype(str).str.startswith("C")]
    assert (df.loc[c_rows, "Cabin_prefix_count"] == (decks == "C").sum()).all()  # a group size
    assert {"Ticket_prefix", "Cabin_prefix"} <= set(data.cat_names)
    assert {"Ticket_number", "Cabin_parts", "Ticket_prefix_count"} <= set(data.cont_names)


def test_counts_come_from_the_training_rows(data, made, titanic):
    train = titanic.iloc[data.split.train]
    held = train["Ticket"].value_counts()
    ticket = held.index[0]  # the most shared ticket among training rows
    rows = titanic["Ticket"] == ticket
    assert (made.loc[rows, "Ticket_count"] == held.iloc[0]).all()
    unseen = titanic.iloc[data.split.valid]["Ticket"][lambda s: ~s.isin(train["Ticket"])]
    assert (made.loc[unseen.index, "Ticket_count"] == 1).all()  # never seen: counted once


def test_free_text_gives_word_count_and_its_most_common_word(data, made, titanic):
    words = made["Name_word"]
    assert words[titanic["Name"] == "Braund, Mr. Owen Harris"].item() == "mr"
    assert words[titanic["Name"].str.contains("Master.")].eq("master").mean() > 0.9
    assert set(words.value_counts().index[:4]) == {"mr", "miss", "mrs", "master"}
    assert made.loc[0, "Name_words"] == 4 and "Name_word" in data.cat_names
    assert "Name" not in data.cat_names  # the text itself is not a category


def test_each_step_is_named_in_the_notes(data):
    notes = "\n".join(data.notes)
    assert "Ticket: compound codes (mostly short, with digits) split into Ticket_prefix" in notes
    assert "Cabin: compound codes" in notes and "Ticket: Ticket_count" in notes
    assert "Name: free text, so Name_words (word count) and Name_word" in notes
    assert "Name: Name_count" not in notes  # names are unique: a count would say nothing


def test_a_table_of_numbers_gets_no_steps(california):
    data = TabularData.from_df(california, "median_house_value", engineer=True)
    assert data.steps is not None and data.steps.steps == []


def test_steps_round_trip_as_plain_data(data, titanic):
    again = FeatureSteps.from_config(data.steps.to_config())
    pd.testing.assert_frame_equal(again.transform(titanic), data.steps.transform(titanic))
    with pytest.raises(ValueError, match="unknown feature step 'code'"):
        FeatureSteps.from_config({"steps": [{"step": "code", "column": "Name"}]})


def test_the_model_file_replays_the_steps_on_a_test_csv(titanic_dir, titanic, tmp_path):
    run = train_table(titanic, "Survived", models="rf", out=tmp_path, explain=False)
    assert run.data.steps is not None and "Name_word" in run.data.cat_names
    predictor = rung.load(run.model_path)
    probs = predictor.predict_proba(titanic)[run.data.split.valid]
    np.testing.assert_allclose(probs, run.fits["rf"].valid_preds, rtol=0, atol=1e-12)
    test = pd.read_csv(titanic_dir / "test.csv")
    assert len(predictor.predict(test)) == 418
    with pytest.raises(MissingColumnsError, match=r"\['Ticket'\] that the model's feature steps"):
        predictor.predict(test.drop(columns=["Ticket"]))


def test_group_target_means_come_from_training_rows_shrunk_to_the_overall_mean(data, titanic):
    train = titanic.iloc[data.split.train]
    prior = train["Survived"].mean()
    new = data.steps.transform(titanic)  # rows as a model file sees them: all training rows
    for ticket in train["Ticket"].value_counts().index[:3]:
        group = train.loc[train["Ticket"] == ticket, "Survived"]
        want = (group.sum() + PRIOR_ROWS * prior) / (len(group) + PRIOR_ROWS)
        assert np.allclose(new.loc[titanic["Ticket"] == ticket, "Ticket_target_mean"], want)
    surname = titanic["Name"].str.split(",").str[0].str.lower()
    andersson = train.loc[surname.iloc[data.split.train] == "andersson", "Survived"]
    want = (andersson.sum() + PRIOR_ROWS * prior) / (len(andersson) + PRIOR_ROWS)
    assert np.allclose(new.loc[surname == "andersson", "Name_first_target_mean"], want)
    unseen = ~titanic["Ticket"].isin(train["Ticket"])
    assert np.allclose(new.loc[unseen, "Ticket_target_mean"], prior)
    assert {"Ticket_target_mean", "Name_first_target_mean"} <= set(data.cont_names)
    notes = "\n".join(data.notes)
    assert "Name_first_target_mean: the mean target of the training rows sharing the first" in notes


def test_a_training_rows_own_target_never_enters_its_group_mean(titanic):
    train = titanic.iloc[:600].reset_index(drop=True)
    y = train["Survived"].to_numpy(float)
    row = int(train.index[train["Ticket"] == train["Ticket"].value_counts().index[0]][0])
    flipped = y.copy()
    flipped[row] = 1 - flipped[row]
    rows = np.arange(len(train))
    means = []
    for target in (y, flipped):
        steps = FeatureSteps().fit(train, compound=["Ticket"], text=["Name"], target=target)
        means.append(steps.transform(train, train_rows=rows)["Ticket_target_mean"].to_numpy())
    assert means[0][row] == means[1][row]  # its own label is out of its fold
    assert not np.array_equal(means[0], means[1])  # other folds' rows of its group see it


def test_no_group_target_means_without_a_target(titanic):
    steps = FeatureSteps().fit(titanic, compound=["Ticket"], text=["Name"])
    assert not any(step["step"] == "target_mean" for step in steps.steps)
    many = titanic.assign(Survived=titanic["Pclass"].astype(str))  # three classes
    data = TabularData.from_df(many, "Survived", engineer=True)
    assert not any("target_mean" in name for name in data.cont_names)
