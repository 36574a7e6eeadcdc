"""Predictions outside training: what ``get_preds``, ``predict`` and ``show_results`` return.

The Learner runs the model (its loop, devices, processes); this module turns raw outputs into
predictions the way the loss says (:mod:`rung.losses`): activation, then decoding.

>>> import torch
>>> raw = torch.tensor([[2.0, 0.0], [0.0, 1.0]]); targets = torch.tensor([0, 0])
>>> preds, targets, decoded = predictions_from(
...     raw, targets, torch.nn.CrossEntropyLoss(), with_decoded=True)
>>> decoded.tolist()
[0, 1]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch

from rung.losses import activation, decodes, is_classification, per_item_loss
from rung.utils import closest

if TYPE_CHECKING:
    from rung.learner import Learner
    from rung.predictor import ClassPrediction

__all__ = [
    "Predictions",
    "get_preds",
    "predictions_from",
    "predict",
    "as_batch",
    "decode_one",
    "show_results",
]

_BCE = (torch.nn.BCEWithLogitsLoss, torch.nn.BCELoss)


class Predictions(tuple):
    """What ``get_preds`` returns: a tuple of tensors that also reads by name.

    It unpacks to its values in fastai's order, ``preds, targets`` then ``decoded`` and
    ``losses`` when asked for, and reads like a mapping (``out["preds"]``, ``out.keys()``,
    ``dict(out)``) or by attribute (``out.preds``).

    >>> out = Predictions(preds=torch.tensor([0.9]), targets=torch.tensor([1]))
    >>> preds, targets = out
    >>> out["preds"] is preds, out.targets is targets, list(out.keys())
    (True, True, ['preds', 'targets'])
    """

    _fields: tuple[str, ...]

    def __new__(cls, **values: torch.Tensor) -> Predictions:
        self = super().__new__(cls, tuple(values.values()))
        self._fields = tuple(values)
        return self

    def __getnewargs_ex__(self) -> tuple[tuple, dict[str, torch.Tensor]]:
        return (), dict(self.items())  # copy and pickle rebuild it by name

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            if key not in self._fields:
                raise KeyError(f"{key!r}: these predictions hold {list(self._fields)}{_hint(key)}")
            return tuple.__getitem__(self, self._fields.index(key))
        return tuple.__getitem__(self, key)

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("_fields", ())
        if name in fields:
            return tuple.__getitem__(self, fields.index(name))
        raise AttributeError(f"Predictions has no {name!r}; it holds {list(fields)}")

    def __contains__(self, key: object) -> bool:
        return key in self._fields if isinstance(key, str) else tuple.__contains__(self, key)

    def keys(self) -> tuple[str, ...]:
        return self._fields

    def values(self) -> tuple[torch.Tensor, ...]:
        return tuple(self)

    def items(self) -> Iterator[tuple[str, torch.Tensor]]:
        return zip(self._fields, self)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._fields else default

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={tuple(v.shape)}" for k, v in self.items())
        return f"Predictions({shapes})"


def _hint(key: str) -> str:
    return closest(key, ["preds", "targets", "decoded", "losses"]) or (
        "; pass with_loss=True or with_decoded=True to get_preds for losses or decoded"
    )


def get_preds(
    learn: Learner,
    dl: Any = None,
    with_loss: bool = False,
    with_decoded: bool = False,
    act: Callable | None = None,
) -> Predictions:
    """``learn``'s predictions over ``dl`` (the validation set by default), gathered across
    processes: see :func:`predictions_from` for what they hold."""
    raw, targets = outputs(learn, learn.dls.valid if dl is None else dl)
    return predictions_from(raw, targets, learn.loss_func, with_loss, with_decoded, act)


@torch.no_grad()
def outputs(learn: Learner, dl: Any, distributed: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw outputs (as float) and targets over the batches of ``dl``, in eval mode (the
    model's mode is put back after), under the Learner's precision. With ``distributed`` the
    loader is sharded across processes and the results gathered, each row once."""
    # The Learner's own device, precision and wrapped model: this runs its eval loop.
    model = learn._prepared or learn.model.to(learn.device)
    was_training = model.training
    model.eval()
    outs, targets = [], []
    try:
        for batch in learn._sharded(dl) if distributed else dl:
            batch = tuple(b.to(learn.device) for b in batch)
            with learn._autocast():
                out = model(*batch[:-1]).float()
            if distributed:
                out, y = learn.accelerator.gather_for_metrics((out, batch[-1]))
            outs.append(out)
            targets.append(batch[-1] if not distributed else y)
    finally:
        model.train(was_training)
    if not outs:
        raise ValueError(f"the loader gave no batches to predict ({type(dl).__name__}).")
    return torch.cat(outs), torch.cat(targets)


def predict(learn: Learner, item: Any) -> ClassPrediction | float | torch.Tensor:
    """One item (a row of numbers, a tensor; a tuple for several inputs) through ``learn``'s
    model in eval mode, decoded by :func:`decode_one`: for a classifier a ``ClassPrediction``
    (``label``, ``index``, ``probs`` by label; labels from ``dls.info["classes"]`` when the data
    has them), for regression a float (a tensor for several outputs). Each process predicts
    its own item. Images and tables go through their app's predictor:
    ``rung.load(model_file).predict(...)``."""
    like = getattr(learn.dls.train, "tensors", None)
    xb = as_batch(item, like=None if like is None else like[:-1])
    raw, _ = outputs(learn, [(*xb, torch.zeros(1))], distributed=False)
    classes = (getattr(learn.dls, "info", {}) or {}).get("classes")
    return decode_one(raw[0].cpu(), learn.loss_func, classes)


def predictions_from(
    raw: torch.Tensor,
    targets: torch.Tensor,
    loss_func: Callable,
    with_loss: bool = False,
    with_decoded: bool = False,
    act: Callable | None = None,
) -> Predictions:
    """Raw model outputs (N, ...) and targets -> :class:`Predictions`: ``preds`` through
    ``act`` (default: the loss's activation), ``decoded`` (class indices, 0/1 for a BCE loss,
    values for regression) and ``losses`` (per item) when asked for."""
    preds = (act or activation(loss_func))(raw)
    values = {"preds": preds, "targets": targets}
    if with_decoded:
        # decode what the loss's activation gives, whatever act the caller chose to see
        values["decoded"] = decodes(loss_func)(preds if act is None else activation(loss_func)(raw))
    if with_loss:
        values["losses"] = per_item_loss(loss_func, raw, targets)
    return Predictions(**values)


def as_batch(item: Any, like: Sequence[torch.Tensor] | None = None) -> tuple[torch.Tensor, ...]:
    """One item (a tensor, an array, a list of numbers; a tuple for a model with several
    inputs) as a batch of one, each input with a leading axis of 1. ``like``: the training
    inputs, whose dtypes the item takes (else float64 becomes float32).

    >>> as_batch([1, 2, 3], like=[torch.zeros(5, 3)])[0]
    tensor([[1., 2., 3.]])
    """
    inputs = item if isinstance(item, tuple) else (item,)
    if like is not None and len(like) != len(inputs):
        raise ValueError(
            f"this model takes {len(like)} input(s) per item, got {len(inputs)}; pass a tuple "
            "with one value per input."
        )
    batch = []
    for i, x in enumerate(inputs):
        x = torch.as_tensor(x)
        if like is not None:
            x = x.to(like[i].dtype)
        elif x.dtype == torch.float64:
            x = x.float()
        batch.append(x.unsqueeze(0))
    return tuple(batch)


def decode_one(
    raw: torch.Tensor, loss_func: Callable, classes: Sequence[Any] | None = None
) -> ClassPrediction | float | torch.Tensor:
    """One item's raw output (no batch axis) -> a ``ClassPrediction`` (label, index,
    probabilities by label) for single-label classification (cross-entropy, or one output
    under a BCE loss); else the activated value: a float for one output, a tensor for several
    (a regression's values, multi-label probabilities).

    >>> decode_one(torch.tensor([0.0]), torch.nn.BCEWithLogitsLoss(), ["no", "yes"]).probs
    {'no': 0.5, 'yes': 0.5}
    """
    from rung.predictor import ClassPrediction

    probs = activation(loss_func)(raw.float().unsqueeze(0))[0]
    if isinstance(loss_func, _BCE) and probs.numel() == 1:
        probs = torch.stack([1 - probs.reshape(()), probs.reshape(())])  # [P(0), P(1)]
    elif not is_classification(loss_func):
        return float(probs) if probs.numel() == 1 else probs
    labels = list(classes) if classes is not None else list(range(len(probs)))
    if len(labels) != len(probs):
        raise ValueError(f"the data names {len(labels)} classes but the model gives {len(probs)}.")
    index = int(probs.argmax())
    return ClassPrediction(labels[index], index, {c: float(p) for c, p in zip(labels, probs)})


def show_results(learn: Learner, n: int = 9, dl: Any = None) -> list[dict[str, Any]]:
    """Print the first ``n`` validation items' target and prediction (with its probability
    for a classifier) as a table, and return the rows. For images, pictures with their top
    losses and a confusion matrix are ``rung interpret RUN`` or
    :class:`~rung.interpret.ClassificationInterpretation`."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}.")
    raw = learn.get_preds(dl, act=_identity)
    classes = (getattr(learn.dls, "info", {}) or {}).get("classes")
    rows = []
    for i in range(min(n, len(raw.targets))):
        pred = decode_one(raw.preds[i], learn.loss_func, classes)
        row = {"target": _shown(raw.targets[i], classes)}
        if hasattr(pred, "label"):
            row.update(prediction=pred.label, probability=round(pred.probs[pred.label], 4))
        else:
            row["prediction"] = _shown(torch.as_tensor(pred), None)
        rows.append(row)
    names = list(rows[0]) if rows else []
    print("  ".join(f"{name:>12}" for name in names))
    for row in rows:
        print("  ".join(f"{row[name]!s:>12}" for name in names))
    return rows


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


def _shown(value: torch.Tensor, classes: Sequence[Any] | None) -> Any:
    """A target or prediction as a table shows it: its label, a number, or a list of them."""
    flat = value.reshape(-1)
    if flat.numel() != 1:
        return [round(float(v), 4) for v in flat]
    x = flat.item()
    if classes is not None and float(x).is_integer() and 0 <= x < len(classes):
        return classes[int(x)]
    return x if isinstance(x, int) else round(x, 4)
