"""The tabular models: the net's shapes, y_range and gradients; trees as arrays predicting exactly
what scikit-learn's fitted models predict; ensembles; all through the model file and back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier

from rung.modelfile import load_model_file, save_model_file
from rung.models.registry import build_model, model_spec
from rung.tabular.models import TabularModel, ensemble_of, to_probs
from rung.tabular.trees import TreeEnsemble, from_sklearn, tree_sizes

ROOT = Path(__file__).resolve().parents[2]
TABULAR_NAMES = ["tabular", "tabular_linear", "tabular_trees", "tabular_ensemble"]


def _batch(n: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    cats = torch.stack(
        [torch.randint(0, 3, (n,), generator=g), torch.randint(0, 5, (n,), generator=g)], 1
    )
    return cats, torch.randn(n, 2, generator=g)  # (n, 2) codes, (n, 2) numbers


def _net(**kwargs) -> TabularModel:
    torch.manual_seed(0)
    args = {"emb_szs": [[3, 2], [5, 3]], "n_cont": 2, "n_out": 2, "layers": [10, 10]}
    return build_model("tabular", **{**args, **kwargs})


def _xy(n: int = 300, n_classes: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two integer 'category' columns then two float columns, the order TabularData.xs uses."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [rng.integers(0, 3, n), rng.integers(0, 5, n), rng.normal(size=n), rng.normal(size=n)]
    ).astype(np.float32)
    score = x[:, 2] + 0.5 * x[:, 0] - 0.3 * x[:, 3]
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1]))
    return x, y


def _split(x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(x[:, :2].astype(np.int64)), torch.from_numpy(x[:, 2:].copy())


# ----------------------------------------------------------------------------- the net
def test_net_forward_backward_and_layout():
    net = _net(ps=0.1, embed_p=0.05)
    cats, conts = _batch()
    out = net(cats, conts)
    assert out.shape == (8, 2) and net.output == "logits"
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    assert [e.weight.shape for e in net.embeds] == [(3, 2), (5, 3)]
    first = net.layers[0]
    assert first.in_features == 2 + 3 + 2 and first.bias is None  # BN follows: no bias
    kinds = [type(m).__name__ for m in net.layers]
    assert kinds == ["Linear", "ReLU", "BatchNorm1d", "Dropout"] * 2 + ["Linear"]
    assert net.embeds[0].weight.abs().max() <= 0.02  # fastai's small embedding init


def test_net_y_range_bounds_regression_outputs():
    net = _net(n_out=1, y_range=[2.0, 5.0], task="regression").eval()
    with torch.no_grad():
        net.layers[-1].bias.fill_(100.0)
    cats, conts = _batch(16)
    out = net(cats, conts)
    assert out.shape == (16, 1) and net.output == "values"
    assert ((out >= 2.0) & (out <= 5.0)).all() and out.max() > 4.99


def test_net_without_categories_or_without_numbers():
    only_cont = build_model("tabular", emb_szs=[], n_cont=3, n_out=2, layers=[4])
    assert only_cont.eval()(torch.zeros(2, 0, dtype=torch.long), torch.randn(2, 3)).shape == (2, 2)
    only_cat = build_model("tabular", emb_szs=[[4, 3]], n_cont=0, n_out=2, layers=[4])
    assert only_cat.eval()(torch.tensor([[1], [2]]), torch.zeros(2, 0)).shape == (2, 2)
    with pytest.raises(ValueError, match="at least one categorical or continuous"):
        build_model("tabular", emb_szs=[], n_cont=0, n_out=2)
    with pytest.raises(ValueError, match="ps has 1 dropout values for 2 layers"):
        build_model("tabular", emb_szs=[[3, 2]], n_cont=1, n_out=2, layers=[4, 4], ps=[0.1])


@pytest.mark.parametrize("name", TABULAR_NAMES)
def test_every_tabular_model_round_trips_through_a_model_file(name, tmp_path):
    cats, conts = _batch(20)
    if name == "tabular":
        model = _net()
    elif name == "tabular_linear":
        model = build_model("tabular_linear", cardinalities=[3, 5], n_cont=2, n_out=2)
        with torch.no_grad():
            for p in model.parameters():
                p.normal_()
    elif name == "tabular_trees":
        x, y = _xy()
        model = from_sklearn(RandomForestClassifier(5, random_state=0).fit(x, y), n_out=2)
        cats, conts = _split(x)
    else:
        x, y = _xy()
        trees = from_sklearn(RandomForestClassifier(5, random_state=0).fit(x, y), n_out=2)
        model = ensemble_of([_net(), trees], weights=[1, 3])
        cats, conts = _split(x)
    model.eval()
    path = save_model_file(tmp_path / f"{name}.rung", model, {"task": "classification"})
    loaded, config = load_model_file(path)
    assert config["model"] == model_spec(model)
    assert torch.equal(model(cats, conts), loaded(cats, conts))
    assert loaded.output == model.output


# ----------------------------------------------------------------------------- trees as arrays
@pytest.mark.parametrize("n_classes", [2, 3])
def test_forest_arrays_predict_what_sklearn_predicts(n_classes):
    x, y = _xy(n_classes=n_classes)
    rf = RandomForestClassifier(30, min_samples_leaf=5, random_state=0).fit(x, y)
    trees = from_sklearn(rf, n_out=n_classes)
    probs = trees(*_split(x)).numpy()
    assert trees.output == "probs" and probs.shape == (300, n_classes)
    np.testing.assert_allclose(probs, rf.predict_proba(x), rtol=0, atol=1e-12)
    assert (probs.argmax(1) == rf.predict(x)).all()
    assert list(tree_sizes(trees)) == [e.tree_.node_count for e in rf.estimators_]


@pytest.mark.parametrize("n_classes", [2, 3])
def test_boosting_arrays_predict_what_sklearn_predicts(n_classes):
    x, y = _xy(n_classes=n_classes)
    hgb = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y)
    trees = from_sklearn(hgb, n_out=n_classes)
    probs = to_probs(trees(*_split(x)), trees.output).numpy()
    assert trees.output == "logits"
    np.testing.assert_allclose(probs, hgb.predict_proba(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", [RandomForestRegressor, HistGradientBoostingRegressor])
def test_regression_trees_predict_what_sklearn_predicts(kind):
    x, _ = _xy()
    y = x[:, 2] * 3 + x[:, 0]
    est = (
        kind(random_state=0).fit(x, y)
        if kind is HistGradientBoostingRegressor
        else kind(20, random_state=0).fit(x, y)
    )
    trees = from_sklearn(est, n_out=1)
    assert trees.output == "values"
    np.testing.assert_allclose(trees(*_split(x)).numpy()[:, 0], est.predict(x), atol=1e-10)


def test_a_class_missing_from_training_gets_probability_zero():
    x, y = _xy(n_classes=3)
    keep = y != 1  # the trees never see class 1 of 3
    for est in (DecisionTreeClassifier(random_state=0), HistGradientBoostingClassifier(max_iter=5)):
        est.fit(x[keep], y[keep])
        trees = from_sklearn(est, n_out=3)
        probs = to_probs(trees(*_split(x)), trees.output).numpy()
        assert probs.shape == (300, 3) and probs[:, 1].max() < 1e-12
        np.testing.assert_allclose(probs[:, [0, 2]], est.predict_proba(x), atol=1e-12)


def test_trees_refuse_inputs_of_the_wrong_width_and_other_estimators():
    x, y = _xy()
    trees = from_sklearn(RandomForestClassifier(3, random_state=0).fit(x, y), n_out=2)
    with pytest.raises(ValueError, match="split 4 features, got 3"):
        trees(torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, 2))
    with pytest.raises(TypeError, match="can't export a LinearRegression"):
        from sklearn.linear_model import LinearRegression

        from_sklearn(LinearRegression().fit(x, y), n_out=1)
    with pytest.raises(ValueError, match="combine must be one of"):
        TreeEnsemble(1, 1, 1, 1, 1, combine="median")


def test_loaded_forest_predicts_in_a_fresh_process_without_sklearn(tmp_path):
    x, y = _xy()
    rf = RandomForestClassifier(20, random_state=0).fit(x, y)
    path = save_model_file(tmp_path / "rf.rung", from_sklearn(rf, n_out=2), {})
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, numpy as np, torch\n"
        "import rung.tabular.models\n"
        "from rung.modelfile import load_model_file\n"
        f"model, _ = load_model_file({str(path)!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        "p = model(torch.from_numpy(x[:, :2].astype('int64')), torch.from_numpy(x[:, 2:].copy()))\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, p.numpy())\n"
        "assert 'sklearn' not in sys.modules, 'predicting imported scikit-learn'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), rf.predict_proba(x), atol=1e-12)


# ----------------------------------------------------------------------------- ensembles
def test_ensemble_averages_member_probabilities_with_weights():
    x, y = _xy()
    cats, conts = _split(x)
    net = _net(emb_szs=[[3, 2], [5, 3]]).eval()
    rf = from_sklearn(RandomForestClassifier(5, random_state=0).fit(x, y), n_out=2)
    ens = ensemble_of([net, rf], weights=[1, 3])
    assert ens.weights == [0.25, 0.75] and ens.output == "probs"
    expected = 0.25 * torch.softmax(net(cats, conts).double(), 1) + 0.75 * rf(cats, conts)
    torch.testing.assert_close(ens(cats, conts), expected)
    nested = ensemble_of([ens, net])  # an ensemble of an ensemble rebuilds from its spec too
    assert model_spec(nested)["kwargs"]["members"][0]["name"] == "tabular_ensemble"
    with pytest.raises(ValueError, match="2 weights for 1 ensemble members"):
        build_model("tabular_ensemble", members=[model_spec(net)], weights=[1, 1])


def test_the_forest_tries_half_the_columns_for_regression_and_sqrt_for_classes(
    california, titanic_dir
):
    from rung.tabular.classic import fit_forest
    from rung.tabular.data import TabularData

    houses = TabularData.from_df(california, "median_house_value")
    fit = fit_forest(houses, n_estimators=10, n_jobs=1)
    assert fit.extras["estimator"].max_features == 0.5 and "max_features=0.5" in fit.description
    titanic = TabularData.from_df(pd.read_csv(titanic_dir / "train.csv"), "Survived")
    assert fit_forest(titanic, n_estimators=10, n_jobs=1).extras["estimator"].max_features == "sqrt"
