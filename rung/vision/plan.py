"""Training defaults chosen by the data and the machine: image sizes per epoch and epochs, so a
run fits a time budget.

The plan starts from lesson 1's recipe (one frozen epoch, then three) with progressive resizing:
the unfrozen epochs grow from about 60% of the final size to the full size, so most of the
compute goes where it is cheap while the last epoch adapts the model to the size prediction
uses; the frozen epoch runs at the smallest size (only the head trains: a forward pass).
Measured on cats_dogs on this project's 2-core CPU (tf_efficientnet_lite0, 224 px final, the
same seed): see ``benchmarks/time_to_accuracy.py`` and the README.

The cost model is measured, not assumed: the head LR sweep (:mod:`rung.vision.head_lr`) times
the body's forward pass per image at its size, and a training step costs about
:data:`TRAIN_STEP_FACTOR` forward passes, scaled by the pixels. When the recipe doesn't fit the
budget, the plan gives up, in order: the final size (down to 160, then 128 px), then epochs
(down to 1). What it chose and why is said in the writeup.

>>> plan = plan_training(n_train=400, n_valid=200, size=224, seconds_per_image=0.005,
...                      probe_size=128, budget=180, spent=10)
>>> plan.freeze_size, plan.sizes, plan.epochs
(128, [128, 176, 224], 3)
>>> plan.reasons[0]
"lesson 1's recipe, 1 frozen + 3 epochs with progressive resizing (128 -> 224 px): estimated 62 s of training, within the 180 s budget"
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "TrainingPlan",
    "plan_training",
    "progressive_sizes",
    "default_budget",
    "TRAIN_STEP_FACTOR",
    "REPORT_SECONDS",
]

TRAIN_STEP_FACTOR = 4.0  # a training step (forward + backward + AdamW) / an eval forward pass
REPORT_SECONDS = 15.0  # interpretation, plots, writeup and export on a CPU, about
MIN_SIZE = 64  # steps of 16 px, never below this
FINAL_SIZES = (160, 128)  # what the final size falls back to, in turn, over budget


@dataclass
class TrainingPlan:
    """Sizes and epochs for ``fine_tune``: ``freeze_epochs`` at ``freeze_size``, then one
    epoch per entry of ``sizes`` (the last is the final ``size``: validation and prediction's).
    ``estimate`` is the predicted seconds of training, ``budget`` the seconds allowed for the
    whole run (None: no budget), ``reasons`` the plan's sentences for the writeup."""

    size: int
    freeze_epochs: int
    freeze_size: int
    sizes: list[int]
    estimate: float
    budget: float | None
    reasons: list[str] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.sizes)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, for config.json's ``plan``."""
        return {
            "size": self.size, "freeze_epochs": self.freeze_epochs,
            "freeze_size": self.freeze_size, "sizes": self.sizes, "epochs": self.epochs,
            "estimate_s": round(self.estimate, 1), "budget_s": self.budget,
            "reasons": self.reasons,
        }  # fmt: skip


def progressive_sizes(size: int, epochs: int, start: float = 0.6) -> list[int]:
    """Sizes for ``epochs`` epochs growing from ``start`` x ``size`` to ``size``, in steps of
    16 px, never below 64 px unless ``size`` is (the last is always ``size``; one epoch is
    ``[size]``).

    >>> progressive_sizes(224, 3), progressive_sizes(224, 1), progressive_sizes(48, 3)
    ([128, 176, 224], [224], [48, 48, 48])
    """
    if epochs <= 1:
        return [size] * max(epochs, 0)
    first = min(size, max(MIN_SIZE, int(round(size * start / 16)) * 16))
    steps = [first + (size - first) * i / (epochs - 1) for i in range(epochs)]
    return [int(round(s / 16) * 16) for s in steps[:-1]] + [size]


def estimate_seconds(
    n_train: int,
    n_valid: int,
    freeze_epochs: int,
    freeze_size: int,
    sizes: list[int],
    final: int,
    seconds_per_image: float,
    probe_size: int,
) -> float:
    """Seconds the epochs take: forward passes for the frozen epochs, training steps for the
    others, a validation pass at ``final`` after each; per-image costs scale with the pixels.

    >>> round(estimate_seconds(400, 200, 1, 128, [224], 224, 0.005, 128), 1)
    32.6
    """

    def per_image(s: int) -> float:
        return seconds_per_image * (s / probe_size) ** 2

    frozen = freeze_epochs * n_train * per_image(freeze_size)
    train = sum(n_train * TRAIN_STEP_FACTOR * per_image(s) for s in sizes)
    valid = (freeze_epochs + len(sizes)) * n_valid * per_image(final)
    return frozen + train + valid


def plan_training(
    n_train: int,
    n_valid: int,
    size: int,
    seconds_per_image: float,
    probe_size: int,
    budget: float | None,
    spent: float = 0.0,
    epochs: int | None = None,
    freeze_epochs: int = 1,
    size_given: bool = False,
    progressive: bool = True,
) -> TrainingPlan:
    """The plan for ``n_train``/``n_valid`` images: the recipe (``epochs``, default 3, after
    ``freeze_epochs``) at ``size`` with progressive resizing, cut to fit ``budget`` seconds for
    the whole run, of which ``spent`` have gone (set-up, the LR finder) and
    :data:`REPORT_SECONDS` are kept for the end. ``seconds_per_image``: the body's measured
    forward pass at ``probe_size``. A ``size`` or ``epochs`` the user gave is kept (the plan
    then says when it won't fit). See the module's example.
    """
    wanted = 3 if epochs is None else epochs
    allowed = None if budget is None else max(budget - spent - REPORT_SECONDS, 0.0)

    def make(final: int, n: int) -> TrainingPlan:
        sizes = progressive_sizes(final, n) if progressive else [final] * n
        freeze_size = sizes[0] if sizes else final
        seconds = estimate_seconds(
            n_train, n_valid, freeze_epochs, freeze_size, sizes, final, seconds_per_image,
            probe_size,
        )  # fmt: skip
        return TrainingPlan(final, freeze_epochs, freeze_size, sizes, seconds, budget)

    finals = [size] if size_given else [size, *(s for s in FINAL_SIZES if s < size)]
    counts = [wanted] if epochs is not None else list(range(wanted, 0, -1))
    candidates = [make(f, n) for n in counts for f in finals]
    # sizes give way first: every smaller size at 3 epochs before 2 epochs at any size
    fits = [p for p in candidates if allowed is None or p.estimate <= allowed]
    plan = fits[0] if fits else candidates[-1]
    plan.reasons = [_reason(plan, budget, wanted, size, bool(fits), progressive)]
    return plan


def _reason(
    plan: TrainingPlan, budget: float | None, wanted: int, size: int, fits: bool, progressive: bool
) -> str:
    n = plan.epochs
    what = f"{plan.freeze_epochs} frozen + {n} epoch{'s' if n != 1 else ''}"
    kept = n == wanted and plan.size == size
    head = "lesson 1's recipe, " if kept and wanted == 3 and plan.freeze_epochs == 1 else ""
    ramp = (
        f" with progressive resizing ({plan.sizes[0]} -> {plan.size} px)"
        if progressive and plan.sizes and plan.sizes[0] != plan.size
        else f" at {plan.size} px"
    )
    line = f"{head}{what}{ramp}: estimated {plan.estimate:.0f} s of training"
    if budget is None:
        return line + " (no time budget)"
    if not fits:
        return (
            line + f", over the {budget:.0f} s budget even at its smallest (the budget is a goal)"
        )
    if kept:
        return line + f", within the {budget:.0f} s budget"
    return line + f": cut from {wanted} epochs at {size} px to fit the {budget:.0f} s budget"


def default_budget(device_type: str) -> float:
    """Seconds a run may take when no budget is given: 3 minutes on a CPU (lesson 1's "a
    useful model in minutes" on a laptop), 10 on a GPU (where the recipe rarely comes close).

    >>> default_budget("cpu"), default_budget("cuda")
    (180.0, 600.0)
    """
    return 180.0 if device_type == "cpu" else 600.0
