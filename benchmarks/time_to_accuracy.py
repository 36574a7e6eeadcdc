"""Time to accuracy: the default ``rung train images`` against the same fine-tune written by
hand in plain PyTorch/torchvision with the course's recipe, in one run (issue 13).

(a) rung: ``rung train images DATA --out <tmp> --json``, no other flags (the console script,
    or ``python -m rung.cli`` without it). Accuracy, LR, size and epochs come from its JSON
    result; its ``phases`` (name -> seconds) are printed when the result has them.
(b) the baseline: timm ``tf_efficientnet_lite0`` with the same offline ImageNet weights
    (:mod:`rung.vision.weights` renames the package's state dict), a new 2-class head, the
    size rung used, ``ImageFolder`` with RandomResizedCrop(scale=(0.35, 1)) + flip for
    training and Resize((size, size)) for validation, mean = std = 0.5, batch 32, 2 loader
    workers, and fastai's ``lr_find`` + ``fine_tune`` written out: an exponential LR sweep
    1e-7..10 (at most 100 iterations, stopping when the smoothed loss passes 4x its best;
    weights put back after), one frozen epoch (classifier only, BatchNorm in eval mode)
    one-cycle at ``lr`` (pct_start 0.99), then everything for the epochs rung ran, one-cycle
    with body ``lr/2/100`` and head ``lr/2`` (pct_start 0.3, div 5), AdamW (fastai's betas
    (0.9, 0.99), eps 1e-5, wd 0.01, one optimiser for both phases), validating after each epoch.
    The sweep runs for its cost, as a course user runs it; the LR trained with is rung's (its
    result's ``lr``), so only the pipeline differs, not the LR choice.

Both run as subprocesses with the same seed and are timed around the process, so each wall
time includes the process start and imports. Prints a markdown table (wall time, accuracy,
rung / baseline) and each side's phases. The goal (issue 13): rung's accuracy the same or
better in <= 0.5x the wall time. Takes ~5 min on 2 CPU cores; ``--smoke`` (1 frozen + 1 epoch
on 40 images at 64 px, batch 10) checks the script in about a minute.

    .venv/bin/python benchmarks/time_to_accuracy.py [--data ../shared/data/cats_dogs] [--json out.json]
    .venv/bin/python benchmarks/time_to_accuracy.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "cats_dogs"
ARCH = "tf_efficientnet_lite0"
# --smoke: images per class (train/, val/), size, epochs after the frozen one, batch size
SMOKE = {"train": 15, "valid": 5, "size": 64, "epochs": 1, "batch_size": 10}


# ------------------------------------------------------------------------------- the two runs
def timed_process(cmd: list[str]) -> tuple[float, str]:
    """Wall seconds of a subprocess (start, imports and all) and its stdout."""
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def run_rung(data: Path, out: Path, args: argparse.Namespace) -> dict:
    rung_bin = Path(sys.executable).with_name("rung")  # the console script: rung.cli:main
    cmd = [str(rung_bin)] if rung_bin.exists() else [sys.executable, "-m", "rung.cli"]
    cmd += ["train", "images", str(data), "--out", str(out), "--json", "--seed", str(args.seed)]
    if args.epochs is not None:
        cmd += ["--epochs", str(args.epochs)]
    if args.smoke:
        cmd += ["--size", str(SMOKE["size"]), "--batch-size", str(SMOKE["batch_size"])]
    seconds, stdout = timed_process(cmd)
    result = json.loads(stdout.strip().splitlines()[-1])  # --json: one object on stdout
    return {
        "wall_s": seconds, "accuracy": result["metrics"]["accuracy"], "lr": result["lr"],
        "lr_source": result["lr_source"], "size": result["size"], "epochs": result["epochs"],
        "freeze_epochs": result["freeze_epochs"], "n_train": result["n_train"],
        "n_valid": result["n_valid"], "phases": result.get("phases"),
    }  # fmt: skip


def run_baseline_process(data: Path, rung: dict, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "baseline.json"
        seconds, _ = timed_process([
            sys.executable, __file__, "--baseline-only", "--data", str(data), "--out", str(out),
            "--lr", repr(rung["lr"]), "--size", str(rung["size"]), "--seed", str(args.seed),
            "--epochs", str(rung["epochs"]), "--freeze-epochs", str(rung["freeze_epochs"]),
            "--batch-size", str(SMOKE["batch_size"] if args.smoke else 32),
        ])  # fmt: skip
        result = json.loads(out.read_text())
    # what the process spent before run_baseline started: interpreter start, this module
    result["phases"] = {"process start": seconds - sum(result["phases"].values())} | result[
        "phases"
    ]
    return {"wall_s": seconds, **result}


# ------------------------------------------------------------- (b) the hand-written baseline
def run_baseline(args: argparse.Namespace) -> dict:
    """The course's recipe in plain PyTorch; returns accuracy, the sweep and the phases."""
    phases, clock = {}, time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        phases[name] = time.perf_counter() - clock
        clock = time.perf_counter()

    import random

    import numpy as np
    import timm
    import torch
    from torch import nn
    from torchvision import datasets, transforms

    from rung.vision.weights import from_efficientnet_pytorch, offline_weights_path

    phase("imports")
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    norm = transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    train_tfm = transforms.Compose([
        transforms.RandomResizedCrop(args.size, scale=(0.35, 1.0)),
        transforms.RandomHorizontalFlip(), transforms.ToTensor(), norm,
    ])  # fmt: skip
    valid_tfm = transforms.Compose(
        [transforms.Resize((args.size, args.size)), transforms.ToTensor(), norm]
    )
    train_ds = datasets.ImageFolder(str(args.data / "train"), train_tfm)
    valid_ds = datasets.ImageFolder(str(args.data / "val"), valid_tfm)
    train_dl = torch.utils.data.DataLoader(
        train_ds, batch_size=args.batch_size, shuffle=True, num_workers=2, drop_last=True,
        generator=torch.Generator().manual_seed(args.seed),
    )  # fmt: skip
    valid_dl = torch.utils.data.DataLoader(valid_ds, batch_size=args.batch_size * 2, num_workers=2)

    model = timm.create_model(ARCH, pretrained=False)  # 1000 classes, as the weights
    depths = [len(stage) for stage in model.blocks]
    state = torch.load(offline_weights_path(ARCH), map_location="cpu", weights_only=True)
    model.load_state_dict(from_efficientnet_pytorch(state, depths), strict=True)
    model.reset_classifier(len(train_ds.classes))  # a new nn.Linear head
    head = list(model.get_classifier().parameters())
    head_ids = {id(p) for p in head}
    body = [p for p in model.parameters() if id(p) not in head_ids]
    loss_func = nn.CrossEntropyLoss()
    phase("set-up")

    def set_body(trainable: bool) -> None:
        for p in body:
            p.requires_grad_(trainable)

    def train_mode(frozen: bool) -> None:
        model.train()
        if frozen:  # BatchNorm keeps the pretrained statistics while the body is frozen
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()

    def step(opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
        loss = loss_func(model(x), y)  # (B, n_classes) vs (B,)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    # fastai's Adam defaults; params without a gradient (the frozen body) are skipped
    opt = torch.optim.AdamW(
        [{"params": body}, {"params": head}], lr=args.lr, betas=(0.9, 0.99), eps=1e-5,
        weight_decay=0.01,
    )  # fmt: skip

    # lr_find: exponential sweep on the frozen model, weights put back after
    set_body(False)
    train_mode(frozen=True)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    sweep = lr_sweep(model, opt, train_dl, step, start=1e-7, end=10, num_it=100)
    model.load_state_dict(saved)
    opt.state.clear()
    phase("lr_find")

    history = []

    def one_cycle(epochs: int, lrs: list[float], pct_start: float, div: float, frozen: bool):
        # fastai's fit_one_cycle: from max/div up to max, then down to max/1e5 (div_final)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=lrs, total_steps=epochs * len(train_dl), pct_start=pct_start,
            div_factor=div, final_div_factor=1e5 / div, base_momentum=0.85, max_momentum=0.95,
        )  # fmt: skip
        for _ in range(epochs):
            train_mode(frozen)
            losses = []
            for x, y in train_dl:
                losses.append(step(opt, x, y))
                sched.step()
            history.append({"train_loss": float(np.mean(losses)), **validate()})
            phase(f"epoch {len(history)}{' (frozen)' if frozen else ''}")

    @torch.no_grad()
    def validate() -> dict[str, float]:
        model.eval()
        correct, total, loss = 0, 0, 0.0
        for x, y in valid_dl:
            logits = model(x)
            loss += loss_func(logits, y).item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            total += len(y)
        return {"valid_loss": loss / total, "accuracy": correct / total}

    one_cycle(args.freeze_epochs, [args.lr, args.lr], 0.99, 25.0, frozen=True)  # fine_tune
    set_body(True)
    base_lr = args.lr / 2
    one_cycle(args.epochs, [base_lr / 100, base_lr], 0.3, 5.0, frozen=False)
    with tempfile.TemporaryDirectory() as tmp:  # what learn.export() costs a course user
        torch.save(model.state_dict(), Path(tmp) / "model.pth")
    phase("export")
    return {
        "accuracy": history[-1]["accuracy"], "lr": args.lr, "size": args.size,
        "epochs": args.epochs, "freeze_epochs": args.freeze_epochs,
        "n_train": len(train_ds), "n_valid": len(valid_ds), "lr_find": sweep,
        "history": history, "phases": phases,
    }  # fmt: skip


def lr_sweep(model, opt, train_dl, step, start: float, end: float, num_it: int) -> dict:
    """fastai's LRFinder: LR ``start * (end/start)**(i/num_it)``, stop when the smoothed
    loss (beta 0.98, debiased) passes 4x its best. The suggestion (the minimum's LR / 10) is
    reported, not used."""
    import itertools
    import math

    lrs, losses, avg, best = [], [], 0.0, math.inf
    batches = itertools.chain.from_iterable(itertools.repeat(train_dl))  # epoch after epoch
    for i, (x, y) in zip(range(num_it), batches):
        lr = start * (end / start) ** (i / num_it)
        for group in opt.param_groups:
            group["lr"] = lr
        avg = 0.98 * avg + 0.02 * step(opt, x, y)
        smooth = avg / (1 - 0.98 ** (i + 1))
        lrs.append(lr)
        losses.append(smooth)
        best = min(best, smooth)
        if smooth > 4 * best or math.isnan(smooth):
            break
    return {"iterations": len(lrs), "min_loss_lr_over_10": lrs[losses.index(best)] / 10}


# ------------------------------------------------------------------------------------ report
def smoke_subset(data: Path, dest: Path) -> Path:
    """A folder of symlinks: SMOKE's images per class from train/ and val/."""
    root = dest / f"{data.name}_smoke"
    for split, key in (("train", "train"), ("val", "valid")):
        for cls in sorted(p for p in (data / split).iterdir() if p.is_dir()):
            (root / split / cls.name).mkdir(parents=True)
            for f in sorted(cls.iterdir())[: SMOKE[key]]:
                (root / split / cls.name / f.name).symlink_to(f.resolve())
    return root


def report(results: dict) -> str:
    rung, base = results["rung"], results["baseline"]
    data = f"{results['data']}{' (--smoke subset)' if results['smoke'] else ''}"
    lines = [
        f"{data}: {rung['n_train']} train / {rung['n_valid']} valid images, "
        f"{rung['size']} px, {rung['freeze_epochs']} frozen + {rung['epochs']} epoch(s), lr "
        f"{rung['lr']:.2e} ({rung['lr_source']}; the baseline uses it too), seed {results['seed']}",
        "",
        "| run | wall time (s) | accuracy |",
        "|---|---|---|",
        f"| rung train images (defaults) | {rung['wall_s']:.1f} | {rung['accuracy']:.4f} |",
        f"| torchvision + hand-written fine_tune | {base['wall_s']:.1f} | {base['accuracy']:.4f} |",
        f"| rung / baseline | {results['time_ratio']:.2f}x | "
        f"{rung['accuracy'] - base['accuracy']:+.4f} |",
    ]
    for name, side in (("rung", rung), ("baseline", base)):
        if side.get("phases"):
            phases = ", ".join(f"{k} {v:.1f}" for k, v in side["phases"].items())
            lines += ["", f"{name} phases (s): {phases}"]
        elif name == "rung":
            lines += ["", "rung phases: the result has no `phases` entry"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="a folder with train/ and val/")
    parser.add_argument(
        "--epochs", type=int, help="epochs after the frozen one (default: rung's own, 3)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--smoke", action="store_true", help="tiny: checks the script works")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    # the baseline's own process (started by main; not for a user)
    parser.add_argument("--baseline-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--lr", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--freeze-epochs", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=32, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_only:
        args.out.write_text(json.dumps(run_baseline(args)))
        return
    if args.smoke and args.epochs is None:
        args.epochs = SMOKE["epochs"]
    with tempfile.TemporaryDirectory() as tmp:
        data = smoke_subset(args.data, Path(tmp)) if args.smoke else args.data
        rung = run_rung(data, Path(tmp) / "runs", args)
        baseline = run_baseline_process(data, rung, args)
    results = {
        "data": str(args.data), "smoke": args.smoke, "seed": args.seed,
        "cpu": f"{os.cpu_count()} cores", "rung": rung, "baseline": baseline,
        "time_ratio": rung["wall_s"] / baseline["wall_s"],
    }  # fmt: skip
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
