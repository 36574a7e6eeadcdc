"""rung's default tables model against plain gradient boosting, on the same validation rows.

For each table, the rows are cut into ``--folds`` outer folds (seeded); each fold in turn is the
validation set, and on the same training rows we fit

- ``rung``: ``train_table(df, target)`` with no options (its default: linear, nn, rf, gbm and
  lgbm cross-validated on the training rows, their weighted ensemble exported, within the
  default 5-minute budget; the summary says what the budget cut, if anything), scored by
  loading the exported model file and predicting the validation rows (for a log-scale target
  the figures without the smearing factor are kept too, as ``rmse_median``);
- ``hgb``: scikit-learn's ``HistGradientBoosting`` with its defaults;
- ``lgbm``: LightGBM with its defaults;

each baseline twice: on the table as a plain user would give it (the target and id columns
left out, text columns as ordinal codes, one code per distinct string, missing values left to
the library), and (``hgb_cols``, ``lgbm_cols``) on the columns rung's roles keep, as rung's
models get them before its feature steps (category codes and numbers, free text left out). Scores: accuracy and log loss (classification); rmse, and rmsle on
``log1p`` of predictions clipped at 0 (regression). The table printed gives each model's mean
and fold-to-fold standard deviation, and rung's mean paired difference from each baseline
with its standard deviation across folds.

    .venv/bin/python benchmarks/tabular_leaderboard.py                     # both tables
    .venv/bin/python benchmarks/tabular_leaderboard.py --tables titanic --folds 5
    .venv/bin/python benchmarks/tabular_leaderboard.py --tables california --rows 5000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # a shared 2-core machine: one thread each

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TABLES = {
    "titanic": (DATA / "titanic" / "train.csv", "Survived", "classification", ["PassengerId"]),
    "california": (
        DATA / "california_housing" / "housing.csv",
        "median_house_value",
        "regression",
        [],
    ),
}


def outer_folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    """``k`` disjoint sets of validation rows covering the table."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[i::k]) for i in range(k)]


def plain_features(df: pd.DataFrame, target: str, ids: list[str]) -> pd.DataFrame:
    """The table as a plain user gives it to a boosting library: numbers as they are, text
    as ordinal codes (missing stays missing)."""
    x = df.drop(columns=[target, *ids])
    for col in x.columns:
        if not pd.api.types.is_numeric_dtype(x[col]):
            codes, _ = pd.factorize(x[col])
            x[col] = np.where(codes < 0, np.nan, codes)
    return x.astype(np.float64)


def scores(task: str, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    if task == "classification":
        p = np.clip(pred[np.arange(len(y)), y], 1e-15, 1)
        return {
            "accuracy": float((pred.argmax(1) == y).mean()),
            "logloss": float(-np.log(p).mean()),
        }
    rmse = float(np.sqrt(((pred - y) ** 2).mean()))
    rmsle = float(np.sqrt(((np.log1p(np.clip(pred, 0, None)) - np.log1p(y)) ** 2).mean()))
    return {"rmse": rmse, "rmsle": rmsle}


def rung_columns(df: pd.DataFrame, target: str, train: np.ndarray, valid: np.ndarray):
    """The columns rung's roles keep, processed as its models get them (no feature steps)."""
    from rung.data.splitters import Split
    from rung.tabular.data import TabularData

    data = TabularData.from_df(df, target, split=Split(train, valid), log_target=False)
    x = pd.concat([data.xs("train"), data.xs("valid")]).sort_index()
    return x.reset_index(drop=True)


def baselines(task: str, xs: dict[str, pd.DataFrame], y: np.ndarray, train, valid) -> dict:
    import lightgbm as lgb
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    out = {}
    classify = task == "classification"
    for suffix, x in xs.items():
        models = {
            "hgb": (HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor)(
                random_state=0
            ),
            "lgbm": (lgb.LGBMClassifier if classify else lgb.LGBMRegressor)(
                random_state=0, n_jobs=1, verbose=-1
            ),
        }
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(x.iloc[train], y[train])
            rows = x.iloc[valid]
            pred = model.predict_proba(rows) if classify else model.predict(rows)
            result = scores(task, y[valid], pred) | {"seconds": time.perf_counter() - start}
            out[name + suffix] = result
    return out


def rung_default(df: pd.DataFrame, target: str, task: str, train, valid, out: Path) -> dict:
    import rung
    from rung.data.splitters import Split
    from rung.tabular.train import train_table

    start = time.perf_counter()
    run = train_table(
        df, target, out=out, explain=False, data_options={"split": Split(train, valid)}
    )
    seconds = time.perf_counter() - start
    predictor = rung.load(run.model_path)
    rows = df.iloc[valid]
    y = df[target].to_numpy()[valid]
    if task == "classification":
        codes = np.searchsorted(np.asarray(predictor.target.classes), y)
        result = scores(task, codes, predictor.predict_proba(rows))
    else:
        result = scores(task, y, predictor.predict(rows)[target].to_numpy())
    per_model = run.leaderboard.set_index("model")["seconds"].to_dict()
    weights = run.fits[run.exported].extras.get("weights", {})
    cut = json.loads((run.run_dir / "config.json").read_text())["budget"]["cut"]
    extra = {"seconds": seconds, "model_seconds": per_model, "weights": weights, "cut": cut}
    if task == "regression" and run.data.target.log:  # without the smearing factor: medians
        median = scores(task, y, np.expm1(run.fits[run.exported].valid_preds))
        extra |= {f"{k}_median": v for k, v in median.items()}
        extra["log_factor"] = run.data.target.log_factor
    return result | extra


def bench(name: str, k: int, seed: int, rows: int | None) -> dict:
    path, target, task, ids = TABLES[name]
    df = pd.read_csv(path)
    if rows is not None and rows < len(df):
        df = df.sample(rows, random_state=seed).reset_index(drop=True)
    x = plain_features(df, target, ids)
    y = df[target].to_numpy()
    if task == "classification":
        y = np.searchsorted(np.unique(y), y)
    folds = []
    out = Path(tempfile.mkdtemp())
    for i, valid in enumerate(outer_folds(len(df), k, seed)):
        train = np.setdiff1d(np.arange(len(df)), valid)
        xs = {"": x, "_cols": rung_columns(df, target, train, valid)}
        result = baselines(task, xs, y, train, valid)
        result["rung"] = rung_default(df, target, task, train, valid, out)
        folds.append(result)
        print(f"{name} fold {i}: " + json.dumps(
            {m: {s: round(v, 4) for s, v in r.items() if isinstance(v, float)}
             for m, r in result.items()}), flush=True)  # fmt: skip
    return {"table": name, "rows": len(df), "folds": folds, "task": task}


def summary(result: dict) -> str:
    folds = result["folds"]
    metrics = ["accuracy", "logloss"] if result["task"] == "classification" else ["rmse", "rmsle"]
    lines = [f"{result['table']}: {result['rows']} rows, {len(folds)} outer folds (mean +/- std)"]
    for model in ("rung", "hgb", "lgbm", "hgb_cols", "lgbm_cols"):
        cells = []
        for m in [*metrics, "seconds"]:
            v = np.array([f[model][m] for f in folds])
            cells.append(f"{m} {v.mean():.4f} +/- {v.std():.4f}")
        lines.append(f"  {model:9s} " + ", ".join(cells))
        if model == "rung" and "rmse_median" in folds[0]["rung"]:
            v = np.array([f["rung"]["rmse_median"] for f in folds])
            lines.append(
                f"  {'':9s} (without the smearing factor: rmse {v.mean():.4f} +/- {v.std():.4f})"
            )
    cuts = sorted({c for f in folds for c in f["rung"].get("cut", [])})
    lines.append(f"  rung's time budget cut: {'; '.join(cuts) if cuts else 'nothing'}")
    for base in ("hgb", "lgbm", "hgb_cols", "lgbm_cols"):
        cells = []
        for m in metrics:
            d = np.array([f["rung"][m] - f[base][m] for f in folds])
            cells.append(f"{m} {d.mean():+.4f} +/- {d.std():.4f}")
        lines.append(f"  rung - {base}: " + ", ".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", default="titanic,california")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, help="subsample each table to this many rows")
    parser.add_argument("--json", help="write every fold's figures to this file")
    args = parser.parse_args()
    results = [bench(t, args.folds, args.seed, args.rows) for t in args.tables.split(",")]
    for result in results:
        print(summary(result))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
