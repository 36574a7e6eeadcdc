"""Recorder: losses, learning rates and momentum per batch; losses, metrics and time per epoch."""

from __future__ import annotations

import csv
import operator
import time
from pathlib import Path
from typing import Any

import torch

from rung.callbacks.core import Callback

__all__ = ["Recorder"]

_lr_of = operator.itemgetter("lr")


class Recorder(Callback):
    """Keeps the history of a fit.

    - ``losses``, ``lrs``, ``moms``: one entry per training batch (``lrs[i]`` has one value
      per parameter group);
    - ``values``: one dict per epoch, ``{"epoch", "train_loss", "valid_loss", <metrics>, "time"}``;
    - ``history``: ``values`` of every fit this Learner ran (``fine_tune`` runs two), each row
      with its ``fit`` number; ``fit_losses``: the per-batch training losses of each of those
      fits, so :meth:`plot_loss` can draw all of them (the LR finder's sweep is not a fit:
      it puts all of this back).
    """

    order = 50

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.lrs: list[list[float]] = []
        self.moms: list[float] = []
        self.values: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.fit_losses: list[list[float]] = []
        self.n_fits = 0

    def before_fit(self) -> None:
        if self.learn.start_epoch == 0:  # a resumed fit keeps what the checkpoint restored
            self.losses, self.lrs, self.moms, self.values = [], [], [], []
            self.fit_losses = [*self.fit_losses, []]  # a new list: restored() keeps the old one
        elif not self.fit_losses:  # resumed in a fresh Learner: start from the restored losses
            self.fit_losses = [list(self.losses)]
        self.n_fits += 1

    def before_epoch(self) -> None:
        self.start_time = time.perf_counter()
        self._epoch_losses: list[torch.Tensor] = []
        self._epoch_sizes: list[int] = []
        self.learn.valid_results = {}

    def after_batch(self) -> None:
        learn = self.learn
        if not learn.training:
            return
        # Keep the loss as a tensor until the epoch ends: no device sync per batch on a GPU.
        self._epoch_losses.append(learn.loss.detach())
        self._epoch_sizes.append(len(learn.yb))
        groups = learn.opt.param_groups
        self.lrs.append(list(map(_lr_of, groups)))  # map: no comprehension frame per batch
        head = groups[-1]
        self.moms.append(head["betas"][0] if "betas" in head else head.get("momentum", 0.0))

    def after_epoch(self) -> None:
        if self._epoch_losses:
            batch_losses = torch.stack(self._epoch_losses).float().cpu()
            self.losses.extend(batch_losses.tolist())
            self.fit_losses[-1].extend(batch_losses.tolist())
            sizes = torch.tensor(self._epoch_sizes, dtype=torch.float32)
            train_loss = float((batch_losses * sizes).sum() / sizes.sum())
        else:
            train_loss = float("nan")
        record = {"epoch": self.learn.epoch, "train_loss": train_loss}
        record.update(self.learn.valid_results)
        record["time"] = time.perf_counter() - self.start_time
        self.values.append(record)
        self.history.append({"fit": self.n_fits, **record})

    def final_metrics(self) -> dict[str, float]:
        """The last epoch's validation loss and metrics, by name."""
        if not self.values:
            return {}
        return {
            k: v for k, v in self.values[-1].items() if k not in ("epoch", "time", "train_loss")
        }

    def to_csv(self, path: str | Path, all_fits: bool = True) -> Path:
        """Write one row per epoch (``history`` by default) to a CSV file."""
        rows = self.history if all_fits else self.values
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        keys: list[str] = []
        for row in rows:
            keys += [k for k in row if k not in keys]
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        return path

    def plot_loss(self, path: str | Path, all_fits: bool = True) -> Path:
        """Training loss per batch and validation loss per epoch, as a PNG: of every fit
        (``fine_tune``'s frozen epochs and the unfrozen ones, split by dotted lines), or of
        the last fit only (``all_fits=False``)."""
        from matplotlib.figure import Figure

        fits = self.per_fit() if all_fits else [(self.losses, self.values)]
        fig = Figure(figsize=(6, 4))
        ax = fig.add_subplot()
        start, xs, valid, train = 0, [], [], []
        for i, (losses, values) in enumerate(fits):
            train += losses
            if i > 0:
                ax.axvline(start, color="grey", linestyle=":", linewidth=1)
            per_epoch = len(losses) / len(values) if values else 0
            xs += [start + per_epoch * (j + 1) for j in range(len(values))]
            valid += [v.get("valid_loss", float("nan")) for v in values]
            start += len(losses)
        ax.plot(train, label="train (per batch)", alpha=0.7)
        if valid and train:
            ax.plot(xs, valid, "o-", label="valid")
        if len(fits) > 1:
            ax.set_title(f"{len(fits)} fits (dotted lines: where each starts)", fontsize=10)
        ax.set_xlabel("batch")
        ax.set_ylabel("loss")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        return Path(path)

    def per_fit(self) -> list[tuple[list[float], list[dict[str, Any]]]]:
        """``(batch losses, epoch rows)`` of each fit in ``history``; the last fit alone when
        the history doesn't hold the losses (a Recorder restored from a checkpoint)."""
        numbers = list(dict.fromkeys(row["fit"] for row in self.history))
        if len(numbers) != len(self.fit_losses) or not numbers:
            return [(self.losses, self.values)]
        rows = [[r for r in self.history if r["fit"] == n] for n in numbers]
        return list(zip(self.fit_losses, rows))

    def plot_sched(self, path: str | Path) -> Path:
        """Learning rate (head group) and momentum per batch, as a PNG."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 3))
        ax1, ax2 = fig.subplots(1, 2)
        ax1.plot([lr[-1] for lr in self.lrs])
        ax1.set_title("learning rate")
        ax2.plot(self.moms)
        ax2.set_title("momentum")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        return Path(path)
