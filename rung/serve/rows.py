"""Rows of named columns behind the API: table models (a form from the training schema) and
text models (one box per text column).

A table model's inputs come from its model file alone: the columns the fitted preprocessing
reads (categories with their training vocabulary, numbers with the training median, dates),
less the ones a named feature set makes, plus the ones that feature set reads. The id and
target columns may come with a row and are ignored; any other column is refused with the
closest known name, and a missing column is missing (filled as in training).

>>> col = Column("Age", "number", median=28.0)
>>> col.check(" 22.5 ", "row"), col.check(None, "row")
(22.5, None)
>>> col.check("old", "row")
Traceback (most recent call last):
...
rung.serve.limits.ApiError: row: column 'Age' must be a number, got 'old'
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rung.modelfile import ModelFileError
from rung.serve.limits import ApiError
from rung.serve.model import ServedModel
from rung.utils import closest

__all__ = ["Column", "TableModel", "TextModel", "check_columns"]

COLUMN_TYPES = ("number", "category", "date", "text", "value")
MAX_TEXT = 100_000  # characters in one cell


@dataclass(frozen=True)
class Column:
    """One input column: its ``type`` (number, category, date, text, or value: any scalar a
    feature function reads), the training ``choices`` (categories), ``median`` and ``range``
    (numbers) and the value that fills it when missing (``default``)."""

    name: str
    type: str
    choices: list[str] | None = None
    median: float | None = None
    range: list[float] | None = None
    default: Any = None

    def check(self, value: Any, where: str) -> Any:
        """The value ready for a DataFrame, or a 422 naming the column and the value."""
        if value is None:
            return None
        if isinstance(value, (list, dict)):
            raise ApiError(
                422, f"{where}: column {self.name!r} must be a single value, got a "
                f"{type(value).__name__}",
            )  # fmt: skip
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise ApiError(422, f"{where}: column {self.name!r} is over {MAX_TEXT:,} characters")
        if self.type == "number":
            return self._number(value, where)
        if self.type in ("date", "text") and not isinstance(value, str):
            raise ApiError(
                422, f"{where}: column {self.name!r} must be a string ({self.type}), got "
                f"{value!r}",
            )  # fmt: skip
        return value

    def _number(self, value: Any, where: str) -> float:
        bad = ApiError(422, f"{where}: column {self.name!r} must be a number, got {value!r}")
        if isinstance(value, bool):
            raise bad
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise bad from None
        number = float(value)
        if not math.isfinite(number):
            raise bad
        return number

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def check_columns(row: Any, where: str, known: list[str], ignored: set[str]) -> dict:
    """``row`` as a dict whose columns are all ``known`` (or ``ignored``); a 422 naming the
    first unknown column, the closest known name and the list.

    >>> check_columns({"Agee": 3}, "rows[2]", ["Age", "Sex"], set())
    Traceback (most recent call last):
    ...
    rung.serve.limits.ApiError: rows[2]: unknown column 'Agee'; did you mean 'Age'? This model's columns are ['Age', 'Sex']
    """
    if not isinstance(row, dict):
        raise ApiError(422, f"{where} must be an object of column: value, got {type(row).__name__}")
    for name in row:
        if name not in known and name not in ignored:
            raise ApiError(
                422,
                f"{where}: unknown column {name!r}{closest(str(name), known) or '.'} This "
                f"model's columns are {known}",
            )
    return row


class TableModel(ServedModel):
    """A table model behind the API: ``{"row": {...}}`` or ``{"rows": [...]}``."""

    kind = "tabular"
    json_fields = ("row", "rows")

    def __init__(self, predictor: Any, limits: Any = None, title: str | None = None) -> None:
        super().__init__(predictor, limits, title)
        self.columns = self._columns()
        # the id, the target, and the training CSV's other columns the model doesn't read
        # (a row of the CSV itself is welcome); any other column is a mistake to report
        roles = self.config["preprocessing"].get("roles") or {}
        seen = set(roles.get("reasons") or {}) | {predictor.id_name, predictor.target.name}
        made, _ = self._made_by_features()
        self.ignored = {str(c) for c in seen if c} - made - {c.name for c in self.columns}

    def _columns(self) -> list[Column]:
        proc = self.predictor.processor
        config = self.config["preprocessing"]["processor"]
        made, needs = self._made_by_features()
        columns = []
        for name in proc.cont_names:
            if name not in made:
                median = proc.fill_cont.get(name)
                columns.append(Column(name, "number", median=median, range=_range(config, name),
                                      default=median))  # fmt: skip
        for name in proc.cat_names:
            if name not in made:
                columns.append(Column(name, "category", choices=list(proc.vocab.get(name, [])),
                                      default=proc.fill_cat.get(name)))  # fmt: skip
        columns += [Column(n, "date") for n in proc.date_names if n not in made]
        present = {c.name for c in columns}
        columns += [Column(n, "value") for n in needs if n not in present]
        return columns

    def _made_by_features(self) -> tuple[set[str], tuple[str, ...]]:
        """``(columns made from others, input columns they are made from)``: by the named
        feature set (found by running it on a probe row: its code is rung's, named by the
        file, never the file's), then by the fitted feature steps (which say so)."""
        made, needs = self._feature_set()
        steps = getattr(self.predictor, "steps", None)
        if steps is not None:
            cats, conts = steps.new_columns()
            reads = steps.read_columns() if callable(steps.read_columns) else steps.read_columns
            needs += tuple(c for c in reads if c not in made and c not in needs)
            made |= {*cats, *conts}
        return made, needs

    def _feature_set(self) -> tuple[set[str], tuple[str, ...]]:
        import pandas as pd

        features = self.predictor.features
        if features is None:
            return set(), ()
        for probe in (np.nan, "a, b. c", 0):
            try:
                out = features(pd.DataFrame({c: [probe] for c in features.needs}))
            except Exception:  # a probe the feature function can't take: try the next
                continue
            return set(out.columns) - set(features.needs), tuple(features.needs)
        return set(), tuple(features.needs)  # ask for every column rather than guess

    def inputs(self) -> dict[str, Any]:
        return {
            "type": "table", "columns": [c.to_dict() for c in self.columns],
            "ignored": sorted(self.ignored),
        }  # fmt: skip

    def example(self) -> str:
        first = {c.name: c.default for c in self.columns[:3]}
        return f'e.g. {{"row": {first}}} (a missing column is filled as in training)'

    def prepare(self, item: tuple[str, Any]) -> dict[str, Any]:
        where, row = item
        check_columns(row, where, [c.name for c in self.columns], self.ignored)
        return {c.name: c.check(row.get(c.name), where) for c in self.columns}

    def predict_raw(self, prepared: list[Any]) -> np.ndarray:
        import pandas as pd

        df = pd.DataFrame(prepared, columns=[c.name for c in self.columns])
        for column in self.columns:
            if column.type == "number":
                df[column.name] = pd.to_numeric(df[column.name])
        try:
            return self.predictor.predict_raw(df)
        except (ValueError, TypeError, KeyError) as e:
            raise ApiError(422, f"the model can't predict these rows: {e}") from None

    def predict_groups(self, groups: list[list[Any]]) -> list[list[dict[str, Any]]]:
        """A feature set may look across rows (the Titanic ``TicketFreq`` counts tickets in the
        table it is given), so with one each request is predicted alone, as it would be
        offline; without one, rows of all requests go through one forward pass."""
        if self.predictor.features is None:
            return super().predict_groups(groups)
        return [super(TableModel, self).predict_groups([group])[0] for group in groups]


def _range(processor_config: dict[str, Any], name: str) -> list[float] | None:
    """The training range of a number column, when the model file records it."""
    low, high = processor_config.get("min", {}), processor_config.get("max", {})
    if name in low and name in high:
        return [float(low[name]), float(high[name])]
    return None


class TextModel(ServedModel):
    """A text model behind the API: ``{"text": "..."}`` / ``{"texts": [...]}`` for a model of
    one text column, ``{"row": {column: text}}`` / ``{"rows": [...]}`` for any."""

    kind = "text"
    json_fields = ("row", "rows")

    def __init__(self, predictor: Any, limits: Any = None, title: str | None = None) -> None:
        super().__init__(predictor, limits, title)
        columns = self.config.get("text_columns")
        if columns is None:
            fields = (self.config.get("preprocessing") or {}).get("fields") or {}
            columns = fields.get("columns")
        if not columns or not all(isinstance(c, str) for c in columns):
            raise ModelFileError(
                self.path or "this model",
                "its config names no text columns ('text_columns'), so rung serve can't "
                "build its form.",
                "Export it again with a rung that writes them.",
            )
        self.text_columns = list(columns)
        target = self.config.get("target")
        self.ignored = {c for c in (self.config.get("id_name"), target) if isinstance(c, str)}

    def inputs(self) -> dict[str, Any]:
        return {"type": "text", "columns": [Column(c, "text").to_dict() for c in self.text_columns],
                "ignored": sorted(self.ignored)}  # fmt: skip

    def example(self) -> str:
        if len(self.text_columns) == 1:
            return 'e.g. {"text": "..."}'
        return f'e.g. {{"row": {{{", ".join(repr(c) + ": ..." for c in self.text_columns)}}}}}'

    def items_from_json(self, payload: Any) -> tuple[list[Any], bool]:
        if isinstance(payload, dict) and ("text" in payload or "texts" in payload):
            if len(self.text_columns) != 1:
                raise ApiError(
                    400, f"this model reads {len(self.text_columns)} text columns "
                    f"{self.text_columns}; send 'row' (or 'rows') with one value each",
                )  # fmt: skip
            column = self.text_columns[0]
            renamed = {"row" if k == "text" else "rows" if k == "texts" else k: v
                       for k, v in payload.items()}  # fmt: skip
            items, single = super().items_from_json(renamed)
            return [(w.replace("row", "text"), {column: v}) for w, v in items], single
        return super().items_from_json(payload)

    def prepare(self, item: tuple[str, Any]) -> dict[str, Any]:
        where, row = item
        check_columns(row, where, self.text_columns, self.ignored)
        cols = [Column(c, "text") for c in self.text_columns]
        return {c.name: c.check(row.get(c.name), where) or "" for c in cols}

    def predict_raw(self, prepared: list[Any]) -> np.ndarray:
        try:
            return self.predictor.predict_raw(prepared)
        except (ValueError, TypeError, KeyError) as e:
            raise ApiError(422, f"the model can't predict these texts: {e}") from None
