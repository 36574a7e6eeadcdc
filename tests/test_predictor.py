"""rung.load(path).predict(x): a model trained on Titanic, predicted in a fresh process with no
training code; classification and regression results; dispatch on the file's kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import run_python
from safetensors.torch import load_file, save_file

import rung
from rung.data.splitters import random_split
from rung.modelfile import ModelFileError, save_model_file
from rung.models.registry import build_model
from rung.predictor import KINDS, ClassPrediction, ClassPredictions, TensorPredictor, kinds, load

TRAINING_MODULES = ("rung.learner", "rung.callbacks", "rung.data", "rung.metrics", "rung.report")


@pytest.fixture(scope="module")
def titanic(titanic_dir: Path) -> dict:
    """Six numeric Titanic features (standardised) and Survived, on the course's seed-42 split."""
    df = pd.read_csv(titanic_dir / "train.csv")
    x = np.stack(
        [
            df.Pclass,
            (df.Sex == "female").astype(float),
            df.Age.fillna(df.Age.median()),
            df.SibSp,
            df.Parch,
            np.log1p(df.Fare),
        ],
        axis=1,
    ).astype(np.float32)  # (891, 6)
    x = (x - x.mean(0)) / x.std(0)
    split = random_split(len(df), valid_pct=0.2, seed=42)
    y = df.Survived.to_numpy().copy()  # pandas hands out a read-only view
    return {"x": x, "y": y, "train": split.train, "valid": split.valid}


@pytest.fixture(scope="module")
def titanic_model_file(titanic: dict, tmp_path_factory) -> tuple[Path, torch.nn.Module]:
    """An MLP trained on Titanic with a plain loop (full batch, Adam), saved as a model file."""
    torch.manual_seed(0)
    model = build_model("mlp", n_in=6, n_out=2, layers=[10, 10])
    x, y = torch.from_numpy(titanic["x"]), torch.from_numpy(titanic["y"])
    train = torch.from_numpy(titanic["train"])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(100):
        loss = torch.nn.functional.cross_entropy(model(x[train]), y[train])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    config = {"kind": "tensor", "task": "classification", "classes": ["died", "survived"]}
    path = save_model_file(tmp_path_factory.mktemp("titanic") / "titanic.rung", model, config)
    return path, model.eval()


def test_a_fresh_process_predicts_like_the_trained_model_without_training_code(
    tmp_path, titanic, titanic_model_file
):
    path, model = titanic_model_file
    # (178, 6); a torch-allocated copy, like the one predict makes: BLAS results can depend on
    # the memory alignment of the input
    x_valid = torch.from_numpy(titanic["x"][titanic["valid"]]).clone()
    save_file({"x": x_valid}, tmp_path / "x.safetensors")
    done = run_python(
        "import sys, torch\n"
        "from safetensors.torch import load_file, save_file\n"
        "import rung\n"
        f"predictor = rung.load({str(path)!r})\n"
        f"x = load_file({str(tmp_path / 'x.safetensors')!r})['x']\n"
        "result = predictor.predict(x)\n"
        "save_file({'probs': torch.from_numpy(result.probs), 'raw': predictor.raw(x)},\n"
        f"          {str(tmp_path / 'out.safetensors')!r})\n"
        "print(predictor.predict(x[0]).label)\n"
        f"print([m for m in sys.modules if m.startswith({TRAINING_MODULES!r})])\n"
    )
    label, imported = done.stdout.splitlines()
    assert "rung.learner" not in imported and imported == "[]"
    with torch.no_grad():
        logits = model(x_valid)
    out = load_file(tmp_path / "out.safetensors")
    assert torch.equal(out["raw"], logits)
    assert torch.equal(out["probs"], torch.softmax(logits, dim=1))
    assert label == ["died", "survived"][int(logits[0].argmax())]
    accuracy = (out["probs"].argmax(1).numpy() == titanic["y"][titanic["valid"]]).mean()
    assert accuracy > 0.75  # the course's nets reach 0.8258 on this split


def test_classification_results_for_one_row_and_for_many(titanic, titanic_model_file):
    path, model = titanic_model_file
    predictor = rung.load(path)
    assert rung.load is load and isinstance(predictor, TensorPredictor)
    assert "titanic.rung" in repr(predictor) and predictor.task == "classification"

    woman_first_class = titanic["x"][1]  # Mrs. Cumings, 1st class: survived
    one = predictor.predict(woman_first_class.tolist())  # a plain list works too
    assert isinstance(one, ClassPrediction)
    assert one.label == "survived" and one.index == 1
    assert set(one.probs) == {"died", "survived"}
    assert one.probs["survived"] > 0.5 and sum(one.probs.values()) == pytest.approx(1.0)

    many = predictor.predict(titanic["x"][:10])  # ndarray, (10, 6)
    assert isinstance(many, ClassPredictions) and len(many) == 10
    assert many.probs.shape == (10, 2) and many.indices.shape == (10,)
    assert many.labels == [many.classes[i] for i in many.indices]
    assert many[1] == one
    np.testing.assert_allclose(many.probs.sum(1), 1.0, rtol=1e-6)


def test_regression_values_are_clipped_to_y_range(tmp_path):
    torch.manual_seed(0)
    model = build_model("mlp", n_in=3, n_out=1, layers=[4])
    with torch.no_grad():
        model[-1].bias.fill_(100.0)  # every raw output is far above the range
    config = {"kind": "tensor", "task": "regression", "y_range": [0.0, 1.0]}
    predictor = load(save_model_file(tmp_path / "reg.rung", model, config))
    assert predictor.predict([0.1, 0.2, 0.3]) == 1.0
    values = predictor.predict(torch.randn(7, 3))
    assert isinstance(values, np.ndarray) and values.shape == (7,) and (values == 1.0).all()

    two = build_model("mlp", n_in=3, n_out=2, layers=[4])
    config = {"kind": "tensor", "task": "regression"}
    predictor = load(save_model_file(tmp_path / "reg2.rung", two, config))
    x = torch.randn(5, 3, dtype=torch.float64)  # float64 input is cast to the model's float32
    values = predictor.predict(x)
    with torch.no_grad():
        np.testing.assert_array_equal(values, two(x.float()).numpy())
    assert predictor.predict(x[0]).shape == (2,)


def test_one_logit_for_two_classes_and_files_without_class_names(tmp_path):
    torch.manual_seed(0)
    model = build_model("mlp", n_in=2, n_out=1, layers=[3])
    config = {"kind": "tensor", "task": "classification", "classes": ["no", "yes"]}
    predictor = load(save_model_file(tmp_path / "binary.rung", model, config))
    x = torch.randn(4, 2)
    with torch.no_grad():
        p_yes = torch.sigmoid(model(x)[:, 0]).numpy()
    result = predictor.predict(x)
    np.testing.assert_allclose(result.probs[:, 1], p_yes, rtol=1e-6)
    assert result.labels == ["yes" if p > 0.5 else "no" for p in p_yes]

    model = build_model("mlp", n_in=2, n_out=3, layers=[3])
    config = {"kind": "tensor", "task": "classification"}
    one = load(save_model_file(tmp_path / "plain.rung", model, config)).predict([0.0, 1.0])
    assert one.label == one.index and sorted(one.probs) == [0, 1, 2]


def test_inputs_of_the_wrong_shape_or_type_are_refused(tmp_path):
    model = build_model("mlp", n_in=4, n_out=2, layers=[3])
    config = {"kind": "tensor", "task": "classification", "input_shape": [4]}
    predictor = load(save_model_file(tmp_path / "m.rung", model, config))
    with pytest.raises(ValueError, match=r"rows of shape \(4,\), got rows of shape \(3,\)"):
        predictor.predict(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"got shape \(1, 2, 4\)"):
        predictor.predict(torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="predict needs numbers"):
        predictor.predict([["a", "b", "c", "d"]])


def test_config_problems_are_model_file_errors(tmp_path):
    model = build_model("mlp", n_in=2, n_out=2, layers=[3])
    cases = [
        ({"task": "classification"}, "has no 'kind'"),
        ({"kind": "imagee", "task": "classification"}, "Did you mean 'image'"),
        ({"kind": "tensor", "task": "segmentation"}, "its task is 'segmentation'"),
        ({"kind": "tensor", "task": "regression", "y_range": [1, 0]}, r"y_range \[1, 0\]"),
        ({"kind": "tensor", "task": "classification", "classes": ["a"]}, "names 1 classes"),
        ({"kind": "tensor", "task": "regression", "input_dtype": "float65"}, "float65"),
    ]
    for config, message in cases:
        path = save_model_file(tmp_path / "m.rung", model, config)
        with pytest.raises(ModelFileError, match=message):
            load(path).predict([0.0, 1.0])


def test_kinds_dispatch_to_the_apps_and_a_missing_app_says_what_to_install(tmp_path, monkeypatch):
    assert kinds()["image"][:2] == ("rung.vision.predict", "ImagePredictor")
    assert kinds()["tabular"][:2] == ("rung.tabular.predict", "TabularPredictor")
    monkeypatch.setitem(KINDS, "sound", ("rung.sound_app", "SoundPredictor", "rung[sound]"))
    model = build_model("mlp", n_in=2, n_out=2, layers=[3])
    path = save_model_file(tmp_path / "m.rung", model, {"kind": "sound", "task": "regression"})
    with pytest.raises(
        ModelFileError, match=r"needs rung's sound support.*pip install -U 'rung\[sound\]'"
    ):
        load(path)
    monkeypatch.setitem(KINDS, "sound", ("rung.predictor", "SoundPredictor", "rung"))
    with pytest.raises(ModelFileError, match="rung.predictor has no SoundPredictor"):
        load(path)


def test_config_values_of_the_wrong_type_are_model_file_errors_at_load(tmp_path):
    """A stranger's config: before, each raised TypeError (or split a string into classes)
    from deep inside load or predict instead of naming the bad value."""
    model = build_model("mlp", n_in=2, n_out=2, layers=[3])
    cases = [
        ({"kind": ["tensor"]}, r"its kind \['tensor'\] is not a string"),
        ({"kind": "tensor", "task": ["classification"]}, r"its task is \['classification'\]"),
        ({"y_range": 1}, "its y_range 1 is not"),
        ({"y_range": [0, "one"]}, r"its y_range \[0, 'one'\] is not"),
        ({"input_shape": 2}, "its input_shape 2 is not"),
        ({"input_shape": [2, -1]}, r"its input_shape \[2, -1\] is not"),
        ({"classes": "ab"}, "its classes 'ab' are not a list"),
        ({"classes": [["a"], "b"]}, r"its classes \[\['a'\], 'b'\] are not a list"),
    ]
    for changes, message in cases:
        config = {"kind": "tensor", "task": "regression", **changes}
        path = save_model_file(tmp_path / "m.rung", model, config)
        with pytest.raises(ModelFileError, match=message):
            load(path)


def test_an_input_dtype_is_a_dtype_name_and_imports_nothing(tmp_path):
    """Before: input_dtype was looked up with getattr(torch, name), so "_dynamo" imported
    torch._dynamo (4 s) before being refused."""
    model = build_model("mlp", n_in=2, n_out=1, layers=[3])
    config = {"kind": "tensor", "task": "regression", "input_dtype": "_dynamo"}
    path = save_model_file(tmp_path / "m.rung", model, config)
    done = run_python(
        "import sys, rung\n"
        "from rung.modelfile import ModelFileError\n"
        "try:\n"
        f"    rung.load({str(path)!r})\n"
        "except ModelFileError as e:\n"
        "    print(e)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    message, imported = done.stdout.splitlines()
    assert "its input_dtype '_dynamo' is not a torch dtype name" in message
    assert "float32" in message and imported == "False"


def test_one_output_without_class_names_is_the_logit_of_class_1(tmp_path):
    """A binary classifier with one output and no ``classes`` in its config predicts both
    classes (0 and 1) by its sigmoid, not a softmax over one column (always class 0)."""
    model = build_model("mlp", n_in=1, n_out=1, layers=[])
    with torch.no_grad():  # a logit of 4x - 1: class 1 for x above 0.25
        model[0].weight.fill_(4.0), model[0].bias.fill_(-1.0)
    path = save_model_file(tmp_path / "m.rung", model, {"kind": "tensor", "task": "classification"})
    predictor = load(path)
    with torch.no_grad():
        raw = predictor.model(torch.tensor([[-3.0], [3.0]])).squeeze(1)
    result = predictor.predict([[-3.0], [3.0]])
    expected = (raw > 0).long().tolist()
    assert list(result.indices) == expected and result.classes == [0, 1]
    np.testing.assert_allclose(result.probs[:, 1], torch.sigmoid(raw).numpy(), atol=1e-6)
