"""Models by name: specs that rebuild them, lazy builder lookup, errors that name the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rung.models import registry
from rung.models.mlp import ACTIVATIONS
from rung.models.registry import (
    UnknownModelError,
    build_model,
    json_ready,
    list_models,
    model_spec,
    rebuild_model,
    register_model,
    unwrap_model,
)

ROOT = Path(__file__).resolve().parents[2]


def test_build_attaches_a_json_spec_that_rebuilds_the_same_architecture():
    model = build_model("mlp", n_in=5, n_out=3, layers=(8, 4), batchnorm=True)
    assert model_spec(model) == {
        "name": "mlp",
        "kwargs": {"n_in": 5, "n_out": 3, "layers": [8, 4], "batchnorm": True},
    }
    again = rebuild_model(model_spec(model))
    assert model_spec(again) == model_spec(model)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in again.state_dict().items()} == shapes
    assert shapes["0.weight"] == (8, 5) and shapes["6.weight"] == (3, 4)


def test_numpy_kwargs_are_stored_as_plain_json():
    np = pytest.importorskip("numpy")
    model = build_model("mlp", n_in=np.int64(4), n_out=2, layers=np.array([3]))
    assert model_spec(model)["kwargs"] == {"n_in": 4, "n_out": 2, "layers": [3]}
    assert type(model_spec(model)["kwargs"]["n_in"]) is int


def test_kwargs_that_are_not_json_are_refused_with_their_name():
    with pytest.raises(ValueError, match=r"\['act'\].*can't be written as JSON"):
        build_model("mlp", n_in=3, n_out=1, act=torch.nn.ReLU)
    with pytest.raises(ValueError, match="JSON keys are strings"):
        json_ready({1: "a"}, "config")


def test_unknown_name_lists_the_known_ones_and_the_closest():
    with pytest.raises(UnknownModelError, match=r"no model is registered as 'mpl'") as e:
        build_model("mpl", n_in=3, n_out=1)
    assert "'mlp'" in str(e.value) and "Did you mean 'mlp'?" in str(e.value)


def test_a_table_entry_whose_module_is_missing_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(registry._BUILDER_MODULES, "ghost", "rung.models.ghost_models")
    assert "ghost" not in list_models()  # only names whose module exists are listed
    with pytest.raises(UnknownModelError, match=r"rung.models.ghost_models.*pip install -U rung"):
        build_model("ghost")


def test_list_models_is_sorted_and_holds_the_table_entries_that_exist():
    names = list_models()
    assert names == sorted(names) and "mlp" in names
    assert registry.builder_modules()["timm"] == "rung.vision.models"  # apps: entry points
    assert registry.builder_modules()["tabular"] == "rung.tabular.models"
    assert {"timm", "tabular", "tabular_trees"} <= set(names)


def test_a_fresh_process_finds_the_builder_from_the_name_alone():
    code = (
        "import sys\n"
        "from rung.models.registry import build_model\n"
        "assert 'rung.models.mlp' not in sys.modules\n"
        "m = build_model('mlp', n_in=2, n_out=1, layers=[3])\n"
        "assert 'rung.models.mlp' in sys.modules\n"
        "print(type(m).__name__, sum(p.numel() for p in m.parameters()))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Sequential", str(2 * 3 + 3 + 3 + 1)]


def test_registering_a_taken_name_fails_and_on_load_overrides_apply_only_on_rebuild():
    @register_model("test_registry_scaled")
    def scaled(n: int, pretrained: bool = True) -> torch.nn.Module:
        layer = torch.nn.Linear(n, n)
        layer.pretrained_flag = pretrained
        return layer

    with pytest.raises(ValueError, match="already registered"):

        @register_model("mlp")
        def another_mlp(n_in: int) -> torch.nn.Module:
            return torch.nn.Linear(n_in, 1)

    @register_model("test_registry_weights", on_load={"pretrained": False})
    def with_weights(n: int, pretrained: bool = True) -> torch.nn.Module:
        return scaled(n, pretrained)

    built = build_model("test_registry_weights", n=2, pretrained=True)
    assert built.pretrained_flag is True
    rebuilt = rebuild_model(model_spec(built))
    assert rebuilt.pretrained_flag is False  # weights come from the file, never downloaded
    assert model_spec(rebuilt) == {
        "name": "test_registry_weights",
        "kwargs": {"n": 2, "pretrained": True},
    }


def test_builders_must_return_modules_and_bad_kwargs_name_the_model():
    @register_model("test_registry_not_a_module")
    def not_a_module() -> int:
        return 3

    with pytest.raises(TypeError, match="returned int, not a torch.nn.Module"):
        build_model("test_registry_not_a_module")
    with pytest.raises(TypeError, match="building model 'mlp'.*n_hidden"):
        build_model("mlp", n_in=2, n_out=1, n_hidden=3)
    with pytest.raises(ValueError, match="a model spec is"):
        rebuild_model({"kwargs": {}})


def test_model_spec_looks_through_wrappers_and_is_none_for_plain_modules():
    model = build_model("mlp", n_in=2, n_out=1)
    wrapped = torch.nn.DataParallel(model)
    assert unwrap_model(wrapped) is model
    assert model_spec(wrapped) == model_spec(model)
    assert model_spec(torch.nn.Linear(2, 1)) is None


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("batchnorm,dropout", [(False, 0.0), (True, 0.2)])
def test_mlp_forward_and_backward(act: str, batchnorm: bool, dropout: float):
    torch.manual_seed(0)
    model = build_model(
        "mlp", n_in=6, n_out=3, layers=[5, 4], act=act, dropout=dropout, batchnorm=batchnorm
    )
    x = torch.randn(8, 6)  # (B, n_in)
    out = model(x)
    assert out.shape == (8, 3)
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    n_layers = sum(isinstance(m, torch.nn.Linear) for m in model)
    assert n_layers == 3
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in model) == (2 if batchnorm else 0)
    assert sum(isinstance(m, torch.nn.Dropout) for m in model) == (2 if dropout else 0)


def test_mlp_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown activation 'rleu'.*Did you mean 'relu'"):
        build_model("mlp", n_in=2, n_out=1, act="rleu")
    with pytest.raises(ValueError, match=r"layers\[1\] must be a positive whole number, got 0"):
        build_model("mlp", n_in=2, n_out=1, layers=[3, 0])
    with pytest.raises(ValueError, match="dropout is a probability"):
        build_model("mlp", n_in=2, n_out=1, dropout=1.5)
    assert len(build_model("mlp", n_in=2, n_out=1, layers=[])) == 1  # plain linear model
