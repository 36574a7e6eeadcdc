"""Decoding large JPEGs at the size needed: one item of a training loader (decode, then resize
to the item size) from a camera-sized JPEG, decoded in full by torchvision against decoded at
a reduced scale (``decode_bytes(at_least=)``, PIL's draft mode), in the same run.

The photos are ../shared/data/cats_dogs training images scaled up to 2592x1944 (a 5 MP camera's
size) and saved at JPEG quality 90, so their content is real. Prints the median ms per image
of each way over ``--repeats`` passes, and their ratio.

    .venv/bin/python benchmarks/jpeg_decode.py [--size 256] [--images 20] [--repeats 5]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from pathlib import Path

import torch
from PIL import Image

from rung.vision.io import decode_bytes, resize_image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cats_dogs"
CAMERA = (2592, 1944)


def camera_jpegs(folder: Path, n: int) -> list[torch.Tensor]:
    """``n`` photos of ``folder`` scaled up to :data:`CAMERA` pixels, JPEG-encoded (1-D uint8)."""
    blobs = []
    for path in sorted(folder.rglob("*.jpg"))[:n]:
        buf = io.BytesIO()
        with Image.open(path) as im:
            im.convert("RGB").resize(CAMERA, Image.BICUBIC).save(buf, "JPEG", quality=90)
        blobs.append(torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8))
    if not blobs:
        raise SystemExit(f"no .jpg files under {folder}")
    return blobs


def ms_per_image(blobs: list[torch.Tensor], size: int, at_least: int | None) -> float:
    start = time.perf_counter()
    for data in blobs:
        resize_image(decode_bytes(data, at_least=at_least), size, "crop")
    return (time.perf_counter() - start) / len(blobs) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "train")
    parser.add_argument("--size", type=int, default=256, help="the item size (default 256)")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    blobs = camera_jpegs(args.data, args.images)
    ms_per_image(blobs[:2], args.size, None)  # warm-up: first calls load the decoders
    ms_per_image(blobs[:2], args.size, args.size)
    full, scaled = [], []
    for _ in range(args.repeats):  # interleaved, so a busy moment hits both
        full.append(ms_per_image(blobs, args.size, None))
        scaled.append(ms_per_image(blobs, args.size, args.size))
    result = {
        "images": len(blobs), "pixels": list(CAMERA), "size": args.size,
        "full_ms": round(statistics.median(full), 2), "scaled_ms": round(statistics.median(scaled), 2),
    }  # fmt: skip
    result["ratio"] = round(result["scaled_ms"] / result["full_ms"], 3)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{len(blobs)} JPEGs of {CAMERA[0]}x{CAMERA[1]} to {args.size} px items:")
    print(f"  decoded in full, then resized:  {result['full_ms']:.1f} ms/image")
    print(f"  decoded at a reduced scale:     {result['scaled_ms']:.1f} ms/image")
    print(f"  reduced / full:                 {result['ratio']:.2f}x")


if __name__ == "__main__":
    main()
