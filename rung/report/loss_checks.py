"""The run checks that read a run's loss curves (``metrics.csv``): a loss that became NaN or
blew up, a model still learning or barely moving (under-fitting), a validation loss rising
while the training loss falls (over-fitting), and the loss and the metric disagreeing.

Each check takes a :class:`~rung.report.run_info.RunInfo` and returns its findings;
:func:`rung.report.run_checks.diagnose_run` runs them with the checks that read the config and
the leaderboard.

>>> import tempfile
>>> from rung.report.run_folder import atomic_write_text, new_run_dir
>>> from rung.report.run_info import read_run
>>> run = new_run_dir(tempfile.mkdtemp(), "table")
>>> _ = atomic_write_text(run / "metrics.csv", "epoch,train_loss,valid_loss\\n"
...                       "0,0.9,0.8\\n1,2.5,2.4\\n")
>>> [f.check for f in exploding_loss(read_run(run))]
['run.exploding_loss']
"""

from __future__ import annotations

import math
from typing import Any

from rung.report.doctor import ERROR, INFO, WARNING, Finding, named
from rung.report.run_info import RunInfo, finite_number, lower_is_better, run_lr

__all__ = [
    "LOSS_CHECKS",
    "nan_loss",
    "exploding_loss",
    "under_fitting",
    "over_fitting",
    "metric_loss_disagree",
]

EXPLODE_FACTOR = 2.0  # a loss that ends over this many times where it started has blown up
STILL_FALLING = 0.10  # the last epoch cut the training loss by at least this share: not done
STALLED = 0.05  # the training loss fell less than this share over the whole run: barely learning
STALLED_GAP = 0.9  # ... with the validation loss at least this share of it (not over-fitting)
RISE = 0.10  # the validation loss ended this share above its best: it is rising


@named("run.nan_loss")
def nan_loss(info: RunInfo) -> list[Finding]:
    """A training or validation loss that became NaN or infinite: the weights are ruined."""
    rows = info.epochs
    for i, row in enumerate(rows):
        for key in ("train_loss", "valid_loss"):
            value = row.get(key)
            if _number(value) and not math.isfinite(value):
                what = "training" if key == "train_loss" else "validation"
                before = next(
                    (r[key] for r in reversed(rows[:i]) if finite_number(r.get(key))), None
                )
                was = f" (it was {before:.4g} at {_label(rows, i - 1)})" if before else ""
                lr = run_lr(info.config)
                return [
                    Finding(
                        "run.nan_loss", ERROR,
                        f"the {what} loss became {_show(value)} at {_label(rows, i)}{was}",
                        "lower the learning rate ("
                        + (f"from {lr:.0e} to ~{_lower_lr(lr):.0e}" if lr else "try a tenth of it")
                        + "), or run the LR finder and take its valley; check the inputs for "
                        "NaN or huge values",
                        evidence={"epoch": _label(rows, i), "loss": key, "previous": before,
                                  "lr": lr},
                    )
                ]  # fmt: skip
    return []


@named("run.exploding_loss")
def exploding_loss(info: RunInfo) -> list[Finding]:
    """A finite training loss that ends far above where it started: the steps are too big."""
    losses = _series(info.epochs, "train_loss")
    if len(losses) < 2 or not all(math.isfinite(v) for _, v in losses):
        return []
    first, last = losses[0][1], losses[-1][1]
    if first <= 0 or last < EXPLODE_FACTOR * first:
        return []
    lr = run_lr(info.config)
    return [
        Finding(
            "run.exploding_loss", ERROR,
            f"the training loss grew from {first:.4g} ({_label(info.epochs, losses[0][0])}) to "
            f"{last:.4g} ({_label(info.epochs, losses[-1][0])}): training diverged",
            "lower the learning rate"
            + (f" from {lr:.0e} to ~{_lower_lr(lr):.0e}" if lr else " (try a tenth of it)")
            + ", or take the LR finder's valley",
            evidence={"first_train_loss": first, "last_train_loss": last, "lr": lr},
        )
    ]  # fmt: skip


@named("run.under_fitting")
def under_fitting(info: RunInfo) -> list[Finding]:
    """The model has more to learn: both losses still falling fast at the last epoch, or the
    training loss barely moving over the whole run with the validation loss no lower."""
    train, valid = _series(info.epochs, "train_loss"), _series(info.epochs, "valid_loss")
    if len(train) < 2 or len(valid) < 2 or not _all_finite(train + valid):
        return []
    (_, t0), (_, t1) = train[-2], train[-1]
    (_, v0), (_, v1) = valid[-2], valid[-1]
    first, n = train[0][1], len(info.epochs)
    if first > 0 and (first - t1) / first < STALLED and v1 >= STALLED_GAP * t1:
        lr = run_lr(info.config)
        return [
            Finding(
                "run.under_fitting", WARNING,
                f"barely learning: the training loss fell {(first - t1) / first:.1%} over {n} "
                f"epochs ({first:.4g} -> {t1:.4g}) and the validation loss is {v1:.4g}",
                "raise the learning rate"
                + (f" (it was {lr:.0e})" if lr else "")
                + ": run the LR finder and take its valley; then train for more epochs",
                evidence={"first_train_loss": first, "last_train_loss": t1,
                          "last_valid_loss": v1, "epochs": n, "lr": lr},
            )
        ]  # fmt: skip
    if t0 <= 0 or (t0 - t1) / t0 < STILL_FALLING or v1 >= v0:
        return []
    return [
        Finding(
            "run.under_fitting", WARNING,
            f"still learning at the end: the last epoch cut the training loss by "
            f"{(t0 - t1) / t0:.0%} ({t0:.4g} -> {t1:.4g}) and the validation loss fell too "
            f"({v0:.4g} -> {v1:.4g})",
            f"train for more epochs (e.g. {2 * n} instead of {n}) or use a larger model; "
            "the validation loss had not stopped improving",
            evidence={"train_loss": [t0, t1], "valid_loss": [v0, v1], "epochs": n},
        )
    ]  # fmt: skip


@named("run.over_fitting")
def over_fitting(info: RunInfo) -> list[Finding]:
    """The validation loss rising from its best while the training loss falls, and the metric
    no better than at the best epoch (when the metric improves, see metric_loss_disagree)."""
    found = _loss_rise(info)
    if found is None or found["metric_improved"]:
        return []
    rows, best = info.epochs, found["best"]
    n = len(rows)
    metric = found["metric"]
    also = (
        f"; {metric} went from {found['metric_at_best']:.4g} to {found['metric_at_end']:.4g}"
        if metric
        else ""
    )
    return [
        Finding(
            "run.over_fitting", WARNING,
            f"over-fitting: the validation loss rose from {found['valid_best']:.4g} at "
            f"{_label(rows, best)} to {found['valid_end']:.4g} at {_label(rows, n - 1)} while "
            f"the training loss fell from {found['train_best']:.4g} to {found['train_end']:.4g}"
            + also,
            f"train for {best + 1} epoch{'s' * (best != 0)} instead of {n} (the best validation "
            f"loss was at {_label(rows, best)}), or add regularisation (augmentation, dropout, "
            "weight decay) and more data",
            evidence={k: v for k, v in found.items() if k != "metric_improved"}
            | {"best_epoch": _label(rows, best)},
        )
    ]  # fmt: skip


@named("run.metric_loss_disagree")
def metric_loss_disagree(info: RunInfo) -> list[Finding]:
    """The validation loss rising while the metric still improves: the model grows more
    confident about its mistakes, yet gets more right. Judge it by the metric."""
    found = _loss_rise(info)
    if found is None or not found["metric_improved"]:
        return []
    rows, best = info.epochs, found["best"]
    metric = found["metric"]
    return [
        Finding(
            "run.metric_loss_disagree", INFO,
            f"the validation loss rose from {found['valid_best']:.4g} at {_label(rows, best)} to "
            f"{found['valid_end']:.4g}, yet {metric} improved from "
            f"{found['metric_at_best']:.4g} to {found['metric_at_end']:.4g}",
            f"judge the model by {metric}, not the loss: keep training while {metric} improves, "
            "and keep the epoch with the best metric (SaveBest)",
            evidence={k: v for k, v in found.items() if k != "metric_improved"},
        )
    ]  # fmt: skip


LOSS_CHECKS = (nan_loss, exploding_loss, under_fitting, over_fitting, metric_loss_disagree)


# ------------------------------------------------------------------------------- helpers


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _all_finite(series: list[tuple[int, float]]) -> bool:
    return all(math.isfinite(v) for _, v in series)


def _show(value: float) -> str:
    return "NaN" if math.isnan(value) else "infinite"


def _series(rows: list[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    """``(row index, value)`` of the rows that hold a number under ``key``."""
    return [(i, float(r[key])) for i, r in enumerate(rows) if _number(r.get(key))]


def _label(rows: list[dict[str, Any]], i: int) -> str:
    """How a row is named: ``epoch 3``, or ``fit 2 epoch 1`` when the run made several fits."""
    if i < 0 or i >= len(rows):
        return "the start"
    row = rows[i]
    epoch = row.get("epoch", i)
    fits = {r.get("fit") for r in rows if r.get("fit") is not None}
    return f"fit {row['fit']} epoch {epoch}" if len(fits) > 1 else f"epoch {epoch}"


def _lower_lr(lr: float) -> float:
    """A tenth of ``lr``, or 1e-3 (a usual Adam LR) when a tenth would still be above 1e-2."""
    return lr / 10 if lr / 10 <= 1e-2 else 1e-3


def _epoch_metric(info: RunInfo) -> str | None:
    """The metric the epochs rows hold (the run's main one when they hold it), not a loss."""
    rows = info.epochs
    keys = [k for k in (rows[0] if rows else {}) if k not in ("fit", "epoch", "train_loss",
                                                              "valid_loss", "time")]  # fmt: skip
    if info.main_metric in keys:
        return info.main_metric
    return keys[0] if keys else None


def _loss_rise(info: RunInfo) -> dict[str, Any] | None:
    """Where the validation loss was best and how it ended, when it ended ``RISE`` above its
    best while the training loss fell from there; None otherwise."""
    rows = info.epochs
    valid = _series(rows, "valid_loss")
    if len(valid) < 3 or not _all_finite(valid) or len(valid) != len(rows):
        return None
    best = min(range(len(valid)), key=lambda i: valid[i][1])
    v_best, v_end = valid[best][1], valid[-1][1]
    t_best, t_end = rows[best].get("train_loss"), rows[-1].get("train_loss")
    if best == len(rows) - 1 or v_best <= 0 or v_end < (1 + RISE) * v_best:
        return None
    if not (finite_number(t_best) and finite_number(t_end) and t_end < t_best):
        return None
    metric = _epoch_metric(info)
    m_best = rows[best].get(metric) if metric else None
    m_end = rows[-1].get(metric) if metric else None
    improved = False
    if finite_number(m_best) and finite_number(m_end):
        improved = m_end < m_best if lower_is_better(metric) else m_end > m_best
    else:
        metric = None
    return {
        "best": best, "valid_best": v_best, "valid_end": v_end, "train_best": t_best,
        "train_end": t_end, "metric": metric, "metric_at_best": m_best, "metric_at_end": m_end,
        "metric_improved": improved,
    }  # fmt: skip
