"""The model file: round trip in a fresh process, its contents, atomic writes, and every way a
bad file is refused (never unpickled)."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_python
from safetensors.torch import load_file, save_file

from rung.modelfile import (
    CONFIG_NAME,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    ModelFileError,
    load_model_file,
    read_model_config,
    read_model_file,
    save_model_file,
)
from rung.models.registry import build_model, register_model
from rung.utils import atomic_write


@pytest.fixture
def model() -> torch.nn.Module:
    """An MLP with batchnorm whose running statistics moved (buffers, incl. an int64 counter)."""
    torch.manual_seed(0)
    model = build_model("mlp", n_in=6, n_out=3, layers=[16, 8], batchnorm=True, dropout=0.1)
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(32, 6) * 3 + 1)  # train mode: updates running mean/var
    return model.eval()


@pytest.fixture
def saved(tmp_path: Path, model: torch.nn.Module) -> Path:
    config = {"task": "classification", "kind": "tensor", "classes": ["a", "b", "c"]}
    return save_model_file(tmp_path / "model.rung", model, config)


def rewrite(path: Path, members: dict[str, bytes]) -> Path:
    """Write a zip holding exactly ``members`` at ``path``."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def members_of(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def with_config(path: Path, **changes) -> Path:
    members = members_of(path)
    config = json.loads(members[CONFIG_NAME])
    config.update(changes)
    members[CONFIG_NAME] = json.dumps(config).encode()
    return rewrite(path, members)


def test_a_fresh_process_loads_the_file_and_predicts_identically(tmp_path, model, saved):
    x = torch.randn(64, 6)  # (B, n_in); both sides use torch-allocated (aligned) copies of it
    save_file({"x": x}, tmp_path / "x.safetensors")
    run_python(
        "import sys, torch\n"
        "from safetensors.torch import load_file, save_file\n"
        "from rung.modelfile import load_model_file\n"
        f"model, config = load_model_file({str(saved)!r})\n"
        f"x = load_file({str(tmp_path / 'x.safetensors')!r})['x'].clone()\n"
        "with torch.no_grad():\n"
        f"    save_file({{'out': model(x)}}, {str(tmp_path / 'out.safetensors')!r})\n"
        "assert 'rung.learner' not in sys.modules\n"
    )
    with torch.no_grad():
        expected = model(x)
    assert torch.equal(load_file(tmp_path / "out.safetensors")["out"], expected)


def test_the_file_is_a_zip_of_exactly_weights_and_a_readable_config(tmp_path, model):
    metrics = {"accuracy": np.float32(0.875), "loss": float("nan")}
    path = save_model_file(
        tmp_path / "m.rung",
        model,
        {"task": "classification", "classes": ["a", "b", "c"], "metrics": metrics, "y": (1, 2)},
    )
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == sorted([WEIGHTS_NAME, CONFIG_NAME])
        config = json.loads(zf.read(CONFIG_NAME).decode("utf-8"))  # strict JSON: no NaN
    assert config["format_version"] == FORMAT_VERSION == 1
    assert config["rung_version"] == __import__("rung").__version__
    assert config["model"] == {
        "name": "mlp",
        "kwargs": {"n_in": 6, "n_out": 3, "layers": [16, 8], "batchnorm": True, "dropout": 0.1},
    }
    assert config["task"] == "classification" and config["classes"] == ["a", "b", "c"]
    assert config["metrics"] == {"accuracy": 0.875, "loss": None} and config["y"] == [1, 2]
    assert read_model_config(path) == config
    _, state = read_model_file(path)
    assert state.keys() == model.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert state["1.num_batches_tracked"].dtype == torch.int64


@register_model("test_export_tied")
def tied_model(vocab: int, dim: int) -> torch.nn.Module:
    """Embedding and output layer share one weight; a non-contiguous buffer on top."""
    model = torch.nn.Sequential(torch.nn.Embedding(vocab, dim), torch.nn.Linear(dim, vocab))
    model[1].weight = model[0].weight  # tied: (vocab, dim) both
    model.register_buffer("transposed", torch.arange(12.0).reshape(3, 4).t())  # a view, (4, 3)
    return model


def test_shared_and_non_contiguous_tensors_are_saved_and_ties_survive(tmp_path):
    torch.manual_seed(0)
    model = build_model("test_export_tied", vocab=10, dim=4)
    path = save_model_file(tmp_path / "tied.rung", model)
    loaded, _ = load_model_file(path)
    assert loaded[1].weight is loaded[0].weight
    assert torch.equal(loaded[0].weight, model[0].weight)
    assert torch.equal(loaded.transposed, model.transposed)
    tokens = torch.tensor([[1, 2, 3]])
    assert torch.equal(loaded(tokens), model(tokens))


def test_a_model_not_built_by_the_registry_needs_a_spec(tmp_path):
    plain = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    with pytest.raises(ValueError, match="wasn't built by rung.models.build_model"):
        save_model_file(tmp_path / "m.rung", plain)
    spec = {"name": "mlp", "kwargs": {"n_in": 3, "n_out": 1, "layers": [4]}}
    loaded, config = load_model_file(save_model_file(tmp_path / "m.rung", plain, spec=spec))
    x = torch.randn(5, 3)
    assert torch.equal(loaded(x), plain(x))
    with pytest.raises(ValueError, match=r"\['format_version'\] are written by save_model_file"):
        save_model_file(tmp_path / "m.rung", plain, {"format_version": 3}, spec=spec)


def test_a_failed_save_leaves_the_old_file_and_no_temporary_file(tmp_path, model, saved):
    before = saved.read_bytes()
    with pytest.raises(ValueError, match=r"config\['preprocessing'\]\['fn'\].*can't be written"):
        save_model_file(saved, model, {"preprocessing": {"fn": lambda x: x}})

    def dies_halfway(f):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(saved, dies_halfway)
    assert saved.read_bytes() == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["model.rung"]
    load_model_file(saved)  # still a good file

    saved.chmod(0o640)
    save_model_file(saved, model, {"task": "regression"})  # a good save does replace it
    assert saved.stat().st_mode & 0o777 == 0o640  # keeping the old file's permissions
    assert read_model_config(saved)["task"] == "regression"
    assert sorted(p.name for p in saved.parent.iterdir()) == ["model.rung"]


def test_missing_empty_and_folder_paths(tmp_path):
    with pytest.raises(ModelFileError, match="nope.rung: no such file"):
        load_model_file(tmp_path / "nope.rung")
    (tmp_path / "empty.rung").write_bytes(b"")
    with pytest.raises(ModelFileError, match="the file is empty"):
        load_model_file(tmp_path / "empty.rung")
    with pytest.raises(ModelFileError, match="a folder, not a model file"):
        load_model_file(tmp_path)


def test_random_bytes_and_truncated_files(tmp_path, saved):
    junk = tmp_path / "junk.rung"
    junk.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(ModelFileError, match="not a zip archive") as e:
        load_model_file(junk)
    assert str(junk) in str(e.value) and "save_model_file" in str(e.value)

    truncated = tmp_path / "truncated.rung"
    truncated.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="truncated or damaged.*Copy the file again"):
        load_model_file(truncated)


def test_damaged_weights_fail_their_checksum(tmp_path, saved):
    data = bytearray(saved.read_bytes())
    start = data.find(b"__metadata__")  # inside the stored (uncompressed) safetensors member
    data[start + 400] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=f"its {WEIGHTS_NAME} can't be read.*CRC"):
        load_model_file(saved)


def test_foreign_files_are_recognised_and_never_unpickled(tmp_path, model):
    pt = tmp_path / "model.pt"
    torch.save(model.state_dict(), pt)  # a zip holding data.pkl: what fastai's .pkl also is
    with pytest.raises(ModelFileError, match="lacks.*PyTorch checkpoint.*never unpickles"):
        load_model_file(pt)

    pkl = tmp_path / "export.pkl"
    pkl.write_bytes(pickle.dumps({"model": "weights"}))
    with pytest.raises(ModelFileError, match="not a zip archive.*looks like a Python pickle"):
        load_model_file(pkl)

    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, bare)
    with pytest.raises(ModelFileError, match="bare safetensors file"):
        load_model_file(bare)

    only_config = rewrite(tmp_path / "half.rung", {CONFIG_NAME: b"{}"})
    with pytest.raises(ModelFileError, match=r"lacks \['model.safetensors'\]"):
        load_model_file(only_config)


class _LeavesAMark:
    """Unpickling this creates a file: proof that something was unpickled."""

    def __init__(self, mark: Path) -> None:
        self.mark = mark

    def __reduce__(self):
        return (open, (str(self.mark), "w"))


def test_weights_replaced_by_a_pickle_are_rejected_without_running_it(tmp_path, saved):
    mark = tmp_path / "unpickled.txt"
    for payload in (pickle.dumps(_LeavesAMark(mark)), _torch_save_bytes(_LeavesAMark(mark))):
        members = members_of(saved)
        members[WEIGHTS_NAME] = payload
        rewrite(saved, members)
        with pytest.raises(ModelFileError, match="not valid safetensors.*never loads"):
            load_model_file(saved)
        assert not mark.exists()
    assert pickle.loads(pickle.dumps(_LeavesAMark(mark))) and mark.exists()  # the trap works


def _torch_save_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_bad_json_and_unknown_format_versions(tmp_path, saved):
    members = members_of(saved)
    rewrite(saved, {**members, CONFIG_NAME: b'{"format_version": 1,'})
    with pytest.raises(ModelFileError, match="config.json is not valid JSON"):
        load_model_file(saved)
    rewrite(saved, {**members, CONFIG_NAME: b"[1, 2]"})
    with pytest.raises(ModelFileError, match="holds a list, not a JSON object"):
        load_model_file(saved)

    rewrite(saved, members)
    with_config(saved, format_version=FORMAT_VERSION + 1, rung_version="9.0.0")
    with pytest.raises(ModelFileError, match="made by a newer rung.*9.0.0.*pip install -U rung"):
        load_model_file(saved)
    for version in ("1", None, 0, True):
        with_config(saved, format_version=version)
        with pytest.raises(ModelFileError, match="format_version"):
            read_model_config(saved)
    with_config(saved, format_version=1, model="mlp")
    with pytest.raises(ModelFileError, match="no model spec"):
        load_model_file(saved)


def test_an_unknown_model_name_names_the_known_ones(saved):
    with_config(saved, model={"name": "mlpp", "kwargs": {}})
    with pytest.raises(ModelFileError, match="model this rung can't build.*'mlpp'.*'mlp'"):
        load_model_file(saved)
    with_config(saved, model={"name": "mlp", "kwargs": {"n_in": 6, "n_out": 3, "depth": 2}})
    with pytest.raises(ModelFileError, match="doesn't build here.*depth"):
        load_model_file(saved)


def test_a_state_dict_that_does_not_fit_lists_keys_and_shapes(saved):
    kwargs = {"n_in": 6, "n_out": 3, "batchnorm": True, "dropout": 0.1}
    with_config(saved, model={"name": "mlp", "kwargs": {**kwargs, "layers": [16, 9]}})
    with pytest.raises(ModelFileError, match="shape mismatches") as e:
        load_model_file(saved)
    assert "4.weight: file (8, 16) vs model (9, 16)" in str(e.value)
    assert "missing keys" not in str(e.value)

    with_config(saved, model={"name": "mlp", "kwargs": {**kwargs, "layers": [16, 8, 4]}})
    with pytest.raises(ModelFileError, match="missing keys") as e:
        load_model_file(saved)
    message = str(e.value)
    assert "7 missing keys (9.weight, 9.bias, 9.running_mean" in message  # 9: new BatchNorm
    assert ", ...)" in message and "12.bias" not in message  # the first 5 of 7 are named
    assert "shape mismatches (8.weight: file (3, 8) vs model (4, 8)" in message
    assert "unexpected keys" not in message

    with_config(saved, model={"name": "mlp", "kwargs": {**kwargs, "layers": [16]}})
    with pytest.raises(ModelFileError, match=r"7 unexpected keys \(5.bias, 5.num_batches_tracked"):
        load_model_file(saved)
