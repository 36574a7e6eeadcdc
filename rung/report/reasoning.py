"""The part of a writeup that reasons: what question the run asks and of what data, how it was
validated and why, how it compares with a simple baseline on the same items, how it trained
(the LR finder and the loss over every fit), and what to try next.

:func:`reasoned_sections` turns a run's :class:`~rung.report.run_info.RunInfo` (its
``config.json`` ``"facts"``, see :mod:`rung.report.facts`) and plots into :class:`Section`\\ s
that :mod:`rung.report.writeup` renders as HTML and as Markdown alike.

>>> import tempfile
>>> from rung.report.facts import run_facts, split_facts
>>> from rung.report.run_folder import new_run_dir, save_json
>>> from rung.report.run_info import read_run
>>> run = new_run_dir(tempfile.mkdtemp(), "table")
>>> facts = run_facts([0, 0, 1] * 10, [0, 1, 1, 1], "classification",
...                   split_facts("random", 30, 4, 0.12, 42), target="Survived")
>>> _ = save_json(run / "config.json", {"app": "tabular", "task": "classification",
...                "facts": facts, "metrics": {"accuracy": 0.75}})
>>> [s.key for s in reasoned_sections(read_run(run), [], [])]
['question', 'validation', 'baseline']
>>> reasoned_sections(read_run(run), [], [])[2].paragraphs[0][:60]
"Always predicting the most common training class, '0' (67% o"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rung.report import page
from rung.report.facts import FACTS_KEY
from rung.report.phases import time_section
from rung.report.plots import Plot
from rung.report.run_info import RunInfo

__all__ = ["Section", "reasoned_sections", "question", "validation_text", "baseline_text"]


@dataclass
class Section:
    """A writeup section: ``key`` (its HTML id), a title, paragraphs, tables
    (``(the line above it, header, rows)``), plots, and a bullet list."""

    key: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)


def reasoned_sections(info: RunInfo, plots: list[Plot], next_steps: list[str]) -> list[Section]:
    """The sections, in reading order: question and data, validation, baseline, training,
    where the time went, what to try next. A section with nothing to say is left out;
    ``plots`` are the run's (the sample batch, the LR finder and the loss plot are placed here)."""
    facts = info.config.get(FACTS_KEY) if isinstance(info.config.get(FACTS_KEY), dict) else {}
    by_key = {p.key: p for p in plots if p.key}
    sections = [_question_and_data(info, facts, by_key.get("show_batch"))]
    split = validation_text(info, facts)
    if split:
        sections.append(Section("validation", "How it was validated", [split]))
    baseline = _baseline_section(info, facts)
    if baseline is not None:
        sections.append(baseline)
    training = _training_section(info, [by_key[k] for k in ("lr_find", "loss") if k in by_key])
    if training is not None:
        sections.append(training)
    timing = time_section(info.config)
    if timing is not None:
        sections.append(timing)
    if next_steps:
        sections.append(Section("next-steps", "What to try next", bullets=list(next_steps)))
    return sections


def question(info: RunInfo, facts: dict[str, Any]) -> str:
    """The question the run asks, in a sentence.

    >>> question(RunInfo(path=__import__("pathlib").Path("r"), app="images",
    ...          classes=["cats", "dogs"]), {})
    'Which of 2 classes (cats, dogs) does a picture show?'
    """
    target = (facts.get("target") or {}).get("name") or info.config.get("target")
    source = info.data_path.rsplit("/", 1)[-1] if info.data_path else "the data"
    classes = info.classes or list(
        ((facts.get("target") or {}).get("train") or {}).get("counts", {})
    )
    listed = ", ".join(str(c) for c in classes[:6]) + (", ..." if len(classes) > 6 else "")
    if info.app == "images":
        return f"Which of {len(classes)} classes ({listed}) does a picture show?"
    what = "the text" if info.app == "text" else f"the other columns of {source}"
    if info.task == "regression":
        return f"How close can a model get to {target or 'the target'} from {what}?"
    if target:
        return f"Can {target} ({listed or 'its classes'}) be predicted from {what}?"
    return f"What can a model learn from {what}?"


def validation_text(info: RunInfo, facts: dict[str, Any]) -> str:
    """How the validation items were chosen, how many there are on each side, and why that
    way; empty when the run doesn't say."""
    split = facts.get("split") if isinstance(facts.get("split"), dict) else {}
    noun = "image" if info.app == "images" else "row"
    n_train, n_valid = split.get("n_train", info.n_train), split.get("n_valid", info.n_valid)
    if n_train is None or n_valid is None:
        return ""
    sizes = f"{page.count(n_train)} {noun}s train and {page.count(n_valid)} validate"
    pct = f"{split['valid_pct']:.0%}" if isinstance(split.get("valid_pct"), float) else "a share"
    column, seed = split.get("column"), split.get("seed")
    kind = split.get("kind")
    if kind == "random":
        text = (
            f"A random {pct} of the {noun}s validate, drawn with seed {seed}: {sizes}. A random "
            f"split suits {noun}s that don't depend on each other and have no time order; the "
            f"seed draws the same split every run, so runs are compared on the same {noun}s."
        )
    elif kind == "folder":
        text = (
            f"The data came split into train/ and valid/ folders: {sizes}. A split made with the "
            "data is kept as given: whoever collected it may have held out what matters (other "
            "places, other days), and every run is scored on the same items."
        )
    elif kind == "column":
        given = f"Column {column!r}" if column else "The split given with the data"
        text = f"{given} says which {noun}s validate: {sizes}. A split made with the data is kept as given."
    elif kind == "group":
        text = (
            f"Whole groups of {column!r} validate (about {pct} of the groups, seed {seed}): "
            f"{sizes}. No {column} value is on both sides, so the score says how the model does "
            "on groups it has never seen, as it will be used."
        )
    elif kind == "time":
        text = (
            f"The latest {pct} of the {noun}s by {column!r} validate: {sizes}. The model is "
            "scored on the future of what it learned from, as it will be used; a random split "
            "would let it learn from days after the ones it is scored on."
        )
    else:
        how = (
            info.config.get("data", {}).get("split")
            if isinstance(info.config.get("data"), dict)
            else None
        )
        text = f"Validation: {sizes}" + (f" ({how})." if isinstance(how, str) else ".")
    if split.get("folds"):
        text += (
            f" Each model was also cross-validated in {split['folds']} folds of the training "
            "rows, and chosen on those; the validation rows scored the chosen model once, at "
            "the end."
        )
    return text


def baseline_text(info: RunInfo, facts: dict[str, Any]) -> str:
    """The baseline's score on the validation items against the model's; empty without one."""
    base = facts.get("baseline") if isinstance(facts.get("baseline"), dict) else {}
    noun = "image" if info.app == "images" else "row"
    n = page.count(base.get("n_valid"))
    if base.get("kind") == "majority class":
        share = f"{base['share_of_train']:.0%} of the training {noun}s"
        text = (
            f"Always predicting the most common training class, {base['predicts']!r} ({share}), "
            f"gets accuracy {page.number(base['accuracy'])} on the same {n} validation {noun}s."
        )
        model = _model_accuracy(info.metrics)
        if model is None:
            return text
        if model <= base["accuracy"]:
            return text + (
                f" The model gets {page.number(model)}: no better than that baseline, so it has "
                "not learned anything useful yet."
            )
        fewer = 1 - (1 - model) / base["error_rate"] if base["error_rate"] > 0 else 0.0
        return text + (
            f" The model gets {page.number(model)}: {model - base['accuracy']:+.4f}, "
            f"{fewer:.0%} fewer mistakes than the baseline."
        )
    if base.get("kind") == "training mean":
        text = (
            f"Always predicting the training mean, {page.number(base['predicts'])}, gives rmse "
            f"{page.number(base['rmse'])} and mae {page.number(base['mae'])} on the same {n} "
            f"validation {noun}s."
        )
        for name in ("rmse", "mae"):
            model = info.metrics.get(name)
            if model is not None and base[name] > 0:
                change = 1 - model / base[name]
                verdict = f"{change:.0%} lower" if change > 0 else "no better than the baseline"
                return text + f" The model's {name} is {page.number(model)}: {verdict}."
        return text
    return ""


def _question_and_data(info: RunInfo, facts: dict[str, Any], batch: Plot | None) -> Section:
    section = Section("question", "The question and the data", [question(info, facts)])
    target = facts.get("target") if isinstance(facts.get("target"), dict) else {}
    train, valid = target.get("train") or {}, target.get("valid") or {}
    if "counts" in train:
        classes = list(dict.fromkeys([*train["counts"], *valid.get("counts", {})]))
        n_t, n_v = sum(train["counts"].values()), sum(valid.get("counts", {}).values())
        rows = [
            [str(c), _with_share(train["counts"].get(c, 0), n_t),
             _with_share(valid.get("counts", {}).get(c, 0), n_v)]
            for c in classes
        ]  # fmt: skip
        above = (
            f"{len(classes)} classes; {page.count(n_t)} training and {page.count(n_v)} "
            "validation items, by class:"
        )
        section.tables.append((above, ["class", "train", "valid"], rows))
    elif "mean" in train:
        name = target.get("name") or "the target"
        stats = ("n", "mean", "std", "min", "median", "max")
        rows = [[s, page.number(train.get(s)), page.number(valid.get(s))] for s in stats]
        above = f"{name}, a number, on each side of the split:"
        section.tables.append((above, ["", "train", "valid"], rows))
    sample = facts.get("sample") if isinstance(facts.get("sample"), dict) else None
    if sample and sample.get("rows"):
        rows = [list(r) for r in sample["rows"]]
        section.tables.append(("The first rows of the data:", list(sample["columns"]), rows))
    if batch is not None:
        section.plots.append(batch)
    return section


def _baseline_section(info: RunInfo, facts: dict[str, Any]) -> Section | None:
    text = baseline_text(info, facts)
    if not text:
        return None
    base = facts["baseline"]
    names = [m for m in ("accuracy", "error_rate", "rmse", "mae") if m in base]
    names = [m for m in names if info.metrics.get(m) is not None] or names
    rows = [[m, page.number(base[m]), page.number(info.metrics.get(m))] for m in names]
    section = Section(
        "baseline", "Against a baseline", [text], [("", ["metric", "baseline", "model"], rows)]
    )
    if any(str(r.get("model")) == "baseline" for r in _leaderboard(info)):
        section.paragraphs.append(
            "The leaderboard below has the baseline's row beside each model's."
        )
    return section


def _training_section(info: RunInfo, plots: list[Plot]) -> Section | None:
    lines = []
    lr, source = _lookup(info.config, "lr"), _lookup(info.config, "lr_source")
    if isinstance(lr, (int, float)):
        lines.append(f"Learning rate {lr:.2e}" + (f", from {source}." if source else "."))
    fits = list(dict.fromkeys(r.get("fit") for r in info.epochs if r.get("fit") is not None))
    frozen = _lookup(info.config, "freeze_epochs")
    if len(fits) == 2 and isinstance(frozen, int) and frozen > 0:
        n_second = sum(r.get("fit") == fits[1] for r in info.epochs)
        lines.append(
            f"Two fits: {frozen} epoch(s) with the pretrained body frozen (the new head alone "
            f"learns), then {n_second} with every layer training at lower rates for earlier "
            "layers. The loss plot shows both, a dotted line where the second starts."
        )
    elif len(fits) > 1:
        lines.append(f"{len(fits)} fits; the loss plot shows them all.")
    elif info.epochs:
        lines.append(f"{len(info.epochs)} epoch(s).")
    if not lines and not plots:
        return None
    return Section("training", "How it trained", [" ".join(lines)] if lines else [], plots=plots)


def _lookup(config: dict[str, Any], key: str) -> Any:
    """``key`` at the top of config.json or one level down (training, hyperparameters, net)."""
    if key in config:
        return config[key]
    for value in config.values():
        if isinstance(value, dict) and key in value:
            return value[key]
    return None


def _leaderboard(info: RunInfo) -> list[dict[str, Any]]:
    from rung.report.run_folder import LEADERBOARD_FILE
    from rung.report.run_info import read_csv_rows

    return read_csv_rows(info.path / LEADERBOARD_FILE)


def _model_accuracy(metrics: dict[str, float | None]) -> float | None:
    if metrics.get("accuracy") is not None:
        return metrics["accuracy"]
    if metrics.get("error_rate") is not None:
        return 1 - metrics["error_rate"]
    return None


def _with_share(n: int, total: int) -> str:
    return f"{page.count(n)} ({n / total:.0%})" if total else page.count(n)
