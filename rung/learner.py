"""The Learner: a model, its data, a loss and an optimiser, and the training loop around them.

The loop is fit -> epochs -> (train, validate) -> batches. Each stage runs ``before_X``, its
body and ``after_X``; a ``CancelXException`` raised by a callback skips the rest of the body,
runs ``after_cancel_X`` and then ``after_X``. ``cleanup_fit`` always runs, even on an error.
Devices, mixed precision and several processes come from Accelerate; nothing here calls
``.cuda()``.

>>> import torch
>>> from rung.data.core import DataLoaders
>>> x = torch.linspace(-1, 1, 200).unsqueeze(1); y = 3 * x + 1
>>> dls = DataLoaders.from_tensors(x, y, batch_size=16)
>>> learn = Learner(torch.nn.Linear(1, 1), dls, loss_func=torch.nn.MSELoss(), progress=False)
>>> learn.fit_one_cycle(8, 0.3)
>>> learn.recorder.values[-1]["valid_loss"] < 0.01
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from rung.callbacks import predictions, setup
from rung.callbacks.core import (
    CANCEL_EXCEPTIONS,
    Callback,
    CallbackHost,
    CancelBatchException,
    output_path,
)
from rung.callbacks.metrics import MetricsCallback
from rung.callbacks.progress import ProgressCallback
from rung.callbacks.recorder import Recorder
from rung.callbacks.schedule import fine_tune, one_cycle
from rung.data.core import DataLoaders
from rung.param_groups import LRLike, default_splitter, freeze_to, lrs_for, set_hyper, split_params

if TYPE_CHECKING:
    from rung.callbacks.lr_finder import LRFindResult
    from rung.callbacks.predictions import Predictions
    from rung.predictor import ClassPrediction

__all__ = ["Learner", "default_opt"]

_NO_AUTOCAST = contextlib.nullcontext()

# stage -> (before event, after event, after-cancel event, its cancel exception)
_STAGE_EVENTS = {
    s: (f"before_{s}", f"after_{s}", f"after_cancel_{s}", CANCEL_EXCEPTIONS[s])
    for s in CANCEL_EXCEPTIONS
}

# Distributed types where the optimizer needs no Accelerate wrapper (set on first use).
_PLAIN_OPT = ("NO", "MULTI_CPU", "MULTI_GPU")

# fastai's defaults: Adam with decoupled weight decay, betas (0.9, 0.99), eps 1e-5.
default_opt = partial(torch.optim.AdamW, betas=(0.9, 0.99), eps=1e-5)


class Learner(CallbackHost):
    """Trains ``model`` on ``dls`` with ``loss_func``; callbacks add everything else.

    Args:
        model: any ``nn.Module``; its forward takes the batch's inputs (all but the last item).
            The model comes first (fastai's ``Learner(dls, model)`` is the other way round).
        dls: a :class:`~rung.data.core.DataLoaders` (or a ``(train, valid)`` pair). The
            validation loader is required.
        loss_func: e.g. ``nn.CrossEntropyLoss()``; defaults from ``dls.info["task"]``.
        lr: default learning rate. wd: weight decay. opt_func: builds the optimiser from
            parameter groups (default AdamW as fastai sets it up).
        metrics: a function ``f(preds, targets) -> float``, or several, computed over the
            whole validation set on the outputs through the loss's activation
            (see :mod:`rung.metrics`).
        splitter: ``model -> list of parameter lists`` (body first, head last) for freezing and
            discriminative learning rates; defaults to ``model.param_groups()`` or one group.
        mixed_precision: ``"auto"`` (bf16 on a GPU that has it), ``"no"``, ``"bf16"``, ``"fp16"``.
        seed: makes each fit repeat exactly: when a fit starts, Python, NumPy and torch are
            seeded (``seed_everything(seed + i)`` for this Learner's i-th fit) and so is the
            training loader's own generator, which covers batch order, dropout and augmentation.
            The model is built before the Learner, so its initial weights are not covered: seed
            before building it (``rung.seed_everything(42)``, then ``build_model(...)``).
        progress: show bars and the per-epoch table (main process only).
        path: where lr_find's plot and checkpoints go: a bare file name goes under it, a path
            with a folder is used as given (exports too).
    """

    def __init__(
        self,
        model: nn.Module,
        dls: DataLoaders | tuple[Iterable, Iterable],
        loss_func: Callable | None = None,
        lr: float = 1e-3,
        wd: float = 0.01,
        opt_func: Callable[..., torch.optim.Optimizer] = default_opt,
        metrics: Callable | Sequence[Callable] = (),
        cbs: Callback | Sequence[Callback] = (),
        splitter: Callable[[nn.Module], list] | None = None,
        mixed_precision: str = "auto",
        cpu: bool | None = None,
        seed: int | None = None,
        progress: bool = True,
        train_bn: bool = True,
        path: str | Path = ".",
    ) -> None:
        self.dls = setup.check_model_and_dls(model, dls)
        self.model, self.opt_func, self.seed = model, opt_func, seed
        self.lr, self.wd = setup.check_rate("lr", lr), setup.check_rate("wd", wd)
        self.loss_func = loss_func if loss_func is not None else setup.default_loss(self.dls)
        self.splitter = splitter or default_splitter
        self.train_bn, self.path = train_bn, Path(path)
        self.accelerator = setup.make_accelerator(cpu)
        self.mixed_precision = setup.resolve_precision(mixed_precision, self.accelerator.device)
        # fp16 needs loss scaling so small gradients don't underflow; bf16 doesn't
        self.scaler = (
            torch.amp.GradScaler(self.device.type) if self.mixed_precision == "fp16" else None
        )
        self.opt: torch.optim.Optimizer | None = None
        self._prepared: nn.Module | None = None  # the model as Accelerate wrapped it (DDP, ...)
        self._prepared_trainable: tuple[bool, ...] = ()
        self.epoch = self.iter = self.train_iter = self.start_epoch = 0
        self.n_epoch, self.training = 1, False
        self.cbs: list[Callback] = []
        self._handlers: dict[str, list[Callable[[], Any]]] = {}
        self.add_cbs([Recorder(), MetricsCallback(setup.metric_list(metrics))])
        self.add_cbs(setup.callback_list(cbs))
        if progress:
            self.add_cb(ProgressCallback())

    # ---------------------------------------------------------------- parameters and optimiser
    def param_groups(self) -> list[list[nn.Parameter]]:
        """Parameter groups from the splitter: body first, head last."""
        return split_params(self.model, self.splitter)

    def create_opt(self) -> None:
        groups = [
            {"params": g, "lr": self.lr, "weight_decay": self.wd} for g in self.param_groups()
        ]
        self.opt = self.opt_func(groups, lr=self.lr, weight_decay=self.wd)
        self._opt_prepared = False

    def lrs_for(self, lr: LRLike | None) -> np.ndarray:
        """One learning rate per parameter group (see :func:`rung.param_groups.lrs_for`)."""
        lrs = lrs_for(self.lr if lr is None else lr, len(self.param_groups()))
        setup.check_rate("lr", lr, lrs)
        return lrs

    def set_hyper(self, name: str, values: Sequence[float] | np.ndarray) -> None:
        """Set ``lr`` or ``mom`` (Adam's beta1, SGD's momentum) per parameter group."""
        set_hyper(self.opt.param_groups, name, values)

    def freeze_to(self, n: int) -> None:
        """Train only groups ``n`` onwards (norm layers stay trainable when ``train_bn``)."""
        freeze_to(self.model, self.param_groups(), n, self.train_bn)

    def freeze(self) -> None:
        """Freeze all groups but the last (the head): fine-tuning's first phase."""
        self.freeze_to(-1)

    def unfreeze(self) -> None:
        self.freeze_to(0)

    # ---------------------------------------------------------------- the loop
    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    @property
    def pct_train(self) -> float:
        """How far through this fit's training batches we are, from 0 to 1."""
        return self.train_iter / max(1, self.n_epoch * self.n_train_batches)

    def fit(
        self,
        n_epoch: int,
        lr: LRLike | None = None,
        wd: float | None = None,
        cbs: Sequence[Callback] = (),
        reset_opt: bool = False,
        resume: str | Path | None = None,
    ) -> None:
        """Train for ``n_epoch`` epochs at a constant ``lr`` (see :meth:`fit_one_cycle`).

        ``resume`` names a checkpoint written by
        :class:`~rung.callbacks.checkpoint.CheckpointEveryEpoch` (a bare file name is looked
        for under ``learn.path``): training continues from the epoch after it, with the same
        schedule, optimiser state, history and random states.
        """
        setup.check_valid(self.dls)
        setup.check_epochs(n_epoch)
        lrs = None if lr is None else self.lrs_for(lr)
        wd = None if wd is None else setup.check_rate("wd", wd)
        if self.seed is not None:  # before anything random: callbacks, loaders, dropout
            setup.seed_fit(self.seed + self.recorder.n_fits, self.dls.train)
        if reset_opt or self.opt is None:
            self.create_opt()
        if wd is not None:
            self.wd = wd
            for g in self.opt.param_groups:
                g["weight_decay"] = wd
        if lrs is not None:
            self.set_hyper("lr", lrs)
        self.n_epoch, self.start_epoch, self.train_iter = n_epoch, 0, 0
        with self.added_cbs(cbs):
            self._prepare()
            if resume is not None:
                from rung.callbacks.checkpoint import load_checkpoint

                load_checkpoint(self, output_path(self.path, resume))
            try:
                self._stage("fit", self._do_epochs)
            finally:
                self("cleanup_fit")

    def _prepare(self) -> None:
        if self.opt is None:
            self.create_opt()
        trainable = tuple(p.requires_grad for p in self.model.parameters())
        # (Re)wrap when the trainable set changed: DDP only syncs what was trainable when wrapped.
        if self._prepared is None or trainable != self._prepared_trainable:
            self._prepared = self.accelerator.prepare_model(self.model)
            self._prepared_trainable = trainable
        if not self._opt_prepared:
            # Accelerate's optimizer wrapper is needed for sharded setups (FSDP, DeepSpeed, XLA);
            # for plain and DDP runs the optimizer is used as is, which spares a per-step cost
            # (the wrapper probes installed packages every step).
            if self.accelerator.distributed_type not in _PLAIN_OPT:
                self.opt = self.accelerator.prepare_optimizer(self.opt)
            self._opt_prepared = True
        self._distributed = self.accelerator.num_processes > 1
        self._loaders = {}
        for name in ("train", "valid"):
            self._loaders[name] = self._sharded(getattr(self.dls, name))
        self.n_train_batches = len(self._loaders["train"])

    def _sharded(self, dl: Iterable) -> Iterable:
        """``dl`` as this process's shard when there are several processes (Accelerate shards
        torch DataLoaders; a TensorLoader becomes one first), else ``dl`` itself."""
        if self.accelerator.num_processes == 1:
            return dl
        return self.accelerator.prepare_data_loader(
            dl.to_dataloader() if hasattr(dl, "to_dataloader") else dl
        )

    def _stage(self, name: str, body: Callable[[], None]) -> None:
        before, after, cancelled, exc = _STAGE_EVENTS[name]
        try:
            self(before)
            body()
        except exc:
            self(cancelled)
        self(after)

    def _do_epochs(self) -> None:
        for epoch in range(self.start_epoch, self.n_epoch):
            self.epoch = epoch
            self._stage("epoch", self._do_epoch)

    def _do_epoch(self) -> None:
        self._run_loader("train")
        self._run_loader("valid")

    def _run_loader(self, which: str) -> None:
        self.training = which == "train"
        self.dl = self._loaders[which]
        self.n_iter = len(self.dl)
        self._prepared.train(self.training)
        with torch.set_grad_enabled(self.training):
            self._stage("train" if self.training else "validate", self._all_batches)

    def _all_batches(self) -> None:
        # The batch stage is written out here rather than run through _stage and __call__: this
        # loop runs once per batch, and on small models every Python call shows in the time.
        # (Handlers are looked up once per pass; callbacks added mid-pass join at the next.)
        device = None if self._distributed or self.device.type == "cpu" else self.device
        h = self._handlers
        before, after, cancelled = h["before_batch"], h["after_batch"], h["after_cancel_batch"]
        for i, batch in enumerate(self.dl):
            self.iter = i
            if device is not None:
                batch = tuple(b.to(device, non_blocking=True) for b in batch)
            self.xb, self.yb = tuple(batch[:-1]), batch[-1]
            try:
                for cb in before:
                    cb()
                self._one_batch(h)
            except CancelBatchException:
                for cb in cancelled:
                    cb()
            for cb in after:
                cb()
            if self.training:
                self.train_iter += 1

    def _one_batch(self, h: dict[str, list[Callable[[], Any]]]) -> None:
        with self._autocast():
            self.pred = self._prepared(*self.xb)
            for cb in h["after_pred"]:
                cb()
            self.loss = self.loss_func(self.pred, self.yb)
        self.loss_grad = self.loss  # callbacks may scale this one (gradient accumulation)
        for cb in h["after_loss"]:
            cb()
        if not self.training:
            return
        for cb in h["before_backward"]:
            cb()
        if self.scaler is not None:
            self.scaler.scale(self.loss_grad).backward()
        else:
            self.loss_grad.backward()
        for cb in h["after_backward"]:
            cb()
        for cb in h["before_step"]:
            cb()
        if self.scaler is not None:
            self.scaler.step(self.opt)  # unscales first; skips the step on inf/nan gradients
            self.scaler.update()
        else:
            self.opt.step()
        for cb in h["after_step"]:
            cb()
        self.opt.zero_grad(set_to_none=True)

    def _autocast(self) -> contextlib.AbstractContextManager:
        # nullcontext is reusable; autocast contexts are made fresh each time
        if self.mixed_precision == "no":
            return _NO_AUTOCAST
        dtype = torch.bfloat16 if self.mixed_precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    # ---------------------------------------------------------------- recipes
    def fit_one_cycle(
        self,
        n_epoch: int,
        lr_max: LRLike | None = None,
        div: float = 25.0,
        div_final: float = 1e5,
        pct_start: float = 0.25,
        moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
        wd: float | None = None,
        cbs: Sequence[Callback] = (),
        resume: str | Path | None = None,
    ) -> None:
        """Train with the one-cycle policy (see :func:`rung.callbacks.schedule.one_cycle`)."""
        setup.check_epochs(n_epoch)
        sched = one_cycle(self.lrs_for(lr_max), div, div_final, pct_start, moms)
        self.fit(n_epoch, wd=wd, cbs=[sched, *cbs], resume=resume)

    def fine_tune(
        self,
        epochs: int,
        base_lr: float = 2e-3,
        freeze_epochs: int = 1,
        lr_mult: float = 100,
        pct_start: float = 0.3,
        div: float = 5.0,
        cbs: Sequence[Callback] = (),
    ) -> None:
        """Fine-tune a pretrained model: the head alone, then everything with discriminative
        LRs (see :func:`rung.callbacks.schedule.fine_tune`)."""
        fine_tune(self, epochs, base_lr, freeze_epochs, lr_mult, pct_start, div, cbs)

    def lr_find(
        self,
        start_lr: float = 1e-7,
        end_lr: float = 10,
        num_it: int = 100,
        stop_div: bool = True,
        plot_path: str | Path | None = "lr_find.png",
    ) -> LRFindResult:
        """Sweep the LR, put everything back, return ``.valley``, ``.slide``, ``.minimum``,
        ``.steep`` and ``.recommended`` (what the apps use): :mod:`rung.callbacks.lr_finder`."""
        from rung.callbacks.lr_finder import lr_find

        return lr_find(self, start_lr, end_lr, num_it, stop_div, plot_path)

    def fast_dev_run(self) -> dict[str, float]:
        """One batch of each stage, then everything is put back: a smoke test that returns the
        two losses (see :func:`rung.callbacks.training.fast_dev_run`)."""
        from rung.callbacks.training import fast_dev_run

        return fast_dev_run(self)

    # ---------------------------------------------------------------- outside training
    def validate(self, dl: Iterable | None = None) -> dict[str, float]:
        """The validation loss and metrics of the model as it is (no training), through the
        same callbacks as a fit's validation: ``{"valid_loss": ..., <metric>: ...}``."""
        if dl is None:
            setup.check_valid(self.dls)
        self._prepare()
        if dl is not None:
            self._loaders["valid"] = self._sharded(dl)
        self.valid_results = {}
        self._run_loader("valid")
        return dict(self.valid_results)

    def get_preds(
        self,
        dl: Iterable | None = None,
        with_loss: bool = False,
        with_decoded: bool = False,
        act: Callable | None = None,
    ) -> Predictions:
        """Predictions over ``dl`` (the validation set by default), gathered across processes:
        ``preds, targets`` (then ``decoded`` and ``losses`` when asked for), also readable by
        name, ``out["preds"]``; see :func:`rung.callbacks.predictions.get_preds`."""
        return predictions.get_preds(self, dl, with_loss, with_decoded, act)

    def predict(self, item: Any) -> ClassPrediction | float | torch.Tensor:
        """One item through the model, decoded: a ``ClassPrediction`` (label, index, probs)
        for a classifier, a value for regression; see :func:`rung.callbacks.predictions.predict`."""
        return predictions.predict(self, item)

    def show_results(self, n: int = 9, dl: Iterable | None = None) -> list[dict[str, Any]]:
        """Print the first ``n`` validation items' target against prediction and return the
        rows; see :func:`rung.callbacks.predictions.show_results`."""
        return predictions.show_results(self, n, dl)

    def export(self, path: str | Path, **config: Any) -> Path:
        """Write the model file (``*.rung``) at ``path``; ``kind="tensor"`` and its task are
        inferred for a model trained on one tensor of inputs, else export says to pass them;
        see :func:`rung.callbacks.export.export`."""
        from rung.callbacks.export import export

        return export(self, path, **config)
