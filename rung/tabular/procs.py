"""Tabular preprocessing fitted on training rows: fill missing, log, categorify, normalise, dates.

:class:`TabularProcessor` learns every statistic from the rows given to :meth:`~TabularProcessor.fit`
(the training rows) and applies exactly those to any table later (validation rows, a test CSV):

- dates are expanded into parts (``<col>_year``, ``<col>_month``, ... ``<col>_elapsed``);
- missing values are filled with the training median (numbers) or mode (categories), and a
  ``<col>_na`` categorical column flags them, for columns that had missing training values;
- skewed positive continuous columns get ``log1p`` (the processor's ``notes`` say which);
- categories become integer codes 1..K, with 0 kept for values never seen in training;
- continuous columns are normalised with the training mean and standard deviation.

Its whole state is plain data (:meth:`~TabularProcessor.to_config`), so a model file stores it
as JSON and :meth:`~TabularProcessor.from_config` rebuilds it exactly; nothing is pickled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rung.tabular.dates import DATE_CAT_PARTS, DATE_CONT_PARTS, date_parts

if TYPE_CHECKING:
    import torch

__all__ = [
    "TabularProcessor",
    "MissingColumnsError",
    "category_keys",
    "emb_sz_rule",
    "SKEW_THRESHOLD",
]

SKEW_THRESHOLD = 1.0  # a continuous column with skew above this (and no negatives) gets log1p
CONFIG_VERSION = 1


class MissingColumnsError(KeyError, ValueError):
    """The table lacks columns the processor was fitted with."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def emb_sz_rule(n_codes: int) -> int:
    """Embedding width for a categorical with ``n_codes`` codes (fastai's rule).

    >>> emb_sz_rule(3), emb_sz_rule(148), emb_sz_rule(10**6)
    (3, 26, 600)
    """
    return min(600, round(1.6 * n_codes**0.56))


def _key(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def _factorize(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, keys)``: ``keys[codes]`` are the row keys, code -1 where missing.

    Keys are made once per distinct value, not per row, so a million rows cost one
    ``pd.factorize``. Two raw values may share a key (1 and "1").
    """
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return codes, np.array([_key(u) for u in uniques], dtype=object)


def category_keys(s: pd.Series) -> pd.Series:
    """The values of ``s`` as category keys: strings, with 1, 1.0 and "1" all reading ``'1'``.

    A CSV column of integers turns into floats when one value is missing; keys keep the
    vocabulary the same either way. Missing values stay missing.

    >>> category_keys(pd.Series([1.0, 2.0, None])).tolist()
    ['1', '2', nan]
    >>> category_keys(pd.Series([True, False])).tolist()
    ['True', 'False']
    """
    codes, keys = _factorize(s)
    out = np.full(len(s), np.nan, dtype=object)
    present = codes >= 0
    out[present] = keys[codes[present]]
    return pd.Series(out, index=s.index, name=s.name, dtype=object)


def _key_counts(s: pd.Series) -> pd.Series:
    """How many rows hold each key (missing values not counted)."""
    codes, keys = _factorize(s)
    counts = np.bincount(codes[codes >= 0], minlength=len(keys))
    return pd.Series(counts, index=pd.Index(keys, dtype=object)).groupby(level=0).sum()


def _codes(s: pd.Series, vocab: list[str], fill: str) -> np.ndarray:
    """Codes 1..K for the vocabulary's keys, 0 for unseen ones, ``fill``'s code where missing."""
    codes, keys = _factorize(s)
    lookup = pd.Index(vocab, dtype=object).get_indexer(keys) + 1  # per distinct value; -1 + 1 = 0
    lookup = np.append(lookup, vocab.index(fill) + 1)  # code -1 (missing) picks this last entry
    return lookup[codes].astype(np.int64)


def _sorted_vocab(keys: Sequence[str]) -> list[str]:
    """Sort numerically when every key is a number ('2' before '10'), else as strings."""
    try:
        return sorted(keys, key=float)
    except ValueError:
        return sorted(keys)


def _numbers(s: pd.Series) -> np.ndarray:
    """A continuous column as float64, refusing text rather than silently making it missing."""
    if pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype(float)
    x = pd.to_numeric(s, errors="coerce")
    bad = s.notna().to_numpy() & x.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"continuous column {s.name!r} holds a value that is not a number, {s.iloc[row]!r} "
            f"(row {row}); clean the column, or make it categorical with cat_names=[{s.name!r}]."
        )
    x = x.to_numpy(dtype=float, na_value=np.nan, copy=True)
    x[np.isinf(x)] = np.nan  # an infinite value counts as missing: it has no usable mean
    return x


class TabularProcessor:
    """Preprocessing for tables, fitted on training rows (see the module docstring).

    Args:
        cat_names: categorical columns.
        cont_names: continuous columns.
        date_names: date columns, expanded into parts.
        log_names: continuous columns to ``log1p``; ``None`` picks the skewed positive ones.
        skew_threshold: the skew above which ``log_names=None`` applies ``log1p``.

    >>> df = pd.DataFrame({"sex": ["m", "f", "f", None], "fare": [7.0, 70.0, 8.0, None]})
    >>> proc = TabularProcessor(cat_names=["sex"], cont_names=["fare"]).fit(df)
    >>> proc.cat_columns, proc.cont_columns
    (['sex', 'sex_na', 'fare_na'], ['fare'])
    >>> cats, conts = proc.transform(pd.DataFrame({"sex": ["m", "x"], "fare": [8.0, 9.0]}))
    >>> cats.tolist()  # 'x' was never seen in training: code 0
    [[2, 1, 1], [0, 1, 1]]
    >>> tuple(conts.shape), str(conts.dtype)
    ((2, 1), 'torch.float32')
    """

    def __init__(
        self,
        cat_names: Sequence[str] = (),
        cont_names: Sequence[str] = (),
        date_names: Sequence[str] = (),
        log_names: Sequence[str] | None = None,
        skew_threshold: float = SKEW_THRESHOLD,
    ) -> None:
        self.cat_names, self.cont_names = list(cat_names), list(cont_names)
        self.date_names = list(date_names)
        self.log_names = None if log_names is None else list(log_names)
        self.auto_log = log_names is None  # pick skewed columns again at every fit
        self.skew_threshold = float(skew_threshold)
        self.fitted = False
        self.notes: list[str] = []

    # ----------------------------------------------------------------------- fitting
    def fit(self, df: pd.DataFrame) -> TabularProcessor:
        """Learn fills, vocabularies, logs and normalisation from ``df`` (the training rows)."""
        self._check_columns(df, what="the training table")
        if len(df) == 0:
            raise ValueError("can't fit a TabularProcessor on 0 rows.")
        self.notes = []
        cats, conts, missing = self._expand(df)
        cats, conts, missing = self._drop_empty(cats, conts, missing)
        self.na_names = [c for c, m in missing.items() if m.any()]
        self.vocab, self.fill_cat = {}, {}
        for name, raw in cats.items():
            counts = _key_counts(raw)
            self.vocab[name] = _sorted_vocab(counts.index.tolist())
            top = counts[counts == counts.max()].index.tolist()
            self.fill_cat[name] = _sorted_vocab(top)[0]
        for src in self.na_names:
            if f"{src}_na" in self.vocab:
                raise ValueError(
                    f"the table has a column {src}_na, the name of the flag for {src!r}'s "
                    f"missing values; rename that column."
                )
            self.vocab[f"{src}_na"] = ["False", "True"]
        self.fill_cont = {n: float(np.nanmedian(x)) for n, x in conts.items()}
        self._choose_logs(conts)
        self.mean, self.std = {}, {}
        for name, x in conts.items():
            x = self._fill_and_log(name, x)
            std = float(x.std())
            self.mean[name], self.std[name] = float(x.mean()), std if std > 0 else 1.0
        for src in self.na_names:
            n_missing = int(missing[src].sum())
            self.notes.append(
                f"{src}: {n_missing} missing of {len(df)} training rows, filled with the training "
                f"{'median' if src in self.cont_names else 'mode'}; {src}_na marks them"
            )
        self.fitted = True
        return self

    def _drop_empty(self, cats: dict, conts: dict, missing: dict) -> tuple[dict, dict, dict]:
        """Columns with no value in the training rows can't be filled: drop them, with a note."""
        empty = [src for src, m in missing.items() if m.all()]
        for src in empty:
            self.notes.append(f"{src}: dropped, no value in the training rows")
            for names in (self.cat_names, self.cont_names, self.date_names):
                if src in names:
                    names.remove(src)
            del missing[src]
        cats = {n: v for n, v in cats.items() if self._source(n) not in empty}
        conts = {n: v for n, v in conts.items() if self._source(n) not in empty}
        return cats, conts, missing

    def _choose_logs(self, conts: dict[str, np.ndarray]) -> None:
        if not self.auto_log:
            for name in self.log_names:
                if name not in self.cont_names:
                    raise ValueError(
                        f"log_names has {name!r}, which is not a continuous column; those are "
                        f"{self.cont_names}."
                    )
                if np.nanmin(conts[name]) < 0:
                    raise ValueError(f"can't log1p {name!r}: it has negative values.")
            return
        self.log_names = []
        for name in self.cont_names:
            x = pd.Series(conts[name]).fillna(self.fill_cont[name])
            skew = float(x.skew())
            if x.min() >= 0 and x.nunique() > 2 and skew > self.skew_threshold:
                self.log_names.append(name)
                self.notes.append(
                    f"{name}: skewed (skew {skew:.2f} > {self.skew_threshold}), so log1p is applied"
                )

    # ----------------------------------------------------------------------- applying
    @property
    def cat_columns(self) -> list[str]:
        """Output categorical columns, in tensor order: categoricals, date parts, ``_na`` flags."""
        self._check_fitted()
        return list(self.vocab)

    @property
    def cont_columns(self) -> list[str]:
        """Output continuous columns, in tensor order: continuous columns, then date parts."""
        self._check_fitted()
        return list(self.mean)

    @property
    def cardinalities(self) -> list[int]:
        """Number of codes per categorical column, the unknown code 0 included."""
        return [len(self.vocab[c]) + 1 for c in self.cat_columns]

    @property
    def embedding_sizes(self) -> list[tuple[int, int]]:
        """``(n_codes, width)`` per categorical column, width by :func:`emb_sz_rule`."""
        return [(n, emb_sz_rule(n)) for n in self.cardinalities]

    def transform_numpy(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(cats, conts)``: int64 codes (N, n_cat) and float32 normalised numbers (N, n_cont)."""
        self._check_fitted()
        self._check_columns(df, what="this table")
        raw_cats, conts, missing = self._expand(df)
        n = len(df)
        cats = np.zeros((n, len(self.vocab)), dtype=np.int64)
        for j, (name, vocab) in enumerate(self.vocab.items()):
            if name in raw_cats:
                cats[:, j] = _codes(raw_cats[name], vocab, self.fill_cat[name])
            else:  # an _na flag: codes 1 ('False') and 2 ('True')
                cats[:, j] = np.where(missing[name[: -len("_na")]], 2, 1)
        out = np.zeros((n, len(self.mean)), dtype=np.float32)
        for j, name in enumerate(self.mean):
            x = self._fill_and_log(name, conts[name])
            out[:, j] = (x - self.mean[name]) / self.std[name]
        return cats, out

    def transform(self, df: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cats, conts)`` tensors: int64 (N, n_cat) and float32 (N, n_cont)."""
        import torch

        cats, conts = self.transform_numpy(df)
        return torch.from_numpy(cats), torch.from_numpy(conts)

    def transform_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """The processed features as a DataFrame (codes, then normalised numbers), for sklearn."""
        cats, conts = self.transform_numpy(df)
        frame = pd.DataFrame(cats, columns=self.cat_columns, index=df.index)
        frame[self.cont_columns] = conts
        return frame

    def _fill_and_log(self, name: str, x: np.ndarray) -> np.ndarray:
        x = np.where(np.isnan(x), self.fill_cont[name], x)
        if name in self.log_names:
            x = np.log1p(np.clip(x, 0, None))  # a negative value at predict time counts as 0
        return x

    def _expand(self, df: pd.DataFrame) -> tuple[dict, dict, dict]:
        """Raw columns: categories as given, float64 numbers, a missing mask per source column."""
        cats = {n: df[n] for n in self.cat_names}
        conts = {n: _numbers(df[n]) for n in self.cont_names}
        missing = {n: df[n].isna().to_numpy() for n in self.cat_names}
        missing.update({n: np.isnan(x) for n, x in conts.items()})
        for name in self.date_names:
            parts = date_parts(df[name])
            missing[name] = parts.iloc[:, 0].isna().to_numpy()
            for part in DATE_CAT_PARTS:
                cats[f"{name}_{part}"] = parts[f"{name}_{part}"]
            for part in DATE_CONT_PARTS:
                conts[f"{name}_{part}"] = parts[f"{name}_{part}"].to_numpy()
        return cats, conts, missing

    def _source(self, column: str) -> str:
        """The input column an output column comes from (``sold_year`` -> ``sold``)."""
        for name in self.date_names:
            if column.startswith(f"{name}_"):
                return name
        return column

    def _check_columns(self, df: pd.DataFrame, what: str) -> None:
        needed = [*self.cat_names, *self.cont_names, *self.date_names]
        absent = [c for c in needed if c not in df.columns]
        if absent:
            raise MissingColumnsError(
                f"{what} is missing column(s) {absent} that the model was trained with; add them "
                "(an empty column is fine: missing values are filled as in training). "
                f"Its columns are: {[str(c) for c in df.columns]}."
            )

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError("this TabularProcessor is not fitted yet; call fit(train_df) first.")

    # ----------------------------------------------------------------------- config
    def to_config(self) -> dict[str, Any]:
        """Every fitted statistic and vocabulary as a plain JSON-able dict (no pickle)."""
        self._check_fitted()
        return {
            "type": "TabularProcessor",
            "version": CONFIG_VERSION,
            "cat_names": list(self.cat_names),
            "cont_names": list(self.cont_names),
            "date_names": list(self.date_names),
            "skew_threshold": self.skew_threshold,
            "log_names": list(self.log_names),
            "na_names": list(self.na_names),
            "vocab": {k: list(v) for k, v in self.vocab.items()},
            "fill_cat": dict(self.fill_cat),
            "fill_cont": dict(self.fill_cont),
            "mean": dict(self.mean),
            "std": dict(self.std),
            "notes": list(self.notes),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TabularProcessor:
        """Rebuild a fitted processor from :meth:`to_config` output (e.g. read from JSON).

        >>> df = pd.DataFrame({"c": ["a", "b", "a"], "x": [1.0, 2.0, 4.0]})
        >>> proc = TabularProcessor(["c"], ["x"]).fit(df)
        >>> again = TabularProcessor.from_config(proc.to_config())
        >>> bool((again.transform_numpy(df)[1] == proc.transform_numpy(df)[1]).all())
        True
        """
        if config.get("type") != "TabularProcessor":
            raise ValueError(f"not a TabularProcessor config (type={config.get('type')!r}).")
        if config.get("version", 0) > CONFIG_VERSION:
            raise ValueError(
                f"this TabularProcessor config has version {config['version']}, newer than this "
                f"rung reads ({CONFIG_VERSION}); upgrade rung to load it."
            )
        proc = cls(
            config["cat_names"],
            config["cont_names"],
            config["date_names"],
            log_names=config["log_names"],
            skew_threshold=config["skew_threshold"],
        )
        proc.na_names = list(config["na_names"])
        proc.vocab = {k: list(v) for k, v in config["vocab"].items()}
        proc.fill_cat = dict(config["fill_cat"])
        proc.fill_cont = {k: float(v) for k, v in config["fill_cont"].items()}
        proc.mean = {k: float(v) for k, v in config["mean"].items()}
        proc.std = {k: float(v) for k, v in config["std"].items()}
        proc.notes = list(config["notes"])
        proc.fitted = True
        return proc

    def __repr__(self) -> str:
        if not self.fitted:
            return f"TabularProcessor(cat_names={self.cat_names}, cont_names={self.cont_names})"
        return (
            f"TabularProcessor({len(self.cat_columns)} categorical: {self.cat_columns}, "
            f"{len(self.cont_columns)} continuous: {self.cont_columns}, log1p: {self.log_names})"
        )
