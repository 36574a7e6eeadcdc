"""Callbacks, the events they hook and the exceptions that stop a stage early.

A callback is a small class with methods named after events. The Learner calls them in
``order`` (lower first). A method whose name looks like an event but isn't one is rejected when
the class is defined, naming the closest event: a misspelt ``after_bach`` never runs silently.

>>> class CountBatches(Callback):
...     def before_fit(self):
...         self.n = 0
...     def after_batch(self):
...         self.n += 1
>>> class Typo(Callback):  # doctest: +IGNORE_EXCEPTION_DETAIL
...     def after_bach(self):
...         pass
Traceback (most recent call last):
TypeError: Typo.after_bach is not an event; did you mean 'after_batch'?
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rung.learner import Learner

__all__ = [
    "Callback",
    "EVENTS",
    "STAGES",
    "CancelBatchException",
    "CancelTrainException",
    "CancelValidateException",
    "CancelEpochException",
    "CancelFitException",
    "CANCEL_EXCEPTIONS",
]

# Stages nest: fit > epoch > (train | validate) > batch. Each runs before_X, its body, after_X;
# a CancelXException skips the rest of X's body, runs after_cancel_X, then after_X.
STAGES = ("fit", "epoch", "train", "validate", "batch")
BATCH_EVENTS = (
    "after_pred",
    "after_loss",
    "before_backward",
    "after_backward",
    "before_step",
    "after_step",
)
EVENTS = (
    *(f"before_{s}" for s in STAGES),
    *(f"after_{s}" for s in STAGES),
    *(f"after_cancel_{s}" for s in STAGES),
    *BATCH_EVENTS,
    # Always runs when fit ends, even on an error or Ctrl-C: restore weights, close bars, ...
    "cleanup_fit",
)


class CancelBatchException(Exception):
    """Skip the rest of this batch (no backward/step); training goes on with the next one."""


class CancelTrainException(Exception):
    """Stop this epoch's training phase; validation still runs."""


class CancelValidateException(Exception):
    """Stop this epoch's validation phase."""


class CancelEpochException(Exception):
    """Stop this epoch; the next one starts."""


class CancelFitException(Exception):
    """Stop training altogether (early stopping, lr_find): after_fit and cleanup still run."""


CANCEL_EXCEPTIONS = {
    "batch": CancelBatchException,
    "train": CancelTrainException,
    "validate": CancelValidateException,
    "epoch": CancelEpochException,
    "fit": CancelFitException,
}

_EVENT_PREFIXES = ("before_", "after_", "cleanup_")


class Callback:
    """Base class: subclass it and define methods named after :data:`EVENTS`.

    ``self.learn`` is the Learner once the callback is added. ``order`` decides who runs first
    (schedulers set the learning rate before the step; metrics read predictions after them).
    """

    order: int = 0
    learn: Learner

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, value in vars(cls).items():
            if not callable(value) or name.startswith("_") or name in EVENTS:
                continue
            close = difflib.get_close_matches(name, EVENTS, n=1, cutoff=0.8)
            if name.startswith(_EVENT_PREFIXES) or close:
                hint = (
                    f"; did you mean {close[0]!r}?"
                    if close
                    else f". Events are: {', '.join(EVENTS)}"
                )
                raise TypeError(f"{cls.__name__}.{name} is not an event{hint}")

    @property
    def name(self) -> str:
        """Snake-case name, e.g. ``SaveBest`` -> ``save_best``, used as ``learn.save_best``."""
        out = ""
        for i, ch in enumerate(type(self).__name__):
            out += ("_" if i and ch.isupper() else "") + ch.lower()
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
