"""Rows behind the API: a table model's form comes from its training schema (with a feature
set, the columns it reads replace the ones it makes), and text models take one box per text
column."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

import rung
from rung.serve.limits import ApiError
from rung.serve.rows import Column, TextModel


@pytest.fixture(scope="module")
def titanic_features_model(tmp_path_factory, titanic_dir: Path) -> Path:
    from rung.tabular.train import train_table

    run = train_table(
        titanic_dir / "train.csv", "Survived", models="linear", features="titanic",
        explain=False, progress=False, out=tmp_path_factory.mktemp("titanic_features"),
    )  # fmt: skip
    return run.model_path


def test_with_a_feature_set_the_form_asks_for_what_it_reads(titanic_features_model):
    from rung.serve.model import load_served

    served = load_served(titanic_features_model)
    names = [c.name for c in served.columns]
    assert {"Name", "Ticket", "Fare", "Sex", "Pclass", "Age", "Embarked"} <= set(names)
    assert not {"LogFare", "Title", "Deck", "Family", "Alone", "TicketFreq"} & set(names)
    types = {c.name: c.type for c in served.columns}
    assert types["Name"] == "value" and types["Sex"] == "category" and types["Age"] == "number"


def test_a_feature_row_gets_the_models_answer(live_server, titanic_features_model):
    server = live_server(titanic_features_model)
    row = {"Name": "Cumings, Mrs. John Bradley", "Pclass": 1, "Sex": "female", "Age": 38,
           "SibSp": 1, "Parch": 0, "Ticket": "PC 17599", "Fare": 71.28, "Cabin": "C85",
           "Embarked": "C"}  # fmt: skip
    response = httpx.post(server.url + "/api/predict", json={"row": row})
    assert response.status_code == 200, response.text
    expected = rung.load(titanic_features_model).predict(row)
    got = response.json()["prediction"]
    assert got["label"] == expected.label == 1
    assert got["probs"]["1"] == pytest.approx(expected.probs[1], abs=1e-9)


def test_columns_check_values_by_type():
    assert Column("n", "number").check(3, "row") == 3.0
    assert Column("c", "category").check(3, "row") == 3
    assert Column("d", "date").check("2024-05-31", "row") == "2024-05-31"
    for column, value, words in [
        (Column("n", "number"), float("inf"), "must be a number"),
        (Column("n", "number"), {"a": 1}, "must be a single value"),
        (Column("d", "date"), 20240531, "must be a string (date)"),
        (Column("t", "text"), "x" * 100_001, "over 100,000 characters"),
    ]:
        with pytest.raises(ApiError, match=words.replace("(", r"\(").replace(")", r"\)")) as e:
            column.check(value, "row")
        assert e.value.status == 422


class _TextPredictor:
    """What TextModel reads from a text predictor: its config and predict_raw."""

    path = Path("runs/patents/model.rung")

    def __init__(self, columns: list[str], task: str = "regression") -> None:
        self.config = {
            "kind": "text", "task": task, "target": "score", "id_name": "id",
            "y_range": [0.0, 1.0] if task == "regression" else None,
            "classes": ["no", "yes"] if task == "classification" else None,
            "preprocessing": {"fields": {"columns": columns, "markers": columns}},
        }  # fmt: skip
        self.seen: list = []

    def predict_raw(self, rows: list[dict]) -> np.ndarray:
        self.seen.append(rows)
        if self.config["task"] == "regression":
            return np.array([len(r[next(iter(r))]) / 10 for r in rows])
        return np.array([[0.25, 0.75]] * len(rows))


def test_a_text_model_takes_its_columns_as_a_row():
    predictor = _TextPredictor(["anchor", "target", "context"])
    served = TextModel(predictor)
    assert [c["name"] for c in served.inputs()["columns"]] == ["anchor", "target", "context"]
    items, single = served.items_from_json({"row": {"anchor": "abc", "target": "d", "id": 3}})
    prepared = [served.prepare(i) for i in items]
    assert single and prepared == [{"anchor": "abc", "target": "d", "context": ""}]
    [result] = served.predict_groups([prepared])[0]
    assert result == {"value": pytest.approx(0.3), "range": [0.0, 1.0]}
    with pytest.raises(ApiError, match="send 'row'"):
        served.items_from_json({"text": "abc"})
    with pytest.raises(ApiError, match="unknown column 'anchr'; did you mean 'anchor'"):
        served.prepare(("row", {"anchr": "x"}))
    with pytest.raises(ApiError, match="column 'target' must be a string"):
        served.prepare(("row", {"target": 5}))


def test_a_one_column_text_model_takes_plain_texts():
    served = TextModel(_TextPredictor(["review"], task="classification"))
    items, single = served.items_from_json({"texts": ["great", "awful"]})
    assert not single and [name for name, _ in items] == ["texts[0]", "texts[1]"]
    results = served.predict_groups([[served.prepare(i) for i in items]])[0]
    assert [r["label"] for r in results] == ["yes", "yes"]
    assert results[0]["probs"] == {"no": 0.25, "yes": 0.75}
    assert served.info()["inputs"]["type"] == "text"


def test_a_text_model_without_columns_is_refused():
    predictor = _TextPredictor(["review"])
    predictor.config["preprocessing"] = {}
    with pytest.raises(ValueError, match="names no text columns"):
        TextModel(predictor)
