"""Lesson 6: one-rule models, decision trees and random forests from scratch, next to sklearn.

The course's lesson-6 preprocessing and 25% split; OneR by the course's split score; a tree,
bagging and a forest grown from scratch and by scikit-learn with the same settings; the
forest's feature importance as a PNG. With --table, ends with the full scratch-vs-library
table of lessons 5 and 6.

    python examples/lesson6_trees_and_forests.py --data ../shared/data/titanic --out runs/lesson6
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import mean_absolute_error
from sklearn.tree import DecisionTreeClassifier

from rung.scratch import (
    DecisionTree,
    OneRule,
    RandomForest,
    format_comparison,
    lesson6_split,
    lesson6_table,
    one_r,
    plot_feature_importance,
    read_titanic,
    titanic_comparison,
)

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "titanic",
        help="folder with Kaggle's Titanic train.csv",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("runs/lesson6"), help="folder for the PNGs"
    )
    parser.add_argument("--trees", type=int, default=100, help="trees per forest")
    parser.add_argument(
        "--table",
        action="store_true",
        help="end with the full scratch-vs-library table (lessons 5, 6)",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    data = lesson6_split(lesson6_table(read_titanic(args.data)))
    xs, y, valid_xs, valid_y = data
    print(f"train {xs.shape}, valid {valid_xs.shape}; columns: {', '.join(xs.columns)}")

    print("\nOneR: the best split of every column (lower score = better)")
    for name, (split, score) in one_r(xs, y).items():
        print(f"  {name:<9} <= {split:<8.4g} score {score:.4f}")
    rule = OneRule.fit(xs, y)
    print(
        f"one rule: {rule.column} <= {rule.split:g} -> {rule.left}, else {rule.right}; "
        f"validation MAE {mean_absolute_error(valid_y, rule.predict(valid_xs)):.4f} (course 0.215)"
    )

    tree = DecisionTree(max_leaf_nodes=4).fit(xs, y)
    print(f"\nscratch tree with 4 leaves:\n{tree.to_text()}")

    print(f"\n{'model':<46} {'scratch MAE':>11} {'sklearn MAE':>11}")
    models = [
        (
            "tree, max_leaf_nodes=4",
            DecisionTree(max_leaf_nodes=4),
            DecisionTreeClassifier(max_leaf_nodes=4),
        ),
        (
            "tree, min_samples_leaf=50",
            DecisionTree(min_samples_leaf=50),
            DecisionTreeClassifier(min_samples_leaf=50),
        ),
        (
            f"bagging {args.trees} trees on 75%, min_samples_leaf=5",
            RandomForest(
                args.trees, max_features=None, max_samples=0.75, min_samples_leaf=5, random_state=42
            ),
            RandomForestClassifier(
                args.trees, max_features=None, max_samples=0.75, min_samples_leaf=5, random_state=42
            ),
        ),
        (
            f"forest {args.trees} trees, min_samples_leaf=5",
            RandomForest(args.trees, min_samples_leaf=5, random_state=42),
            RandomForestClassifier(args.trees, min_samples_leaf=5, random_state=42),
        ),
    ]
    for title, ours, theirs in models:
        ours.fit(xs, y)
        theirs.fit(xs, y)
        print(
            f"{title:<46} {mean_absolute_error(valid_y, ours.predict(valid_xs)):>11.4f} "
            f"{mean_absolute_error(valid_y, theirs.predict(valid_xs)):>11.4f}"
        )

    forest, sk_forest = models[-1][1], models[-1][2]
    names = list(xs.columns)
    for who, model in (("scratch", forest), ("sklearn", sk_forest)):
        order = np.argsort(-model.feature_importances_)
        print(
            f"{who} forest importance: "
            + ", ".join(f"{names[i]} {model.feature_importances_[i]:.3f}" for i in order)
        )
    plot_feature_importance(
        names, forest.feature_importances_, title="Scratch random forest: feature importance"
    ).savefig(args.out / "feature_importance.png")

    if args.table:
        print("\nEverything side by side (what `rung scratch titanic` prints):")
        print(format_comparison(titanic_comparison(args.data, n_estimators=args.trees)))
    print(f"\nimportance plot in {args.out}/")


if __name__ == "__main__":
    main()
