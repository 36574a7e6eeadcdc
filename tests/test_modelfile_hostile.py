"""Model files from a stranger: a file may declare any model, compress anything, name anything
and sit anywhere; loading it must cost about what the file really holds and fail with one
ModelFileError. Each hostile file here is made small (streamed into the zip), and each test
failed on the loader before it checked what the file declares."""

from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from rung.modelfile import (
    CONFIG_NAME,
    MAX_CONFIG_BYTES,
    WEIGHTS_NAME,
    ModelFileError,
    load_model_file,
    read_model_config,
    save_model_file,
)
from rung.models.registry import build_model, register_model

ROOT = Path(__file__).resolve().parents[1]
ITEMSIZE = {"F32": 4, "F64": 8, "I64": 8}
TINY = {"0.weight": ("F32", (2, 3)), "0.bias": ("F32", (2,))}  # a 3 -> 2 Linear's weights


def mlp_config(n_in: int, layers: list[int], n_out: int = 2) -> dict:
    kwargs = {"n_in": n_in, "n_out": n_out, "layers": layers}
    return {"model": {"name": "mlp", "kwargs": kwargs}, "kind": "tensor", "task": "regression"}


def craft(
    path: Path,
    config: dict,
    tensors: dict[str, tuple[str, tuple[int, ...]]],
    *,
    fill: bytes = b"\0",
    deflate_weights: bool = False,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """A model file with this config and these declared tensors (every byte ``fill``),
    streamed into the zip: the file never exists in memory uncompressed."""
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        size = ITEMSIZE[dtype] * int(torch.tensor(shape).prod()) if shape else ITEMSIZE[dtype]
        header[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with zipfile.ZipFile(path, "w") as zf:
        config = {"format_version": 1, "rung_version": "0.1.0", **config}
        zf.writestr(CONFIG_NAME, json.dumps(config), compress_type=zipfile.ZIP_DEFLATED)
        info = zipfile.ZipInfo(WEIGHTS_NAME)
        info.compress_type = zipfile.ZIP_DEFLATED if deflate_weights else zipfile.ZIP_STORED
        with zf.open(info, "w", force_zip64=True) as f:
            f.write(struct.pack("<Q", len(head)) + head)
            chunk, left = fill * 2**20, offset
            while left:
                f.write(chunk[: min(left, len(chunk))])
                left -= min(left, len(chunk))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter (this checkout's rung), its address space capped at
    8 GB so a loader that runs away fails instead of taking the machine."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))

    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout, preexec_fn=cap,
    )  # fmt: skip


def test_files_declaring_huge_models_are_refused_before_allocating_them(tmp_path):
    """Before: each of these grew the process by the model it declared (144 MB to 4.9 GB)
    before failing, or failed with torch's allocator message."""
    files = {
        "wide_mlp": craft(tmp_path / "wide.rung", mlp_config(6000, [6000]), TINY),
        "trillion": craft(tmp_path / "trillion.rung", mlp_config(3, [10**12]), TINY),
        "embedding": craft(
            tmp_path / "emb.rung",
            {
                "model": {
                    "name": "tabular",
                    "kwargs": {"emb_szs": [[10**7, 4]], "n_cont": 1, "n_out": 2},
                }
            },
            TINY,
        ),
        "vit": craft(
            tmp_path / "vit.rung",
            {"model": {"name": "timm", "kwargs": {"arch": "vit_base_patch16_224", "n_classes": 2}}},
            TINY,
        ),
    }
    code = (
        "import json, resource, timm, torch, rung.vision.models, rung.tabular.models\n"
        "from rung.modelfile import load_model_file, ModelFileError\n"
        "torch.nn.Linear(3, 3)  # warm up torch's allocator and modules\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "out = {}\n"
        f"for name, path in {json.dumps({k: str(v) for k, v in files.items()})}.items():\n"
        "    try:\n"
        "        load_model_file(path)\n"
        "        out[name] = 'loaded'\n"
        "    except ModelFileError as e:\n"
        "        out[name] = str(e)\n"
        "out['grew_mb'] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024\n"
        "print(json.dumps(out))\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.splitlines()[-1])
    for name in files:
        assert "declares a model of" in out[name] and "holds weights for 8;" in out[name], out[name]
        assert "damaged or was not written by rung" in out[name]
    assert "36,018,002 parameters" in out["wide_mlp"]  # 6000*6000 + 6000 + 6000*2 + 2
    assert out["grew_mb"] < 60, out


def test_a_model_whose_builder_fails_on_the_meta_device_is_still_checked_first(tmp_path):
    x = torch.randn(4, 5)
    model = build_model("test_no_meta", width=5)
    loaded, _ = load_model_file(save_model_file(tmp_path / "ok.rung", model))
    assert torch.equal(loaded(x), model.eval()(x))  # built for real, on the CPU, within budget

    spec = {"name": "test_no_meta", "kwargs": {"width": 6000}}  # 144 MB if built for real
    craft(tmp_path / "big.rung", {"model": spec}, {"linear.weight": ("F32", (5, 5))})
    with pytest.raises(ModelFileError, match="declares a model of more than .* parameters"):
        load_model_file(tmp_path / "big.rung")


@register_model("test_no_meta")
def no_meta_model(width: int) -> torch.nn.Module:
    """A builder that reads a tensor's value while building: impossible on the meta device."""
    steps = int(torch.arange(3).sum().item())  # .item() raises on meta tensors
    model = torch.nn.Sequential()
    model.add_module("linear", torch.nn.Linear(width, width, bias=False))
    model.steps = steps
    return model


def test_a_spec_of_countless_small_layers_is_refused_after_a_few_thousand_tensors(tmp_path):
    """Before: 50,000 layers were built (1 GB of Python objects) before the weights were read;
    on the meta device they cost no tensor memory, but the modules themselves still do."""
    path = craft(tmp_path / "layers.rung", mlp_config(3, [1] * 50_000), TINY)
    with pytest.raises(
        ModelFileError, match=r"declares a model of more than 4,128 tensors but holds 2;"
    ):
        load_model_file(path)


def test_weights_that_fit_but_inflate_far_beyond_the_file_are_refused(tmp_path):
    """Zeros that fit a declared 2000x2000 MLP, deflated 1000x: before, 16 MB read from a
    16 KB member (and 1.6 GB for a 20000-wide one)."""
    tensors = {
        "0.weight": ("F32", (2000, 2000)), "0.bias": ("F32", (2000,)),
        "2.weight": ("F32", (2, 2000)), "2.bias": ("F32", (2,)),
    }  # fmt: skip
    path = craft(tmp_path / "bomb.rung", mlp_config(2000, [2000]), tensors, deflate_weights=True)
    assert path.stat().st_size < 100_000
    with pytest.raises(ModelFileError, match=r"model.safetensors inflates .* times its compressed"):
        load_model_file(path)


def test_a_config_that_inflates_past_its_cap_is_refused_unread(tmp_path):
    """Before: `rung info` read a 1.5 GB config.json out of a 1.5 MB file (4.5 GB peak)."""
    path = tmp_path / "config_bomb.rung"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo(CONFIG_NAME)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w") as f:
            f.write(b'{"format_version": 1, "model": {"name": "mlp"}, "pad": "')
            for _ in range(MAX_CONFIG_BYTES // 2**20 + 1):
                f.write(b"a" * 2**20)
            f.write(b'"}')
        zf.writestr(WEIGHTS_NAME, b"")
    assert path.stat().st_size < MAX_CONFIG_BYTES // 100
    with pytest.raises(ModelFileError, match=r"config.json is [\d,]+ bytes.*limit of [\d,]+"):
        read_model_config(path)


def test_a_config_of_millions_of_small_values_is_refused_before_parsing(tmp_path):
    """Before: 3 million two-letter class names (15 MB, deflated to 15 KB) parsed into
    ~200 MB of Python strings; at the size cap, 13 million took a gigabyte."""
    path = tmp_path / "classes.rung"
    with zipfile.ZipFile(path, "w") as zf:
        classes = b'"ab",' * 3_000_000
        zf.writestr(CONFIG_NAME, b'{"format_version": 1, "classes": [' + classes + b'"ab"]}',
                    compress_type=zipfile.ZIP_DEFLATED)  # fmt: skip
        zf.writestr(WEIGHTS_NAME, b"")
    assert path.stat().st_size < 100_000
    with pytest.raises(ModelFileError, match=r"config.json holds more than 2,000,000 values"):
        read_model_config(path)


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../escape.txt", "path-like"),
        ("/etc/passwd", "path-like"),
        ("sub\\dir", "path-like"),
        ("notes.txt", r"unexpected members \['notes.txt'\]"),
        (CONFIG_NAME, "twice"),
    ],
)
def test_members_beyond_the_two_are_refused(tmp_path, name, message):
    path = craft(tmp_path / "m.rung", mlp_config(3, []), TINY, extra={name: b"{}"})
    with pytest.raises(ModelFileError, match=message):
        load_model_file(path)


def test_a_zip_of_many_members_is_refused_before_its_directory_is_read(tmp_path):
    path = craft(tmp_path / "m.rung", mlp_config(3, []), TINY)
    with zipfile.ZipFile(path, "a") as zf:
        for i in range(5000):
            zf.writestr(f"x{i}", b"")
    with pytest.raises(ModelFileError, match="holds 5,002 members; a model file holds 2"):
        read_model_config(path)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero and mkfifo")
def test_devices_pipes_and_huge_sparse_files_are_refused_without_reading(tmp_path):
    """Before: `rung info /dev/zero` grew to 14 GB and never returned; a pipe blocked forever."""
    os.mkfifo(tmp_path / "pipe.rung")
    sparse = tmp_path / "sparse.rung"
    with open(sparse, "wb") as f:
        f.truncate(2**40)  # a terabyte of holes: no disk used
    code = (
        "from rung.modelfile import read_model_config, ModelFileError\n"
        f"for path in ['/dev/zero', {str(tmp_path / 'pipe.rung')!r}, {str(sparse)!r}]:\n"
        "    try:\n"
        "        read_model_config(path)\n"
        "    except ModelFileError as e:\n"
        "        print(e)\n"
    )
    done = run_python(code, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    zero, pipe, big = done.stdout.splitlines()
    assert zero.startswith("/dev/zero: not a regular file (a character device)")
    assert "not a regular file (a pipe)" in pipe
    assert "1,099,511,627,776 bytes, over the limit" in big


def test_deeply_nested_or_non_standard_json_is_a_model_file_error(tmp_path):
    """Before: a RecursionError escaped from the API; NaN was read as a number."""
    path = craft(tmp_path / "m.rung", mlp_config(3, []), TINY)
    deep = (
        '{"format_version": 1, "model": {"name": "mlp"}, "x": '
        + "[" * 100_000
        + "]" * 100_000
        + "}"
    )
    for text, message in [
        (deep, "nested more than"),
        ('{"format_version": 1, "y_range": [NaN, 1]}', "NaN"),
    ]:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(CONFIG_NAME, text)
            zf.writestr(WEIGHTS_NAME, b"")
        with pytest.raises(ModelFileError, match=message):
            read_model_config(path)


def test_non_finite_weights_are_refused_at_load(tmp_path):
    """Before: NaN weights loaded, and predicted NaN probabilities with exit status 0."""
    for fill, what in [(b"\xff", "NaN"), (struct.pack("<f", float("inf")), "inf")]:
        path = craft(tmp_path / f"{what}.rung", mlp_config(3, []), TINY, fill=fill)
        with pytest.raises(
            ModelFileError, match=r"NaN or infinite values in 2 tensors \(0.bias, 0.weight\)"
        ):
            load_model_file(path)


def test_weights_of_the_wrong_kind_of_dtype_are_refused(tmp_path):
    """An int64 counter stored as floats is refused (before: silently converted); a float
    tensor stored in another float type still loads, converted."""
    kwargs = {"n_in": 3, "n_out": 2, "layers": [4], "batchnorm": True}
    state = build_model("mlp", **kwargs).state_dict()
    tensors = {
        k: ("F64" if v.is_floating_point() else "I64", tuple(v.shape)) for k, v in state.items()
    }
    config = {"model": {"name": "mlp", "kwargs": kwargs}}
    loaded, _ = load_model_file(craft(tmp_path / "f64.rung", config, tensors))
    assert loaded[0].weight.dtype == torch.float32
    tensors["1.num_batches_tracked"] = ("F32", ())
    craft(tmp_path / "f32_counter.rung", config, tensors)
    with pytest.raises(ModelFileError, match=r"1.num_batches_tracked: file float32 vs model int64"):
        load_model_file(tmp_path / "f32_counter.rung")
