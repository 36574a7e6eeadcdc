"""What :func:`~rung.tabular.train.train_table` gives back: :class:`TableRun`, the run's
leaderboard, fitted models, folder, model file, plots and the note on what its scores mean."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rung.tabular.data import TabularData
from rung.tabular.fit import FittedModel
from rung.tabular.leaderboard import main_metric

__all__ = ["TableRun"]


@dataclass
class TableRun:
    """What :func:`train_table` did: the ``leaderboard``, every fitted model (``fits``),
    the ``exported`` model's name, the ``run_dir`` and ``model_path``, plots (``plots``) and
    ``note`` (which rows scored the models, and whether the winner's margin is noise)."""

    run_dir: Path
    model_path: Path | None
    exported: str | None
    leaderboard: pd.DataFrame
    data: TabularData
    fits: dict[str, FittedModel]
    plots: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def metrics(self) -> dict[str, float]:
        """The exported model's validation metrics, by name."""
        return dict(self.fits[self.exported].metrics) if self.exported else {}

    @property
    def summary(self) -> str:
        """The leaderboard as text (every column), what its scores mean, where the model went."""
        shown = self.leaderboard.drop(columns=["description", "scored_on"]).round(4)
        rows = self.leaderboard["scored_on"].iloc[0]
        for where, models in self.leaderboard.groupby("scored_on", sort=False)["model"]:
            if where != rows:  # e.g. the chosen ensemble, scored once on the held-out rows
                rows += f"; {', '.join(map(str, models))} on {where}"
        lines = [
            f"scored on {rows}; target {self.data.target.name!r} ({self.data.task}); "
            f"ci_low/ci_high: 90% bootstrap interval of "
            f"{main_metric(self.data.task, self.data.target.log)[0]}",
            shown.to_string(index=False),
            self.note,
        ]
        if self.model_path is not None:
            lines.append(f"exported {self.exported} to {self.model_path}")
        lines.append(f"run folder: {self.run_dir}")
        return "\n".join(line for line in lines if line)

    def _repr_html_(self) -> str:
        from rung.report.notebook import result_html

        board = self.leaderboard.drop(columns=["description"], errors="ignore")
        return result_html("Table run", self.metrics, self.summary, self.plots.values(), board)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: run_dir, model_path, exported, metrics, leaderboard rows, plots, note,
        summary."""
        from rung.models.registry import json_ready

        return json_ready(
            {
                "run_dir": str(self.run_dir),
                "model_path": None if self.model_path is None else str(self.model_path),
                "exported": self.exported,
                "task": self.data.task,
                "metrics": self.metrics,
                "leaderboard": self.leaderboard.to_dict(orient="records"),
                "plots": self.plots,
                "note": self.note,
                "summary": self.summary,
            }
        )
