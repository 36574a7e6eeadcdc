"""``rung doctor`` for an image folder: what in the data will cost accuracy or mislead, before
any training.

:func:`diagnose_images` reads the folder as ``rung train images`` does (:mod:`rung.vision.scan`)
and runs each check below on what it read. Every check names the files and counts behind what
it says and gives one next step; with ``out=`` the checks that compare images draw the pairs
they found (a PNG each, named in ``Finding.picture``).

>>> import shutil, tempfile
>>> import numpy as np
>>> from PIL import Image
>>> rng, root = np.random.default_rng(0), Path(tempfile.mkdtemp())
>>> for split in ("train", "val"):
...     for name in ("ants", "bees"):
...         (root / split / name).mkdir(parents=True)
...         for i in range(3):
...             pixels = rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)
...             Image.fromarray(pixels).save(root / split / name / f"{name}{i}.jpg")
>>> _ = shutil.copy(root / "train/ants/ants0.jpg", root / "val/ants/copy.jpg")
>>> diagnosis = diagnose_images(root)
>>> [f.check for f in diagnosis.findings if f.severity == "error"]
['images.leakage']
>>> diagnosis.by_check("images.leakage")[0].evidence["files"]
['val/ants/copy.jpg']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rung.report.doctor import ERROR, INFO, WARNING, Diagnosis, Finding, diagnose, named
from rung.vision.options import ImageDataOptions
from rung.vision.scan import ImageRecord, ImageScan, draw_pairs, extra_copies, scan_folder

__all__ = [
    "diagnose_images",
    "IMAGE_CHECKS",
    "MIN_TRAIN_PER_CLASS",
    "MIN_VALID_PER_CLASS",
    "IMBALANCE_RATIO",
]

# Fine-tuning a pretrained model: its features already tell most things apart, so a few dozen
# images a class often give a good classifier (the course's bears: ~150 each); under 20 it
# overfits and the class's validation score rests on a handful of images.
MIN_TRAIN_PER_CLASS = 20
MIN_VALID_PER_CLASS = 5  # below this a class's validation accuracy moves in steps of 20%+
IMBALANCE_RATIO = 3.0  # largest over smallest training class
TINY_SIDE = 32  # pixels: an image this small carries little for a model to see
LONG_ASPECT = 2.0  # long side over short side: 'squish' distorts such images visibly
HUGE_MEGAPIXELS = 16.0  # decoding a 16-megapixel photo costs every epoch ~50x a 0.3 MP one
NAMED = 20  # files named in a message; evidence lists up to EVIDENCE
EVIDENCE = 200
PICTURED = 8  # pairs drawn in a picture


def diagnose_images(
    folder: str | Path,
    *,
    out: str | Path | None = None,
    label: Any = "folder",
    split: str = "auto",
    valid_pct: float = 0.2,
    seed: int | None = 42,
    size: int = 224,
    max_pixels: int | None = None,
) -> Diagnosis:
    """Check an image folder (class folders, optionally under ``train/`` and ``valid/``).

    ``label``, ``split``, ``valid_pct`` and ``seed`` are the settings training would use
    (:meth:`~rung.vision.data.ImageDataLoaders.from_folder`): leakage is judged on that split.
    ``size`` is the model's input size. ``out``: a folder for the pictures of the pairs found
    (then ``diagnosis.write(out)`` puts ``doctor.md`` beside them). A folder training can't read
    (one class, images at mixed depths) gives one ERROR finding that says why.
    """
    settings = dict(label=label, split=split, valid_pct=valid_pct, seed=seed, size=size)
    ImageDataOptions(valid_pct=valid_pct, seed=seed, size=size, max_pixels=max_pixels)  # checked
    try:
        scan = scan_folder(folder, max_pixels=max_pixels, out=out, **settings)
    except (ValueError, KeyError) as e:  # what training would refuse the folder with
        finding = Finding(
            "images.layout", ERROR, f"training can't read this folder: {e}",
            "fix the folder as the message says, then run rung doctor again",
        )  # fmt: skip
        return Diagnosis(str(folder), "images", ["images.layout"], [finding])
    train, valid = (Counter(r.label for r in scan.records if r.valid == v) for v in (False, True))
    facts = {
        "images": len(scan.records), "train": sum(train.values()), "valid": sum(valid.values()),
        "classes": len(scan.classes), "split": scan.split,
        "per class (train/valid)": ", ".join(f"{c} {train[c]}/{valid[c]}" for c in scan.classes),
    }  # fmt: skip
    if scan.records:
        widths, heights = [r.width for r in scan.records], [r.height for r in scan.records]
        facts["sizes"] = f"{min(widths)}-{max(widths)} wide, {min(heights)}-{max(heights)} high"
    return diagnose(folder, "images", IMAGE_CHECKS, scan, facts=facts)


# --- the checks: each takes the scan and returns its findings ----------------------------------
@named("images.unreadable")
def unreadable(scan: ImageScan) -> list[Finding]:
    """Files training tries to read and can't (not an image, damaged, over a cap)."""
    if not scan.unreadable:
        return []
    files = [{"file": scan.relative(s.path), "reason": s.reason} for s in scan.unreadable]
    named = "; ".join(f"{f['file']} ({f['reason']})" for f in files[:NAMED])
    return [
        Finding(
            "images.unreadable", ERROR,
            f"{len(files)} file(s) can't be read as images: {named}{_more(files)}",
            "replace each with a good copy or delete it (training leaves them out, or fails on "
            "the damaged part); a file that isn't a photo at all may be a download error page",
            evidence={"count": len(files), "files": files[:EVIDENCE]},
        )
    ]  # fmt: skip


@named("images.not_images")
def not_images(scan: ImageScan) -> list[Finding]:
    """Files in the class folders that training leaves out by their extension."""
    if not scan.not_images:
        return []
    names = [scan.relative(s.path) for s in scan.not_images]
    kinds = Counter(Path(n).suffix.lower() or "(none)" for n in names)
    return [
        Finding(
            "images.not_images", WARNING,
            f"{len(names)} file(s) in the class folders aren't images rung reads "
            f"({', '.join(f'{k}: {n}' for k, n in kinds.most_common())}), so training leaves "
            f"them out: {', '.join(names[:NAMED])}{_more(names)}",
            "convert the pictures among them to .jpg or .png (PIL.Image.open(path)"
            ".convert('RGB').save('x.png')) and move the other files out of the data folder",
            evidence={"count": len(names), "files": names[:EVIDENCE], "by_extension": dict(kinds)},
        )
    ]  # fmt: skip


@named("images.class_counts")
def class_counts(scan: ImageScan) -> list[Finding]:
    """Classes with too few training or validation images to learn or to judge."""
    train, valid = _counts(scan)
    few = [c for c in scan.classes if train[c] < MIN_TRAIN_PER_CLASS]
    thin = [c for c in scan.classes if valid[c] < MIN_VALID_PER_CLASS and c not in few]
    findings = []
    if few:
        counts = {c: {"train": train[c], "valid": valid[c]} for c in few}
        shown = ", ".join(f"{c!r} {train[c]} training / {valid[c]} validation" for c in few)
        findings.append(
            Finding(
                "images.too_few", ERROR if any(train[c] == 0 for c in few) else WARNING,
                f"{len(few)} class(es) have fewer than {MIN_TRAIN_PER_CLASS} training images: "
                f"{shown}",
                f"collect at least {MIN_TRAIN_PER_CLASS} images per class, 50 or more if you "
                "can: fine-tuning a pretrained model learns a class from a few dozen images "
                "(its features already tell most things apart), but from a handful it "
                "memorises them, and the class's validation score rests on one or two images",
                evidence={"classes": counts, "min_train": MIN_TRAIN_PER_CLASS},
            )
        )  # fmt: skip
    if thin:
        shown = ", ".join(f"{c!r} {valid[c]}" for c in thin)
        findings.append(
            Finding(
                "images.few_valid", WARNING,
                f"{len(thin)} class(es) have fewer than {MIN_VALID_PER_CLASS} validation "
                f"images ({shown}), so their validation accuracy moves in big steps",
                f"give each class at least {MIN_VALID_PER_CLASS} validation images (move some "
                "from train/ to valid/, or raise valid_pct)",
                evidence={"classes": {c: valid[c] for c in thin}},
            )
        )  # fmt: skip
    return findings


@named("images.imbalance")
def imbalance(scan: ImageScan) -> list[Finding]:
    """The largest training class over the smallest (classes with any images)."""
    train, _ = _counts(scan)
    present = {c: n for c, n in train.items() if n > 0}
    if len(present) < 2:
        return []
    big, small = max(present, key=present.get), min(present, key=present.get)
    ratio = present[big] / present[small]
    if ratio < IMBALANCE_RATIO:
        return []
    return [
        Finding(
            "images.imbalance", WARNING,
            f"the classes are imbalanced: {big!r} has {present[big]} training images, "
            f"{small!r} {present[small]} ({ratio:.1f}x)",
            "collect more images of the small classes (or weight the loss by class), and judge "
            "the model by each class's recall in the confusion matrix (rung interpret): "
            "accuracy is dominated by the big classes",
            evidence={"train_counts": dict(sorted(train.items())), "ratio": round(ratio, 2)},
        )
    ]  # fmt: skip


@named("images.leakage")
def leakage(scan: ImageScan) -> list[Finding]:
    """Validation images that are copies or near-copies of training images."""
    best: dict[int, tuple[int, int]] = {}  # valid record -> (bits, train record)
    for i, j, bits in scan.pairs:
        a, b = scan.records[i], scan.records[j]
        if a.valid == b.valid:
            continue
        v, t = (i, j) if a.valid else (j, i)
        if v not in best or bits < best[v][0]:
            best[v] = (bits, t)
    if not best:
        return []
    rows = sorted(
        ((scan.records[v], scan.records[t], bits) for v, (bits, t) in best.items()),
        key=lambda row: row[0].name,
    )
    exact = sum(v.sha1 == t.sha1 for v, t, _ in rows)
    names = [v.name for v, _, _ in rows]
    return [
        Finding(
            "images.leakage", ERROR,
            f"{len(rows)} validation image(s) are copies ({exact} identical files, "
            f"{len(rows) - exact} near copies) of training images, so validation scores what "
            f"the model has memorised: {', '.join(names[:NAMED])}{_more(names)}",
            "delete one copy of each pair (or move both into the same split), then train "
            "again: validation must be images the model has never seen",
            evidence={
                "count": len(rows), "exact": exact, "files": names[:EVIDENCE],
                "pairs": [_pair(v, t) for v, t, _ in rows[:EVIDENCE]],
            },
            picture=_draw(scan, rows, "images_leakage.png", "validation (left) and training"),
        )
    ]  # fmt: skip


@named("images.mislabelled")
def mislabelled(scan: ImageScan) -> list[Finding]:
    """The same, or nearly the same, image under two labels: one of them is wrong."""
    rows = [
        (scan.records[i], scan.records[j], bits)
        for i, j, bits in scan.pairs
        if scan.records[i].label != scan.records[j].label
    ]
    if not rows:
        return []
    by_pair = Counter(" / ".join(sorted((a.label, b.label))) for a, b, _ in rows)
    class_sizes = Counter(r.label for r in scan.records)
    shares = {  # how much of each class has a look-alike in another class
        c: round(
            len({x.name for a, b, _ in rows for x in (a, b) if x.label == c}) / class_sizes[c], 3
        )
        for c in {x.label for a, b, _ in rows for x in (a, b)}
    }
    worst = max(shares, key=shares.get)
    shown = ", ".join(f"{a.name} ~ {b.name}" for a, b, _ in rows[:NAMED])
    return [
        Finding(
            "images.mislabelled", WARNING,
            f"{len(rows)} pair(s) of images look alike across classes ("
            + ", ".join(f"{k}: {n}" for k, n in by_pair.most_common())
            + f"; {shares[worst]:.0%} of {worst!r} has a look-alike elsewhere), so one label "
            f"of each pair is likely wrong: {shown}{_more(rows)}",
            "look at each pair and keep the image in the one class it belongs to (rung clean "
            "after a first run shows the model's own doubts too)",
            evidence={"count": len(rows), "by_class_pair": dict(by_pair), "shares": shares,
                      "pairs": [_pair(a, b) for a, b, _ in rows[:EVIDENCE]]},
            picture=_draw(scan, rows, "images_mislabelled.png", "the same image, two labels"),
        )
    ]  # fmt: skip


@named("images.duplicates")
def duplicates(scan: ImageScan) -> list[Finding]:
    """Copies within one class and split: identical files, and near copies."""
    rows = [
        (scan.records[i], scan.records[j], bits)
        for i, j, bits in scan.pairs
        if scan.records[i].label == scan.records[j].label
        and scan.records[i].valid == scan.records[j].valid
    ]
    findings = []
    for exact in (True, False):
        found = [(a, b, bits) for a, b, bits in rows if (a.sha1 == b.sha1) == exact]
        if not found:
            continue
        extra = extra_copies([(a.name, b.name) for a, b, _ in found])
        what = "identical files" if exact else "near copies (resized, re-encoded or retouched)"
        shown = ", ".join(f"{a.name} {'=' if exact else '~'} {b.name}" for a, b, _ in found[:NAMED])
        findings.append(
            Finding(
                "images.duplicates", WARNING,
                f"{len(found)} pair(s) of images in the same class are {what} ({extra} extra "
                f"copies): {shown}{_more(found)}",
                "delete the extra copies: a duplicate counts twice in training and in the "
                "validation score" + ("" if exact else "; keep both if they are distinct shots"),
                evidence={"exact": exact, "count": len(found), "extra_copies": extra,
                          "pairs": [_pair(a, b) for a, b, _ in found[:EVIDENCE]]},
                picture=_draw(scan, found, f"images_{'exact' if exact else 'near'}_copies.png",
                              what),
            )
        )  # fmt: skip
    return findings


@named("images.modes")
def modes(scan: ImageScan) -> list[Finding]:
    """Images that aren't plain RGB (grey, CMYK, with transparency, palette)."""
    odd = [r for r in scan.records if r.mode != "RGB"]
    if not odd:
        return []
    by_mode = Counter(r.mode for r in odd)
    by_class = Counter(r.label for r in odd)
    class_sizes = Counter(r.label for r in scan.records)
    names = [r.name for r in odd]
    top = max(by_class, key=by_class.get)
    # a cue: one class holds most of them, and they are a good part of it
    cue = (
        by_class[top] >= 3
        and by_class[top] >= 0.8 * len(odd)
        and by_class[top] >= 0.1 * class_sizes[top]
    )
    step = (
        f"convert them or replace them with colour photos: {by_class[top]} of {class_sizes[top]} "
        f"{top!r} images aren't RGB and few others are, so the model may learn the colour mode "
        "instead of the class"
        if cue
        else "nothing to do if they belong: training converts every image to RGB (grey repeats "
        "its channel, transparency is dropped); convert them if a class could be told by its mode"
    )
    return [
        Finding(
            "images.modes", WARNING if cue else INFO,
            f"{len(odd)} image(s) aren't RGB ("
            + ", ".join(f"{m}: {n}" for m, n in by_mode.most_common())
            + f"; by class: {', '.join(f'{c} {n}' for c, n in sorted(by_class.items()))}): "
            f"{', '.join(names[:NAMED])}{_more(names)}",
            step,
            evidence={"by_mode": dict(by_mode), "by_class": dict(by_class),
                      "files": names[:EVIDENCE]},
        )
    ]  # fmt: skip


@named("images.sizes")
def sizes(scan: ImageScan) -> list[Finding]:
    """Tiny, small, huge or very long images."""
    found = []
    side = {r.name: min(r.width, r.height) for r in scan.records}

    def named(records: Sequence[ImageRecord]) -> str:
        return ", ".join(f"{r.name} ({r.width}x{r.height})" for r in records[:NAMED]) + _more(
            records
        )

    tiny = [r for r in scan.records if side[r.name] < TINY_SIDE]
    small = [r for r in scan.records if TINY_SIDE <= side[r.name] < scan.size / 2]
    huge = [r for r in scan.records if r.width * r.height / 1e6 > HUGE_MEGAPIXELS]
    long = [r for r in scan.records if max(r.width, r.height) / side[r.name] > LONG_ASPECT]
    checks = [
        (tiny, WARNING, f"narrower than {TINY_SIDE} pixels on their short side, so there is "
         "little for the model to see", "look at them: thumbnails or icons saved by mistake are "
         "best replaced with the full-size image, or deleted"),
        (small, INFO, f"smaller than half the model's input ({scan.size} pixels) on their short "
         "side, so they are enlarged (blurred) to fit", "fine if the photos are small by nature; "
         "else find larger copies"),
        (huge, INFO, f"over {HUGE_MEGAPIXELS:.0f} megapixels, and decoding them slows every "
         "epoch", "shrink them once (e.g. to 1000 pixels on the long side): the model sees them "
         f"at {scan.size} pixels anyway"),
        (long, INFO, f"more than {LONG_ASPECT:.0f} times longer than wide (or wider than long), "
         "so 'squish' distorts them", "train with --resize pad (keeps all of the image) or "
         "--resize crop (keeps the middle), or crop them to the subject"),
    ]  # fmt: skip
    for records, severity, what, step in checks:
        if records:
            found.append(
                Finding(
                    "images.sizes", severity, f"{len(records)} image(s) are {what}: "
                    f"{named(records)}", step,
                    evidence={"count": len(records), "files": [r.name for r in records][:EVIDENCE]},
                )
            )  # fmt: skip
    return found


IMAGE_CHECKS = (
    unreadable, not_images, class_counts, imbalance, leakage, mislabelled, duplicates, modes,
    sizes,
)  # fmt: skip


# --- helpers ---------------------------------------------------------------------------------
def _counts(scan: ImageScan) -> tuple[Counter, Counter]:
    train = Counter({c: 0 for c in scan.classes})
    valid = Counter({c: 0 for c in scan.classes})
    for r in scan.records:
        (valid if r.valid else train)[r.label] += 1
    return train, valid


def _more(items: Sequence[Any]) -> str:
    return f" and {len(items) - NAMED} more" if len(items) > NAMED else ""


def _pair(a: ImageRecord, b: ImageRecord) -> dict[str, Any]:
    return {"a": a.name, "b": b.name, "identical": a.sha1 == b.sha1}


def _draw(
    scan: ImageScan, rows: Sequence[tuple[ImageRecord, ImageRecord, int]], name: str, title: str
) -> str | None:
    """Draw up to PICTURED pairs into ``scan.out / name``; the name, or None without ``out``."""
    if scan.out is None:
        return None
    pairs = [
        (a, b, "same file" if a.sha1 == b.sha1 else f"{bits} bits apart") for a, b, bits in rows
    ]
    shown = f" ({PICTURED} of {len(rows)})" if len(rows) > PICTURED else ""
    draw_pairs(pairs[:PICTURED], scan.out / name, title + shown)
    return name
