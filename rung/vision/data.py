"""Image DataLoaders from a folder of photos or a CSV: labels, split, resize, augmentation, batches.

>>> import tempfile
>>> from PIL import Image
>>> root = Path(tempfile.mkdtemp())
>>> for name in ["cats", "dogs"]:
...     (root / name).mkdir()
...     for i in range(5): Image.new("RGB", (40, 30), (40 * i, 90, 0)).save(root / name / f"{i}.png")
>>> dls = ImageDataLoaders.from_folder(root, size=32, batch_size=4, num_workers=0)
>>> dls.classes, len(dls.train.dataset), len(dls.valid.dataset)
(['cats', 'dogs'], 8, 2)
>>> x, y = dls.train.one_batch()
>>> tuple(x.shape), x.dtype, y.dtype
((4, 3, 32, 32), torch.float32, torch.int64)

The layers underneath, to copy and edit: :mod:`rung.vision.items` (files, labels, split),
:mod:`rung.vision.io` (decode, resize, normalise), :mod:`rung.vision.loader` (batches)
and :mod:`rung.vision.augment`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rung.data.core import DataLoaders
from rung.data.splitters import random_split, split_by_column
from rung.vision.items import (
    LabelSpec,
    check_class_folders,
    class_vocab,
    closest_column,
    find_images,
    folder_split,
    label_images,
    other_files,
    truthy,
    verify_images,
)
from rung.vision.loader import ImageLoader, SkippedFile, image_files_loader
from rung.vision.options import ImageDataOptions
from rung.vision.pixels import denormalize

__all__ = ["ImageDataLoaders"]

SPLITS = ("auto", "folder", "random")
MAX_CSV_BYTES = 256 * 2**20  # a labels file: a line per image


class ImageDataLoaders(DataLoaders):
    """Train and valid :class:`~rung.vision.loader.ImageLoader` s plus what the data knows.

    ``info`` holds ``task`` ("classification"), ``classes`` (sorted), ``size``, ``resize``,
    ``mean``, ``std``, ``augment``, ``skipped`` (files left out, with reasons), ``split`` and
    ``label`` (how they were made), ``source`` and ``options`` (the
    :class:`~rung.vision.options.ImageDataOptions` used).

    >>> import tempfile
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for split, name, i in [(s, n, i) for s in ("train", "val") for n in ("ant", "bee") for i in range(3)]:
    ...     (root / split / name).mkdir(parents=True, exist_ok=True)
    ...     Image.new("RGB", (30, 20), (80 * i, 0, 0)).save(root / split / name / f"{i}.jpg")
    >>> dls = ImageDataLoaders.from_folder(root, size=16, batch_size=4, num_workers=0, resize="pad")
    >>> dls
    ImageDataLoaders(6 train / 6 valid images, classes=['ant', 'bee'], size=16, split: train/ and valid/ folders)
    >>> x, y = dls.valid.one_batch()
    >>> tuple(dls.decode(x).shape)                      # (B, H, W, 3) in [0, 1], for plotting
    (6, 16, 16, 3)
    >>> dls.show_batch(root / "batch.png", max_n=4).name
    'batch.png'
    >>> [i.tolist() for _, i in dls.test_loader([root / "val" / "bee" / "0.jpg"])]
    [[0]]
    """

    # --- what the data knows -------------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        return self.info["classes"]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def size(self) -> int:
        return self.info["size"]

    @property
    def mean(self) -> tuple[float, ...]:
        return self.info["mean"]

    @property
    def std(self) -> tuple[float, ...]:
        return self.info["std"]

    @property
    def skipped(self) -> list[SkippedFile]:
        """Files left out: unreadable at build time, plus any that failed to decode since."""
        return self.info["skipped"]

    @property
    def options(self) -> ImageDataOptions:
        """The settings the loaders were built with."""
        return self.info["options"]

    @property
    def preprocessing(self) -> dict[str, Any]:
        """What prediction needs to treat an image as validation does (for the model file), and
        the flips training used (test-time augmentation may use those, and only those)."""
        augment = self.info["augment"]
        return {
            "size": self.size,
            "resize": self.info["resize"],
            "mean": list(self.mean),
            "std": list(self.std),
            "flip": augment is not None and augment.flip,
            "flip_vert": augment is not None and augment.flip_vert,
        }

    @property
    def device(self) -> torch.device:
        return self.train.device

    @device.setter
    def device(self, device: str | torch.device) -> None:
        self.train.device = self.valid.device = device

    def __repr__(self) -> str:
        return (
            f"ImageDataLoaders({len(self.train.dataset)} train / {len(self.valid.dataset)} valid "
            f"images, classes={self.classes}, size={self.size}, split: {self.info['split']})"
        )

    # --- builders --------------------------------------------------------------------------
    @classmethod
    def from_folder(
        cls,
        path: str | Path,
        label: LabelSpec = "folder",
        split: str = "auto",
        options: ImageDataOptions | None = None,
        **settings: Any,
    ) -> ImageDataLoaders:
        """Images under ``path``, labelled by folder (or ``label`` regex / function).

        ``split='auto'``: ``train/`` + ``valid/`` (or ``val/``) folders when ``path`` has them
        (anything else, like ``test/``, is left out); else a seeded random ``valid_pct`` (of
        ``train/`` alone if there is one). ``'folder'`` or ``'random'`` force one. Labelled
        by folder, every image must sit in its class folder at the same depth (see
        :func:`~rung.vision.items.check_class_folders`). ``options`` / ``settings``: size,
        batch size and the rest, see :class:`ImageDataOptions`.
        """
        opts = ImageDataOptions.merge(options, settings)
        if split not in SPLITS:
            raise ValueError(f"split {split!r} is not one of {list(SPLITS)}.")
        root = Path(path)
        files = find_images(root)
        by_folder = folder_split(root, files) if split in ("auto", "folder") else None
        is_valid: list[bool] | None = None
        if by_folder is not None:
            files, is_valid = by_folder
            how = "train/ and valid/ folders"
        elif split == "folder":
            subfolders = sorted(p.name for p in root.iterdir() if p.is_dir())
            raise ValueError(
                f"split='folder' needs images in {root}/train/ and in {root}/valid/ (or val/); "
                f"the folders there are {subfolders}. Use split='random' with a valid_pct instead."
            )
        else:
            if split == "auto" and (root / "train").is_dir():
                files = [f for f in files if f.relative_to(root).parts[0] == "train"]
            how = f"random {opts.valid_pct:.0%} (seed {opts.seed})"
        if label == "folder":
            check_class_folders(root, files)
        labels, labelled_by = label_images(files, label)
        return cls.from_lists(
            files, labels, is_valid=is_valid, options=opts, where=str(root), split_how=how,
            label_how=labelled_by, skipped=other_files(root) if opts.verify else (),
        )  # fmt: skip

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        csv_file: str | Path = "labels.csv",
        folder: str | None = None,
        fn_col: str | int = 0,
        label_col: str | int = 1,
        valid_col: str | None = "is_valid",
        options: ImageDataOptions | None = None,
        **settings: Any,
    ) -> ImageDataLoaders:
        """Images named in ``path/csv_file`` (relative to ``path/folder``), labels from a column.

        The split comes from ``valid_col`` (true/1 = validation) when the CSV has that column,
        else a seeded random ``valid_pct``. ``options`` / ``settings`` as :meth:`from_folder`.

        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp()); (root / "images").mkdir()
        >>> rows = ["fname,label,is_valid"]
        >>> for i in range(6):
        ...     Image.new("RGB", (20, 20), (40 * i, 0, 0)).save(root / "images" / f"{i}.png")
        ...     rows.append(f"{i}.png,{'dark' if i < 3 else 'light'},{i in (2, 5)}")
        >>> _ = (root / "labels.csv").write_text("\\n".join(rows))
        >>> dls = ImageDataLoaders.from_csv(root, folder="images", size=16, num_workers=0)
        >>> dls.classes, len(dls.valid.dataset), dls.info["split"]
        (['dark', 'light'], 2, "column 'is_valid'")
        """
        import pandas as pd

        csv_path = Path(path) / csv_file
        if not csv_path.is_file():
            raise FileNotFoundError(f"CSV file {str(csv_path)!r} does not exist.")
        if csv_path.stat().st_size > MAX_CSV_BYTES:
            raise ValueError(
                f"{csv_path} is {csv_path.stat().st_size:,} bytes, over the {MAX_CSV_BYTES:,} "
                "a list of image files needs; check that it is the labels file."
            )
        return cls.from_df(
            pd.read_csv(csv_path), path=Path(path), folder=folder, fn_col=fn_col,
            label_col=label_col, valid_col=valid_col, source=csv_path.name,
            options=ImageDataOptions.merge(options, settings),
        )  # fmt: skip

    @classmethod
    def from_df(
        cls,
        df: Any,
        path: str | Path = ".",
        folder: str | None = None,
        fn_col: str | int = 0,
        label_col: str | int = 1,
        valid_col: str | None = "is_valid",
        source: str = "the DataFrame",
        options: ImageDataOptions | None = None,
        **settings: Any,
    ) -> ImageDataLoaders:
        """Like :meth:`from_csv`, from a pandas DataFrame already in memory."""
        opts = ImageDataOptions.merge(options, settings)
        columns = list(df.columns)
        fn = closest_column(fn_col, columns, "file name", source)
        lab = closest_column(label_col, columns, "label", source)
        root = Path(path) / folder if folder else Path(path)
        files = [root / str(name) for name in df[fn]]
        missing = [str(f.relative_to(root)) for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} of {len(files)} files named in column {fn!r} of {source} are "
                f"missing under {root}, e.g. {missing[:5]}; check the folder= argument and the "
                "file names (with their extension)."
            )
        empty = df.index[df[lab].isna()].tolist()
        if empty:
            raise ValueError(f"label column {lab!r} of {source} is empty in rows {empty[:10]}.")
        is_valid, how = None, f"random {opts.valid_pct:.0%} (seed {opts.seed})"
        if valid_col is not None and (valid_col in columns or valid_col != "is_valid"):
            col = closest_column(valid_col, columns, "validation", source)
            is_valid = [truthy(v) for v in df[col]]
            how = f"column {col!r}"
        return cls.from_lists(
            files, [str(v) for v in df[lab]], is_valid=is_valid, options=opts, where=source,
            split_how=how, label_how=f"column {lab!r} of {source}",
        )  # fmt: skip

    @classmethod
    def from_lists(
        cls,
        files: Sequence[str | Path],
        labels: Sequence[str],
        is_valid: Sequence[bool] | None = None,
        options: ImageDataOptions | None = None,
        where: str = "the image list",
        split_how: str | None = None,
        label_how: str = "given labels",
        skipped: Sequence[SkippedFile] = (),
        **settings: Any,
    ) -> ImageDataLoaders:
        """The layer the other builders end in: files, a label each, and optionally a valid flag
        each (else a seeded random ``valid_pct``). ``skipped``: files already left out, listed
        in ``dls.skipped`` with the ones found unreadable here."""
        opts = ImageDataOptions.merge(options, settings)
        files, labels = [Path(f) for f in files], list(labels)
        for name, values in (("labels", labels), ("is_valid flags", is_valid)):
            if values is not None and len(values) != len(files):
                raise ValueError(
                    f"{len(files)} files but {len(values)} {name}: give one per image file."
                )
        skipped = list(skipped)
        if opts.verify:
            keep, unreadable = verify_images(files, opts.max_pixels)
            skipped += unreadable
            files, labels = [files[i] for i in keep], [labels[i] for i in keep]
            is_valid = None if is_valid is None else [is_valid[i] for i in keep]
            if not files:
                raise ValueError(f"none of the images in {where} can be read, e.g. {skipped[:3]}.")
        if is_valid is None:
            split = random_split(len(files), valid_pct=opts.valid_pct, seed=opts.seed)
            split_how = split_how or f"random {opts.valid_pct:.0%} (seed {opts.seed})"
        else:
            split = split_by_column(list(is_valid), True)
            split_how = split_how or "given flags"
        in_valid = set(split.valid.tolist())
        hint = "check the labels"
        if label_how == "parent folder names":
            hint = "put each class in its own folder (cats/, dogs/)"
        classes = class_vocab(labels, [i not in in_valid for i in range(len(files))], where, hint)
        ids = {c: i for i, c in enumerate(classes)}
        y = [ids[lab] for lab in labels]
        cache = opts.new_cache()
        train, valid = (
            opts.loader([files[i] for i in idx], [y[i] for i in idx], train, skipped, cache)
            for idx, train in ((split.train, True), (split.valid, False))
        )
        return cls(
            train, valid, classes=classes, size=opts.size, item_size=opts.item_size or opts.size,
            resize=opts.resize, mean=tuple(opts.mean), std=tuple(opts.std), augment=opts.augment,
            skipped=skipped, split=split_how, label=label_how, source=where, options=opts,
            task="classification",
        )  # fmt: skip

    # --- looking at the data ---------------------------------------------------------------
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """A normalised batch (B, 3, H, W) -> images (B, H, W, 3) in [0, 1] on the CPU, to plot."""
        return denormalize(x.detach().float().cpu(), self.mean, self.std).permute(0, 2, 3, 1)

    def show_batch(self, path: str | Path, max_n: int = 9, split: str = "train") -> Path:
        """Write a grid of up to ``max_n`` images of one batch, titled with their labels, as PNG.

        ``split='train'`` shows them augmented, ``'valid'`` as the model sees them at predict time.
        """
        from matplotlib.figure import Figure

        if split not in ("train", "valid"):
            raise ValueError(f"split must be 'train' or 'valid', got {split!r}.")
        if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
            raise ValueError(f"max_n must be a whole number >= 1, got {max_n!r}.")
        x, y = (self.train if split == "train" else self.valid).one_batch()
        images, y = self.decode(x[:max_n]), y[:max_n].tolist()
        ncols = math.ceil(math.sqrt(len(images)))
        nrows = math.ceil(len(images) / ncols)
        fig = Figure(figsize=(2.4 * ncols, 2.6 * nrows))
        axes = list(fig.subplots(nrows, ncols, squeeze=False).flat)
        for ax in axes:
            ax.axis("off")
        for ax, image, label in zip(axes, images, y):
            ax.imshow(image.numpy())
            ax.set_title(self.classes[label], fontsize=10)
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        return path

    def test_loader(
        self, files: Sequence[str | Path], batch_size: int | None = None
    ) -> ImageLoader:
        """Batches ``(x, index)`` of new files, preprocessed as the validation set is."""
        return image_files_loader(
            files,
            self.preprocessing,
            batch_size=batch_size or self.valid.batch_size,
            num_workers=self.valid.num_workers,
            device=self.device,
        )
