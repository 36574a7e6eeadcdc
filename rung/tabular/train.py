"""``train_table``: from a CSV and a target column to a leaderboard, a run folder and a model file.

Every model is fitted on the same preprocessed training rows and scored on the same validation
rows, beside a baseline that always predicts the majority class (or the mean). The run folder
``<out>/<YYYYmmdd-HHMMSS>-<name>/`` holds ``config.json``, ``leaderboard.csv``, the net's
``metrics.csv``, ``lr_find.png`` and ``loss.png``, importance and partial dependence (CSV and
PNG), and ``model.rung``: the best model (or the one asked for), which predicts in a fresh
process with ``rung.load``.

Models (``models=`` names, or ``"all"``):

- ``linear``: logistic / ridge regression;  ``nn``: the tabular net;
- ``rf``: random forest;  ``gbm``: gradient boosting (HistGradientBoosting);
- ``nn_ensemble``: ``n_seeds`` nets averaged;  ``blend``: ``nn_ensemble`` + ``rf``, half each.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rung.report import new_run_dir, record_run, save_json, write_writeup
from rung.tabular.classic import fit_boosting, fit_forest, fit_linear
from rung.tabular.data import TabularData
from rung.tabular.features import get_features
from rung.tabular.fit import FittedModel, baseline, blend, fit_nn, fit_nn_ensemble
from rung.utils import closest

__all__ = ["train_table", "TableRun", "MODEL_NAMES", "parse_models"]

MODEL_NAMES = ("linear", "nn", "rf", "gbm", "nn_ensemble", "blend")
_ALIASES = {
    "net": "nn",
    "neural_net": "nn",
    "logistic": "linear",
    "ridge": "linear",
    "forest": "rf",
    "random_forest": "rf",
    "boosting": "gbm",
    "hgb": "gbm",
    "gradient_boosting": "gbm",
    "ensemble": "blend",
}
_NEEDS = {"nn_ensemble": ("nn",), "blend": ("nn", "nn_ensemble", "rf")}


def parse_models(models: str | Sequence[str]) -> list[str]:
    """Model names from ``"all"``, ``"nn,rf"`` or a list (aliases such as ``forest`` or
    ``ensemble`` allowed), in training order, with the models an ensemble is made of.

    >>> parse_models("rf,nn")
    ['nn', 'rf']
    >>> parse_models(["blend"])
    ['nn', 'rf', 'nn_ensemble', 'blend']
    """
    if isinstance(models, str):
        models = list(MODEL_NAMES) if models == "all" else models.split(",")
    wanted = set()
    for raw in models:
        name = _ALIASES.get(raw.strip().lower(), raw.strip().lower())
        if name not in MODEL_NAMES:
            raise ValueError(
                f"unknown model {raw!r}; choose from {list(MODEL_NAMES)} or 'all'"
                f"{closest(name, [*MODEL_NAMES, *_ALIASES])}."
            )
        wanted |= {name, *_NEEDS.get(name, ())}
    if not wanted:
        raise ValueError(f"no models given; choose from {list(MODEL_NAMES)} or 'all'.")
    return [n for n in ("linear", "nn", "rf", "gbm", "nn_ensemble", "blend") if n in wanted]


@dataclass
class TableRun:
    """What :func:`train_table` did: the ``leaderboard``, every fitted model (``fits``),
    the ``exported`` model's name, the ``run_dir`` and ``model_path``, plots (``plots``)."""

    run_dir: Path
    model_path: Path | None
    exported: str | None
    leaderboard: pd.DataFrame
    data: TabularData
    fits: dict[str, FittedModel]
    plots: dict[str, str] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        """The exported model's validation metrics, by name."""
        return dict(self.fits[self.exported].metrics) if self.exported else {}

    @property
    def summary(self) -> str:
        """The leaderboard as text, and where the model went."""
        shown = self.leaderboard.drop(columns=["description"]).round(4)
        lines = [
            f"{len(self.data.split.valid)} validation rows, target {self.data.target.name!r} "
            f"({self.data.task})",
            shown.to_string(index=False),
        ]
        if self.model_path is not None:
            lines.append(f"exported {self.exported} to {self.model_path}")
        lines.append(f"run folder: {self.run_dir}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: run_dir, model_path, exported, metrics, leaderboard rows, plots, summary."""
        from rung.models.registry import json_ready

        return json_ready(
            {
                "run_dir": str(self.run_dir),
                "model_path": None if self.model_path is None else str(self.model_path),
                "exported": self.exported,
                "task": self.data.task,
                "metrics": self.metrics,
                "leaderboard": self.leaderboard.to_dict(orient="records"),
                "plots": self.plots,
                "summary": self.summary,
            }
        )


def _leaderboard(fits: dict[str, FittedModel], task: str) -> pd.DataFrame:
    rows = []
    for name, fit in fits.items():
        row = {"model": name, **fit.metrics}
        if "oob_score" in fit.extras:
            row["oob_score"] = fit.extras["oob_score"]
        row["seconds"] = round(fit.seconds, 2)
        row["description"] = fit.description
        rows.append(row)
    table = pd.DataFrame(rows)
    if task == "classification":
        return table.sort_values(["accuracy", "loss"], ascending=[False, True], ignore_index=True)
    return table.sort_values(["rmse"], ignore_index=True)


def _pick_export(board: pd.DataFrame, export: str) -> str:
    trained = [m for m in board["model"] if m != "baseline"]
    if export == "best":
        return trained[0]  # the leaderboard is sorted best first
    name = _ALIASES.get(export, export)
    if name not in trained:
        raise ValueError(
            f"export={export!r} is not a trained model; trained: {trained}, or 'best'"
            f"{closest(name, trained)}."
        )
    return name


def _log(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def train_table(
    source: str | Path | pd.DataFrame,
    target: str,
    models: str | Sequence[str] = "all",
    *,
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
    data_options: dict[str, Any] | None = None,
) -> TableRun:
    """Train the requested models on a table and write a run folder (see the module docstring).

    Args:
        source: a CSV path or a DataFrame. target: the column to predict.
        models: names from ``MODEL_NAMES`` (a list or ``"nn,rf"``) or ``"all"``.
        valid_pct, seed: the random validation split (0.2 and 42 reproduce the course's).
        features: a named feature set to add first (``"titanic"``: the course's Title, Deck,
            Family, Alone, TicketFreq, LogFare); the model file applies it again at predict time.
        export: ``"best"`` (top of the leaderboard) or a model name to write to ``model.rung``.
        layers, epochs, lr, batch_size: the net (defaults by table size; lr by ``lr_find``).
        n_seeds: nets in ``nn_ensemble``. n_estimators, min_samples_leaf: the forest.
        explain: write importance and partial dependence plots and tables.
        progress: one line per model on stderr.
        data_options: more arguments for :meth:`TabularData.from_df` (``cat_names``, ``drop``,
            ``valid_col``, ``time_col``, ``task``, ...).

    >>> import pandas as pd, tempfile
    >>> df = pd.DataFrame({"x": [float(i % 7) for i in range(60)], "c": list("abc") * 20})
    >>> df["y"] = (df["x"] > 3).astype(int)
    >>> run = train_table(df, "y", models="linear,rf", out=tempfile.mkdtemp(), explain=False)
    >>> list(run.leaderboard["model"])[-1], run.model_path.name
    ('baseline', 'model.rung')
    """
    start = time.perf_counter()
    names = parse_models(models)
    if isinstance(source, pd.DataFrame):
        frame, stem = source, "table"
    elif Path(source).is_file():
        frame, stem = pd.read_csv(source), Path(source).stem
    else:
        raise FileNotFoundError(f"no CSV file at {str(source)!r}.")
    feature_set = get_features(features)
    if feature_set is not None:
        frame = feature_set(frame)
    options = dict(data_options or {})
    data = TabularData.from_df(frame, target, valid_pct=valid_pct, seed=seed, **options)
    run_dir = new_run_dir(out, name or f"{stem}-{data.target.name}")
    _log(progress, data.summary())

    fits: dict[str, FittedModel] = {"baseline": baseline(data)}
    net_args = {"layers": layers, "epochs": epochs, "lr": lr, "batch_size": batch_size}
    for model in names:
        _log(progress, f"fitting {model} ...")
        if model == "linear":
            fits[model] = fit_linear(data)
        elif model == "nn":
            fits[model] = fit_nn(data, seed=seed, path=run_dir, **net_args)
        elif model == "rf":
            fits[model] = fit_forest(
                data, n_estimators=n_estimators, min_samples_leaf=min_samples_leaf, seed=seed
            )
        elif model == "gbm":
            fits[model] = fit_boosting(data, seed=seed)
        elif model == "nn_ensemble":
            fits[model] = fit_nn_ensemble(
                data, n_seeds, seed=seed, first=fits["nn"], **{**net_args, "lr": None}
            )
        elif model == "blend":
            fits[model] = blend(data, [fits["nn_ensemble"], fits["rf"]])
        _log(progress, f"  {model}: {fits[model].metrics} ({fits[model].seconds:.1f}s)")

    board = _leaderboard(fits, data.task)
    exported = _pick_export(board, export)
    board.to_csv(run_dir / "leaderboard.csv", index=False)
    plots = _write_net_history(fits, run_dir)
    if explain:
        forest = fits["rf"].extras["estimator"] if "rf" in fits else None
        plots.update(_explain(fits[exported].module, data, run_dir, forest, seed))
    model_path = _export(run_dir / "model.rung", fits[exported], data, board, features)
    config = {
        "kind": "tabular-run",
        "source": "DataFrame" if isinstance(source, pd.DataFrame) else str(source),
        "target": data.target.name,
        "models": names,
        "valid_pct": valid_pct,
        "seed": seed,
        "features": features,
        "export": exported,
        "net": {k: v for k, v in net_args.items() if v is not None} | {"n_seeds": n_seeds},
        "forest": {"n_estimators": n_estimators, "min_samples_leaf": min_samples_leaf},
        "data_options": options,
        "data": data.to_config(),
        "seconds": round(time.perf_counter() - start, 2),
        # what the writeup and the runs index read
        "app": "tabular",
        "task": data.task,
        "arch": exported,
        "metrics": fits[exported].metrics,
        "main_metric": "accuracy" if data.task == "classification" else "rmse",
        "duration_s": round(time.perf_counter() - start, 2),
    }
    config["data"]["path"] = config["source"]
    config["data"]["n_train"], config["data"]["n_valid"] = (
        len(data.split.train),
        len(data.split.valid),
    )
    save_json(run_dir / "config.json", config)
    write_writeup(run_dir, title=f"{config['source']}: predicting {data.target.name}")
    record_run(run_dir)
    return TableRun(run_dir, model_path, exported, board, data, fits, plots)


def _write_net_history(fits: dict[str, FittedModel], run_dir: Path) -> dict[str, str]:
    plots: dict[str, str] = {}
    if "nn" not in fits:
        return plots
    learner = fits["nn"].extras["learner"]
    learner.recorder.to_csv(run_dir / "metrics.csv", all_fits=False)  # not the lr_find sweep
    plots["loss"] = str(learner.recorder.plot_loss(run_dir / "loss.png"))
    if (run_dir / "lr_find.png").is_file():
        plots["lr_find"] = str(run_dir / "lr_find.png")
    return plots


def _explain(module: Any, data: TabularData, run_dir: Path, forest: Any, seed: int) -> dict:
    from rung.tabular.explain import explain

    return explain(module, data, run_dir, forest=forest, seed=seed)


def _export(
    path: Path, fit: FittedModel, data: TabularData, board: pd.DataFrame, features: str | None
) -> Path:
    from rung.modelfile import save_model_file

    config = {
        "kind": "tabular",
        "task": data.task,
        "target": data.target.name,
        "classes": data.classes,
        "y_range": data.y_range,
        "id_name": data.id_name,
        "features": features,
        "preprocessing": data.to_config(),
        "model_name": fit.name,
        "description": fit.description,
        "members": [m.description for m in fit.extras.get("members", [])],
        "metrics": fit.metrics,
        "rows": {"train": len(data.split.train), "valid": len(data.split.valid)},
        "leaderboard": board.to_dict(orient="records"),
    }
    return save_model_file(path, fit.module, config)
