"""Lesson 1: "Is it a bird?" - a model from your own photos, with rung.

The course searches the web for "bird photo" and "forest photo", downloads and resizes the
results, checks they open, fine-tunes a pretrained model and asks it about one photo. This
does the same: with ``--search`` (and a network) it builds the dataset with rung's search;
otherwise it trains on a folder you give (``--data``, one subfolder per class; by default the
cats-and-dogs photos beside the checkout). The model is the offline EfficientNet-Lite0
(pretrained on ImageNet, no download), fine-tuned as ``vision_learner(...).fine_tune()`` is.

    python examples/lesson1_is_it_a_bird.py --search --out runs/lesson1        # needs a network
    python examples/lesson1_is_it_a_bird.py --data ../shared/data/cats_dogs     # your own photos
"""

from __future__ import annotations

import argparse
from pathlib import Path

import rung
from rung.vision.search.images import search_images
from rung.vision.train import train_images

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search", action="store_true", help="build the dataset by a web search")
    parser.add_argument(
        "--labels", nargs="+", default=["bird", "forest"], help="what to search for"
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "cats_dogs")
    parser.add_argument("--out", type=Path, default=Path("runs/lesson1"))
    parser.add_argument("--size", type=int, default=160, help="pixels (the course used 192)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs after the frozen one")
    parser.add_argument("--lr", type=float, default=None, help="default: from lr_find")
    args = parser.parse_args()

    folder = args.data
    if args.search:
        folder = args.out / "bird_or_not"
        summary = search_images(args.labels, folder, per_query=30, max_side=400)
        print(summary)  # per label: kept, duplicates, broken, ...

    # DataBlock + RandomSplitter(0.2, seed=42) + Resize(squish) + vision_learner + fine_tune:
    result = train_images(
        folder, size=args.size, resize="squish", epochs=args.epochs, lr=args.lr, out=args.out, progress=False
    )  # fmt: skip
    print(result.summary())

    # "Is it a bird?": ask the exported model about one photo, as the course does
    predictor = rung.load(result.model_path)
    photo = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[
        -1
    ]
    pred = predictor.predict(photo)
    print(f"This is a: {pred.label}.")
    print(
        f"Probability it's a {pred.label}: {pred.probs[pred.label]:.4f}  ({photo.parent.name}/{photo.name})"
    )


if __name__ == "__main__":
    main()
