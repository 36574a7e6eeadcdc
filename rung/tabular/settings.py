"""The settings of :func:`~rung.tabular.train.train_table`, checked before anything is read or
trained: model names (with aliases and close-name hints), the split, the model to export, the
net's and the forest's numbers. Each error names the bad value and the way out.

>>> parse_models("rf,nn")
['nn', 'rf']
>>> check_settings({"models": ["rf"], "valid_pct": -0.2})
Traceback (most recent call last):
...
ValueError: valid_pct must be in (0, 1), got -0.2; pass the fraction of rows to hold out for validation, e.g. valid_pct=0.2 (--valid-pct 0.2).
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Sequence
from typing import Any

from rung.utils import closest

__all__ = [
    "MODEL_NAMES",
    "AUTO_MODELS",
    "AUTO_FOLDS",
    "parse_models",
    "model_name",
    "check_settings",
    "cv_folds",
]

MODEL_NAMES = ("linear", "nn", "rf", "gbm", "lgbm", "nn_ensemble", "blend")
# models="auto" (the default): these, cross-validated, and the weighted ensemble chosen on them
AUTO_MODELS = ("linear", "nn", "rf", "gbm", "lgbm")
AUTO_FOLDS = 5
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
    "lightgbm": "lgbm",
    "ensemble": "blend",
}
_NEEDS = {"nn_ensemble": ("nn",), "blend": ("nn", "nn_ensemble", "rf")}
_CHOOSE = f"choose from {list(MODEL_NAMES)} (comma-separated), 'auto' or 'all'"
_HOLDOUT_ONLY = ("nn_ensemble", "blend")


def model_name(raw: str) -> str:
    """The model name for ``raw`` (an alias such as ``forest``, any case), or an error that
    lists the models and the closest name.

    >>> model_name("Forest")
    'rf'
    """
    name = str(raw).strip().lower()
    name = _ALIASES.get(name, name)
    if name not in MODEL_NAMES:
        raise ValueError(
            f"unknown model {raw!r}; {_CHOOSE}{closest(name, [*MODEL_NAMES, *_ALIASES]) or '.'}"
        )
    return name


def parse_models(models: str | Sequence[str]) -> list[str]:
    """Model names from ``"auto"`` (:data:`AUTO_MODELS`), ``"all"``, ``"nn,rf"`` or a list
    (aliases such as ``forest`` or ``ensemble`` allowed), in training order, with the models
    an ensemble is made of.

    >>> parse_models(["blend"])
    ['nn', 'rf', 'nn_ensemble', 'blend']
    >>> parse_models("auto")
    ['linear', 'nn', 'rf', 'gbm', 'lgbm']
    """
    names = models.split(",") if isinstance(models, str) else list(models)
    if isinstance(models, str) and models.strip().lower() == "all":
        names = list(MODEL_NAMES)
    if isinstance(models, str) and models.strip().lower() == "auto":
        names = list(AUTO_MODELS)
    given = [str(m) for m in names if str(m).strip()]
    if not given:
        raise ValueError(f"no models given (models={models!r}); {_CHOOSE}.")
    wanted = set()
    for raw in given:
        name = model_name(raw)
        wanted |= {name, *_NEEDS.get(name, ())}
    return [n for n in MODEL_NAMES if n in wanted]


def _check_number(
    name: str, value: Any, *, whole: bool, low: int, example: Any, none_ok: bool = False
) -> None:
    """``value`` must be a whole number >= ``low`` (``whole``), or a number > ``low``."""
    if value is None and none_ok:
        return
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if whole:
        ok, kind = (
            is_number and float(value).is_integer() and value >= low,
            f"a whole number >= {low}",
        )
    else:
        ok, kind = is_number and value > low, f"a number > {low}"
    if not ok:
        raise ValueError(f"{name} must be {kind}, got {value!r}; e.g. {name}={example}.")


def cv_folds(models: str | Sequence[str], folds: int | None) -> int:
    """Folds of cross-validation: ``folds`` as given, else :data:`AUTO_FOLDS` for
    ``models="auto"`` and 0 (models scored on the validation rows, the course's way) for
    models named one by one.

    >>> cv_folds("auto", None), cv_folds("nn,rf", None), cv_folds("nn,rf", 3)
    (5, 0, 3)
    """
    if folds is not None:
        return folds
    return AUTO_FOLDS if isinstance(models, str) and models.strip().lower() == "auto" else 0


def check_settings(settings: dict[str, Any]) -> None:
    """Refuse settings that make no sense, before any data is read or model trained.

    ``settings`` as :func:`~rung.tabular.train.train_table` builds it: ``models`` (parsed),
    ``folds`` (0, or >= 2 without ``nn_ensemble``/``blend``), ``valid_pct``, ``seed``, ``features``, ``export``, ``net`` (layers, epochs, lr,
    batch_size), ``n_seeds``, ``forest`` (n_estimators, min_samples_leaf), ``data_options``.
    Missing keys are not checked.
    """
    from rung.tabular.features import get_features

    pct = settings.get("valid_pct", 0.2)
    if not isinstance(pct, numbers.Real) or isinstance(pct, bool) or not 0 < pct < 1:
        raise ValueError(
            f"valid_pct must be in (0, 1), got {pct!r}; pass the fraction of rows to hold out "
            "for validation, e.g. valid_pct=0.2 (--valid-pct 0.2)."
        )
    get_features(settings.get("features"))  # an unknown name lists the known ones
    models = settings.get("models", list(MODEL_NAMES))
    export = settings.get("export", "best")
    if export != "best" and model_name(export) not in models:
        raise ValueError(
            f"export={export!r} is not among the models to train, {list(models)}; export one "
            "of them, or 'best' (the top of the leaderboard)."
        )
    folds = settings.get("folds", 0)
    _check_number("folds", folds, whole=True, low=0, example=5)
    if folds == 1:
        raise ValueError("folds must be 0 (no cross-validation) or >= 2, got 1; e.g. folds=5.")
    both = [m for m in models if m in _HOLDOUT_ONLY]
    if folds and both:
        raise ValueError(
            f"{both} average or blend models scored on the validation rows; with folds={folds} "
            "the weighted ensemble chosen on out-of-fold predictions takes their place. Leave "
            "them out, or pass folds=0 (--folds 0)."
        )
    net = settings.get("net") or {}
    _check_number("epochs", net.get("epochs"), whole=True, low=1, example=10, none_ok=True)
    _check_number("batch_size", net.get("batch_size"), whole=True, low=1, example=64, none_ok=True)
    _check_number("lr", net.get("lr"), whole=False, low=0, example=3e-3, none_ok=True)
    layers = net.get("layers")
    if layers is not None and (
        isinstance(layers, (str, bytes))
        or not all(isinstance(n, numbers.Integral) and n >= 1 for n in layers)
    ):
        raise ValueError(
            f"layers must be a list of layer sizes >= 1, e.g. [200, 100]; got {layers!r}."
        )
    if "nn_ensemble" in models:
        _check_number("n_seeds", settings.get("n_seeds", 5), whole=True, low=1, example=5)
    forest = settings.get("forest") or {}
    for key, example in (("n_estimators", 100), ("min_samples_leaf", 5)):
        _check_number(key, forest.get(key, example), whole=True, low=1, example=example)
    _check_data_options(settings.get("data_options") or {})


def _check_data_options(options: dict[str, Any]) -> None:
    from rung.tabular.data import TabularData

    own = {"valid_pct", "seed"}  # train_table's own arguments: given twice, which one wins?
    accepted = set(inspect.signature(TabularData.from_df).parameters) - {"cls", "df", "target"}
    twice = sorted(own & set(options))
    if twice:
        raise ValueError(
            f"data_options has {twice}, which are train_table's own arguments; pass them to "
            "train_table directly."
        )
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(
            f"data_options has unknown keys {unknown}; TabularData.from_df takes "
            f"{sorted(accepted - own)}."
        )
