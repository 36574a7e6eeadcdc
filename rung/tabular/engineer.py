"""Generic feature engineering: rules a reader could apply to any table, fitted on training rows.

Each rule looks only at a column's values (never its name), is fitted on the training rows,
and adds columns named after the one it reads; :attr:`FeatureSteps.notes` names every step
taken, and the writeup shows them. Where the column read is missing, the parts read
``(none)`` and the counts 0 (the column's own ``_na`` flag already marks the row). The fitted steps are plain data
(:meth:`FeatureSteps.to_config`), so a model file replays them on new rows.

- **compound codes** (a string column with more than ``max_card`` values, mostly short codes
  holding digits, like a cabin ``C85`` or a ticket ``STON/O2. 3101282``): split into
  ``<col>_prefix`` (its first run of letters, upper-cased; ``(none)`` when it has none),
  ``<col>_number`` (its last run of digits) and ``<col>_parts`` (space-separated parts), with
  ``<col>_prefix_count`` (training rows sharing the prefix: a group size);
- **counts** (a string column with more than ``max_card`` values of which at least 5% of the
  training rows share one with another row): ``<col>_count``, how many training rows hold the
  row's value (1 for a value seen once or never);
- **free text** (longer strings, most of them distinct: names, descriptions): ``<col>_words``
  (how many words) and ``<col>_word``, the word that stands for the row among words in at
  least 1% of the training rows: a title-like one (written with a full stop in most of its
  uses: ``Mr.``, ``Dr.``) first, else the one most common in training (``(none)`` if it has
  none); in a column of names that word is the title (``mr``, ``miss``, ``mrs``, ``master``);
- **group target means** (given the training targets of a regression or two-class task): for
  each key that groups rows (a counted column's value; a free-text column's first word, when at
  least 5% of the training rows share theirs: a family name in ``Last, First``),
  ``<key>_target_mean``, the mean target of the training rows sharing the key, shrunk towards
  the overall mean by :data:`PRIOR_ROWS` rows. A training row's own target never enters its
  value: training rows get out-of-fold means (:data:`TARGET_FOLDS` seeded folds of the training
  rows, ``transform(df, train_rows=...)``); other rows, those of all training rows.

>>> import pandas as pd
>>> df = pd.DataFrame({"cabin": ["C85", "C123", None, "E46", "C23 C25 C27", "B42"] * 5,
...                    "name": ["Braund, Mr. Owen", "Cumings, Mrs. John", "Heikkinen, Miss. Laina",
...                             "Futrelle, Mrs. Jacques", "Allen, Mr. William", "Moran, Mr. James"] * 5})
>>> steps = FeatureSteps(max_card=3).fit(df, compound=["cabin"], text=["name"])
>>> out = steps.transform(df.head(5))
>>> out[["cabin_prefix", "cabin_number", "cabin_parts", "cabin_prefix_count"]].values.tolist()[:2]
[['C', 85.0, 1.0, 15.0], ['C', 123.0, 1.0, 15.0]]
>>> out["name_word"].tolist()
['mr', 'mrs', 'miss', 'mrs', 'mr']
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "FeatureSteps",
    "compound_columns",
    "MIN_SHARED",
    "MIN_WORD_SHARE",
    "MAX_VALUES",
    "PRIOR_ROWS",
    "TARGET_FOLDS",
]

MIN_SHARED = 0.05  # counts are added when at least this share of rows share a value
MIN_WORD_SHARE = 0.01  # a word in at least this share of rows can stand for its row
MAX_VALUES = 100_000  # at most this many counted values are kept in a model file
PRIOR_ROWS = 2.0  # a group's target mean counts the overall mean as this many rows
TARGET_FOLDS = 5  # training rows get their group's mean from the other folds
_NONE = "(none)"
_WORDS = re.compile(r"[a-z]+")
_DOTTED = re.compile(r"([a-z]+)\.")  # a word written with a full stop: an abbreviation, a title


def _strings(s: pd.Series) -> pd.Series:
    """The non-missing values of ``s`` as stripped strings."""
    return s.dropna().astype(str).str.strip()


def compound_columns(df: pd.DataFrame, candidates: Sequence[str]) -> list[str]:
    """The ``candidates`` whose values are mostly short codes holding digits: at least half
    contain a digit, and the median value has at most 3 space-separated parts.

    >>> df = pd.DataFrame({"ticket": ["A/5 21171", "PC 17599", "113803"], "name": ["Ann B", "C D", "E"]})
    >>> compound_columns(df, ["ticket", "name"])
    ['ticket']
    """
    out = []
    for name in candidates:
        values = _strings(df[name])
        if len(values) == 0:
            continue
        has_digit = values.str.contains(r"\d").mean()
        parts = values.str.split().str.len().median()
        if has_digit >= 0.5 and parts <= 3:
            out.append(name)
    return out


def _counts(values: pd.Series) -> dict[str, int]:
    """Values held by two or more rows, with their counts (at most :data:`MAX_VALUES`)."""
    counts = values.value_counts()
    counts = counts[counts >= 2].head(MAX_VALUES)
    return {str(k): int(v) for k, v in counts.items()}


def _text(s: pd.Series) -> pd.Series:
    """Stripped strings as objects, NaN where missing (whatever ``s``'s dtype, even all NaN)."""
    return s.astype(str).str.strip().astype(object).where(s.notna())


def _prefix(s: pd.Series) -> pd.Series:
    """The first run of letters of each value, upper-cased; ``(none)`` without one."""
    first = _text(s).str.extract(r"([A-Za-z]+)", expand=False).str.upper()
    return first.fillna(_NONE).where(s.notna())


class FeatureSteps:
    """The generic feature rules of the module docstring, fitted on training rows.

    ``fit(df, compound=..., text=...)`` takes the string columns the roles found with more than
    ``max_card`` values (``compound``: categorical ones, tested by :func:`compound_columns`;
    ``text``: free-text ones); :meth:`transform` adds the columns to a copy of any table;
    :meth:`new_columns` says which are categorical and which continuous.
    """

    def __init__(self, max_card: int = 20) -> None:
        self.max_card = int(max_card)
        self.steps: list[dict[str, Any]] = []
        self._oof: dict[str, np.ndarray] = {}  # training rows' out-of-fold target means
        self.notes: list[str] = []

    def fit(
        self,
        df: pd.DataFrame,
        compound: Sequence[str] = (),
        text: Sequence[str] = (),
        target: np.ndarray | None = None,
        seed: int = 0,
    ) -> FeatureSteps:
        """Choose and fit the steps on ``df`` (the training rows); ``target``: their targets
        as numbers (a regression target on the scale learned, or 0/1 for two classes) for the
        group target means, whose out-of-fold folds ``seed`` draws."""
        self.steps, self.notes, self._oof = [], [], {}
        codes = compound_columns(df, [*compound, *text])
        for name in codes:
            prefixes = _prefix(df[name]).dropna()
            self.steps.append(
                {"step": "compound", "column": name, "prefix_counts": _counts(prefixes)}
            )
            self.notes.append(
                f"{name}: compound codes (mostly short, with digits) split into {name}_prefix "
                f"(first letters), {name}_number (last digits), {name}_parts, and "
                f"{name}_prefix_count (training rows sharing the prefix)"
            )
        for name in [*compound, *text]:
            values = _strings(df[name])
            counts = _counts(values)
            shared = sum(counts.values()) / max(len(df), 1)
            if shared >= MIN_SHARED:
                self.steps.append({"step": "count", "column": name, "counts": counts})
                self.notes.append(
                    f"{name}: {name}_count, training rows holding the same value "
                    f"({shared:.0%} of rows share theirs)"
                )
        for name in text:
            if name not in codes:
                self._fit_words(df, name)
        if target is not None:
            words = [name for name in text if name not in codes]
            self._fit_target_means(df, words, np.asarray(target, float), seed)
        return self

    def _fit_target_means(
        self, df: pd.DataFrame, words: Sequence[str], y: np.ndarray, seed: int
    ) -> None:
        counted = [st["column"] for st in self.steps if st["step"] == "count"]
        keys = {name: _text(df[name]) for name in counted}
        for name in words:  # free text: its first word, when rows share it (a family name)
            first = _first_word(df[name])
            if (first.notna() & first.duplicated(keep=False)).mean() >= MIN_SHARED:
                keys[f"{name}_first"] = first
        prior = float(y.mean()) if len(y) else 0.0
        fold = np.random.default_rng(seed).permutation(len(y)) % TARGET_FOLDS
        for key, values in keys.items():
            values = values.to_numpy(dtype=object)
            oof = np.empty(len(y))
            for k in range(TARGET_FOLDS):
                rest = fold != k
                table = _group_table(values[rest], y[rest])
                fold_prior = float(y[rest].mean()) if rest.any() else prior
                oof[~rest] = _target_means(values[~rest], table, fold_prior)
            self._oof[f"{key}_target_mean"] = oof
            means = _group_table(values, y)
            self.steps.append({"step": "target_mean", "column": key.removesuffix("_first"),
                               "first_word": key.endswith("_first"), "prior": prior,
                               "groups": means})  # fmt: skip
            column = key.removesuffix("_first")
            shared = f"the first word of {column}" if key.endswith("_first") else column
            self.notes.append(
                f"{key}_target_mean: the mean target of the training rows sharing {shared} "
                f"({len(means)} groups, shrunk towards {prior:.3g} by {PRIOR_ROWS:g} rows; "
                f"training rows: out of fold, {TARGET_FOLDS} folds)"
            )

    def _fit_words(self, df: pd.DataFrame, name: str) -> None:
        values = _strings(df[name]).str.lower()
        words = values.map(lambda v: set(_WORDS.findall(v)))
        freq = Counter(w for row in words for w in row)
        keep = {w: n for w, n in freq.most_common(200) if n >= MIN_WORD_SHARE * len(df)}
        dotted = Counter(w for v in values for w in _DOTTED.findall(v))
        titles = sorted(w for w in keep if dotted[w] >= 0.5 * keep[w])  # "Mr.", "Dr.", "St."
        self.steps.append({"step": "words", "column": name, "word_counts": keep, "titles": titles})
        top = ", ".join(titles[:6] or list(keep)[:6])
        self.notes.append(
            f"{name}: free text, so {name}_words (word count) and {name}_word (the row's "
            f"title-like word, else its word most common in training; of {len(keep)} words in "
            f">= {MIN_WORD_SHARE:.0%} of rows, {len(titles)} title-like: {top})"
        )

    def new_columns(self) -> tuple[list[str], list[str]]:
        """``(categorical, continuous)`` names of the columns :meth:`transform` adds."""
        cats, conts = [], []
        for step in self.steps:
            name = step["column"]
            if step["step"] == "compound":
                cats.append(f"{name}_prefix")
                conts += [f"{name}_number", f"{name}_parts", f"{name}_prefix_count"]
            elif step["step"] == "count":
                conts.append(f"{name}_count")
            elif step["step"] == "target_mean":
                conts.append(_mean_name(step))
            else:
                cats.append(f"{name}_word")
                conts.append(f"{name}_words")
        return cats, conts

    @property
    def read_columns(self) -> list[str]:
        """The input columns the steps read."""
        return list(dict.fromkeys(step["column"] for step in self.steps))

    def transform(self, df: pd.DataFrame, train_rows: Any = None) -> pd.DataFrame:
        """A copy of ``df`` with the steps' columns added (missing inputs stay missing).
        ``train_rows``: the positions in ``df`` of the rows :meth:`fit` was given, in its
        order; they get their out-of-fold group target means (other rows: the means of all
        training rows)."""
        if not self.steps:
            return df
        absent = [c for c in self.read_columns if c not in df.columns]
        if absent:
            from rung.tabular.procs import MissingColumnsError

            raise MissingColumnsError(
                f"this table is missing column(s) {absent} that the model's feature steps read; "
                f"add them (an empty column is fine). Its columns are: {[str(c) for c in df.columns]}."
            )
        df = df.copy()
        for step in self.steps:
            name = step["column"]
            s = df[name]
            text = _text(s)
            if step["step"] == "compound":
                prefix = _prefix(s)
                df[f"{name}_prefix"] = prefix.fillna(_NONE).astype(object)
                number = text.str.extract(r"(\d+)\D*$", expand=False)
                df[f"{name}_number"] = pd.to_numeric(number, errors="coerce").astype(float)
                df[f"{name}_parts"] = text.str.split().str.len().fillna(0).astype(float)
                looked = prefix.map(step["prefix_counts"]).astype(float)
                df[f"{name}_prefix_count"] = looked.fillna(1.0).where(s.notna(), 0.0)
            elif step["step"] == "count":
                looked = text.astype(object).map(step["counts"]).astype(float)
                df[f"{name}_count"] = looked.fillna(1.0).where(s.notna(), 0.0)
            elif step["step"] == "target_mean":
                keys = _first_word(s) if step["first_word"] else text
                means = _target_means(keys.to_numpy(dtype=object), step["groups"], step["prior"])
                oof = self._oof.get(_mean_name(step))
                if train_rows is not None and oof is not None:
                    means[np.asarray(train_rows)] = oof
                df[_mean_name(step)] = means
            else:
                df[f"{name}_words"] = text.str.split().str.len().fillna(0).astype(float)
                pick = lambda v, c=step["word_counts"], t=set(step["titles"]): _top_word(v, c, t)  # noqa: E731
                df[f"{name}_word"] = text.map(pick, na_action="ignore").fillna(_NONE).astype(object)
        return df

    def to_config(self) -> dict[str, Any]:
        """Plain JSON-able dict; :meth:`from_config` rebuilds the same steps."""
        return {"max_card": self.max_card, "steps": self.steps, "notes": list(self.notes)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FeatureSteps:
        """Rebuild fitted steps from :meth:`to_config` output."""
        steps = cls(config.get("max_card", 20))
        for step in config.get("steps", []):
            if step.get("step") not in ("compound", "count", "words", "target_mean"):
                raise ValueError(f"unknown feature step {step.get('step')!r}.")
        steps.steps, steps.notes = list(config.get("steps", [])), list(config.get("notes", []))
        return steps


def _group_table(values: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    """``{key: [sum of targets, rows]}`` of the rows holding each (non-missing) key, the
    largest :data:`MAX_VALUES` groups."""
    frame = pd.DataFrame({"k": values, "y": y}).dropna(subset=["k"])
    stats = frame.groupby("k")["y"].agg(["sum", "count"]).sort_values("count", ascending=False)
    stats = stats.head(MAX_VALUES)
    return {str(k): [float(a), float(n)] for k, a, n in stats.itertuples()}


def _target_means(values: Any, groups: dict[str, list[float]], prior: float) -> np.ndarray:
    """Each key's group mean shrunk towards ``prior`` by :data:`PRIOR_ROWS` rows (``prior``
    for a missing or unseen key)."""
    stats = [groups.get(v, (0.0, 0.0)) if isinstance(v, str) else (0.0, 0.0) for v in values]
    sums = np.array([a for a, _ in stats], dtype=float).reshape(-1)
    rows = np.array([n for _, n in stats], dtype=float).reshape(-1)
    return (sums + PRIOR_ROWS * prior) / (rows + PRIOR_ROWS)


def _first_word(s: pd.Series) -> pd.Series:
    """Each value's first word, lower-cased (before a space or a comma: the family name of
    ``Last, First``); missing where the value is missing or has no word."""
    return _text(s).str.lower().str.extract(r"^\W*(\w+)", expand=False).astype(object)


def _mean_name(step: dict[str, Any]) -> str:
    """The column a group target mean step adds."""
    return f"{step['column']}{'_first' if step['first_word'] else ''}_target_mean"


def _top_word(value: Any, counts: dict[str, int], titles: set[str]) -> str:
    """The word of ``value`` to stand for it: a title-like one first, then the most common in
    training (``(none)`` if none of its words is kept)."""
    words = [w for w in _WORDS.findall(str(value).lower()) if w in counts]
    return max(words, key=lambda w: (w in titles, counts[w], w)) if words else _NONE
