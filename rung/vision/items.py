"""Which images, with which labels, in which split: the bookkeeping before any pixel is read.

Labels come from the parent folder (``cats/cat.1.jpg`` -> ``cats``), from a regex on the file
name (``cat.12.jpg`` with ``r'^([a-z]+)\\.\\d+'`` -> ``cat``), from a function, or from a CSV
(see :meth:`rung.vision.data.ImageDataLoaders.from_csv`). The split comes from ``train/`` and
``valid/`` (or ``val/``) folders, a column, or a seeded random fraction.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rung.vision.io import (
    IMAGE_EXTENSIONS,
    check_image_header,
    get_image_files,
    unsupported_file,
)
from rung.vision.loader import SkippedFile

__all__ = [
    "VALID_FOLDER_NAMES",
    "LabelSpec",
    "find_images",
    "other_files",
    "folder_split",
    "check_class_folders",
    "label_images",
    "verify_images",
    "class_vocab",
    "closest_column",
    "truthy",
]

VALID_FOLDER_NAMES = ("valid", "val", "validation")
LabelSpec = str | re.Pattern | Callable[[Path], str]


def find_images(path: str | Path) -> list[Path]:
    """The image files under ``path``, or an error that says what is wrong with the folder.

    >>> import tempfile
    >>> find_images(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    ValueError: no images found in ... (looked for files ending in .jpg, .jpeg, .png, .webp, .bmp, in any letter case, in all subfolders).
    """
    root = Path(path)
    if not root.exists():
        parent = root.parent if root.parent.is_dir() else None
        hint = ""
        if parent is not None:
            near = difflib.get_close_matches(root.name, [p.name for p in parent.iterdir()], n=1)
            hint = f" Did you mean {str(parent / near[0])!r}?" if near else ""
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist.{hint}")
    if not root.is_dir():
        raise NotADirectoryError(
            f"{str(root)!r} is a file; give the folder that holds the images (one subfolder per class)."
        )
    files = get_image_files(root)
    if not files:
        others = [p for p in root.rglob("*") if p.is_file()]
        found = ""
        if others:
            kinds = sorted({p.suffix.lower() or "(no extension)" for p in others})[:8]
            found = f"; it holds {len(others)} other files, with extensions {kinds}"
        raise ValueError(
            f"no images found in {root} (looked for files ending in {', '.join(IMAGE_EXTENSIONS)}, "
            f"in any letter case, in all subfolders){found}."
        )
    return files


def other_files(root: str | Path) -> list[SkippedFile]:
    """The files in the folders under ``root`` that aren't images rung reads (``.gif``,
    ``.txt``...), each with the reason; hidden files and folders aside, and files directly in
    ``root`` (a README, a checksum list) too. Warns once when there are any.

    >>> import tempfile, warnings
    >>> d = Path(tempfile.mkdtemp()); (d / "cats").mkdir(); _ = (d / "cats" / "notes.txt").write_text("hi")
    >>> _ = (d / "README").write_text("my photos")
    >>> with warnings.catch_warnings(record=True):
    ...     [s.reason for s in other_files(d)]
    ["notes.txt: rung reads .jpg, .jpeg, .png, .webp, .bmp files, not '.txt' ones; convert it, e.g. PIL.Image.open(path).convert('RGB').save('notes.png')."]
    """
    root = Path(root)
    others = [
        SkippedFile(p, reason)
        for p in sorted(root.rglob("*"))
        if len(p.relative_to(root).parts) > 1
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and p.is_file()
        and (reason := unsupported_file(p)) is not None
    ]
    if others:
        shown = "; ".join(s.reason.rstrip(".") for s in others[:3])
        more = f"; and {len(others) - 3} more" if len(others) > 3 else ""
        warnings.warn(
            f"left out {len(others)} file(s) that aren't images rung reads: {shown}{more} "
            "(listed in dls.skipped).",
            stacklevel=3,
        )
    return others


def folder_split(root: Path, files: Sequence[Path]) -> tuple[list[Path], list[bool]] | None:
    """Files under ``root/train`` and ``root/valid`` (or val/validation) with a valid flag each;
    ``None`` when ``root`` has no such pair of folders. Other folders (``test/``) are left out.

    >>> folder_split(Path("d"), [Path("d/train/a/1.jpg"), Path("d/val/a/2.jpg"), Path("d/test/3.jpg")])
    ([PosixPath('d/train/a/1.jpg'), PosixPath('d/val/a/2.jpg')], [False, True])
    """
    kept, flags = [], []
    for f in files:
        top = f.relative_to(root).parts[0]
        if top == "train" or top in VALID_FOLDER_NAMES:
            kept.append(f)
            flags.append(top != "train")
    if not any(flags) or all(flags):
        return None
    return kept, flags


def check_class_folders(root: Path, files: Sequence[Path]) -> None:
    """Refuse a folder tree where "the folder an image sits in" is not clearly its class.

    Below ``root`` (and its ``train/`` / ``valid/`` folder), every image should sit at the same
    depth, and folders that hold the class folders should be at most one (``pets/cats/``).
    ``cats/{young,old}`` + ``dogs/{young,old}`` would train 'old' vs 'young', half cats and
    half dogs each; ``cats/`` + ``cats/kittens/`` would make kittens a class apart from cats.

    >>> check_class_folders(Path("d"), [Path("d/cats/1.jpg"), Path("d/cats/old/2.jpg")])
    Traceback (most recent call last):
    ...
    ValueError: images sit at 2 depths: in cats/old/ (1 image) and in cats/ (1 image), so ...
    """
    places: dict[Path, int] = Counter()  # class folder (relative, below any split folder) -> n
    for f in files:
        rel = Path(f).relative_to(root)
        if rel.parts[0] == "train" or rel.parts[0] in VALID_FOLDER_NAMES:
            rel = Path(*rel.parts[1:])
        places[rel.parent] += 1
    depths = {len(folder.parts) for folder in places}
    fix = (
        "Flatten the folders to one per class (cats/, dogs/), or say which name is the label "
        "with label= a function (label=lambda path: path.parent.parent.name) or a regex on the "
        "file name."
    )
    if len(depths) > 1:
        deep, shallow = (
            max(places, key=lambda p: len(p.parts)),
            min(places, key=lambda p: len(p.parts)),
        )
        raise ValueError(
            f"images sit at {len(depths)} depths: in {deep.as_posix()}/ ({_n(places[deep])}) "
            f"and in {shallow.as_posix()}/ ({_n(places[shallow])}), so the class of an image "
            f"(the folder it sits in) would mix levels. {fix}"
        )
    parents: dict[str, set[Path]] = {}
    for folder in places:
        parents.setdefault(folder.name, set()).add(folder.parent)
    repeated = sorted(name for name, ps in parents.items() if len(ps) > 1)
    groups = sorted({folder.parent for folder in places} - {Path(".")})
    if repeated:
        where = sorted({p.as_posix() for name in repeated for p in parents[name]})
        raise ValueError(
            f"the class folders {' and '.join(repr(n) for n in repeated[:4])} appear under both "
            f"{' and '.join(w + '/' for w in where[:4])}: labelled by the folder each image sits "
            f"in, each class would mix them. {fix}"
        )
    if len(groups) > 1:
        inner = sorted({folder.name + "/" for folder in places})[:4]
        raise ValueError(
            f"{' and '.join(g.as_posix() + '/' for g in groups[:4])} hold no images, only "
            f"subfolders ({', '.join(inner)}...): is the class the outer folder or the inner "
            f"one? {fix}"
        )


def _n(count: int) -> str:
    return f"{count} image" + ("" if count == 1 else "s")


def label_images(files: Sequence[Path], label: LabelSpec = "folder") -> tuple[list[str], str]:
    """A label per file, and a short description of how they were found.

    ``label``: ``'folder'`` (the parent folder's name), a regex applied to the file name whose
    first group is the label, or a function ``Path -> str``.

    >>> label_images([Path("pets/cat.12.jpg"), Path("pets/dog.3.jpg")], r"^([a-z]+)\\.\\d+")[0]
    ['cat', 'dog']
    >>> label_images([Path("pets/cats/1.jpg")])
    (['cats'], 'parent folder names')
    """
    if callable(label) and not isinstance(label, (str, re.Pattern)):
        return [str(label(Path(f))) for f in files], f"function {getattr(label, '__name__', label)}"
    if label == "folder":
        labels = [Path(f).parent.name for f in files]
        split_named = sorted({lab for lab in labels if lab in ("train", *VALID_FOLDER_NAMES)})
        if split_named:
            raise ValueError(
                f"some images sit directly in a {split_named} folder, with no class folder; put "
                f"them one folder deeper, e.g. train/cats/1.jpg, valid/cats/2.jpg."
            )
        return labels, "parent folder names"
    try:
        pattern = re.compile(label) if isinstance(label, str) else label
    except re.error as e:
        raise ValueError(
            f"label {label!r} is neither 'folder' nor a valid regex ({e}); e.g. r'^([a-z]+)\\.\\d+' "
            "labels 'cat.12.jpg' as 'cat'."
        ) from None
    if pattern.groups < 1:
        raise ValueError(
            f"label regex {pattern.pattern!r} has no group; put the label in parentheses, e.g. "
            r"r'^([A-Za-z_]+)_\d+' labels 'great_pyrenees_12.jpg' as 'great_pyrenees'."
        )
    labels, misses = [], []
    for f in files:
        m = pattern.search(Path(f).name)
        if m is None or m.group(1) is None:
            misses.append(Path(f).name)
        else:
            labels.append(m.group(1))
    if misses:
        raise ValueError(
            f"label regex {pattern.pattern!r} doesn't match {len(misses)} of {len(files)} file "
            f"names, e.g. {misses[:5]}; it is searched in the file name (not the folders) and "
            "its first group is the label."
        )
    return labels, f"regex {pattern.pattern!r} on file names"


def verify_images(
    files: Sequence[Path], max_pixels: int | None = None
) -> tuple[list[int], list[SkippedFile]]:
    """Indices of the files whose header reads as an image (within the caps of
    :func:`rung.vision.io.check_image_header`), and the others with the reason.

    Cheap (headers only); a file damaged further in is caught, dropped and listed when it is
    decoded. Warns once when files are skipped.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); _ = (d / "bad.jpg").write_bytes(b"")
    >>> import warnings; warnings.simplefilter("ignore")
    >>> verify_images([d / "bad.jpg"])[0]
    []
    """
    keep, skipped = [], []
    for i, f in enumerate(files):
        reason = check_image_header(f, max_pixels=max_pixels)
        if reason is None:
            keep.append(i)
        else:
            skipped.append(SkippedFile(Path(f), reason))
    if skipped:
        shown = ", ".join(f"{s.path.name} ({s.reason})" for s in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        warnings.warn(
            f"skipped {len(skipped)} unreadable image file(s): {shown}{more}; the full list is in "
            "dls.skipped.",
            stacklevel=3,
        )
    return keep, skipped


def class_vocab(
    labels: Sequence[str], train_mask: Sequence[bool], where: str, hint: str
) -> list[str]:
    """The sorted class names; at least 2 are needed, and each should have training images.

    >>> class_vocab(["dog", "cat", "dog"], [True, True, False], "here", "")
    ['cat', 'dog']
    >>> class_vocab(["cat", "cat"], [True, False], "pets/", "put each class in its own folder.")
    Traceback (most recent call last):
    ...
    ValueError: found only 1 class in pets/: {'cat': 2}; a classifier needs at least 2. Put each class in its own folder.
    """
    counts = Counter(labels)
    if len(counts) < 2:
        found = dict(sorted(counts.items()))
        raise ValueError(
            f"found only {len(counts)} class in {where}: {found}; a classifier needs at least 2. "
            f"{hint[:1].upper()}{hint[1:]}"
        )
    in_train = {lab for lab, t in zip(labels, train_mask) if t}
    missing = sorted(set(counts) - in_train)
    if missing:
        warnings.warn(
            f"classes {missing} have no training images (only validation ones), so the model "
            "can't learn them; move some of their images into the training set.",
            stacklevel=3,
        )
    return sorted(counts)


def closest_column(name: str | int, columns: Sequence[str], role: str, source: str) -> str:
    """Resolve a column given by name or position, with a did-you-mean error.

    >>> closest_column(1, ["fname", "label"], "label", "labels.csv")
    'label'
    >>> closest_column("lable", ["fname", "label"], "label", "labels.csv")
    Traceback (most recent call last):
    ...
    KeyError: "label column 'lable' not found in labels.csv; columns are: ['fname', 'label']. Did you mean 'label'?"
    """
    columns = [str(c) for c in columns]
    if isinstance(name, int):
        if not -len(columns) <= name < len(columns):
            raise KeyError(f"{role} column number {name} is out of range; {source} has {columns}.")
        return columns[name]
    if name in columns:
        return name
    near = difflib.get_close_matches(name, columns, n=1)
    hint = f" Did you mean {near[0]!r}?" if near else ""
    raise KeyError(f"{role} column {name!r} not found in {source}; columns are: {columns}.{hint}")


def truthy(value: Any) -> bool:
    """Read a validation flag: bools, 0/1, or strings such as "True" / "valid"; NaN is False.

    >>> [truthy(v) for v in [True, 0, "valid", "False", float("nan")]]
    [True, False, True, False, False]
    """
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "y", "valid", "t")
    return bool(value) and value == value  # NaN counts as False
