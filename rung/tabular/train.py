"""``train_table``: from a CSV and a target column to a leaderboard, a run folder and a model file.

:func:`train_table` is a short recipe of named steps, each a public function a user can call
(or copy and edit) on their own: :func:`check_settings` -> :func:`load_table` ->
:func:`fit_models` -> :func:`rank_models` (:func:`~rung.tabular.leaderboard.leaderboard`,
:func:`pick_export`, the note) -> :func:`explain_run` -> :func:`export_model` ->
:func:`write_run`.

By default (``models="auto"``) every model is cross-validated on the training rows (5 folds,
:mod:`rung.tabular.bagging`), the leaderboard ranks them on their out-of-fold predictions, an
ensemble is chosen and weighted on those predictions (greedy selection with replacement), and
the validation rows score that ensemble once, at the end: no choice is made on the rows that
report the score. Models named one by one (``models="nn,rf"`` or ``"all"``, the course's way)
are fitted on the training rows and scored on the validation rows, beside a baseline that
always predicts the majority class (or the mean); each score comes with a bootstrap interval,
and the run's notes say whether the winner's margin is more than noise
(:mod:`rung.tabular.leaderboard`). The run folder ``<out>/<YYYYmmdd-HHMMSS>-<name>/``
holds ``config.json``, ``leaderboard.csv``, the net's ``metrics.csv``, ``lr_find.png`` and
``loss.png``, importance and partial dependence (CSV and PNG), a writeup, and ``model.rung``:
the best model (or the one asked for), which predicts in a fresh process with ``rung.load``.

Models (``models=`` names, ``"auto"`` or ``"all"``):

- ``linear``: logistic / ridge regression;  ``nn``: the tabular net;
- ``rf``: random forest;  ``gbm``: gradient boosting (HistGradientBoosting);
- ``lgbm``: LightGBM, early-stopped on an inner split (:mod:`rung.tabular.boosting`);
- ``nn_ensemble``: ``n_seeds`` nets averaged;  ``blend``: ``nn_ensemble`` + ``rf``, half each
  (both scored on the validation rows: not with ``folds``);
- with ``folds`` (``"auto"``'s default): ``weighted_ensemble``, chosen on out-of-fold
  predictions.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from rung.report import new_run_dir, record_run, save_json, write_writeup
from rung.tabular.bagging import (
    cv_baseline,
    fit_cv,
    fit_weighted_ensemble,
    forest_cv,
    kfold,
    smear,
)
from rung.tabular.boosting import fit_lightgbm
from rung.tabular.budget import TableBudget, resolve_budget
from rung.tabular.classic import fit_boosting, fit_forest, fit_linear
from rung.tabular.csvfile import read_csv
from rung.tabular.data import TabularData
from rung.tabular.features import get_features
from rung.tabular.fit import (
    FittedModel,
    baseline,
    blend,
    fit_nn,
    fit_nn_ensemble,
    net_settings,
)
from rung.tabular.leaderboard import (
    cv_note,
    held_out_row,
    leaderboard,
    main_metric,
    selection_note,
)
from rung.tabular.result import TableRun
from rung.tabular.settings import MODEL_NAMES, check_settings, cv_folds, model_name, parse_models

__all__ = [
    "train_table",
    "TableRun",
    "MODEL_NAMES",
    "parse_models",
    "check_settings",
    "load_table",
    "fit_models",
    "rank_models",
    "pick_export",
    "explain_run",
    "export_model",
    "write_run",
]


def train_table(
    source: str | Path | pd.DataFrame,
    target: str,
    models: str | Sequence[str] = "auto",
    *,
    folds: int | None = None,
    valid_pct: float = 0.2,
    seed: int = 42,
    out: str | Path = "runs",
    name: str | None = None,
    features: str | None = None,
    export: str = "best",
    layers: Sequence[int] | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    n_seeds: int = 5,
    n_estimators: int = 100,
    min_samples_leaf: int = 5,
    explain: bool = True,
    progress: bool = False,
    encoding: str | None = None,
    sep: str | None = None,
    data_options: dict[str, Any] | None = None,
    budget: str | float | None = "auto",
) -> TableRun:
    """Train the requested models on a table and write a run folder (see the module docstring).

    Args:
        source: a CSV path or a DataFrame. target: the column to predict.
        models: ``"auto"`` (cross-validated models and their weighted ensemble), names from
            ``MODEL_NAMES`` (a list or ``"nn,rf"``) or ``"all"``.
        folds: cross-validation folds of the training rows (``None``: 5 for ``"auto"``, else
            0: models fitted on the training rows and scored on the validation rows).
        valid_pct, seed: the random validation split (0.2 and 42 reproduce the course's).
        features: a named feature set to add first (``"titanic"``: the course's Title, Deck,
            Family, Alone, TicketFreq, LogFare); the model file applies it again at predict time.
        export: ``"best"`` (top of the leaderboard) or a model name to write to ``model.rung``.
        layers, epochs, lr, batch_size: the net (defaults by table size; lr by ``lr_find``).
        n_seeds: nets in ``nn_ensemble``. n_estimators, min_samples_leaf: the forest.
        explain: write importance and partial dependence plots and tables.
        progress: one line per model on stderr.
        encoding, sep: how to read a CSV ``source`` (default UTF-8 and ``,``); the model
            file keeps them to read test CSVs the same way.
        data_options: more arguments for :meth:`TabularData.from_df` (``cat_names``, ``drop``,
            ``valid_col``, ``time_col``, ``task``, ...).
        budget: the run's time (``"auto"``: 5 minutes; ``"10m"``, ``"90s"``, seconds, or
            None for none): it cuts folds, models and the net's epochs to fit, and the note
            says what it cut (:mod:`rung.tabular.budget`).

    >>> import pandas as pd, tempfile
    >>> df = pd.DataFrame({"x": [float(i % 7) for i in range(60)], "c": list("abc") * 20})
    >>> df["y"] = (df["x"] > 3).astype(int)
    >>> run = train_table(df, "y", models="linear,rf", out=tempfile.mkdtemp(), explain=False)
    >>> list(run.leaderboard["model"])[-1], run.model_path.name
    ('baseline', 'model.rung')
    >>> run = train_table(df, "y", models="linear,rf", folds=3, out=tempfile.mkdtemp(),
    ...                   explain=False)
    >>> run.exported, list(run.leaderboard["model"])[-1]
    ('weighted_ensemble', 'weighted_ensemble (held out)')
    """
    start = time.perf_counter()
    clock = TableBudget(resolve_budget(budget))  # a bad budget fails here, before any reading
    net = {"layers": layers, "epochs": epochs, "lr": lr, "batch_size": batch_size}
    forest = {"n_estimators": n_estimators, "min_samples_leaf": min_samples_leaf}
    settings = {
        "models": parse_models(models), "folds": cv_folds(models, folds),
        "valid_pct": valid_pct, "seed": seed,
        "features": features, "export": export, "net": net, "n_seeds": n_seeds,
        "forest": forest, "csv": {"encoding": encoding, "sep": sep},
        "data_options": dict(data_options or {}), "folds_given": folds,
        "budget": clock.seconds, "budget_cut": clock.notes,  # the list the budget fills
    }  # fmt: skip
    check_settings(settings)  # before reading anything: a bad setting fails in a second

    data = load_table(source, target, settings)
    stem = "table" if isinstance(source, pd.DataFrame) else Path(source).stem
    run_dir = new_run_dir(out, name or f"{stem}-{data.target.name}")
    _log(progress, data.summary())
    fits = fit_models(data, settings, path=run_dir, progress=progress, budget=clock)
    board, exported, note = rank_models(fits, data, settings)
    note += "\n" + clock.describe()
    board.to_csv(run_dir / "leaderboard.csv", index=False)
    plots = write_net_history(fits, run_dir)
    if explain:
        plots.update(explain_run(fits, exported, data, run_dir, seed=seed))
    model_path = export_model(run_dir / "model.rung", fits[exported], data, board, settings)
    source_name = "DataFrame" if isinstance(source, pd.DataFrame) else str(source)
    write_run(run_dir, source_name, data, fits[exported], settings, note, start, fits.get("nn"))
    return TableRun(run_dir, model_path, exported, board, data, fits, plots, note)


# ----------------------------------------------------------------------------- the steps
def load_table(
    source: str | Path | pd.DataFrame, target: str, settings: dict[str, Any] | None = None
) -> TabularData:
    """Read ``source`` (a CSV, with ``settings["csv"]``'s encoding and separator, or a
    DataFrame), add the named ``features`` and build :class:`TabularData` with the split and
    ``data_options`` of ``settings`` (defaults: the course's 20% split, seed 42).

    >>> df = pd.DataFrame({"x": range(20), "y": [0, 1] * 10})
    >>> len(load_table(df, "y", {"valid_pct": 0.25}).split.valid)
    5
    """
    settings = settings or {}
    csv = settings.get("csv") or {}
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        frame = read_csv(source, encoding=csv.get("encoding"), sep=csv.get("sep"))
    feature_set = get_features(settings.get("features"))
    if feature_set is not None:
        frame = feature_set(frame)
    options = dict(settings.get("data_options", {}))
    # the generic feature steps, unless a named recipe (the course's) says what to use
    options.setdefault("engineer", feature_set is None)
    return TabularData.from_df(
        frame,
        target,
        valid_pct=settings.get("valid_pct", 0.2),
        seed=settings.get("seed", 42),
        **options,
    )


def fit_models(
    data: TabularData,
    settings: dict[str, Any],
    path: str | Path | None = None,
    progress: bool = False,
    budget: TableBudget | None = None,
) -> dict[str, FittedModel]:
    """The baseline, then each model of ``settings["models"]`` in order, on the same rows.

    ``settings``: ``models`` (see :func:`parse_models`), ``folds`` (0: fit on the training
    rows; k: cross-validate each model on k folds of them, then add the weighted ensemble,
    :mod:`rung.tabular.bagging`), ``seed``, ``net`` (:func:`fit_nn`'s layers, epochs, lr,
    batch_size), ``n_seeds``, ``forest`` (n_estimators, min_samples_leaf). The net's
    ``lr_find`` plot goes to ``path``. ``budget``: the run's time rules
    (:class:`~rung.tabular.budget.TableBudget`: default folds, models left out, the net's
    epochs); ``settings["folds"]`` is set to the folds used."""
    budget = budget if budget is not None else TableBudget(None)
    seed, n_folds = settings.get("seed", 42), settings.get("folds", 0)
    if n_folds and settings.get("folds_given") is None:  # the default folds: the budget's
        n_folds = settings["folds"] = budget.folds(len(data.split.train), None)
    net, forest = dict(settings.get("net") or {}), dict(settings.get("forest") or {})
    folds = kfold(data, n_folds, seed) if n_folds else None

    def nn(fold: TabularData) -> FittedModel:  # lr_find once, on the first fold (or the data)
        first = not net.get("lr")
        share = budget.net_seconds_per_fold(n_folds) if first and not net.get("epochs") else None
        fit = fit_nn(fold, seed=seed, seconds_for_epochs=share,
                     **{**net, "path": path if first else None})  # fmt: skip
        net["lr"] = fit.extras["lr"]
        if share is not None:  # every fold trains what the first could fit
            budget.net_epochs(net_settings(len(fold.split.train)).epochs, fit.extras["epochs"])
            net["epochs"] = fit.extras["epochs"]
        return fit

    fitters = {
        "linear": fit_linear,
        "nn": nn,
        "rf": lambda d: fit_forest(d, seed=seed, **forest),
        "gbm": lambda d: fit_boosting(d, seed=seed),
        "lgbm": lambda d: fit_lightgbm(d, seed=seed),
        "nn_ensemble": lambda d: fit_nn_ensemble(
            d, settings.get("n_seeds", 5), seed=seed, first=fits["nn"], **{**net, "lr": None}
        ),
        "blend": lambda d: blend(d, [fits["nn_ensemble"], fits["rf"]]),
    }
    fits: dict[str, FittedModel] = {"baseline": baseline(data)}
    if folds:
        fits["baseline"] = cv_baseline(fits["baseline"], data, folds)
    for name in settings["models"]:
        _log(progress, f"fitting {name}" + (f" on {n_folds} folds ..." if folds else " ..."))
        if not folds:
            fits[name] = fitters[name](data)
        elif name == "rf":  # out-of-bag predictions are out-of-fold: one fit is enough
            fits[name] = forest_cv(fitters[name](data), data, folds)
        else:
            first = len(fits) == 1  # only the baseline so far: always kept

            def keep(seconds: float, left: int, name: str = name, first: bool = first) -> bool:
                return budget.keeps(name, seconds, left, first=first)

            fitted = fit_cv(name, fitters[name], data, folds, keep=keep)
            if fitted is None:
                _log(progress, f"  {budget.notes[-1]}")
                continue
            fits[name] = fitted
        _log(progress, f"  {name}: {fits[name].metrics} ({fits[name].seconds:.1f}s)")
    if folds:
        trained = {n: f for n, f in fits.items() if n != "baseline"}
        fits["weighted_ensemble"] = fit_weighted_ensemble(trained, data, folds)
        smear(fits, data, folds, "weighted_ensemble")  # a log-scale target's mean, not median
        _log(progress, f"  weighted_ensemble: {fits['weighted_ensemble'].description}")
    return fits


def rank_models(
    fits: dict[str, FittedModel], data: TabularData, settings: dict[str, Any]
) -> tuple[pd.DataFrame, str, str]:
    """``(leaderboard, the model to export, the note on what the scores mean)``: the board
    on out-of-fold predictions with the exported model's held-out row (``settings["folds"]``),
    or on the validation rows; the note names the feature steps too (the writeup shows it)."""
    folds = settings.get("folds", 0)
    board = leaderboard(fits, data, on="cv" if folds else "valid")
    exported = pick_export(board, settings.get("export", "best"))
    if folds:
        board = held_out_row(board, fits[exported], data)
        note = cv_note(board, fits, data, exported)
    else:
        note = selection_note(board, fits, data, exported)
    if data.steps is not None:
        made = "; ".join(data.steps.notes) or "none (no string column with many values)"
        note += f"\nFeature steps: {made}."
    return board, exported, note


def pick_export(board: pd.DataFrame, export: str = "best") -> str:
    """The model to export: the weighted ensemble when there is one (chosen on out-of-fold
    predictions), else the top trained model of the leaderboard; or the one named."""
    trained = [m for m in board["model"] if m != "baseline" and not m.endswith("(held out)")]
    if export == "best":
        if "weighted_ensemble" in trained:
            return "weighted_ensemble"
        return trained[0]  # the leaderboard is sorted best first
    name = model_name(export)
    if name not in trained:
        raise ValueError(
            f"export={export!r} is not a trained model; trained: {trained}, or 'best'."
        )
    return name


def write_net_history(fits: dict[str, FittedModel], run_dir: Path) -> dict[str, str]:
    """The net's metrics per epoch (``metrics.csv``) and its loss and ``lr_find`` plots.

    A cross-validated net's curves are its first fold's (its "validation" rows are that fold's
    held-out training rows): the plots are kept, ``metrics.csv`` is not, so the writeup
    doesn't show them as the validation rows' figures."""
    plots: dict[str, str] = {}
    if "nn" not in fits:
        return plots
    learner = fits["nn"].extras["learner"]
    if fits["nn"].oof_preds is None:
        learner.recorder.to_csv(run_dir / "metrics.csv", all_fits=False)  # not lr_find's sweep
    plots["loss"] = str(learner.recorder.plot_loss(run_dir / "loss.png"))
    if (run_dir / "lr_find.png").is_file():
        plots["lr_find"] = str(run_dir / "lr_find.png")
    return plots


def explain_run(
    fits: dict[str, FittedModel], exported: str, data: TabularData, run_dir: Path, seed: int = 42
) -> dict[str, str]:
    """Importance and partial dependence of the exported model (and the forest's impurity
    importance when there is a forest), written into ``run_dir``."""
    from rung.tabular.explain import explain

    forest = fits["rf"].extras["estimator"] if "rf" in fits else None
    return explain(fits[exported].module, data, run_dir, forest=forest, seed=seed)


def export_model(
    path: Path, fit: FittedModel, data: TabularData, board: pd.DataFrame, settings: dict
) -> Path:
    """Write ``fit``'s model file: the module, the preprocessing, the target, the feature set,
    how to read a CSV and the leaderboard, all a fresh process needs to predict."""
    from rung.modelfile import save_model_file

    config = {
        "kind": "tabular",
        "task": data.task,
        "target": data.target.name,
        "classes": data.classes,
        "y_range": data.y_range,
        "id_name": data.id_name,
        "features": settings.get("features"),
        "csv": {k: v for k, v in (settings.get("csv") or {}).items() if v is not None},
        "preprocessing": data.to_config(),
        "model_name": fit.name,
        "description": fit.description,
        "members": [m.description for m in fit.extras.get("members", [])],
        "metrics": fit.metrics,
        "rows": {"train": len(data.split.train), "valid": len(data.split.valid)},
        "leaderboard": board.to_dict(orient="records"),
    }
    return save_model_file(path, fit.module, config)


def write_run(
    run_dir: Path,
    source: str,
    data: TabularData,
    fit: FittedModel,
    settings: dict[str, Any],
    note: str,
    start: float,
    net_fit: FittedModel | None = None,
) -> None:
    """``config.json`` (the settings, the data, the exported model's metrics and the note on
    what they mean), the writeup, and the run's row in the runs index. With the net's fit
    (``net_fit``), its LR, where that came from and the LR finder's suggestions, for rung
    doctor's LR check."""
    from rung.report.run_checks import lr_find_entry

    seconds = round(time.perf_counter() - start, 2)
    data_config = data.to_config() | {
        "path": source,
        "n_train": len(data.split.train),
        "n_valid": len(data.split.valid),
    }
    config = {
        "kind": "tabular-run",
        "source": source,
        "target": data.target.name,
        **{k: settings[k] for k in ("models", "folds", "valid_pct", "seed", "features")},
        "export": fit.name,
        "net": {k: v for k, v in settings["net"].items() if v is not None}
        | {"n_seeds": settings["n_seeds"]},
        "forest": settings["forest"],
        "csv": settings["csv"],
        "data_options": settings["data_options"],
        "budget": {"seconds": settings.get("budget"), "cut": list(settings.get("budget_cut", []))},
        "data": data_config,
        "seconds": seconds,
        # what the writeup and the runs index read
        "app": "tabular",
        "task": data.task,
        "arch": fit.name,
        "metrics": fit.metrics,
        "main_metric": main_metric(data.task, data.target.log)[0],
        "duration_s": seconds,
        "notes": note,
        "facts": _facts(data, settings),
    }
    if net_fit is not None and net_fit.extras.get("lr") is not None:
        finder = net_fit.extras.get("lr_find")
        config["net"] |= {
            "lr": float(net_fit.extras["lr"]),
            "lr_source": "lr_find (recommended)" if finder is not None else "given",
        }
        if finder is not None:
            config["lr_find"] = lr_find_entry(finder)
    save_json(run_dir / "config.json", config)
    write_writeup(run_dir, title=f"{source}: predicting {data.target.name}")
    record_run(run_dir)


def _facts(data: TabularData, settings: dict[str, Any]) -> dict[str, Any]:
    """The writeup's facts: the split, the target on each side, the baseline, sample rows."""
    from rung.report.facts import run_facts, sample_rows, split_facts

    opts, n = settings["data_options"], (len(data.split.train), len(data.split.valid))
    ways = [
        ("column", "valid_col"),
        ("time", "time_col"),
        ("group", "group_col"),
        ("column", "split"),
    ]
    kind, column = next(
        ((k, opts[o]) for k, o in ways if opts.get(o) is not None), ("random", None)
    )
    pct = None if kind == "column" else settings["valid_pct"]
    seed = settings["seed"] if kind in ("random", "group") else None
    column = column if isinstance(column, str) else None  # split=: positions, not a column
    split = split_facts(kind, *n, pct, seed, column, settings["folds"])
    y = data.df[data.target.name].to_numpy()
    sample = sample_rows(data.df.columns, data.df.head(5).itertuples(index=False))
    y_train, y_valid = y[data.split.train], y[data.split.valid]
    return run_facts(y_train, y_valid, data.task, split, target=data.target.name, sample=sample)


def _log(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)
