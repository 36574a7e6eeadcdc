"""A plain multi-layer perceptron, registered as "mlp".

Each hidden layer is Linear -> (BatchNorm1d) -> activation -> (Dropout); the last layer is a bare
Linear giving ``n_out`` raw outputs (logits for classification, values for regression).

>>> from rung.models.registry import build_model
>>> build_model("mlp", n_in=12, n_out=2, layers=[10, 10])
Sequential(
  (0): Linear(in_features=12, out_features=10, bias=True)
  (1): ReLU()
  (2): Linear(in_features=10, out_features=10, bias=True)
  (3): ReLU()
  (4): Linear(in_features=10, out_features=2, bias=True)
)
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from torch import nn

from rung.models.registry import register_model

__all__ = ["mlp", "ACTIVATIONS"]

# activation name (as stored in the model file's spec) -> module class
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


@register_model("mlp")
def mlp(
    n_in: int,
    n_out: int,
    layers: Sequence[int] = (200, 100),
    act: str = "relu",
    dropout: float = 0.0,
    batchnorm: bool = False,
) -> nn.Sequential:
    """An MLP from ``n_in`` inputs through hidden ``layers`` to ``n_out`` outputs.

    Input (B, n_in) -> output (B, n_out). ``act`` names the activation (see ``ACTIVATIONS``);
    ``dropout`` is applied after each hidden activation; ``batchnorm`` adds a BatchNorm1d
    after each hidden Linear.

    >>> import torch
    >>> mlp(3, 1, layers=[4], dropout=0.1, batchnorm=True)(torch.zeros(5, 3)).shape
    torch.Size([5, 1])
    """
    _check_positive_int("n_in", n_in)
    _check_positive_int("n_out", n_out)
    for i, size in enumerate(layers):
        _check_positive_int(f"layers[{i}]", size)
    if act not in ACTIVATIONS:
        close = difflib.get_close_matches(str(act), ACTIVATIONS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown activation {act!r}; choose from {list(ACTIVATIONS)}.{hint}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout is a probability in [0, 1), got {dropout}.")

    modules: list[nn.Module] = []
    sizes = [n_in, *layers]
    for size_in, size_out in zip(sizes[:-1], sizes[1:]):
        modules.append(nn.Linear(size_in, size_out))
        if batchnorm:
            modules.append(nn.BatchNorm1d(size_out))
        modules.append(ACTIVATIONS[act]())
        if dropout > 0:
            modules.append(nn.Dropout(dropout))
    modules.append(nn.Linear(sizes[-1], n_out))
    return nn.Sequential(*modules)


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}.")
