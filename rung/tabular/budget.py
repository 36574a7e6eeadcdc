"""A time budget for a cross-validated table run: the folds, the models and the net's epochs
that fit in it.

``train_table(..., budget="auto")`` (``rung train table --budget 5m``) gives a run
:data:`DEFAULT_BUDGET` seconds, 5 minutes. Three quarters of it are for fitting the models
(:data:`FIT_SHARE`); the rest is kept for the ensemble, the plots, the export and the writeup,
which the budget does not cut (the plots are bounded by their row samples instead: about 50 s
for a 10,000-row table on a 2-core CPU, so a budget under a minute or two is overrun).
The rules, each a measurement or a count, never a guess about one dataset:

- **Folds**: 5 (:data:`~rung.tabular.settings.AUTO_FOLDS`); 3 when the budget is under 2
  minutes or there are more than 100,000 training rows (a fold of that many rows already scores
  a model closely, and 3 folds take 40% less time than 5). Folds given by hand are kept.
- **Models**: each model's first fold is timed; a model whose other folds would end past the
  time for fitting is left out (its first fold's time told in the run's note), and the run goes
  on with the models after it. The first model is always kept, so there is always a model.
- **The net's epochs**: the net may spend half the fitting time still left, split over its
  folds; the LR finder's seconds per batch on the first fold say how many of the default epochs
  fit in one fold's share (at least 1), and every fold trains that many.

``budget=None`` (``--budget none``) turns the rules off: every model on every fold, the
default epochs. A budget only cuts: it never adds folds, models or epochs.

>>> clock = iter([0.0, 10.0, 10.0]).__next__  # seconds: the start, then two readings
>>> budget = TableBudget(200.0, clock=clock)
>>> budget.folds(n_train=800, given=None)
5
>>> budget.keeps("lgbm", first_fold_s=40.0, folds_left=4)  # 10 + 160 s > 150 s for fitting
False
>>> budget.notes
['lgbm left out: its first fold took 40.0 s, so its other 4 would end at 170 s, past the 150 s of the 200 s budget for fitting; give a larger --budget to keep it']
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rung.tabular.settings import AUTO_FOLDS
from rung.utils import parse_budget

__all__ = [
    "TableBudget",
    "DEFAULT_BUDGET",
    "FIT_SHARE",
    "resolve_budget",
    "epochs_that_fit",
]

DEFAULT_BUDGET = 300.0  # seconds: a few minutes on a laptop's CPU
FIT_SHARE = 0.75  # of the budget, for fitting; the rest for the ensemble, plots and export
FEW_FOLDS = 3
MANY_ROWS = 100_000  # training rows past which FEW_FOLDS score each model closely enough
SHORT_BUDGET = 120.0  # seconds under which FEW_FOLDS are used
NET_SHARE = 0.5  # of the fitting time left when the net starts


def resolve_budget(budget: str | float | None) -> float | None:
    """Seconds for ``budget``: ``"auto"`` is :data:`DEFAULT_BUDGET`; ``"5m"``, ``"90s"``,
    seconds, or ``"none"``/None (no budget) as :func:`rung.utils.parse_budget` reads them.

    >>> resolve_budget("auto"), resolve_budget("2m"), resolve_budget(None)
    (300.0, 120.0, None)
    """
    if isinstance(budget, str) and budget.strip().lower() == "auto":
        return DEFAULT_BUDGET
    return parse_budget(budget)


def epochs_that_fit(
    epochs: int, seconds: float, seconds_per_batch: float, batches_per_epoch: int
) -> int:
    """How many of ``epochs`` fit in ``seconds`` at ``seconds_per_batch`` (training batches;
    a quarter more for each epoch's validation pass), at least 1.

    >>> epochs_that_fit(8, seconds=30.0, seconds_per_batch=0.01, batches_per_epoch=400)
    6
    >>> epochs_that_fit(8, seconds=1.0, seconds_per_batch=0.01, batches_per_epoch=400)
    1
    """
    per_epoch = 1.25 * seconds_per_batch * batches_per_epoch
    if per_epoch <= 0 or not math.isfinite(per_epoch):
        return epochs
    return max(1, min(epochs, int(seconds / per_epoch)))


@dataclass
class TableBudget:
    """The time rules of one run (see the module docstring). ``seconds``: the budget, or None
    for none; ``clock``: where the time comes from (``time.perf_counter``); the run's start is
    its first reading. ``notes``: what the rules cut, for the run's note and writeup."""

    seconds: float | None
    clock: Callable[[], float] = time.perf_counter
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.start = self.clock()

    @property
    def fit_seconds(self) -> float | None:
        """Seconds for fitting the models: :data:`FIT_SHARE` of the budget."""
        return None if self.seconds is None else FIT_SHARE * self.seconds

    def elapsed(self) -> float:
        return self.clock() - self.start

    def fit_left(self) -> float:
        """Seconds of fitting time left (infinite without a budget; 0 once spent)."""
        if self.fit_seconds is None:
            return math.inf
        return max(0.0, self.fit_seconds - self.elapsed())

    def folds(self, n_train: int, given: int | None) -> int:
        """The folds to cross-validate on: ``given`` if given, else :data:`AUTO_FOLDS`, or
        :data:`FEW_FOLDS` under a short budget or past :data:`MANY_ROWS` training rows."""
        if given is not None:
            return given
        short = self.seconds is not None and self.seconds < SHORT_BUDGET
        if self.seconds is not None and (short or n_train > MANY_ROWS):
            why = f"a {self.seconds:.0f} s budget" if short else f"{n_train:,} training rows"
            self.notes.append(f"{FEW_FOLDS} folds, not {AUTO_FOLDS}, for {why}")
            return FEW_FOLDS
        return AUTO_FOLDS

    def keeps(self, name: str, first_fold_s: float, folds_left: int, first: bool = False) -> bool:
        """Whether ``name``'s other ``folds_left`` folds, each as long as its first, end within
        the time for fitting; if not, a note says so. The ``first`` model is always kept."""
        if self.fit_seconds is None or first or folds_left <= 0:
            return True
        ends = self.elapsed() + folds_left * first_fold_s
        if ends <= self.fit_seconds:
            return True
        self.notes.append(
            f"{name} left out: its first fold took {first_fold_s:.1f} s, so its other "
            f"{folds_left} would end at {ends:.0f} s, past the {self.fit_seconds:.0f} s of the "
            f"{self.seconds:.0f} s budget for fitting; give a larger --budget to keep it"
        )
        return False

    def net_seconds_per_fold(self, n_folds: int) -> float | None:
        """Seconds one fold of the net may train: :data:`NET_SHARE` of the fitting time left,
        over ``n_folds`` folds (None: no budget)."""
        if self.fit_seconds is None:
            return None
        return NET_SHARE * self.fit_left() / max(1, n_folds)

    def net_epochs(self, wanted: int, trained: int) -> None:
        """Note that the net trains ``trained`` of its ``wanted`` epochs per fold, if fewer."""
        if trained < wanted:
            self.notes.append(
                f"the net trains {trained} of its {wanted} epochs on each fold, to fit the "
                f"{self.seconds:.0f} s budget"
            )

    def describe(self) -> str:
        """One line for the run's note: the budget, the time taken, and what was cut."""
        if self.seconds is None:
            return "Time budget: none (every model on every fold)."
        cut = "; ".join(self.notes) if self.notes else "nothing cut"
        return f"Time budget: {self.seconds:.0f} s ({cut})."
