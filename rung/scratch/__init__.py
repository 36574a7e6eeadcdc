"""Deep learning from scratch: plain torch/numpy versions of what the library does.

The bottom rung: every idea of lessons 3, 5 and 6 of the course as small functions you can
read top to bottom, each checked in the tests against the library it mirrors.

- lesson 3: :mod:`~rung.scratch.gradient_descent` (fit a quadratic by hand), :mod:`~rung.scratch.relu`
  (sums of ReLUs fit any curve);
- lesson 5: :mod:`~rung.scratch.titanic_prep` (the course's preprocessing and splits),
  :mod:`~rung.scratch.nets` (linear model to deep net), :mod:`~rung.scratch.mirrors` (the same
  nets in ``torch.nn``);
- lesson 6: :mod:`~rung.scratch.splits` (OneR, Gini), :mod:`~rung.scratch.trees`,
  :mod:`~rung.scratch.forest`;
- side by side: :func:`~rung.scratch.compare.titanic_comparison`; pictures: :mod:`~rung.scratch.plots`.

Importing this package loads torch, numpy and pandas (not scikit-learn or matplotlib).
"""

from rung.scratch.compare import format_comparison, titanic_comparison
from rung.scratch.forest import RandomForest
from rung.scratch.gradient_descent import (
    DescentHistory,
    fit_quadratic,
    gradient_descent,
    mae,
    make_quadratic,
    mse,
    noisy_quadratic,
    quadratic,
    quadratic_mae_gradient,
    quadratic_mse_gradient,
    sgd_step,
)
from rung.scratch.mirrors import ScalarBias, torch_module, train_torch
from rung.scratch.nets import (
    COURSE_NETS,
    ScratchNet,
    TrainedNet,
    accuracy,
    linear_mae_gradient,
    mae_loss,
    train_net,
)
from rung.scratch.plots import (
    plot_feature_importance,
    plot_losses,
    plot_quadratic_fits,
    plot_relu_fit,
)
from rung.scratch.relu import ReluFit, fit_relu_sum, rectified_linear, relu_sum
from rung.scratch.splits import OneRule, best_binary_split, gini, one_r, split_score
from rung.scratch.titanic_prep import (
    course_split,
    lesson5_table,
    lesson5_tensors,
    lesson6_split,
    lesson6_table,
    normalise_by_max,
    read_titanic,
)
from rung.scratch.trees import DecisionTree

__all__ = [
    # lesson 3
    "quadratic",
    "make_quadratic",
    "noisy_quadratic",
    "mae",
    "mse",
    "sgd_step",
    "DescentHistory",
    "gradient_descent",
    "fit_quadratic",
    "quadratic_mse_gradient",
    "quadratic_mae_gradient",
    "rectified_linear",
    "relu_sum",
    "ReluFit",
    "fit_relu_sum",
    # lesson 5
    "read_titanic",
    "lesson5_table",
    "normalise_by_max",
    "course_split",
    "lesson5_tensors",
    "ScratchNet",
    "COURSE_NETS",
    "TrainedNet",
    "train_net",
    "mae_loss",
    "accuracy",
    "linear_mae_gradient",
    "ScalarBias",
    "torch_module",
    "train_torch",
    # lesson 6
    "lesson6_table",
    "lesson6_split",
    "split_score",
    "one_r",
    "best_binary_split",
    "OneRule",
    "gini",
    "DecisionTree",
    "RandomForest",
    # side by side, and pictures
    "titanic_comparison",
    "format_comparison",
    "plot_quadratic_fits",
    "plot_losses",
    "plot_relu_fit",
    "plot_feature_importance",
]
