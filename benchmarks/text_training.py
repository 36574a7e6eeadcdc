"""Text training: rung (TextData + Learner + fit_one_cycle) vs Hugging Face's ``Trainer``, one run.

Both fine-tune the same checkpoint (default: the offline all-MiniLM-L6-v2) as a regression on
the same patents rows, split and tokenized once (rung's :class:`~rung.text.data.TextData`: the
course's ``TEXT1: {context}; TEXT2: {target}; ANC1: {anchor}`` inputs, the same max_len), with
the same batch size, epochs, peak learning rate, weight decay 0.01, 10% warm-up and precision
(by default rung's choice for the machine: bf16 on a CPU with bf16 instructions).
Both pad each batch to its longest input. rung batches inputs of similar length together
(its TextLoader); the Trainer runs twice: with its default random batches (the headline
ratio, what a user of the Trainer gets) and with ``group_by_length`` (its own bucketing, a
second ratio). What else differs is the loop and its recipe details (rung: one-cycle with
momentum, head bias at the mean score, no dropout for a score (``task_dropout``), attention in
float32 on a CPU under bf16 (``cpu_float32_attention``: torch's bf16 flash-attention backward
is the slow one there); Trainer: linear warm-up then cosine, AdamW betas (0.9, 0.999), the
checkpoint's dropout 0.1, the checkpoint's ``sdpa`` attention).

Prints the training steps per second of each (training phase only), the ratios, each
validation Pearson (predictions clipped to the training range for all) and the padding each
spent (padded tokens / real tokens).

    .venv/bin/python benchmarks/text_training.py [--rows 2000 --epochs 1 --batch-size 32]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from rung.callbacks.core import Callback
from rung.metrics import pearson
from rung.text.data import TextData
from rung.text.models import resolve_source, text_model
from rung.text.tokenizer import TextTokenizer
from rung.text.train import task_dropout, text_learner, text_precision
from rung.utils import seed_everything

PATENTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "patents" / "train.csv"
FIELDS = "TEXT1=context,TEXT2=target,ANC1=anchor"


class TrainClock(Callback):
    """Seconds of the training phases (validation excluded) and of each training step, and
    the tokens the steps ran (padded and real)."""

    def before_fit(self) -> None:
        self.seconds, self.steps, self.step_times = 0.0, 0, []
        self.padded, self.real = 0, 0

    def before_train(self) -> None:
        self.start = time.perf_counter()

    def before_batch(self) -> None:
        self.step_start = time.perf_counter()

    def after_batch(self) -> None:
        if self.learn.training:
            self.step_times.append(time.perf_counter() - self.step_start)
            mask = self.learn.xb[1]
            self.padded, self.real = self.padded + mask.numel(), self.real + int(mask.sum())

    def after_train(self) -> None:
        self.seconds += time.perf_counter() - self.start
        self.steps += self.learn.n_iter


def _timing(
    steps: int, seconds: float, step_times: list[float], padded: int, real: int
) -> dict[str, float]:
    """Steps/s over the whole training phase, and from the median step (what a burst of load
    from other processes on a shared machine disturbs least); tokens run per real token."""
    return {
        "steps": steps,
        "seconds": seconds,
        "steps_per_s": steps / seconds,
        "median_steps_per_s": 1 / float(np.median(step_times)),
        "padding": padded / real,
    }


def load_data(source: str, rows: int, seed: int) -> TextData:
    df = pd.read_csv(os.environ.get("RUNG_PATENTS", PATENTS)).sample(n=rows, random_state=seed)
    return TextData.from_df(
        df, FIELDS, "score", tokenizer=TextTokenizer.from_pretrained(source), seed=seed
    )


def run_rung(data: TextData, source: str, args: argparse.Namespace) -> dict[str, float]:
    seed_everything(args.seed)
    model = text_model(source, n_out=1, y_range=data.target.y_range,
                       dropout=task_dropout("regression"))  # fmt: skip
    model.init_output_bias(torch.tensor([float(data.y[data.split.train].mean())]))
    clock = TrainClock()
    learn = text_learner(
        data.dataloaders(args.batch_size), model, cbs=[clock], progress=False,
        mixed_precision=args.precision,
    )  # fmt: skip
    learn.fit_one_cycle(args.epochs, args.lr, pct_start=0.1)
    preds = learn.get_preds()  # the loader's order: longest first
    return {
        **_timing(clock.steps, clock.seconds, clock.step_times, clock.padded, clock.real),
        "pearson": pearson(preds["preds"], preds["targets"]),
    }


def _rows(data: TextData, which: np.ndarray) -> list[dict]:
    return [{"input_ids": data.ids[i].tolist(), "labels": float(data.y[i, 0])} for i in which]


def run_trainer(
    data: TextData, source: str, args: argparse.Namespace, group_by_length: bool
) -> dict[str, float]:
    """The Trainer on the same rows; ``group_by_length``: its length-grouped sampler instead
    of its default random batches."""
    from transformers import (
        AutoModelForSequenceClassification,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from rung.text.loader import pad_batch

    pad_id = data.tokenizer.pad_id
    tokens = {"padded": 0, "real": 0}

    def collate(items: list[dict]) -> dict[str, torch.Tensor]:
        x, mask = pad_batch([np.asarray(r["input_ids"]) for r in items], pad_id)
        tokens["padded"] += mask.numel()
        tokens["real"] += int(mask.sum())
        return {"input_ids": x, "attention_mask": mask,
                "labels": torch.tensor([r["labels"] for r in items])}  # fmt: skip

    class Clock(TrainerCallback):
        seconds, step_times = 0.0, []

        def on_epoch_begin(self, *a, **k):
            self.start = time.perf_counter()

        def on_epoch_end(self, *a, **k):
            Clock.seconds += time.perf_counter() - self.start

        def on_step_begin(self, *a, **k):
            self.step_start = time.perf_counter()

        def on_step_end(self, *a, **k):
            Clock.step_times.append(time.perf_counter() - self.step_start)

    seed_everything(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
    options = inspect.signature(TrainingArguments).parameters
    settings = {
        "output_dir": tempfile.mkdtemp(), "per_device_train_batch_size": args.batch_size,
        "per_device_eval_batch_size": args.batch_size * 2, "num_train_epochs": args.epochs,
        "learning_rate": args.lr, "weight_decay": 0.01, "lr_scheduler_type": "cosine",
        "report_to": "none", "eval_strategy": "no", "save_strategy": "no",
        "logging_strategy": "no", "disable_tqdm": True, "seed": args.seed,
        "dataloader_num_workers": 0, "bf16": args.precision == "bf16",
        "fp16": args.precision == "fp16", "use_cpu": not torch.cuda.is_available(),
    }  # fmt: skip
    if "warmup_ratio" in options:  # transformers 4
        settings.update(warmup_ratio=0.1, group_by_length=group_by_length)
    else:  # transformers 5: a float warmup_steps is a ratio
        settings.update(warmup_steps=0.1)
        if group_by_length:
            settings.update(train_sampling_strategy="group_by_length")
    trainer = Trainer(
        model=model, args=TrainingArguments(**settings), data_collator=collate,
        train_dataset=_rows(data, data.split.train), callbacks=[Clock()],
    )  # fmt: skip
    trainer.train()
    trained = dict(tokens)  # the training batches' tokens, before prediction adds its own
    out = trainer.predict(_rows(data, data.split.valid))
    preds = np.clip(out.predictions.reshape(-1), *data.target.y_range)
    return {
        **_timing(trainer.state.global_step, Clock.seconds, Clock.step_times, **trained),
        "pearson": float(np.corrcoef(preds, out.label_ids.reshape(-1))[0, 1]),
    }


def warm_up(data: TextData, source: str, batch_size: int) -> None:
    """One forward and backward pass first, so neither run pays the process's cold start."""
    model = text_model(source, n_out=1)
    x, mask, y = next(iter(data.dataloaders(batch_size)[0]))
    torch.nn.functional.mse_loss(model(x, mask), y).backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="patents rows (25%% validation)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument(
        "--precision", default="auto", choices=["auto", "no", "bf16", "fp16"],
        help="for both; auto: rung's choice for this machine (text_precision)",
    )  # fmt: skip
    parser.add_argument("--model", help="model folder or hub name (default: offline MiniLM)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--seeds", type=int, default=1, help="repeat with seeds seed, seed+1...")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.precision = text_precision(args.precision)
    source, described = resolve_source(args.model)
    runs = []
    for seed in range(args.seed, args.seed + args.seeds):
        args.seed = seed
        runs.append(run_pair(source, described, args))
    if args.seeds > 1:
        for name in ("rung", "hf_trainer", "hf_trainer_grouped"):
            scores = [r[name]["pearson"] for r in runs]
            speeds = [r[name]["median_steps_per_s"] for r in runs]
            print(f"{name:>18}: Pearson {np.mean(scores):.4f} +- {np.std(scores):.4f}, median "
                  f"steps/s {np.mean(speeds):.3f} over {args.seeds} seeds")  # fmt: skip
        for name in ("hf_trainer", "hf_trainer_grouped"):
            ratios = [r[f"ratio_{name}"] for r in runs]
            print(f"rung / {name}: {np.mean(ratios):.3f}x +- {np.std(ratios):.3f} steps/s (lowest "
                  f"{min(ratios):.3f}x) over {args.seeds} seeds")  # fmt: skip
    if args.json:
        print(json.dumps(runs))


def run_pair(source: str, described: str, args: argparse.Namespace) -> dict:
    """rung and the Trainer on one seed's rows and split; prints and returns both."""
    data = load_data(source, args.rows, args.seed)
    print(f"{described}; {len(data.split.train)} train / {len(data.split.valid)} valid rows, "
          f"max_len {data.max_len}, batch {args.batch_size}, {args.epochs} epoch(s), "
          f"lr {args.lr:g}, precision {args.precision}, seed {args.seed}, torch threads "
          f"{torch.get_num_threads()}")  # fmt: skip
    warm_up(data, source, args.batch_size)
    results = {
        "rung": run_rung(data, source, args),
        "hf_trainer": run_trainer(data, source, args, group_by_length=False),
        "hf_trainer_grouped": run_trainer(data, source, args, group_by_length=True),
    }
    for name, r in results.items():
        print(f"{name:>18}: {r['steps']} steps in {r['seconds']:.1f} s = {r['steps_per_s']:.3f} "
              f"steps/s (median step: {r['median_steps_per_s']:.3f}/s); {r['padding']:.2f} "
              f"tokens run per real token; validation Pearson {r['pearson']:.4f}")  # fmt: skip
    rung = results["rung"]
    for name, label in (("hf_trainer", "Trainer (random batches, its default)"),
                        ("hf_trainer_grouped", "Trainer (group_by_length)")):  # fmt: skip
        hf = results[name]
        ratio = rung["steps_per_s"] / hf["steps_per_s"]
        median = rung["median_steps_per_s"] / hf["median_steps_per_s"]
        results[f"ratio_{name}"], results[f"median_ratio_{name}"] = ratio, median
        print(f"rung / {label}: {ratio:.3f}x steps/s (median steps: {median:.3f}x)")
    return results


if __name__ == "__main__":
    main()
