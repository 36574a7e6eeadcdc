"""What ``rung doctor`` says: findings about a data set or a run, each with a severity, the
evidence (numbers, file names, a picture where one helps) and one concrete next step.

A check is a plain function that looks at one thing and returns the findings it has (none when
all is well). Each app writes the checks for its own data (``rung/vision/doctor.py``,
``rung/tabular/doctor.py``, ``rung/text/doctor.py``); the checks of a run folder, which every
app writes the same way, live beside this module (:mod:`rung.report.run_checks`). A
:class:`Diagnosis` gathers what the checks found, which checks ran, and a few facts about the
subject, and shows itself as text, Markdown, JSON or HTML (in a notebook too).

>>> def too_small(rows):
...     if len(rows) >= 100:
...         return []
...     return [Finding("table.too_few_rows", WARNING, f"only {len(rows)} rows",
...                     "collect more rows, or use a simple model (a forest) that needs fewer",
...                     evidence={"rows": len(rows)})]
>>> diagnosis = diagnose("train.csv", "table", [too_small], list(range(40)))
>>> print(diagnosis.format())
train.csv (table): 1 finding from 1 check
  warning  only 40 rows
           next: collect more rows, or use a simple model (a forest) that needs fewer
>>> diagnosis.worst, diagnosis.to_dict()["findings"][0]["evidence"]
('warning', {'rows': 40})
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rung.report import page

__all__ = [
    "ERROR",
    "WARNING",
    "INFO",
    "SEVERITIES",
    "Finding",
    "Diagnosis",
    "diagnose",
    "check_name",
    "named",
]

# How much a finding matters, worst first:
ERROR = "error"  # the results can't be trusted until this is fixed (leakage, unreadable files)
WARNING = "warning"  # likely to cost accuracy or mislead (imbalance, over-fitting, duplicates)
INFO = "info"  # worth knowing, no action needed unless it surprises you
SEVERITIES = (ERROR, WARNING, INFO)

Check = Callable[..., Iterable["Finding"]]


@dataclass(frozen=True)
class Finding:
    """One thing a check found.

    ``check`` names the check (``"images.leakage"``), ``message`` says what is wrong with the
    numbers in it (``"15 validation images are copies of training images"``), ``next_step`` is
    one concrete thing to do about it. ``evidence`` holds the numbers and names behind the
    message (JSON-able: counts, fractions, up to a few dozen file names); ``picture`` is the
    file name of a PNG the check drew, relative to where the diagnosis is written.

    >>> Finding("run.nan_loss", ERROR, "the loss became NaN at epoch 2", "lower the learning rate")
    Finding(check='run.nan_loss', severity='error', message='the loss became NaN at epoch 2', next_step='lower the learning rate', evidence={}, picture=None)
    """

    check: str
    severity: str
    message: str
    next_step: str
    evidence: dict[str, Any] = field(default_factory=dict)
    picture: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"severity {self.severity!r} is not one of {', '.join(SEVERITIES)}; "
                f"use rung.report.doctor.ERROR, WARNING or INFO"
            )
        if not self.message or not self.next_step:
            raise ValueError(f"finding {self.check!r} needs a message and a next step")


@dataclass
class Diagnosis:
    """What the checks found about one subject (a data folder, a CSV file or a run folder).

    ``checks`` lists every check that ran, so silence is visible as "checked, nothing found";
    ``facts`` holds a few numbers about the subject (rows, classes, images) for the report.
    """

    subject: str
    kind: str
    checks: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def worst(self) -> str | None:
        """The worst severity found (``"error"``, ``"warning"``, ``"info"``), or None."""
        found = {f.severity for f in self.findings}
        return next((s for s in SEVERITIES if s in found), None)

    def by_check(self, check: str) -> list[Finding]:
        """The findings of one check (by its name)."""
        return [f for f in self.findings if f.check == check]

    def sorted_findings(self) -> list[Finding]:
        """Findings worst first, in the order the checks ran within a severity."""
        return sorted(self.findings, key=lambda f: SEVERITIES.index(f.severity))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (what ``rung doctor --json`` prints)."""
        return {
            "subject": self.subject,
            "kind": self.kind,
            "worst": self.worst,
            "checks": list(self.checks),
            "facts": dict(self.facts),
            "findings": [asdict(f) for f in self.sorted_findings()],
        }

    def format(self) -> str:
        """Plain text for the terminal: one line per finding, its next step below it."""
        n, k = len(self.findings), len(self.checks)
        head = f"{self.subject} ({self.kind}): "
        if not n:
            head += f"nothing found by {k} check{'s' * (k != 1)}"
        else:
            head += f"{n} finding{'s' * (n != 1)} from {k} check{'s' * (k != 1)}"
        lines = [head]
        for f in self.sorted_findings():
            lines.append(f"  {f.severity:<7}  {f.message}")
            lines.append(f"           next: {f.next_step}")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """The diagnosis as a Markdown section (for ``doctor.md`` and run writeups)."""
        lines = [f"## Doctor: {page.md_escape(self.subject)}", ""]
        if self.facts:
            lines += [page.md_table(["fact", "value"], _fact_rows(self.facts)), ""]
        if not self.findings:
            lines.append(f"Nothing found by the {len(self.checks)} checks that ran.")
        for f in self.sorted_findings():
            lines.append(f"- **{f.severity}** {page.md_escape(f.message)}  ")
            lines.append(f"  next: {page.md_escape(f.next_step)}")
            if f.picture:
                lines.append(f"  ![{page.md_escape(f.check)}]({f.picture})")
        lines += ["", "Checks run: " + ", ".join(self.checks), ""]
        return "\n".join(lines)

    def to_html(self) -> str:
        """The diagnosis as an HTML section (escaped; pictures linked by file name)."""
        e = html.escape
        out = [f"<section><h2>Doctor: {e(self.subject)}</h2>"]
        if self.facts:
            out.append(page.html_pairs([(str(k), page.value(v)) for k, v in self.facts.items()]))
        if not self.findings:
            out.append(f"<p>Nothing found by the {len(self.checks)} checks that ran.</p>")
        else:
            out.append('<ul class="findings">')
            for f in self.sorted_findings():
                out.append(
                    f'<li class="{e(f.severity)}"><b>{e(f.severity)}</b> {e(f.message)}'
                    f'<br><span class="next">next: {e(f.next_step)}</span>'
                    + (f'<br><img src="{e(f.picture)}" alt="{e(f.check)}">' if f.picture else "")
                    + "</li>"
                )
            out.append("</ul>")
        out.append(f'<p class="hint">Checks run: {e(", ".join(self.checks))}</p></section>')
        return "\n".join(out)

    def _repr_html_(self) -> str:  # Jupyter shows this
        return self.to_html()

    def write(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write ``doctor.md`` and ``doctor.json`` into ``out_dir`` (made if missing)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        md, js = out / "doctor.md", out / "doctor.json"
        md.write_text(self.to_markdown(), encoding="utf-8")
        js.write_text(json.dumps(self.to_dict(), indent=2, default=str), encoding="utf-8")
        return {"md": md, "json": js}


def check_name(check: Check) -> str:
    """The name a check is listed under: its ``name`` attribute, else the function's name.

    >>> def leakage(x): return []
    >>> check_name(leakage)
    'leakage'
    """
    return getattr(check, "name", None) or getattr(check, "__name__", type(check).__name__)


def named(name: str) -> Callable[[Check], Check]:
    """A decorator that gives a check the name a diagnosis lists it under (``check_name``):
    the same name its findings carry, e.g. ``"images.leakage"``.

    >>> @named("table.constant")
    ... def constant_columns(df):
    ...     return []
    >>> check_name(constant_columns), constant_columns.__name__
    ('table.constant', 'constant_columns')
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a check's name must be a non-empty string, got {name!r}")

    def give_name(check: Check) -> Check:
        check.name = name  # type: ignore[attr-defined]
        return check

    return give_name


def diagnose(
    subject: str | os.PathLike,
    kind: str,
    checks: Sequence[Check],
    *args: Any,
    facts: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Diagnosis:
    """Run each check on ``*args, **kwargs`` and gather what they find into a Diagnosis.

    A check that raises is a bug in the check, not a finding: the error propagates.
    """
    diagnosis = Diagnosis(str(subject), kind, facts=dict(facts or {}))
    for check in checks:
        diagnosis.checks.append(check_name(check))
        for finding in check(*args, **kwargs) or ():
            if not isinstance(finding, Finding):
                raise TypeError(f"check {check_name(check)} returned {finding!r}, not a Finding")
            diagnosis.findings.append(finding)
    return diagnosis


def _fact_rows(facts: dict[str, Any]) -> list[list[str]]:
    return [[str(k), page.value(v)] for k, v in facts.items()]
