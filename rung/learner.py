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
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rung.callbacks.core import (
    BATCH_EVENTS,
    CANCEL_EXCEPTIONS,
    EVENTS,
    Callback,
    CancelBatchException,
)
from rung.callbacks.metrics import MetricsCallback
from rung.callbacks.progress import ProgressCallback
from rung.callbacks.recorder import Recorder
from rung.callbacks.schedule import ParamScheduler, combined_cos
from rung.data.core import DataLoaders, NoValidationError
from rung.losses import activation, is_classification, per_item_loss
from rung.param_groups import LRLike, default_splitter, freeze_to, lrs_for

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


def _resolve_precision(mixed_precision: str, device: torch.device) -> str:
    if mixed_precision == "auto":  # bf16 where the GPU has it, full precision on CPU
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return "bf16" if cuda_bf16 else "no"
    if mixed_precision not in ("no", "bf16", "fp16"):
        raise ValueError(
            f"mixed_precision must be 'auto', 'no', 'bf16' or 'fp16', got {mixed_precision!r}."
        )
    return mixed_precision


def _make_accelerator(cpu: bool | None) -> Any:
    """The process's Accelerator: devices, processes, gathering.

    Accelerate's state is one per process and can't change once made, so precision is not set
    here: each Learner runs its own autocast (and fp16 loss scaling), and several Learners with
    different precisions can live in one notebook.
    """
    from accelerate import Accelerator

    return Accelerator(cpu=True) if cpu else Accelerator()


class Learner:
    """Trains ``model`` on ``dls`` with ``loss_func``; callbacks add everything else.

    Args:
        model: any ``nn.Module``; its forward takes the batch's inputs (all but the last item).
        dls: a :class:`~rung.data.core.DataLoaders` (or a ``(train, valid)`` pair). The
            validation loader is required.
        loss_func: e.g. ``nn.CrossEntropyLoss()``; defaults from ``dls.info["task"]``.
        lr: default learning rate. wd: weight decay. opt_func: builds the optimiser from
            parameter groups (default AdamW as fastai sets it up).
        metrics: functions ``f(preds, targets) -> float`` computed over the whole validation set.
        splitter: ``model -> list of parameter lists`` (body first, head last) for freezing and
            discriminative learning rates; defaults to ``model.param_groups()`` or one group.
        mixed_precision: ``"auto"`` (bf16 on a GPU that has it), ``"no"``, ``"bf16"``, ``"fp16"``.
        progress: show bars and the per-epoch table (main process only).
        path: where checkpoints, plots and exports go by default.
    """

    def __init__(
        self,
        model: nn.Module,
        dls: DataLoaders | tuple[Iterable, Iterable],
        loss_func: Callable | None = None,
        lr: float = 1e-3,
        wd: float = 0.01,
        opt_func: Callable[..., torch.optim.Optimizer] = default_opt,
        metrics: Sequence[Callable] = (),
        cbs: Sequence[Callback] = (),
        splitter: Callable[[nn.Module], list] | None = None,
        mixed_precision: str = "auto",
        cpu: bool | None = None,
        seed: int | None = None,
        progress: bool = True,
        train_bn: bool = True,
        path: str | Path = ".",
    ) -> None:
        if seed is not None:
            from rung.utils import seed_everything

            seed_everything(seed)
        self.dls = dls if isinstance(dls, DataLoaders) else DataLoaders(*dls)
        self.model, self.lr, self.wd, self.opt_func = model, lr, wd, opt_func
        self.loss_func = loss_func if loss_func is not None else self._default_loss()
        self.splitter = splitter or default_splitter
        self.train_bn, self.path = train_bn, Path(path)
        self.accelerator = _make_accelerator(cpu)
        self.mixed_precision = _resolve_precision(mixed_precision, self.accelerator.device)
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
        self.add_cbs([Recorder(), MetricsCallback(metrics), *cbs])
        if progress:
            self.add_cb(ProgressCallback())

    # ---------------------------------------------------------------- callbacks
    def add_cb(self, cb: Callback) -> Learner:
        """Attach a callback (also reachable as ``learn.<snake_name>``)."""
        if isinstance(cb, type):
            raise TypeError(f"pass an instance, e.g. {cb.__name__}(), not the class.")
        cb.learn = self
        setattr(self, cb.name, cb)
        self.cbs.append(cb)
        self._index_handlers()
        return self

    def add_cbs(self, cbs: Iterable[Callback]) -> Learner:
        for cb in cbs:
            self.add_cb(cb)
        return self

    def remove_cb(self, cb: Callback) -> Learner:
        self.cbs.remove(cb)
        if getattr(self, cb.name, None) is cb:
            delattr(self, cb.name)
        self._index_handlers()
        return self

    @contextlib.contextmanager
    def added_cbs(self, cbs: Iterable[Callback]) -> Iterator[Learner]:
        """Callbacks that live for one ``with`` block (one fit, one lr_find)."""
        cbs = list(cbs)
        self.add_cbs(cbs)
        try:
            yield self
        finally:
            for cb in cbs:
                self.remove_cb(cb)

    def _index_handlers(self) -> None:
        # Resolve event -> handlers once, so a batch costs a dict lookup, not a getattr per callback.
        ordered = sorted(self.cbs, key=lambda c: c.order)
        self._handlers = {
            ev: [getattr(cb, ev) for cb in ordered if callable(getattr(cb, ev, None))]
            for ev in EVENTS
        }

    def __call__(self, event: str) -> None:
        """Run every callback's handler for ``event``, in order."""
        for handler in self._handlers[event]:
            handler()

    def show_training_loop(self) -> None:
        """Print the loop's events with the callbacks that run at each, as fastai shows it.

        >>> from rung.data.core import DataLoaders
        >>> dls = DataLoaders.from_tensors(torch.randn(8, 1), torch.randn(8, 1))
        >>> Learner(nn.Linear(1, 1), dls, nn.MSELoss(), progress=False).show_training_loop()
        ... # doctest: +ELLIPSIS
        before_fit: Recorder
            before_epoch: Recorder
                before_train: -
                    before_batch: -
        ...
        """
        train_batch = ["before_batch", *BATCH_EVENTS, "after_batch"]
        valid_batch = ["before_batch", "after_pred", "after_loss", "after_batch"]
        loop = [("before_fit", 0), ("before_epoch", 1), ("before_train", 2)]
        loop += [(e, 3) for e in train_batch] + [("after_train", 2), ("before_validate", 2)]
        loop += [(e, 3) for e in valid_batch] + [("after_validate", 2), ("after_epoch", 1)]
        loop += [("after_fit", 0), ("cleanup_fit", 0)]
        lines = []
        for ev, depth in loop:
            names = ", ".join(type(h.__self__).__name__ for h in self._handlers[ev]) or "-"
            lines.append("    " * depth + f"{ev}: {names}")
        print("\n".join(lines))

    # ---------------------------------------------------------------- parameters and optimiser
    def param_groups(self) -> list[list[nn.Parameter]]:
        """Parameter groups from the splitter: body first, head last."""
        groups = [
            list(g.parameters()) if isinstance(g, nn.Module) else list(g)
            for g in self.splitter(self.model)
        ]
        return [g for g in groups if g]

    def create_opt(self) -> None:
        groups = [
            {"params": g, "lr": self.lr, "weight_decay": self.wd} for g in self.param_groups()
        ]
        self.opt = self.opt_func(groups, lr=self.lr, weight_decay=self.wd)
        self._opt_prepared = False

    def lrs_for(self, lr: LRLike | None) -> np.ndarray:
        """One learning rate per parameter group (see :func:`rung.param_groups.lrs_for`)."""
        return lrs_for(self.lr if lr is None else lr, len(self.param_groups()))

    def set_hyper(self, name: str, values: Sequence[float] | np.ndarray) -> None:
        """Set ``lr`` or ``mom`` (Adam's beta1, SGD's momentum) per parameter group."""
        for group, v in zip(self.opt.param_groups, values):
            if name == "mom":
                if "betas" in group:
                    group["betas"] = (float(v), group["betas"][1])
                elif "momentum" in group:
                    group["momentum"] = float(v)
            else:
                group[name] = float(v)

    def freeze_to(self, n: int) -> None:
        """Train only groups ``n`` onwards (norm layers stay trainable when ``train_bn``)."""
        freeze_to(self.model, self.param_groups(), n, self.train_bn)

    def freeze(self) -> None:
        """Freeze all groups but the last (the head): fine-tuning's first phase."""
        if len(self.param_groups()) < 2:
            raise ValueError(
                "freeze() needs at least 2 parameter groups (body and head); give the Learner a "
                "splitter, or a model with a param_groups() method."
            )
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

    def _check_valid(self) -> None:
        valid = getattr(self.dls, "valid", None)
        if valid is None or (hasattr(valid, "__len__") and len(valid) == 0):
            raise NoValidationError("the Learner's DataLoaders")

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
        :class:`~rung.callbacks.checkpoint.CheckpointEveryEpoch`: training continues from the
        epoch after it, with the same schedule, optimiser state and history.
        """
        self._check_valid()
        if reset_opt or self.opt is None:
            self.create_opt()
        if wd is not None:
            self.wd = wd
            for g in self.opt.param_groups:
                g["weight_decay"] = wd
        if lr is not None:
            self.set_hyper("lr", self.lrs_for(lr))
        self.n_epoch, self.start_epoch, self.train_iter = n_epoch, 0, 0
        with self.added_cbs(cbs):
            self._prepare()
            if resume is not None:
                from rung.callbacks.checkpoint import load_checkpoint

                load_checkpoint(self, resume)
            try:
                self._stage("fit", self._do_epochs)
            finally:
                self("cleanup_fit")

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
        """Train with the one-cycle policy: LR warms up (cosine) from ``lr_max/div`` to
        ``lr_max`` over ``pct_start`` of the steps, then anneals to ``lr_max/div_final``, while
        momentum (Adam's beta1) moves the opposite way through ``moms``."""
        if self.opt is None:
            self.create_opt()
        lr_max = self.lrs_for(lr_max)
        scheds = {
            "lr": combined_cos(pct_start, lr_max / div, lr_max, lr_max / div_final),
            "mom": combined_cos(pct_start, *moms),
        }
        self.fit(n_epoch, wd=wd, cbs=[ParamScheduler(scheds), *cbs], resume=resume)

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
        """Fine-tune a pretrained model: ``freeze_epochs`` on the head alone, then ``epochs``
        on everything with discriminative LRs from ``base_lr/2/lr_mult`` (body) to
        ``base_lr/2`` (head), as fastai does."""
        self.freeze()
        self.fit_one_cycle(freeze_epochs, slice(base_lr), pct_start=0.99, cbs=cbs)
        base_lr /= 2
        self.unfreeze()
        self.fit_one_cycle(
            epochs, slice(base_lr / lr_mult, base_lr), pct_start=pct_start, div=div, cbs=cbs
        )

    def lr_find(
        self, start_lr: float = 1e-7, end_lr: float = 10, num_it: int = 100, **kwargs: Any
    ) -> Any:
        """Sweep the LR exponentially, stop when the loss explodes, restore the weights and
        return suggestions (valley, slide, minimum, steep); see :mod:`rung.callbacks.lr_finder`."""
        from rung.callbacks.lr_finder import lr_find

        return lr_find(self, start_lr=start_lr, end_lr=end_lr, num_it=num_it, **kwargs)

    def fast_dev_run(self) -> dict[str, float]:
        """One training batch and one validation batch through every callback, then the
        weights are put back: a smoke test for your own data and model. Returns the losses."""
        from rung.callbacks.training import FastDevRun

        state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        opt = self.opt
        cb = FastDevRun()
        try:
            self.fit(1, cbs=[cb])
        finally:
            self.model.load_state_dict(state)
            self.opt = opt
        return cb.losses

    # ---------------------------------------------------------------- predictions and export
    @torch.no_grad()
    def get_preds(
        self,
        dl: Iterable | None = None,
        with_loss: bool = False,
        with_decoded: bool = False,
        act: Callable | None = None,
    ) -> dict[str, torch.Tensor]:
        """Predictions over a whole loader (the validation set by default), gathered across
        processes. Returns ``{"preds", "targets"}`` plus ``"losses"`` (per item) and
        ``"decoded"`` (class indices or values) when asked. ``preds`` have the loss's activation
        applied (softmax for cross-entropy, sigmoid for BCE-with-logits) unless ``act`` is given.
        """
        dl = self._sharded(self.dls.valid if dl is None else dl)
        model = self._prepared or self.model.to(self.device)
        was_training = model.training
        model.eval()
        preds, targets = [], []
        try:
            for batch in dl:
                batch = tuple(b.to(self.device) for b in batch)
                with self._autocast():
                    out = model(*batch[:-1])
                out, y = self.accelerator.gather_for_metrics((out.float(), batch[-1]))
                preds.append(out)
                targets.append(y)
        finally:
            model.train(was_training)
        raw, targ = torch.cat(preds), torch.cat(targets)
        result = {"preds": (act or activation(self.loss_func))(raw), "targets": targ}
        if with_loss:
            result["losses"] = per_item_loss(self.loss_func, raw, targ)
        if with_decoded:
            result["decoded"] = (
                raw.argmax(-1) if is_classification(self.loss_func) else result["preds"]
            )
        return result

    def export(self, path: str | Path, **config: Any) -> Path:
        """Write the model file (``*.rung``): weights + the config that rebuilds and uses it.

        ``config`` carries what prediction needs (task, classes, preprocessing); the latest
        validation metrics are added. Only the main process writes.
        """
        from rung.modelfile import save_model_file

        self.accelerator.wait_for_everyone()
        metrics = dict(self.recorder.final_metrics()) if self.recorder.values else {}
        config = {"metrics": metrics, **config}
        path = Path(path)
        if self.accelerator.is_main_process:
            save_model_file(path, self.accelerator.unwrap_model(self.model), config)
        self.accelerator.wait_for_everyone()
        return path

    def _default_loss(self) -> Callable:
        task = getattr(self.dls, "info", {}).get("task")
        if task == "classification":
            return nn.CrossEntropyLoss()
        if task == "regression":
            return nn.MSELoss()
        raise ValueError(
            "no loss_func given and the DataLoaders don't say their task; pass e.g. "
            "loss_func=nn.CrossEntropyLoss() for classification or nn.MSELoss() for regression."
        )
