"""Tabular data: from a CSV or a DataFrame and a target column to model-ready tensors.

:class:`TabularData` reads the table, gives every column a role (:mod:`rung.tabular.roles`),
infers the task, splits off validation rows, fits the preprocessing on the training rows only
(:mod:`rung.tabular.procs`) and holds the processed tensors. Neural nets take
:meth:`TabularData.dataloaders`; scikit-learn models take :meth:`TabularData.xs` and
:meth:`TabularData.ys`. Everything a model file needs to predict later is in
:meth:`TabularData.to_config` (plain JSON, no pickle).

Rows whose target is missing can't be learned from or scored: they are dropped, with a note
(``dropna_target=False`` makes that an error instead).

>>> import pandas as pd
>>> df = pd.DataFrame({"x": range(20), "c": list("ab") * 10, "y": [0, 1] * 10})
>>> data = TabularData.from_df(df, "y", cont_names=["x"], valid_pct=0.25)
>>> data.task, data.classes, len(data.train.y), len(data.valid.y)
('classification', [0, 1], 15, 5)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from rung.data.core import DataLoaders, TensorLoader
from rung.data.splitters import Split
from rung.tabular import csvfile
from rung.tabular.engineer import FeatureSteps
from rung.tabular.procs import TabularProcessor
from rung.tabular.roles import MAX_CARD, ColumnRoles, find_column, infer_roles
from rung.tabular.splits import labelled_rows, make_split, time_values
from rung.tabular.target import TabularTarget

__all__ = ["TabularData", "TabularTensors"]

_WHICH = ("train", "valid")


class TabularTensors(NamedTuple):
    """Processed rows: ``cats`` int64 (N, n_cat), ``conts`` float32 (N, n_cont), and ``y``:
    int64 (N,) class codes, or float32 (N, 1) numbers for regression."""

    cats: torch.Tensor
    conts: torch.Tensor
    y: torch.Tensor


class TabularData:
    """A table split into training and validation rows, preprocessed into tensors.

    Build one with :meth:`from_csv` or :meth:`from_df`. Attributes: ``df`` (the rows used),
    ``roles`` (:class:`~rung.tabular.roles.ColumnRoles`), ``target``
    (:class:`~rung.tabular.target.TabularTarget`), ``processor``
    (:class:`~rung.tabular.procs.TabularProcessor`, fitted on the training rows),
    ``split`` (positions into ``df``), ``notes`` (what was inferred, filled, logged, dropped).

    >>> df = pd.DataFrame({"size": [1.5, 2.5, 0.5, 3.5] * 5, "color": list("rgbr") * 5,
    ...                    "sold": [0, 1, 0, 1] * 5})
    >>> data = TabularData.from_df(df, "sold", valid_pct=0.2, seed=42)
    >>> data.cat_names, data.cont_names, data.embedding_sizes
    (['color'], ['size'], [(4, 3)])
    >>> cats, conts, y = next(iter(data.dataloaders(batch_size=8).train))
    >>> tuple(cats.shape), tuple(conts.shape), tuple(y.shape)
    ((8, 1), (8, 1), (8,))
    >>> data.xs("valid").shape, data.ys("valid").shape
    ((4, 2), (4,))
    """

    def __init__(
        self,
        df: pd.DataFrame,
        roles: ColumnRoles,
        target: TabularTarget,
        processor: TabularProcessor,
        split: Split,
        notes: Sequence[str] = (),
        seed: int | None = 42,
        steps: FeatureSteps | None = None,
    ) -> None:
        self.df, self.roles, self.target = df, roles, target
        self.processor, self.split, self.seed = processor, split, seed
        self.notes = [*notes, *processor.notes]
        self.steps = steps  # the generic feature steps (engineer=True), else None
        self.groups: np.ndarray | None = None  # each row's group (group_col), else None
        self.times: np.ndarray | None = None  # each row's time (time_col), else None
        # every row at once: (N, n_cat), (N, n_cont)
        made = df if steps is None else steps.transform(df, train_rows=split.train)
        cats, conts = processor.transform(made)
        y = torch.from_numpy(target.encode(df[target.name]))
        if target.task == "regression":
            y = y.unsqueeze(1)  # (N, 1), the shape of a one-output model
        self._all = TabularTensors(cats, conts, y)

    # ----------------------------------------------------------------------- building
    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        target: str,
        *,
        encoding: str | None = None,
        sep: str | None = None,
        max_bytes: int | None = None,
        read_csv: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> TabularData:
        """Read a CSV (:func:`rung.tabular.csvfile.read_csv`: ``encoding``, default UTF-8;
        ``sep``, default ``,``; size capped by ``max_bytes``, default 2 GiB; ``read_csv``
        holds extra ``pd.read_csv`` arguments), then :meth:`from_df` with the other
        arguments."""
        df = csvfile.read_csv(
            path, encoding=encoding, sep=sep, max_bytes=max_bytes, options=read_csv
        )
        return cls.from_df(df, target, **kwargs)

    @classmethod
    def from_df(
        cls,
        df: pd.DataFrame,
        target: str,
        *,
        valid_pct: float = 0.2,
        seed: int | None = 42,
        split: Split | None = None,
        valid_col: str | None = None,
        valid_value: Any = True,
        time_col: str | None = None,
        group_col: str | None = None,
        task: str | None = None,
        cat_names: Sequence[str] | None = None,
        cont_names: Sequence[str] | None = None,
        date_names: Sequence[str] | None = None,
        text_names: Sequence[str] | None = None,
        id_name: str | None = None,
        drop: Sequence[str] = (),
        max_card: int = MAX_CARD,
        log_names: Sequence[str] | None = None,
        log_target: bool | None = None,
        engineer: bool = False,
        dropna_target: bool = True,
    ) -> TabularData:
        """Roles, task, split and preprocessing for ``df`` predicting column ``target``.

        Split (one of): a seeded random ``valid_pct`` (the default: 20%, seed 42, the course's
        split); ``valid_col`` whose value ``valid_value`` marks validation rows; ``time_col``
        (the latest ``valid_pct`` of rows validate); ``group_col`` (whole groups validate);
        or an explicit ``split`` of row positions in ``df``.

        Roles: ``cat_names``, ``cont_names``, ``date_names``, ``text_names``, ``id_name`` and
        ``drop`` override the inferred role of the columns they name; ``max_card`` is the most
        distinct values an integer column may have to count as categorical. ``task`` is
        ``'classification'`` or ``'regression'`` (inferred when ``None``). ``log_names``: the
        continuous columns to ``log1p`` (``None``: the skewed positive ones; ``[]``: none).
        ``log_target``: learn ``log1p`` of a regression target (``None``: when every training
        value is > 0 and it is skewed, :func:`~rung.tabular.target.log_rule`).
        ``engineer``: add the generic feature steps of :mod:`rung.tabular.engineer` (compound
        codes split, counts, words of free text), fitted on the training rows.
        """
        _check_column_names(df)
        target = find_column(df, target, what="target column")
        df, labelled, notes = labelled_rows(df, target, dropna_target)
        if valid_col is not None:  # the column that marks the split is not a feature
            valid_col = find_column(df, valid_col, what="valid_col")
            drop = [*drop, valid_col] if valid_col not in drop else list(drop)
        given = {
            "cat_names": cat_names,
            "cont_names": cont_names,
            "date_names": date_names,
            "text_names": text_names,
            "id_name": id_name,
            "drop": drop,
        }
        roles = infer_roles(df, target, given, max_card=max_card)
        ways = {
            "split": split,
            "valid_col": valid_col,
            "time_col": time_col,
            "group_col": group_col,
        }
        split = make_split(df, labelled, ways, valid_pct, seed, valid_value)
        tgt = TabularTarget.fit(df[target], train_rows=split.train, task=task, log=log_target)
        notes.insert(0, f"task: {tgt.task} ({tgt.reason})")
        if tgt.task == "regression":
            notes.insert(
                1, f"target scale: {'log1p' if tgt.log else 'as given'} ({tgt.log_reason})"
            )
        notes += roles.notes()
        steps = _engineer(df, roles, split, max_card, tgt, seed) if engineer else None
        train = df.iloc[split.train]
        if steps is not None:
            notes += steps.notes
            train = steps.transform(train, train_rows=np.arange(len(train)))
        processor = TabularProcessor(
            roles.cat_names, roles.cont_names, roles.date_names, log_names=log_names
        ).fit(train)
        data = cls(df, roles, tgt, processor, split, notes=notes, seed=seed, steps=steps)
        if time_col is not None:  # cross-validation folds are blocks of time too
            data.times = time_values(df, time_col)
        if group_col is not None:  # cross-validation folds keep whole groups too
            data.groups = df[find_column(df, group_col, what="group_col")].astype(str).to_numpy()
        return data

    # ----------------------------------------------------------------------- what it knows
    @property
    def task(self) -> str:
        """``'classification'`` or ``'regression'``."""
        return self.target.task

    @property
    def classes(self) -> list[Any] | None:
        """Class labels (classification; code i is ``classes[i]``), else ``None``."""
        return self.target.classes

    @property
    def y_range(self) -> tuple[float, float] | None:
        """``(min, max)`` of the training targets (regression), else ``None``."""
        return self.target.y_range

    @property
    def id_name(self) -> str | None:
        """The id column to write beside predictions (e.g. ``PassengerId``), if there is one."""
        return self.roles.id_name

    @property
    def cat_names(self) -> list[str]:
        """Processed categorical columns, in the order of ``cats`` tensors."""
        return self.processor.cat_columns

    @property
    def cont_names(self) -> list[str]:
        """Processed continuous columns, in the order of ``conts`` tensors."""
        return self.processor.cont_columns

    @property
    def embedding_sizes(self) -> list[tuple[int, int]]:
        """``(n_codes, width)`` per categorical column: min(600, round(1.6 * n_codes**0.56))."""
        return self.processor.embedding_sizes

    # ----------------------------------------------------------------------- the data
    def tensors(self, which: str = "train") -> TabularTensors:
        """The processed ``'train'`` or ``'valid'`` rows as tensors."""
        rows = torch.from_numpy(self._rows(which))
        return TabularTensors(*(t[rows] for t in self._all))

    @property
    def train(self) -> TabularTensors:
        """Training rows: ``cats`` (N, n_cat) int64, ``conts`` (N, n_cont) float32, ``y``."""
        return self.tensors("train")

    @property
    def valid(self) -> TabularTensors:
        """Validation rows, as :attr:`train`."""
        return self.tensors("valid")

    def dataloaders(
        self, batch_size: int = 64, shuffle: bool = True, drop_last: bool | None = None
    ) -> DataLoaders:
        """Loaders yielding ``(cats, conts, y)`` batches sliced from the processed tensors.

        The training loader shuffles (seeded with ``seed``) and, by default, drops a last
        partial batch when there is more than one batch (a batch of one breaks BatchNorm);
        the validation loader keeps every row, in batches twice as large. ``info`` carries
        what a model needs: task, classes, y_range, n_out, embedding_sizes, n_cont.
        """
        train = self.train
        if drop_last is None:
            drop_last = len(train.y) > batch_size
        info = {
            "task": self.task,
            "target": self.target.name,
            "classes": self.classes,
            "y_range": self.y_range,
            "n_out": self.target.n_out,
            "embedding_sizes": self.embedding_sizes,
            "n_cont": len(self.cont_names),
            "cat_names": self.cat_names,
            "cont_names": self.cont_names,
        }
        return DataLoaders(
            TensorLoader(
                *train, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=self.seed
            ),
            TensorLoader(*self.valid, batch_size=batch_size * 2),
            **info,
        )

    def xs(self, which: str = "train") -> pd.DataFrame:
        """Processed features of ``'train'`` or ``'valid'`` rows for scikit-learn: category
        codes (int64) and normalised numbers (float32), indexed like ``df``."""
        rows = self._rows(which)
        cats, conts = self._all.cats[rows].numpy(), self._all.conts[rows].numpy()
        return self._frame(cats, conts, self.df.index[rows])

    def ys(self, which: str = "train") -> np.ndarray:
        """Targets of ``'train'`` or ``'valid'`` rows: class codes (int64) or numbers (float32)."""
        return self._all.y[torch.from_numpy(self._rows(which))].numpy().reshape(-1)

    def refold(self, fit_rows: np.ndarray, hold_rows: np.ndarray) -> TabularData:
        """The same table and preprocessing, split into the training rows at positions
        ``fit_rows`` (to fit on) and ``hold_rows`` (its "valid" rows): one fold of a
        cross-validation of the training rows. Tensors are shared, not copied.

        >>> data = TabularData.from_df(pd.DataFrame({"x": range(10), "y": [0, 1] * 5}), "y")
        >>> fold = data.refold(np.arange(6), np.arange(6, 8))
        >>> len(fold.split.train), fold.split.valid.tolist() == data.split.train[6:8].tolist()
        (6, True)
        """
        fold = copy.copy(self)
        train = np.asarray(self.split.train)
        fold.split = Split(train[np.asarray(fit_rows)], train[np.asarray(hold_rows)])
        return fold

    # ----------------------------------------------------------------------- new tables
    def transform(self, df: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cats, conts)`` tensors for new rows (e.g. a test CSV), preprocessed as in training."""
        if self.steps is not None:
            df = self.steps.transform(df)
        return self.processor.transform(df)

    def test_xs(self, df: pd.DataFrame) -> pd.DataFrame:
        """Processed features of new rows as a DataFrame, like :meth:`xs`."""
        if self.steps is not None:
            df = self.steps.transform(df)
        cats, conts = self.processor.transform_numpy(df)
        return self._frame(cats, conts, df.index)

    def test_dl(self, df: pd.DataFrame, batch_size: int = 128) -> TensorLoader:
        """A loader of ``(cats, conts)`` batches for new rows, in their order."""
        return TensorLoader(*self.transform(df), batch_size=batch_size)

    def to_config(self) -> dict[str, Any]:
        """Plain JSON-able dict with all a model file needs to preprocess and decode:
        ``processor`` (:meth:`TabularProcessor.to_config`), ``target``
        (:meth:`TabularTarget.to_config`), ``roles``, ``id_name`` and ``notes``."""
        return {
            "processor": self.processor.to_config(),
            "target": self.target.to_config(),
            "roles": self.roles.to_config(),
            "engineer": None if self.steps is None else self.steps.to_config(),
            "id_name": self.id_name,
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """A readable account: rows, split, task, features, and every note."""
        lines = [
            f"TabularData: {len(self.df)} rows ({len(self.split.train)} train, "
            f"{len(self.split.valid)} valid), target {self.target.name!r}, {self.task}",
            f"classes: {self.classes}" if self.classes is not None else f"y_range: {self.y_range}",
            f"categorical ({len(self.cat_names)}): {self.cat_names}",
            f"continuous ({len(self.cont_names)}): {self.cont_names}",
            f"id column: {self.id_name}",
            "notes:",
            *(f"  - {note}" for note in self.notes),
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"TabularData({self.target.name!r}, {self.task}, {len(self.split.train)} train / "
            f"{len(self.split.valid)} valid rows, {len(self.cat_names)} categorical + "
            f"{len(self.cont_names)} continuous features)"
        )

    def _rows(self, which: str) -> np.ndarray:
        if which not in _WHICH:
            raise ValueError(f"which must be 'train' or 'valid', got {which!r}.")
        return self.split.train if which == "train" else self.split.valid

    def _frame(self, cats: np.ndarray, conts: np.ndarray, index: pd.Index) -> pd.DataFrame:
        frame = pd.DataFrame(cats, columns=self.cat_names, index=index)
        frame[self.cont_names] = conts
        return frame


def _engineer(
    df: pd.DataFrame,
    roles: ColumnRoles,
    split: Split,
    max_card: int,
    target: TabularTarget,
    seed: int | None,
) -> FeatureSteps:
    """Fit the generic feature steps on the training rows (on string columns with more than
    ``max_card`` values: categorical ones and free text; group target means for a regression
    or two-class ``target``) and give the columns they add their roles, with the step that
    made them (``df`` itself is left as it is)."""
    wide = [
        c for c in roles.cat_names
        if not pd.api.types.is_numeric_dtype(df[c].dtype) and df[c].nunique() > max_card
    ]  # fmt: skip
    train = df.iloc[split.train]
    y = None
    if target.task == "regression" or len(target.classes or ()) == 2:
        y = np.asarray(target.encode(train[target.name]), float).reshape(-1)
    steps = FeatureSteps(max_card).fit(
        train, compound=wide, text=roles.text_names, target=y, seed=seed or 0
    )
    cats, conts = steps.new_columns()
    roles.cat_names += cats
    roles.cont_names += conts
    for name in [*cats, *conts]:
        roles.reasons[name] = "made by a feature step (see the notes)"
    return steps


def _check_column_names(df: pd.DataFrame) -> None:
    """Column names must be distinct strings: the model file stores them as JSON keys, and
    a name given twice makes ``df[name]`` a table instead of a column."""
    not_str = [c for c in df.columns if not isinstance(c, str)]
    if not_str:
        raise ValueError(
            f"column names must be strings; {not_str[:10]} are not. Rename them, e.g. "
            "df.columns = [str(c) for c in df.columns] (and the same for tables to predict)."
        )
    twice = sorted(set(df.columns[df.columns.duplicated()]))
    if twice:
        raise ValueError(
            f"the table has two or more columns named {twice[:10]}; give each column its own name."
        )
