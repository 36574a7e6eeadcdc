"""``learn.export(path)``: the model file, with what ``rung.load`` needs filled in or refused.

The apps pass their own ``kind`` ("image", "tabular") with its preprocessing. Without one, the
Learner's generic case is inferred: a model whose training inputs are one plain tensor is
``kind="tensor"``, its ``task`` comes from the loss (cross-entropy and BCE: classification;
MSE, L1, smooth L1, Huber: regression), and its ``input_shape`` (and integer ``input_dtype``)
from the training tensor. Anything else is refused at export time, naming ``kind=`` and
``task=``, rather than written as a file ``rung.load`` would refuse later.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from rung.losses import task_of

if TYPE_CHECKING:
    from rung.learner import Learner

__all__ = ["export", "export_config"]

_HOW = (
    "pass it, e.g. learn.export(path, kind='tensor', task='classification', classes=[...]) "
    "for a model that takes one tensor per row; the apps pass their own kinds"
)


def export(learn: Learner, path: str | Path, **config: Any) -> Path:
    """Write ``learn``'s model file at ``path`` (as given; not joined to ``learn.path``).

    ``config`` carries what prediction needs (kind, task, classes, preprocessing); what is
    missing for a tensor model is inferred (:func:`export_config`), and the latest validation
    metrics are added. Only the main process writes.
    """
    from rung.modelfile import save_model_file

    config = export_config(learn, config)
    learn.accelerator.wait_for_everyone()
    metrics = dict(learn.recorder.final_metrics()) if learn.recorder.values else {}
    config = {"metrics": metrics, **config}
    path = Path(path)
    if learn.accelerator.is_main_process:
        save_model_file(path, learn.accelerator.unwrap_model(learn.model), config)
    learn.accelerator.wait_for_everyone()
    return path


def export_config(learn: Learner, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with ``kind`` and, for a tensor model, ``task``, ``classes``,
    ``input_shape`` and ``input_dtype`` filled in where they can be inferred; a ValueError
    naming ``kind=``/``task=`` where they can't."""
    config = dict(config)
    x, y = _tensor_inputs(learn.dls.train)
    if "kind" not in config:
        if x is None:
            raise ValueError(
                "export can't tell which kind of model file to write: the training data is not "
                f"one tensor of inputs and one of targets ({type(learn.dls.train).__name__}); "
                f"pass kind=...: {_HOW}."
            )
        config["kind"] = "tensor"
    if config["kind"] != "tensor":
        return config
    if "task" not in config:
        config["task"] = _task(learn.loss_func, y)
    info = getattr(learn.dls, "info", {}) or {}
    if "classes" not in config and info.get("classes") is not None:
        config["classes"] = list(info["classes"])
    if isinstance(learn.loss_func, nn.BCELoss):
        raise ValueError(
            "a tensor model file is read as logits, but nn.BCELoss trains a model that outputs "
            "probabilities; train with nn.BCEWithLogitsLoss (and no sigmoid in the model)."
        )
    single_logit = isinstance(learn.loss_func, nn.BCEWithLogitsLoss) and _width(y) == 1
    if config["task"] == "classification" and single_logit and "classes" not in config:
        config["classes"] = [0, 1]  # one output is the logit of class 1
    if x is not None:
        config.setdefault("input_shape", list(x.shape[1:]))
        if not x.is_floating_point():
            config.setdefault("input_dtype", str(x.dtype).removeprefix("torch."))
    return config


def _tensor_inputs(dl: Any) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(inputs, targets) of a loader over exactly two tensors (a TensorLoader, or a torch
    DataLoader over a TensorDataset); (None, None) otherwise."""
    tensors = getattr(dl, "tensors", None)
    if tensors is None:
        tensors = getattr(getattr(dl, "dataset", None), "tensors", None)
    if tensors is None or len(tensors) != 2:
        return None, None
    return tensors[0], tensors[1]


def _width(y: torch.Tensor | None) -> int | None:
    return None if y is None else (1 if y.dim() < 2 else y.shape[-1])


def _task(loss_func: Any, y: torch.Tensor | None) -> str:
    task = task_of(loss_func)
    if task is None:
        name = getattr(loss_func, "__name__", type(loss_func).__name__)
        raise ValueError(
            f"export can't tell the task from the loss {name}: pass task='classification' "
            f"or task='regression' (and kind= for a model that isn't a tensor model): {_HOW}."
        )
    if isinstance(loss_func, (nn.BCEWithLogitsLoss, nn.BCELoss)) and y is not None:
        if _width(y) != 1:
            raise ValueError(
                f"targets with {_width(y)} labels per row (multi-label) don't fit a tensor "
                f"model file, which reads one class per row; pass kind= and task=: {_HOW}."
            )
        if not torch.isin(y.unique(), torch.tensor([0.0, 1.0], dtype=y.dtype)).all():
            raise ValueError(
                "the BCE targets are not all 0 or 1 (scores in [0, 1]?), so export can't tell "
                "a classifier from a score model, and a tensor model file would read the one "
                f"output as a class-1 logit; pass kind= and task= yourself: {_HOW}."
            )
    return task
