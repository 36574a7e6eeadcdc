"""``rung doctor`` for a CSV of texts: what in the data will cost accuracy or mislead, before any
training.

:func:`diagnose_texts` reads the table, joins the text columns into one input per row and splits
it exactly as ``rung train text`` does (:class:`~rung.text.fields.TextFields`,
:func:`~rung.text.data.parse_split`), then runs each check below: the same input on both sides
of the split (leakage), validation rows that share a repeated phrase with training rows,
inputs longer than the max_len the app would choose or the model takes, empty texts, missing
targets, identical inputs with different labels, a single class, class imbalance.

>>> import pandas as pd
>>> df = pd.DataFrame({"review": [f"film number {i} was fine" for i in range(40)],
...                    "label": ["good", "bad"] * 20})
>>> df.loc[39, "review"] = df.loc[0, "review"]  # the same text again, with the other label
>>> diagnosis = diagnose_texts(df, "review", "label", tokenizer=None)
>>> sorted({f.check for f in diagnosis.findings})
['texts.label_noise', 'texts.leakage']
>>> diagnosis.by_check("texts.label_noise")[0].evidence["examples"][0]["labels"]
['bad', 'good']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from rung.report.doctor import ERROR, INFO, WARNING, Diagnosis, Finding, diagnose, named
from rung.text.scan import TextScan, no_label, scan_texts
from rung.utils import plain_value

__all__ = ["diagnose_texts", "TEXT_CHECKS", "IMBALANCE_RATIO"]

IMBALANCE_RATIO = 3.0  # the largest class over the smallest
SHARED_SHARE = 0.5  # a repeated column whose values half the validation rows share with training
NAMED = 10  # rows named in a message; evidence lists up to EVIDENCE
EVIDENCE = 100


def diagnose_texts(
    csv_or_frame: str | os.PathLike | pd.DataFrame,
    text_cols: str | Sequence[str],
    target: str | None = None,
    *,
    split: str = "random",
    valid_pct: float = 0.25,
    seed: int | None = 42,
    task: str | None = None,
    tokenizer: Any = "auto",
    max_len: int | None = None,
    model_max_len: int | None = None,
    encoding: str | None = None,
) -> Diagnosis:
    """Check a CSV (or DataFrame) of texts the way ``rung train text`` would use it.

    ``text_cols`` as ``--text`` takes them (``"TEXT1=context,TEXT2=target,ANC1=anchor"``);
    ``target`` the label or score column (None: only the text checks run); ``split``,
    ``valid_pct``, ``seed`` and ``task`` as training takes them. ``tokenizer``: a
    :class:`~rung.text.tokenizer.TextTokenizer`, ``"auto"`` (the default model's, from the
    offline package) or None (no length check). ``max_len``: the tokens per input training will
    be given (default: what it would choose); ``model_max_len``: the model's limit (default the
    tokenizer's).
    """
    subject = "the DataFrame" if isinstance(csv_or_frame, pd.DataFrame) else str(csv_or_frame)
    scan = scan_texts(
        csv_or_frame, text_cols, target, split=split, valid_pct=valid_pct, seed=seed,
        task=task, tokenizer=tokenizer, max_len=max_len, model_max_len=model_max_len,
        encoding=encoding,
    )  # fmt: skip
    facts: dict[str, Any] = {
        "rows": len(scan.raw), "kept": len(scan.frame), "train": len(scan.split.train),
        "valid": len(scan.split.valid), "split": scan.split_description,
        "input": scan.fields.template,
    }  # fmt: skip
    if scan.task:
        facts["task"] = scan.task
    if scan.max_len is not None:
        facts["max_len"] = f"{scan.max_len} ({scan.max_len_reason})"
    elif scan.max_len_reason:  # why the lengths weren't measured
        facts["max_len"] = scan.max_len_reason
    return diagnose(subject, "texts", TEXT_CHECKS, scan, facts=facts)


# --- the checks: each takes the scan and returns its findings ----------------------------------
@named("texts.leakage")
def leakage(scan: TextScan) -> list[Finding]:
    """Validation inputs that are also training inputs, word for word."""
    texts = np.asarray(scan.texts, dtype=object)
    seen = set(texts[scan.split.train])
    leaked = [i for i in scan.split.valid if texts[i] in seen]
    if not leaked:
        return []
    rows = scan.frame.index.to_numpy()[sorted(leaked)]
    names = scan.row_names(rows)
    column = _repeated_column(scan)
    group = f" (--split group:{column}, so that no {column} is on both sides)" if column else ""
    return [
        Finding(
            "texts.leakage", ERROR,
            f"{len(leaked)} validation input(s) ({len(leaked) / len(scan.split.valid):.1%}) are "
            f"also training inputs, word for word, so validation scores what the model has "
            f"memorised: {', '.join(names[:NAMED])}{_more(names)}",
            f"drop the repeats, or split by group{group}, then train again",
            evidence={"count": len(leaked), "rows": names[:EVIDENCE],
                      "examples": [scan.texts[i] for i in sorted(leaked)[:NAMED]]},
        )
    ]  # fmt: skip


@named("texts.shared_groups")
def shared_groups(scan: TextScan) -> list[Finding]:
    """A repeated text column (a phrase many rows share) that the split doesn't keep whole."""
    column = _repeated_column(scan)
    if column is None or scan.split_spec.startswith("group:"):
        return []
    values = scan.frame[column].astype(str).to_numpy()
    in_train = set(values[scan.split.train])
    share = float(np.mean([v in in_train for v in values[scan.split.valid]]))
    if share < SHARED_SHARE:
        return []
    return [
        Finding(
            "texts.shared_groups", INFO,
            f"{share:.0%} of the validation rows share their {column!r} "
            f"({scan.frame[column].nunique()} values over {len(scan.frame)} rows) with training "
            f"rows, so validation measures the model on {column} values it has seen",
            f"if the model will meet new {column} values, split by group: --split "
            f"group:{column} (split='group:{column}')",
            evidence={"column": column, "share": round(share, 4)},
        )
    ]  # fmt: skip


@named("texts.lengths")
def lengths(scan: TextScan) -> list[Finding]:
    """Inputs longer than the max_len the app would choose, or than the model takes."""
    if scan.lengths is None:
        return []
    findings = []
    over_limit = np.flatnonzero(scan.lengths > scan.limit) if scan.limit else np.array([], int)
    if len(over_limit):
        names = scan.row_names(scan.frame.index.to_numpy()[over_limit])
        findings.append(
            Finding(
                "texts.lengths", WARNING,
                f"{len(over_limit)} input(s) are longer than the model takes ({scan.limit} "
                f"tokens; the longest has {int(scan.lengths.max())}), so their ends are cut "
                f"whatever max_len is: {', '.join(names[:NAMED])}{_more(names)}",
                "shorten them (keep the part that decides the label), split each into pieces, "
                "or choose a model with a longer limit",
                evidence={"count": len(over_limit), "limit": scan.limit, "rows": names[:EVIDENCE]},
            )
        )  # fmt: skip
    cut = int((scan.lengths > scan.max_len).sum()) - len(over_limit)
    if cut > 0:
        findings.append(
            Finding(
                "texts.lengths", INFO,
                f"{cut} input(s) ({cut / len(scan.lengths):.1%}) are longer than the max_len "
                f"training uses, {scan.max_len} tokens ({scan.max_len_reason}), and are "
                "cut to it",
                "fine when the start of an input decides its label; else pass a larger "
                f"--max-len (at most {scan.limit}), which costs time per batch",
                evidence={"count": cut, "max_len": scan.max_len,
                          "percentiles": {str(q): float(np.percentile(scan.lengths, q))
                                          for q in (50, 90, 99, 100)}},
            )
        )  # fmt: skip
    return findings


@named("texts.empty")
def empty(scan: TextScan) -> list[Finding]:
    """Rows with no text at all (training drops them), and empty fields of one column."""
    findings = []
    blank = scan.fields.empty_rows(scan.raw).to_numpy()
    if blank.any():
        names = scan.row_names(np.flatnonzero(blank))
        findings.append(
            Finding(
                "texts.empty", WARNING,
                f"{int(blank.sum())} row(s) have no text in {list(scan.fields.columns)}, so "
                f"training drops them: {', '.join(names[:NAMED])}{_more(names)}",
                "fill in the texts, or drop the rows yourself so the counts you report match",
                evidence={"count": int(blank.sum()), "rows": names[:EVIDENCE]},
            )
        )  # fmt: skip
    if len(scan.fields.columns) > 1:
        partly = {
            c: int(n)
            for c in scan.fields.columns
            if (n := (no_label(scan.raw[c]).to_numpy() & ~blank).sum())
        }
        if partly:
            findings.append(
                Finding(
                    "texts.empty", INFO,
                    "some inputs have an empty field ("
                    + ", ".join(f"{c!r} in {n} rows" for c, n in partly.items())
                    + "), which the input shows as an empty marker",
                    "fine if a missing value means something; else fill them in",
                    evidence={"by_column": partly},
                )
            )  # fmt: skip
    return findings


@named("texts.missing_target")
def missing_target(scan: TextScan) -> list[Finding]:
    """Rows with text but no label or score (training drops them)."""
    if scan.target is None:
        return []
    missing = (no_label(scan.raw[scan.target]) & ~scan.fields.empty_rows(scan.raw)).to_numpy()
    if not missing.any():
        return []
    names = scan.row_names(np.flatnonzero(missing))
    return [
        Finding(
            "texts.missing_target", WARNING,
            f"{int(missing.sum())} row(s) have text but no {scan.target!r}, so training drops "
            f"them: {', '.join(names[:NAMED])}{_more(names)}",
            "label them (they may be the hard cases someone skipped), or keep them apart to "
            "predict later with rung predict",
            evidence={"count": int(missing.sum()), "rows": names[:EVIDENCE]},
        )
    ]  # fmt: skip


@named("texts.label_noise")
def label_noise(scan: TextScan) -> list[Finding]:
    """Identical inputs with different labels or scores: the model can't fit both."""
    if scan.target is None or not len(scan.frame):
        return []
    table = pd.DataFrame({"text": scan.texts, "y": scan.frame[scan.target].to_numpy()})
    counts = table.groupby("text", sort=False)["y"].nunique()
    noisy = counts[counts > 1].index
    if not len(noisy):
        return []
    groups = table[table["text"].isin(noisy)].groupby("text", sort=False)["y"]
    examples = [
        {"input": text, "labels": sorted(str(plain_value(v)) for v in ys.unique())}
        for text, ys in list(groups)[:NAMED]
    ]
    shown = "; ".join(f"{e['input'][:60]!r}: {', '.join(e['labels'])}" for e in examples[:3])
    what = "scores" if scan.task == "regression" else "labels"
    return [
        Finding(
            "texts.label_noise", WARNING,
            f"{len(noisy)} input(s) appear with different {what} ({int(groups.size().sum())} "
            f"rows): {shown}{'...' if len(noisy) > 3 else ''}",
            f"check them: if both {what} are right, the input misses what tells them apart "
            "(add that column to --text); if not, fix or drop the wrong ones",
            evidence={"count": len(noisy), "examples": examples},
        )
    ]  # fmt: skip


@named("texts.classes")
def classes(scan: TextScan) -> list[Finding]:
    """A target with a single value, and (for classes) imbalance."""
    if scan.target is None or not len(scan.frame):
        return []
    counts = scan.frame[scan.target].map(plain_value).value_counts()
    if len(counts) < 2:
        return [
            Finding(
                "texts.classes", ERROR,
                f"{scan.target!r} has a single value, {counts.index[0]!r}, in all "
                f"{int(counts.iloc[0])} labelled rows: there is nothing to learn",
                "check the target column, or add rows of the other classes",
                evidence={"values": {str(counts.index[0]): int(counts.iloc[0])}},
            )
        ]  # fmt: skip
    if scan.task != "classification":
        return []
    ratio = float(counts.iloc[0] / counts.iloc[-1])
    if ratio < IMBALANCE_RATIO:
        return []
    return [
        Finding(
            "texts.classes", WARNING,
            f"the classes are imbalanced: {counts.index[0]!r} has {int(counts.iloc[0])} rows, "
            f"{counts.index[-1]!r} {int(counts.iloc[-1])} ({ratio:.1f}x)",
            "judge the model by each class's recall or F1 (rung interpret), not accuracy alone, "
            "which the big class dominates; collect more of the small classes if you can",
            evidence={"counts": {str(k): int(v) for k, v in counts.items()},
                      "ratio": round(ratio, 2)},
        )
    ]  # fmt: skip


TEXT_CHECKS = (leakage, shared_groups, lengths, empty, missing_target, label_noise, classes)


# --- helpers ---------------------------------------------------------------------------------
def _repeated_column(scan: TextScan) -> str | None:
    """The text column to group by: of the columns whose values repeat (fewer distinct values
    than half the rows, more than one), the one with the most values, i.e. the finest grouping
    (patents: anchor, 733 values, rather than context, 106)."""
    n = len(scan.frame)
    repeated = {c: k for c in scan.fields.columns if 1 < (k := scan.frame[c].nunique()) <= n / 2}
    return max(repeated, key=repeated.get) if repeated else None


def _more(items: Sequence[Any]) -> str:
    return f" and {len(items) - NAMED} more" if len(items) > NAMED else ""
