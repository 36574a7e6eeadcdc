"""LightGBM, early-stopped, exported as arrays: the model file predicts what LightGBM does."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import torch

import rung
from rung.tabular.boosting import fit_lightgbm, from_lightgbm
from rung.tabular.data import TabularData
from rung.tabular.models import predict_module
from rung.tabular.train import train_table


@pytest.fixture(scope="module")
def titanic(titanic_dir) -> pd.DataFrame:
    return pd.read_csv(titanic_dir / "train.csv")


def _lightgbm_own(fit, data: TabularData, which: str = "valid") -> np.ndarray:
    est = fit.extras["estimator"]
    x = data.xs(which).to_numpy(np.float64)
    if data.task == "classification":
        return est.predict_proba(x, num_iteration=fit.extras["n_trees"])
    return est.predict(x, num_iteration=fit.extras["n_trees"])


@pytest.mark.parametrize("target", ["Survived", "Pclass"])  # two classes, three classes
def test_exported_classifier_predicts_lightgbms_probabilities(titanic, target):
    data = TabularData.from_df(titanic, target)
    fit = fit_lightgbm(data)
    np.testing.assert_allclose(fit.valid_preds, _lightgbm_own(fit, data), rtol=0, atol=1e-9)
    assert fit.valid_preds.shape == (178, data.target.n_out)
    assert fit.metrics["accuracy"] > (0.75 if target == "Survived" else 0.6)


def test_exported_regressor_predicts_lightgbms_values_on_the_log_scale(california):
    data = TabularData.from_df(california, "median_house_value")
    assert data.target.log  # skewed and positive: learned as log1p
    fit = fit_lightgbm(data)
    np.testing.assert_allclose(fit.valid_preds, _lightgbm_own(fit, data), rtol=0, atol=1e-9)
    train = data.train
    own_train = fit.extras["estimator"].predict(
        data.xs("train").to_numpy(np.float64), num_iteration=fit.extras["n_trees"]
    )
    np.testing.assert_allclose(predict_module(fit.module, train.cats, train.conts), own_train,
                               rtol=0, atol=1e-9)  # fmt: skip


def test_early_stopping_stops_before_the_cap(titanic):
    fit = fit_lightgbm(TabularData.from_df(titanic, "Survived"))
    assert 10 < fit.extras["n_trees"] < 3000
    assert "early-stopped on 71 held-out training rows" in fit.description


def test_a_categorical_split_is_refused_with_the_way_out():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(300, 1)).astype(float)
    y = (x[:, 0] % 2 == 0).astype(float) + rng.normal(0, 0.1, 300)
    est = lgb.LGBMRegressor(n_estimators=3, verbose=-1, min_child_samples=5)
    est.fit(x, y, categorical_feature=[0])
    with pytest.raises(ValueError, match="numeric '<=' splits"):
        from_lightgbm(est.booster_.dump_model(), n_out=1)


def test_lgbm_model_file_predicts_in_the_targets_units(california, tmp_path):
    run = train_table(california, "median_house_value", models="lgbm", out=tmp_path,
                      explain=False)  # fmt: skip
    predictor = rung.load(run.model_path)
    rows = california.iloc[run.data.split.valid]
    values = predictor.predict(rows)["median_house_value"].to_numpy()
    np.testing.assert_allclose(values, np.expm1(run.fits["lgbm"].valid_preds), rtol=1e-12)
    assert 50_000 < np.median(values) < 400_000  # dollars, not log-dollars
    rmse = float(np.sqrt(((values - rows["median_house_value"].to_numpy()) ** 2).mean()))
    assert rmse == pytest.approx(run.metrics["rmse"])
    assert run.metrics["rmsle"] < 0.35 and run.metrics["r2"] > 0.7
    assert "learned as log1p(median_house_value)" in run.note and "expm1(output)" in run.note
    one = predictor.predict(rows.iloc[0].to_dict())
    assert one == pytest.approx(values[0])
    cats, conts = predictor.processor.transform(rows.head(3))
    raw = predict_module(predictor.model, cats, conts)
    assert (raw < 15).all() and torch.is_tensor(cats)  # the module itself outputs logs


def test_a_tiny_table_still_trains_lightgbm_on_each_fold(tmp_path):
    df = pd.DataFrame({"x": np.arange(12, dtype=float), "c": list("ab") * 6})
    df["y"] = (df["x"] > 6).astype(int)  # 12 rows: each fold's classes too small to share out
    run = train_table(df, "y", models="lgbm", folds=5, out=tmp_path, explain=False)
    assert run.exported == "weighted_ensemble" and "lgbm" in run.fits  # before: 0 rows to fit
