"""Images per second through a training step: (a) synthetic batches already on the device,
the ceiling; (b) a plain torchvision ImageFolder + DataLoader loop; (c) rung's image pipeline
(ImageDataLoaders: decode in workers, or with nvjpeg on a GPU, batched augmentation on the
device). Same model, optimiser, batch size and size, in the same run; (b) and (c) are also
reported as a fraction of (a).

On CPU it runs at a small size; on a GPU use the issue's settings, e.g.

    .venv/bin/python benchmarks/vision_pipeline.py --data ../shared/data/cats_dogs/train
    .venv/bin/python benchmarks/vision_pipeline.py --data DIR --arch resnet50 --bs 128 --size 224 --bf16
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


def make_model(arch: str, n_classes: int, device: torch.device) -> nn.Module:
    import timm

    torch.manual_seed(0)
    model = timm.create_model(arch, pretrained=False, num_classes=n_classes)
    return model.to(device, memory_format=torch.channels_last)


def timed_steps(model, batches: Iterable, steps: int, warmup: int, device, bf16: bool) -> float:
    """Images per second over ``steps`` training steps after ``warmup`` steps."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    model.train()
    seen, start = 0, None
    for i, (x, y) in enumerate(_cycle(batches)):
        if i == warmup:
            _sync(device)
            start, seen = time.perf_counter(), 0
        if i == warmup + steps:
            break
        x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        y = y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        seen += len(y)
    _sync(device)
    return seen / (time.perf_counter() - start)


def _cycle(batches: Iterable) -> Iterator:
    while True:
        yield from batches


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def synthetic(bs: int, size: int, n_classes: int, device) -> list:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(bs, 3, size, size, generator=g).to(device)
    y = torch.randint(0, n_classes, (bs,), generator=g).to(device)
    return [(x, y)]


def torchvision_loader(data: Path, bs: int, size: int, workers: int):
    from torchvision import datasets, transforms

    tfm = transforms.Compose(
        [
            transforms.RandomResizedCrop(size, scale=(0.35, 1.0)),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    ds = datasets.ImageFolder(str(data), tfm)
    return torch.utils.data.DataLoader(
        ds, batch_size=bs, shuffle=True, num_workers=workers, drop_last=True,
        pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0,
    )  # fmt: skip


def rung_loader(data: Path, bs: int, size: int, workers: int, device):
    from rung.vision.data import ImageDataLoaders

    dls = ImageDataLoaders.from_folder(
        data, valid_pct=0.1, size=size, batch_size=bs, num_workers=workers, device=device
    )
    return dls.train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "data" / "cats_dogs" / "train"
    )
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--bs", type=int, default=32)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    n_classes = len([p for p in args.data.iterdir() if p.is_dir()])
    common = dict(steps=args.steps, warmup=args.warmup, device=device, bf16=args.bf16)
    results = {}
    model = make_model(args.arch, n_classes, device)
    results["synthetic_ceiling"] = timed_steps(
        model, synthetic(args.bs, args.size, n_classes, device), **common
    )
    model = make_model(args.arch, n_classes, device)
    results["torchvision_imagefolder"] = timed_steps(
        model, torchvision_loader(args.data, args.bs, args.size, args.workers), **common
    )
    model = make_model(args.arch, n_classes, device)
    results["rung_pipeline"] = timed_steps(
        model, rung_loader(args.data, args.bs, args.size, args.workers, device), **common
    )
    ceiling = results["synthetic_ceiling"]
    report = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
        "arch": args.arch, "batch_size": args.bs, "size": args.size, "bf16": args.bf16,
        "workers": args.workers, "steps": args.steps,
        "images_per_s": {k: round(v, 1) for k, v in results.items()},
        "fraction_of_ceiling": {k: round(v / ceiling, 3) for k, v in results.items()},
    }  # fmt: skip
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
