"""Reports: the run folder every training run leaves, its writeup, and the runs index.

An app ends a run with a few calls::

    run = new_run_dir("runs", "images")            # runs/20240131-142501-images/ (INCOMPLETE)
    save_json(run / "config.json", {"app": "images", "task": "classification", ...})
    learn.recorder.to_csv(run / "metrics.csv")      # plots: run / "confusion_matrix.png", ...
    learn.export(run / "model.rung", ...)
    write_writeup(run)                              # report.html (self-contained) + report.md
    record_run(run)                                 # complete: runs/latest, runs/index.sqlite

and ``rung runs`` prints ``format_runs(list_runs("runs"))``. Every module here imports
nothing heavy: the writeup embeds the PNGs the app drew and needs no matplotlib itself.

>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> run = new_run_dir(root, "table")
>>> _ = save_json(run / "config.json", {"task": "regression", "metrics": {"rmse": 0.5}})
>>> write_writeup(run)["html"].name, list_runs(root)[0]["main_metric"]
('report.html', 'rmse')
"""

from rung.report.compare import compare_runs
from rung.report.index import format_runs, list_runs, record_run
from rung.report.run_folder import (
    RunNotFoundError,
    atomic_write_text,
    is_run_dir,
    mark_complete,
    new_run_dir,
    resolve_run,
    run_status,
    save_json,
)
from rung.report.run_info import RunInfo, read_run
from rung.report.writeup import plot_caption, write_writeup

__all__ = [
    "new_run_dir",
    "mark_complete",
    "run_status",
    "resolve_run",
    "is_run_dir",
    "save_json",
    "atomic_write_text",
    "RunNotFoundError",
    "read_run",
    "RunInfo",
    "write_writeup",
    "plot_caption",
    "record_run",
    "list_runs",
    "format_runs",
    "compare_runs",
]
