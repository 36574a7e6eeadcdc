"""Build a model without trusting its size: on the meta device, under a tensor budget.

A model file's config declares the model (``{"name": "mlp", "kwargs": {"layers": [20000]}}``);
building it for real would allocate whatever it declares before anyone looks at the weights. So
the loader first builds it on PyTorch's ``meta`` device, where tensors have shapes and dtypes but
no memory, and compares that layout with the weights the file really holds; only a model that
fits them is built for real.

Even a meta build costs Python objects per module (a spec with two million layers is gigabytes
of ``nn.Linear``), and a builder may allocate on an explicit device. :class:`TensorBudget` caps
both: it sees every tensor operation (a ``TorchDispatchMode``), charges the size a factory call
asks for *before* it runs (``torch.empty(10**12)`` is refused, never attempted), charges the
fresh outputs of every other operation after it runs, and raises :class:`BudgetExceededError`
past its limits.

>>> from rung.models.registry import rebuild_model
>>> spec = {"name": "mlp", "kwargs": {"n_in": 20000, "n_out": 2, "layers": [20000]}}
>>> model = build_within(lambda: rebuild_model(spec), max_numel=10**9, max_tensors=100)
>>> state_numel(model), next(model.parameters()).device.type  # 400 million numbers, no memory
(400060002, 'meta')
>>> build_within(lambda: rebuild_model(spec), max_numel=10**6, max_tensors=100)
Traceback (most recent call last):
...
rung.models.meta.BudgetExceededError: building the model made more than 1,000,000 numbers ...
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

if TYPE_CHECKING:
    from rung.models.weights import Header

__all__ = [
    "BudgetExceededError",
    "DoesNotFitError",
    "TensorBudget",
    "build_within",
    "build_checked",
    "build_declared",
    "build_for_real",
    "state_numel",
    "layout_problems",
]

Layout = Mapping[str, tuple[torch.dtype, tuple[int, ...]]]  # state-dict key -> (dtype, shape)


class BudgetExceededError(MemoryError):
    """A build asked for more tensors or numbers than its budget allows. A MemoryError, not a
    RuntimeError or ValueError, so builders and callers that handle those don't swallow it.
    ``what`` is ``"numbers"`` or ``"tensors"``, ``limit`` the budget passed."""

    def __init__(self, message: str, what: str, limit: int) -> None:
        super().__init__(message)
        self.what, self.limit = what, limit


class DoesNotFitError(Exception):
    """The model built doesn't fit the weights: ``problems`` lists why, ``declared`` is the
    numbers the model holds, ``held`` the numbers in the weights. Not a ValueError, which a
    builder raises for bad arguments."""

    def __init__(self, problems: list[str], declared: int, held: int) -> None:
        super().__init__("; ".join(problems))
        self.problems, self.declared, self.held = problems, declared, held


class TensorBudget(TorchDispatchMode):
    """Counts the tensors (and their numbers) that operations create; raises
    :class:`BudgetExceededError` once ``max_tensors`` or ``max_numel`` is passed.

    Views and in-place results alias an input and cost nothing; everything else is a fresh
    tensor. Factory calls (``empty``, ``zeros``, ``full``, ``randn``... any operation with a
    ``size`` argument) are charged before they allocate.

    >>> with TensorBudget(max_numel=100, max_tensors=10) as budget:
    ...     x = torch.zeros(4, 5)
    ...     y = x.view(20).add_(1)  # a view and an in-place op: free
    >>> budget.numel, budget.tensors
    (20, 1)
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps a mode's __torch_dispatch__ so that torch.compile skips it, and the
        # wrapper imports torch._dynamo on first use: 4 s and 150 MB on every model load.
        # Nothing is compiled while a model is being built.
        return False

    def __init__(self, max_numel: int, max_tensors: int) -> None:
        super().__init__()
        self.max_numel, self.max_tensors = int(max_numel), int(max_tensors)
        self.numel = self.tensors = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        size = _size_argument(func, args, kwargs)
        if size is not None:
            self._charge(math.prod(max(int(d), 0) for d in size))  # before allocating
        out = func(*args, **kwargs)
        if size is None:
            for tensor in _fresh_outputs(func, out):
                self._charge(tensor.numel())
        return out

    def _charge(self, numel: int) -> None:
        self.numel += numel
        self.tensors += 1
        if self.numel > self.max_numel:
            raise BudgetExceededError(
                f"building the model made more than {self.max_numel:,} numbers "
                f"(at least {self.numel:,}).",
                "numbers",
                self.max_numel,
            )
        if self.tensors > self.max_tensors:
            raise BudgetExceededError(
                f"building the model made more than {self.max_tensors:,} tensors.",
                "tensors",
                self.max_tensors,
            )


def build_within(
    build: Callable[[], nn.Module], max_numel: int, max_tensors: int, device: str = "meta"
) -> nn.Module:
    """``build()`` with ``device`` as the default device, under a :class:`TensorBudget`.

    >>> m = build_within(lambda: nn.Linear(3, 2), max_numel=100, max_tensors=10)
    >>> m.weight.device.type, m.weight.shape
    ('meta', torch.Size([2, 3]))
    """
    with torch.device(device), TensorBudget(max_numel, max_tensors):
        return build()


def build_checked(build: Callable[[], nn.Module], found: Layout, max_listed: int = 5) -> nn.Module:
    """``build()`` on the meta device, checked against ``found``, the layout of the weights
    at hand: the same keys and shapes, dtypes of the same kind, and at most a little more in
    buffers the state dict leaves out. Raises :class:`DoesNotFitError` otherwise, and
    :class:`BudgetExceededError` if the build makes far more than ``found`` holds.

    A builder that can't run on the meta device (it reads a tensor's value while building) is
    built on the CPU instead, within a budget of what ``found`` holds, so nothing much bigger
    than the weights is ever allocated. Returns the model: on meta, or on the CPU if built
    there; :func:`build_for_real` gives a real one either way.

    >>> build_checked(lambda: nn.Linear(3, 2), {"weight": (torch.float32, (2, 3))})
    Traceback (most recent call last):
    ...
    rung.models.meta.DoesNotFitError: 1 missing keys (bias)
    """
    held, n_tensors = sum(math.prod(shape) for _, shape in found.values()), len(found)
    try:
        model = build_within(build, 8 * held + 2**26, 16 * n_tensors + 4096, "meta")
    except (RuntimeError, NotImplementedError):  # e.g. Tensor.item() on a meta tensor
        model = build_within(build, 8 * held + 2**20, 16 * n_tensors + 4096, "cpu")
    expected = {k: (v.dtype, tuple(v.shape)) for k, v in model.state_dict().items()}
    problems = layout_problems(expected, found, max_listed)
    declared = state_numel(model)
    if declared > held + max(2**24, held) and not problems:  # in non-persistent buffers
        problems = [f"{declared - held:,} numbers in buffers the weights don't hold"]
    if problems:
        raise DoesNotFitError(problems, declared, held)
    return model


def build_declared(
    build: Callable[[], nn.Module], header: Header, max_listed: int = 5
) -> nn.Module:
    """:func:`build_checked` against a safetensors header, its failures told as what a file
    declares against what it holds (:class:`~rung.models.untrusted.Refused`)."""
    from rung.models.untrusted import Refused
    from rung.models.weights import DTYPES

    found = {k: (getattr(torch, DTYPES[e.dtype][0]), e.shape) for k, e in header.entries.items()}
    try:
        return build_checked(build, found, max_listed)
    except BudgetExceededError as e:
        if e.what == "tensors":
            raise Refused(
                _declares(f"more than {e.limit:,}", len(found), "tensors") + "."
            ) from None
        raise Refused(_declares(f"more than {e.limit:,}", header.numel) + ".") from None
    except DoesNotFitError as e:
        what = "its weights don't fit the model its config describes"
        raise Refused(
            (_declares(f"{e.declared:,}", e.held) if e.declared > e.held else what)
            + ": " + "; ".join(e.problems) + ".",
            "The file was edited or written by code that changed the model after building it; "
            "export it again from the trained model.",
        ) from None  # fmt: skip


def _declares(amount: str, held: int, unit: str = "parameters") -> str:
    holds = f"holds weights for {held:,}" if unit == "parameters" else f"holds {held:,}"
    return (
        f"this model file declares a model of {amount} {unit} but {holds}; it is damaged or "
        "was not written by rung"
    )


def build_for_real(build: Callable[[], nn.Module], checked: nn.Module) -> nn.Module:
    """A real (CPU) model from :func:`build_checked`'s result: itself if it is one, else
    ``build()`` again on the CPU, within a budget of what the check found.

    >>> build_for_real(lambda: nn.Linear(3, 2), build_checked(lambda: nn.Linear(3, 2), {
    ...     "weight": (torch.float32, (2, 3)), "bias": (torch.float32, (2,))})).weight.device.type
    'cpu'
    """
    if not any(t.is_meta for t in (*checked.parameters(), *checked.buffers())):
        return checked
    n_tensors = len(checked.state_dict())
    return build_within(build, 8 * state_numel(checked) + 2**26, 16 * n_tensors + 4096, "cpu")


def state_numel(model: nn.Module) -> int:
    """Numbers in the model's parameters and buffers (shared ones counted once), including
    buffers the state dict leaves out (``persistent=False``): what building it allocates.

    >>> state_numel(nn.BatchNorm1d(3))  # weight, bias, running mean and var, the counter
    13
    """
    seen: dict[int, int] = {}
    for tensor in (*model.parameters(), *model.buffers()):
        seen[id(tensor)] = tensor.numel()
    return sum(seen.values())


def layout_problems(expected: Layout, found: Layout, max_listed: int = 5) -> list[str]:
    """What keeps ``found`` (a file's ``name -> (dtype, shape)``) from loading into a model
    whose state dict is laid out as ``expected``: missing and unexpected keys, wrong shapes,
    and dtypes that don't convert (a float may load into another float type, nothing else).

    >>> f32, i64 = torch.float32, torch.int64
    >>> layout_problems({"w": (f32, (2, 3)), "n": (i64, ())}, {"w": (f32, (3, 3)), "n": (f32, ())})
    ['1 shape mismatches (w: file (3, 3) vs model (2, 3))', '1 dtype mismatches (n: file float32 vs model int64)']
    """
    missing = [key for key in expected if key not in found]
    unexpected = sorted((key for key in found if key not in expected), key=_natural_order)
    both = [key for key in expected if key in found]
    shapes = [
        f"{key}: file {tuple(found[key][1])} vs model {tuple(expected[key][1])}"
        for key in both
        if tuple(found[key][1]) != tuple(expected[key][1])
    ]
    dtypes = [
        f"{key}: file {_name(found[key][0])} vs model {_name(expected[key][0])}"
        for key in both
        if found[key][0] != expected[key][0]
        and not (found[key][0].is_floating_point and expected[key][0].is_floating_point)
    ]
    return [
        f"{len(items)} {what} ({', '.join(items[:max_listed])}"
        + (", ..." if len(items) > max_listed else "")
        + ")"
        for what, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", shapes),
            ("dtype mismatches", dtypes),
        )
        if items
    ]


def _size_argument(func: Any, args: tuple, kwargs: dict[str, Any]) -> list[int] | None:
    """The ``size`` an allocating operation was asked for (``aten.empty``, ``zeros``, ``full``,
    ``new_empty``, ``randint``, ``resize_``...), or None for an operation without one. Views
    (``view``, ``expand``, ``as_strided``) take a size too but allocate nothing."""
    alias = func._schema.returns[0].alias_info if func._schema.returns else None
    if alias is not None and not alias.is_write:  # a view of its input
        return None
    for i, arg in enumerate(func._schema.arguments):
        if arg.name == "size":
            value = args[i] if i < len(args) else kwargs.get("size")
            return list(value) if isinstance(value, (list, tuple, torch.Size)) else None
    return None


def _fresh_outputs(func: Any, out: Any) -> Iterator[torch.Tensor]:
    """The outputs of an operation that are new tensors, not aliases of an input."""
    returns = func._schema.returns
    outs = (out,) if len(returns) == 1 else tuple(out)
    for ret, value in zip(returns, outs):
        if ret.alias_info is not None:
            continue
        for tensor in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(tensor, torch.Tensor):
                yield tensor


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _natural_order(key: str) -> list[tuple[int, int | str]]:
    """Sort key that puts "layers.2.weight" before "layers.10.weight"."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in key.split(".")]
