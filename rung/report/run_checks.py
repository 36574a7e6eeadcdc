"""The doctor's checks of a run folder: is the model training properly, and if not, what to do.

:func:`diagnose_run` reads only the run folder (``config.json``, ``metrics.csv``,
``leaderboard.csv``, through :func:`~rung.report.run_info.read_run`) and runs each of
:data:`RUN_CHECKS` on it. Each finding carries the numbers it rests on and one next step;
:func:`next_steps` turns a run's diagnosis into the short "what to try next" list a writeup ends
with. A check that lacks what it needs (no baseline recorded, no LR finder suggestion kept)
says nothing rather than guess.

What the checks read from a run folder:

- ``metrics.csv``: one row per epoch (``fit``, ``epoch``, ``train_loss``, ``valid_loss``, the
  metrics), as :meth:`Recorder.to_csv` writes it; rows in the order they were trained;
- ``config.json``: the learning rate (``lr``, or ``hyperparameters.lr``, ``net.lr``), where it
  came from (``lr_source``) and the LR finder's suggestions when the app kept them
  (``lr_find``: ``{"valley": 1e-3, "recommended": 3e-3, ...}``);
- ``leaderboard.csv``: the models scored on the same rows, one of them ``baseline``.

>>> import tempfile
>>> from rung.report.run_folder import atomic_write_text, new_run_dir
>>> run = new_run_dir(tempfile.mkdtemp(), "images")
>>> _ = atomic_write_text(run / "metrics.csv", "epoch,train_loss,valid_loss,accuracy\\n"
...     "0,0.60,0.50,0.80\\n1,0.40,0.45,0.82\\n2,0.30,0.55,0.79\\n3,0.20,0.70,0.77\\n")
>>> diagnosis = diagnose_run(run)
>>> [f.check for f in diagnosis.findings]
['run.over_fitting']
>>> print(next_steps(diagnosis)[0])
train for 2 epochs instead of 4 (the best validation loss was at epoch 1), or add regularisation (augmentation, dropout, weight decay) and more data
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from rung.report.doctor import ERROR, INFO, WARNING, Diagnosis, Finding, diagnose, named
from rung.report.run_info import RunInfo, lower_is_better, read_csv_rows, read_run

__all__ = [
    "diagnose_run",
    "next_steps",
    "RUN_CHECKS",
    "nan_loss",
    "exploding_loss",
    "under_fitting",
    "over_fitting",
    "metric_loss_disagree",
    "lr_far_from_finder",
    "no_better_than_baseline",
    "LEADERBOARD_FILE",
]

LEADERBOARD_FILE = "leaderboard.csv"
EXPLODE_FACTOR = 2.0  # a loss that ends over this many times where it started has blown up
STILL_FALLING = 0.10  # the last epoch cut the training loss by at least this share: not done
STALLED = 0.05  # the training loss fell less than this share over the whole run: barely learning
STALLED_GAP = 0.9  # ... with the validation loss at least this share of it (not over-fitting)
RISE = 0.10  # the validation loss ended this share above its best: it is rising
LR_FACTOR = 10.0  # a learning rate this many times from the finder's suggestions is far from it


def diagnose_run(run_dir: str | os.PathLike) -> Diagnosis:
    """Run :data:`RUN_CHECKS` on the run folder ``run_dir`` (a folder :func:`read_run` reads).

    >>> import tempfile
    >>> from rung.report.run_folder import atomic_write_text, new_run_dir
    >>> run = new_run_dir(tempfile.mkdtemp(), "table")
    >>> _ = atomic_write_text(run / "metrics.csv", "epoch,train_loss,valid_loss\\n"
    ...                       "0,0.7,0.6\\n1,nan,nan\\n")
    >>> text = diagnose_run(run).format()
    >>> print(text[text.index("(run)"):])  # doctest: +ELLIPSIS
    (run): 1 finding from 7 checks
      error    the training loss became NaN at epoch 1 (it was 0.7 at epoch 0)
               next: lower the learning rate (try a tenth of it), or run the LR finder ...
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"no run folder at {str(path)!r}; give a run folder or 'latest'.")
    info = read_run(path)
    facts: dict[str, Any] = {"epochs": len(info.epochs)}
    if info.main_metric and info.metrics.get(info.main_metric) is not None:
        facts[info.main_metric] = info.metrics[info.main_metric]
    lr = _lr(info.config)
    if lr is not None:
        facts["lr"] = lr
    for problem in info.problems:
        facts.setdefault("problems", []).append(problem)
    return diagnose(info.path.name, "run", RUN_CHECKS, info, facts=facts)


def next_steps(diagnosis: Diagnosis, limit: int = 5) -> list[str]:
    """What to try next, from a run's diagnosis: the findings' next steps, worst first, each
    once, at most ``limit`` of them; an empty list when the checks found nothing.

    >>> d = Diagnosis("run", "run", findings=[
    ...     Finding("run.a", INFO, "a", "try a"), Finding("run.b", ERROR, "b", "fix b"),
    ...     Finding("run.c", ERROR, "c", "fix b")])
    >>> next_steps(d)
    ['fix b', 'try a']
    """
    steps: list[str] = []
    for finding in diagnosis.sorted_findings():
        if finding.next_step not in steps:
            steps.append(finding.next_step)
    return steps[:limit]


# ------------------------------------------------------------------------------- the checks


@named("run.nan_loss")
def nan_loss(info: RunInfo) -> list[Finding]:
    """A training or validation loss that became NaN or infinite: the weights are ruined."""
    rows = info.epochs
    for i, row in enumerate(rows):
        for key in ("train_loss", "valid_loss"):
            value = row.get(key)
            if _number(value) and not math.isfinite(value):
                what = "training" if key == "train_loss" else "validation"
                before = next((r[key] for r in reversed(rows[:i]) if _finite(r.get(key))), None)
                was = f" (it was {before:.4g} at {_label(rows, i - 1)})" if before else ""
                lr = _lr(info.config)
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
    lr = _lr(info.config)
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
        lr = _lr(info.config)
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


@named("run.lr_far_from_finder")
def lr_far_from_finder(info: RunInfo) -> list[Finding]:
    """A learning rate more than 10x away from the LR finder's suggestions (when the run kept
    them in ``config.json``'s ``lr_find``); silent when the LR came from the finder."""
    cfg = info.config
    lr, found = _lr(cfg), cfg.get("lr_find")
    if lr is None or not isinstance(found, dict):
        return []
    if str(cfg.get("lr_source", "")).startswith("lr_find"):
        return []
    suggested = {k: float(v) for k, v in found.items() if _finite(v) and v > 0}
    if not suggested:
        return []
    valley = suggested.get("valley")
    low, high = min(suggested.values()), max(suggested.values())
    if low / LR_FACTOR <= lr <= high * LR_FACTOR:
        return []
    target = valley if valley is not None else suggested.get("recommended", low)
    where = "valley" if valley is not None else "suggestion"
    direction = "lower" if lr > high else "raise"
    shown = ", ".join(f"{k} {v:.1e}" for k, v in suggested.items())
    return [
        Finding(
            "run.lr_far_from_finder", WARNING,
            f"the learning rate {lr:.1e} is {max(lr / high, low / lr):.0f}x "
            f"{'above' if lr > high else 'below'} the LR finder's suggestions ({shown})",
            f"{direction} the learning rate to ~{target:.0e} (the LR finder's {where})",
            evidence={"lr": lr, "lr_find": suggested, "lr_source": cfg.get("lr_source")},
        )
    ]  # fmt: skip


@named("run.no_better_than_baseline")
def no_better_than_baseline(info: RunInfo) -> list[Finding]:
    """The chosen model scoring no better than the leaderboard's baseline (the majority class
    or the mean) on the same rows, or with the baseline inside its bootstrap interval."""
    board = read_csv_rows(info.path / LEADERBOARD_FILE)
    base = next((r for r in board if r.get("model") == "baseline"), None)
    if base is None:
        return []  # no baseline recorded: nothing to compare with
    metric = _board_metric(board, info)
    if metric is None or not _finite(base.get(metric)):
        return []
    chosen_name = info.config.get("export") or info.arch
    same_rows = [
        r for r in board
        if r.get("model") != "baseline" and r.get("scored_on") == base.get("scored_on")
        and _finite(r.get(metric))
    ]  # fmt: skip
    chosen = next((r for r in same_rows if r.get("model") == chosen_name), None)
    chosen = chosen or (same_rows[0] if same_rows else None)
    if chosen is None:
        return []
    score, baseline = float(chosen[metric]), float(base[metric])
    lower = lower_is_better(metric)
    better = score < baseline if lower else score > baseline
    ci = (chosen.get("ci_low"), chosen.get("ci_high"))
    inside = _finite(ci[0]) and _finite(ci[1]) and ci[0] <= baseline <= ci[1]
    if better and not inside:
        return []
    evidence = {"metric": metric, "model": chosen["model"], "score": score,
                "baseline": baseline, "ci": list(ci) if inside else None,
                "scored_on": base.get("scored_on")}  # fmt: skip
    if not better:
        message = (
            f"{chosen['model']} scores {metric} {score:.4g}, no better than the baseline's "
            f"{baseline:.4g} ({base.get('description') or 'majority class or mean'})"
        )
    else:
        message = (
            f"{chosen['model']}'s {metric} {score:.4g} is not clearly better than the "
            f"baseline's {baseline:.4g}: the baseline is inside its bootstrap interval "
            f"[{ci[0]:.4g}, {ci[1]:.4g}]"
        )
    return [
        Finding(
            "run.no_better_than_baseline", WARNING, message,
            "the columns may not predict the target: check the target column, add features "
            "that carry signal (rung doctor on the CSV), or collect more rows",
            evidence=evidence,
        )
    ]  # fmt: skip


RUN_CHECKS = (
    nan_loss,
    exploding_loss,
    under_fitting,
    over_fitting,
    metric_loss_disagree,
    lr_far_from_finder,
    no_better_than_baseline,
)


# ------------------------------------------------------------------------------- helpers


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return _number(value) and math.isfinite(value)


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


def _lr(config: dict[str, Any]) -> float | None:
    for holder in (config, config.get("hyperparameters"), config.get("net"),
                   config.get("settings")):  # fmt: skip
        if isinstance(holder, dict) and _finite(holder.get("lr")) and holder["lr"] > 0:
            return float(holder["lr"])
    return None


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
    if not (_finite(t_best) and _finite(t_end) and t_end < t_best):
        return None
    metric = _epoch_metric(info)
    m_best = rows[best].get(metric) if metric else None
    m_end = rows[-1].get(metric) if metric else None
    improved = False
    if _finite(m_best) and _finite(m_end):
        improved = m_end < m_best if lower_is_better(metric) else m_end > m_best
    else:
        metric = None
    return {
        "best": best, "valid_best": v_best, "valid_end": v_end, "train_best": t_best,
        "train_end": t_end, "metric": metric, "metric_at_best": m_best, "metric_at_end": m_end,
        "metric_improved": improved,
    }  # fmt: skip


def _board_metric(board: list[dict[str, Any]], info: RunInfo) -> str | None:
    """The leaderboard's ranking metric: the run's main one, else the first score column."""
    columns = list(board[0]) if board else []
    wanted = [info.config.get("main_metric"), info.main_metric, "accuracy", "rmsle", "rmse"]
    return next((m for m in wanted if m in columns), None)
