"""The doctor's checks of a run folder: is the model training properly, and if not, what to do.

:func:`diagnose_run` reads only the run folder (``config.json``, ``metrics.csv``,
``leaderboard.csv``, through :func:`~rung.report.run_info.read_run`) and runs each of
:data:`RUN_CHECKS` on it: the checks of the loss curves (:mod:`rung.report.loss_checks`,
re-exported here) and, here, those of the learning rate and the leaderboard. Each finding
carries the numbers it rests on and one next step;
:func:`next_steps` turns a run's diagnosis into the short "what to try next" list a writeup ends
with. A check that lacks what it needs (no baseline recorded, no LR finder suggestion kept)
says nothing rather than guess.

What the checks read from a run folder:

- ``metrics.csv``: one row per epoch (``fit``, ``epoch``, ``train_loss``, ``valid_loss``, the
  metrics), as :meth:`Recorder.to_csv` writes it; rows in the order they were trained;
- ``config.json``: the learning rate and where it came from (``lr``, ``lr_source``: at the top
  level or under ``hyperparameters``, ``net`` or ``training``, see
  :func:`~rung.report.run_info.run_setting`) and the LR finder's suggestions when lr_find ran
  (``lr_find``: ``{"valley": 1e-3, "recommended": 3e-3, ...}``, :func:`lr_find_entry`);
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

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rung.report.doctor import WARNING, Diagnosis, Finding, diagnose, named
from rung.report.loss_checks import (
    LOSS_CHECKS,
    exploding_loss,
    metric_loss_disagree,
    nan_loss,
    over_fitting,
    under_fitting,
)
from rung.report.run_info import (
    RunInfo,
    finite_number,
    lower_is_better,
    read_csv_rows,
    read_run,
    run_lr,
    run_setting,
)

if TYPE_CHECKING:
    from rung.callbacks.lr_finder import LRFindResult

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
    "lr_find_entry",
    "LEADERBOARD_FILE",
]

LEADERBOARD_FILE = "leaderboard.csv"
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
    lr = run_lr(info.config)
    if lr is not None:
        facts["lr"] = lr
    for problem in info.problems:
        facts.setdefault("problems", []).append(problem)
    return diagnose(info.path.name, "run", RUN_CHECKS, info, facts=facts)


def next_steps(diagnosis: Diagnosis, limit: int = 5) -> list[str]:
    """What to try next, from a run's diagnosis: the findings' next steps, worst first, each
    once, at most ``limit`` of them; an empty list when the checks found nothing.

    >>> from rung.report.doctor import ERROR, INFO
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


# ---------------------------------------------------- the checks of the config and the leaderboard


# what config.json's lr_find may hold that is a learning rate (the rest, like the sweep's
# seconds, is not)
LR_SUGGESTIONS = ("valley", "slide", "minimum", "steep", "recommended")


@named("run.lr_far_from_finder")
def lr_far_from_finder(info: RunInfo) -> list[Finding]:
    """A learning rate more than 10x away from the LR finder's suggestions (when the run kept
    them in ``config.json``'s ``lr_find``); silent when the LR came from the finder."""
    cfg = info.config
    lr, found = run_lr(cfg), cfg.get("lr_find")
    if lr is None or not isinstance(found, dict):
        return []
    source = run_setting(cfg, "lr_source")
    if str(source or "").startswith("lr_find"):
        return []
    suggested = {
        k: float(v) for k, v in found.items()
        if k in LR_SUGGESTIONS and finite_number(v) and v > 0
    }  # fmt: skip
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
            evidence={"lr": lr, "lr_find": suggested, "lr_source": source},
        )
    ]  # fmt: skip


def lr_find_entry(found: LRFindResult) -> dict[str, float]:
    """What an app keeps of an LR finder's result in ``config.json``'s ``lr_find``, for
    :func:`lr_far_from_finder`: each suggestion (``valley``, ``slide``, ``minimum``,
    ``steep``) and ``recommended`` (what rung's apps train at), as floats.

    >>> from rung.callbacks.lr_finder import LRFindResult
    >>> lr_find_entry(LRFindResult(None, None, {"valley": 1e-3, "slide": 4e-3}))
    {'valley': 0.001, 'slide': 0.004, 'recommended': 0.004}
    """
    entry = {str(k): float(v) for k, v in found.suggestions.items()}
    return entry | {"recommended": float(found.recommended)}


@named("run.no_better_than_baseline")
def no_better_than_baseline(info: RunInfo) -> list[Finding]:
    """The chosen model scoring no better than the leaderboard's baseline (the majority class
    or the mean) on the same rows, or with the baseline inside its bootstrap interval."""
    board = read_csv_rows(info.path / LEADERBOARD_FILE)
    base = next((r for r in board if r.get("model") == "baseline"), None)
    if base is None:
        return []  # no baseline recorded: nothing to compare with
    metric = _board_metric(board, info)
    if metric is None or not finite_number(base.get(metric)):
        return []
    chosen_name = info.config.get("export") or info.arch
    same_rows = [
        r for r in board
        if r.get("model") != "baseline" and r.get("scored_on") == base.get("scored_on")
        and finite_number(r.get(metric))
    ]  # fmt: skip
    chosen = next((r for r in same_rows if r.get("model") == chosen_name), None)
    chosen = chosen or (same_rows[0] if same_rows else None)
    if chosen is None:
        return []
    score, baseline = float(chosen[metric]), float(base[metric])
    lower = lower_is_better(metric)
    better = score < baseline if lower else score > baseline
    ci = (chosen.get("ci_low"), chosen.get("ci_high"))
    inside = finite_number(ci[0]) and finite_number(ci[1]) and ci[0] <= baseline <= ci[1]
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
    *LOSS_CHECKS,  # rung.report.loss_checks: what metrics.csv says
    lr_far_from_finder,
    no_better_than_baseline,
)


# ------------------------------------------------------------------------------- helpers


def _board_metric(board: list[dict[str, Any]], info: RunInfo) -> str | None:
    """The leaderboard's ranking metric: the run's main one, else the first score column."""
    columns = list(board[0]) if board else []
    wanted = [info.config.get("main_metric"), info.main_metric, "accuracy", "rmsle", "rmse"]
    return next((m for m in wanted if m in columns), None)
