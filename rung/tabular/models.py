"""Models for tables, each taking ``(cats, conts)`` batches, registered by name (each class is
its own builder: ``build_model("tabular", ...)`` calls ``TabularModel(...)``).

- ``"tabular"``: fastai's TabularModel: one embedding per categorical column (concatenated, with
  embedding dropout), BatchNorm on the continuous columns, then Linear -> ReLU -> BatchNorm ->
  Dropout blocks and a final Linear; for regression an optional ``y_range`` squashes the output
  with a scaled sigmoid. Output (B, n_out): logits, or values.
- ``"tabular_linear"``: a linear (logistic) model: a one-hot encoding of each categorical times
  a weight matrix is an embedding lookup of width ``n_out``, plus a Linear on the continuous
  columns. Output logits (classification) or values.
- ``"tabular_trees"`` (defined in :mod:`rung.tabular.trees`, imported here): a random
  forest or gradient-boosted trees stored as arrays, fitted by scikit-learn, predicted by
  tensor traversal.
- ``"tabular_ensemble"``: members of the kinds above, blended with weights.

Every module has an ``output`` attribute: ``"logits"`` (softmax gives probabilities),
``"probs"`` or ``"values"``, so an ensemble and a predictor know how to read its outputs.

>>> import torch
>>> from rung.models.registry import build_model
>>> net = build_model("tabular", emb_szs=[[3, 2], [4, 3]], n_cont=2, n_out=2, layers=[10, 10])
>>> cats, conts = torch.tensor([[1, 2], [2, 0]]), torch.randn(2, 2)
>>> net.eval()(cats, conts).shape, net.output
(torch.Size([2, 2]), 'logits')
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from rung.models.registry import build_model, model_spec, rebuild_model, register_model
from rung.tabular.trees import TreeEnsemble

__all__ = [
    "TabularModel",
    "TabularLinear",
    "TabularEnsemble",
    "TreeEnsemble",
    "ensemble_of",
    "to_probs",
    "as_float64",
    "predict_module",
    "OUTPUTS",
]

OUTPUTS = ("logits", "probs", "values")


def to_probs(out: torch.Tensor, output: str) -> torch.Tensor:
    """Class probabilities (B, C) from a module's outputs, by its ``output`` kind; regression
    values pass through unchanged.

    >>> to_probs(torch.zeros(1, 2), "logits").tolist()
    [[0.5, 0.5]]
    """
    if output == "logits":
        return torch.softmax(out.double(), dim=-1)
    if output in ("probs", "values"):
        return out.double()
    raise ValueError(f"output must be one of {list(OUTPUTS)}, got {output!r}.")


@register_model("tabular")
class TabularModel(nn.Module):
    """fastai's tabular net: embeddings (``emb_szs``: ``[n_codes, width]`` per categorical,
    e.g. ``TabularData.embedding_sizes``) and ``n_cont`` continuous inputs, hidden ``layers``
    (fastai's default ``[200, 100]``; the course uses ``[10, 10]`` for Titanic), dropout ``ps``
    per layer, ``embed_p`` embedding dropout, and ``y_range`` (low, high) for regression.

    Input: ``cats`` (B, n_cat) int64 codes and ``conts`` (B, n_cont) float32.
    Output: (B, n_out) logits (classification) or values (regression).

    >>> m = TabularModel(emb_szs=[[4, 3]], n_cont=1, n_out=1, layers=[8], y_range=[0, 5],
    ...                  task="regression")
    >>> out = m.eval()(torch.tensor([[1], [3]]), torch.randn(2, 1))
    >>> bool(((out > 0) & (out < 5)).all()), m.output
    (True, 'values')
    """

    def __init__(
        self,
        emb_szs: Sequence[Sequence[int]],
        n_cont: int,
        n_out: int,
        layers: Sequence[int] = (200, 100),
        ps: float | Sequence[float] = 0.0,
        embed_p: float = 0.0,
        y_range: Sequence[float] | None = None,
        use_bn: bool = True,
        bn_cont: bool = True,
        task: str = "classification",
    ) -> None:
        super().__init__()
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {task!r}.")
        if not emb_szs and not n_cont:
            raise ValueError("a tabular model needs at least one categorical or continuous column.")
        ps = [float(ps)] * len(layers) if isinstance(ps, (int, float)) else [float(p) for p in ps]
        if len(ps) != len(layers):
            raise ValueError(f"ps has {len(ps)} dropout values for {len(layers)} layers.")
        self.embeds = nn.ModuleList(nn.Embedding(int(n), int(w)) for n, w in emb_szs)
        for emb in self.embeds:  # fastai's init: small embeddings, so no category starts loud
            nn.init.trunc_normal_(emb.weight, std=0.01, a=-0.02, b=0.02)
        self.emb_drop = nn.Dropout(embed_p)
        self.bn_cont = nn.BatchNorm1d(n_cont) if bn_cont and n_cont else None
        self.n_emb, self.n_cont = sum(int(w) for _, w in emb_szs), n_cont
        sizes = [self.n_emb + n_cont, *layers]
        blocks: list[nn.Module] = []
        for size_in, size_out, p in zip(sizes[:-1], sizes[1:], ps):
            # fastai's LinBnDrop with lin_first: Linear (no bias before BN) -> ReLU -> BN -> Dropout
            blocks += [nn.Linear(size_in, size_out, bias=not use_bn), nn.ReLU(inplace=True)]
            if use_bn:
                blocks.append(nn.BatchNorm1d(size_out))
            if p > 0:
                blocks.append(nn.Dropout(p))
        blocks.append(nn.Linear(sizes[-1], n_out))
        self.layers = nn.Sequential(*blocks)
        self.y_range = None if y_range is None else (float(y_range[0]), float(y_range[1]))
        self.output = "logits" if task == "classification" else "values"

    def forward(self, cats: torch.Tensor, conts: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.embeds:
            embs = [emb(cats[:, i]) for i, emb in enumerate(self.embeds)]  # each (B, width)
            parts.append(self.emb_drop(torch.cat(embs, dim=1)))  # (B, n_emb)
        if self.n_cont:
            parts.append(self.bn_cont(conts) if self.bn_cont is not None else conts)
        out = self.layers(torch.cat(parts, dim=1))  # (B, n_out)
        if self.y_range is not None:
            low, high = self.y_range
            out = torch.sigmoid(out) * (high - low) + low
        return out


@register_model("tabular_linear")
class TabularLinear(nn.Module):
    """A linear (logistic) model: ``cardinalities`` (codes per categorical column), ``n_cont``
    continuous columns, ``n_out`` outputs (classes, or 1 for regression).

    ``cats`` (B, n_cat), ``conts`` (B, n_cont) -> (B, n_out): one-hot(cats) @ W_cat +
    conts @ W_cont + bias, computed as embedding lookups of width ``n_out``.

    >>> TabularLinear([3, 4], n_cont=2, n_out=2)(torch.tensor([[0, 3]]), torch.zeros(1, 2)).shape
    torch.Size([1, 2])
    """

    def __init__(
        self, cardinalities: Sequence[int], n_cont: int, n_out: int, task: str = "classification"
    ) -> None:
        super().__init__()
        self.cat_weights = nn.ModuleList(nn.Embedding(int(n), n_out) for n in cardinalities)
        self.cont_weights = nn.Linear(n_cont, n_out, bias=False) if n_cont else None
        self.bias = nn.Parameter(torch.zeros(n_out))
        for weights in self.cat_weights:  # a linear model starts from zero (no opinion)
            nn.init.zeros_(weights.weight)
        if self.cont_weights is not None:
            nn.init.zeros_(self.cont_weights.weight)
        self.output = "logits" if task == "classification" else "values"

    def forward(self, cats: torch.Tensor, conts: torch.Tensor) -> torch.Tensor:
        out = self.bias.expand(len(cats), -1)  # (B, n_out)
        for i, weights in enumerate(self.cat_weights):
            out = out + weights(cats[:, i])
        if self.cont_weights is not None:
            # a product summed per row, not a matmul: BLAS may sum a row in another order
            # depending on where it sits in the batch, and a row's prediction must not
            # depend on its neighbours (even in the last bit)
            w = self.cont_weights.weight  # (n_out, n_cont)
            out = out + (conts.unsqueeze(1) * w).sum(-1)  # (B, n_out, n_cont) -> (B, n_out)
        return out


@register_model("tabular_ensemble")
class TabularEnsemble(nn.Module):
    """A weighted blend of tabular models: the mean of their probabilities (classification)
    or values (regression). ``members`` are specs (``{"name", "kwargs"}``, as ``model_spec``
    returns them), rebuilt here; their trained parameters come from the model file (or
    :func:`ensemble_of`). ``weights`` are normalised to sum to one.

    >>> spec = {"name": "tabular_linear", "kwargs": {"cardinalities": [3], "n_cont": 1, "n_out": 2}}
    >>> ens = TabularEnsemble([spec, spec], weights=[1, 1])
    >>> ens(torch.tensor([[1]]), torch.zeros(1, 1)).sum().item()
    1.0
    """

    def __init__(
        self,
        members: Sequence[dict[str, Any]],
        weights: Sequence[float],
        task: str = "classification",
    ) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member.")
        if len(weights) != len(members):
            raise ValueError(f"{len(weights)} weights for {len(members)} ensemble members.")
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"ensemble weights must be >= 0 with a positive sum, got {weights}.")
        self.members = nn.ModuleList(rebuild_model(spec) for spec in members)
        total = float(sum(weights))
        self.weights = [float(w) / total for w in weights]
        self.output = "probs" if task == "classification" else "values"

    def forward(self, cats: torch.Tensor, conts: torch.Tensor) -> torch.Tensor:
        out = None
        for weight, member in zip(self.weights, self.members):
            part = weight * to_probs(member(cats, conts), member.output)  # (B, n_out) float64
            out = part if out is None else out + part
        return out


def ensemble_of(
    models: Sequence[nn.Module],
    weights: Sequence[float] | None = None,
    task: str = "classification",
) -> TabularEnsemble:
    """An ensemble built from already-fitted registered models, their weights copied in.

    >>> a = build_model("tabular_linear", cardinalities=[3], n_cont=1, n_out=2)
    >>> ens = ensemble_of([a, a])
    >>> len(ens.members), ens.weights
    (2, [0.5, 0.5])
    """
    weights = [1.0] * len(models) if weights is None else list(weights)
    specs = [model_spec(m) for m in models]
    if any(s is None for s in specs):
        raise ValueError("ensemble members must be built with rung.models.build_model.")
    ens = build_model("tabular_ensemble", members=specs, weights=weights, task=task)
    for target, source in zip(ens.members, models):
        target.load_state_dict(source.state_dict())
    return ens.eval()


def as_float64(module: nn.Module) -> nn.Module:
    """A float64 copy of ``module`` on the CPU, in eval mode (itself if it already is one).

    Tabular models are small, and in float64 a row's prediction doesn't depend on which other
    rows share its batch (in float32 the last bits can): validation scores, a loaded model
    file and a scikit-learn estimator all give the same numbers for the same row.

    >>> m = build_model("tabular_linear", cardinalities=[3], n_cont=1, n_out=2)
    >>> as_float64(m).bias.dtype, m.bias.dtype
    (torch.float64, torch.float32)
    """
    floats = [t for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()]
    if all(t.dtype == torch.float64 and t.device.type == "cpu" for t in floats):
        return module.eval()
    return copy.deepcopy(module).cpu().double().eval()


def predict_module(
    module: nn.Module, cats: torch.Tensor, conts: torch.Tensor, batch_size: int = 4096
) -> np.ndarray:
    """Probabilities (N, C) or values (N,) as float64 from a tabular module, in batches, on
    the CPU and in float64 (:func:`as_float64`). The same function scores validation rows and
    serves a loaded model file.

    >>> m = build_model("tabular_linear", cardinalities=[3], n_cont=1, n_out=2)
    >>> predict_module(m, torch.tensor([[1], [2]]), torch.zeros(2, 1)).tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    """
    module = as_float64(module)
    conts = conts.double()
    outs = []
    with torch.inference_mode():
        for i in range(0, max(len(cats), 1), batch_size):
            out = module(cats[i : i + batch_size], conts[i : i + batch_size])
            outs.append(to_probs(out, module.output))
    preds = torch.cat(outs).numpy()
    return preds[:, 0] if module.output == "values" else preds
