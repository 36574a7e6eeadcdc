"""Callbacks, the events they hook, the exceptions that stop a stage early, and the host that
runs them (:class:`CallbackHost`, the Learner's base class).

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

import contextlib
import difflib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rung.learner import Learner

__all__ = [
    "Callback",
    "CallbackHost",
    "EVENTS",
    "STAGES",
    "CancelBatchException",
    "CancelTrainException",
    "CancelValidateException",
    "CancelEpochException",
    "CancelFitException",
    "CANCEL_EXCEPTIONS",
    "output_path",
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


class CallbackHost:
    """Holds callbacks and runs their handlers by event: ``host("before_fit")``.

    The Learner is one. Handlers are resolved once per change of callbacks (event -> bound
    methods in ``order``), so running an event costs a dict lookup, not a getattr per callback.
    """

    cbs: list[Callback]
    _handlers: dict[str, list[Callable[[], Any]]]

    def add_cb(self, cb: Callback) -> Any:
        """Attach a callback (also reachable as ``host.<snake_name>``)."""
        if isinstance(cb, type):
            raise TypeError(f"pass an instance, e.g. {cb.__name__}(), not the class.")
        cb.learn = self
        setattr(self, cb.name, cb)
        self.cbs.append(cb)
        self._index_handlers()
        return self

    def add_cbs(self, cbs: Iterable[Callback]) -> Any:
        for cb in cbs:
            self.add_cb(cb)
        return self

    def remove_cb(self, cb: Callback) -> Any:
        self.cbs.remove(cb)
        if getattr(self, cb.name, None) is cb:
            delattr(self, cb.name)
        self._index_handlers()
        return self

    @contextlib.contextmanager
    def added_cbs(self, cbs: Iterable[Callback]) -> Iterator[Any]:
        """Callbacks that live for one ``with`` block (one fit, one lr_find)."""
        cbs = list(cbs)
        self.add_cbs(cbs)
        try:
            yield self
        finally:
            for cb in cbs:
                self.remove_cb(cb)

    def _index_handlers(self) -> None:
        ordered = sorted(self.cbs, key=lambda c: c.order)
        self._handlers = {
            ev: [getattr(cb, ev) for cb in ordered if callable(getattr(cb, ev, None))]
            for ev in EVENTS
        }

    def __call__(self, event: str) -> None:
        """Run every callback's handler for ``event``, in order."""
        for handler in self._handlers[event]:
            handler()

    def show_training_loop(self) -> None:
        """Print the loop's events with the callbacks that run at each, as fastai shows it.

        >>> class Count(Callback):
        ...     def after_batch(self): ...
        >>> host = CallbackHost(); host.cbs = []
        >>> host.add_cb(Count()).show_training_loop()  # doctest: +ELLIPSIS
        before_fit: -
            before_epoch: -
        ...
                    after_batch: Count
        ...
        """
        train_batch = ["before_batch", *BATCH_EVENTS, "after_batch"]
        valid_batch = ["before_batch", "after_pred", "after_loss", "after_batch"]
        loop = [("before_fit", 0), ("before_epoch", 1), ("before_train", 2)]
        loop += [(e, 3) for e in train_batch] + [("after_train", 2), ("before_validate", 2)]
        loop += [(e, 3) for e in valid_batch] + [("after_validate", 2), ("after_epoch", 1)]
        loop += [("after_fit", 0), ("cleanup_fit", 0)]
        lines = []
        for ev, depth in loop:
            names = ", ".join(type(h.__self__).__name__ for h in self._handlers[ev]) or "-"
            lines.append("    " * depth + f"{ev}: {names}")
        print("\n".join(lines))


def output_path(base: str | Path, path: str | Path) -> Path:
    """Where a file the Learner writes goes (a plot, a checkpoint): a bare file name goes under
    ``base`` (``learn.path``); a path with a folder, relative or absolute, is used as given, so
    ``runs/r1/lr_find.png`` is never joined to ``learn.path`` a second time.

    >>> output_path("runs/r1", "lr_find.png").as_posix(), output_path("runs/r1", "runs/r1/a.png").as_posix()
    ('runs/r1/lr_find.png', 'runs/r1/a.png')
    """
    path = Path(path)
    return Path(base) / path if path.parent == Path(".") else path
