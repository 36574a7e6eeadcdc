"""``rung explore --quiz``: for each column, its structure, then "which plot fits?", then rung's
choice and why: the practice of reading a column before plotting it.

Answers are read line by line from ``answers`` (a number or a kind's name). When there is
nothing to read (stdin closed, ``< /dev/null``, or the answers run out) it stops asking and
only reveals, so it never hangs a script waiting for a person.

>>> import io, tempfile, pandas as pd
>>> from rung.report.explore import explore
>>> ex = explore(pd.DataFrame({"kind": ["a", "b", "a", "a"]}), out=tempfile.mkdtemp())
>>> out = io.StringIO()
>>> quiz(ex, io.StringIO("count\\n"), out).right
1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, TextIO

from rung.report.explore_plots import KINDS

if TYPE_CHECKING:
    from rung.report.explore import Exploration

__all__ = ["QuizScore", "quiz", "parse_answer"]

_CHOICES = list(KINDS)


class QuizScore(NamedTuple):
    """How the quiz went: ``right`` of ``asked`` answers matched rung's choice, out of
    ``columns`` columns shown (the rest were revealed without asking)."""

    right: int
    asked: int
    columns: int


def parse_answer(text: str) -> str | None:
    """A kind from an answer: its number (1-5), its name or the start of one; None when
    it names none.

    >>> parse_answer("2"), parse_answer(" Count "), parse_answer("box"), parse_answer("pie")
    ('log_hist', 'count', 'boxen', None)
    """
    t = text.strip().lower().replace(" ", "_").replace("-", "_")
    if t.isdigit() and 1 <= int(t) <= len(_CHOICES):
        return _CHOICES[int(t) - 1]
    starts = [k for k in _CHOICES if k.startswith(t)] if t else []
    return t if t in _CHOICES else (starts[0] if len(starts) == 1 else None)


def quiz(ex: Exploration, answers: TextIO | None, out: TextIO) -> QuizScore:
    """Quiz a learner on ``ex``'s columns: show each one's structure, ask which plot fits
    (reading ``answers``; None or an exhausted stream: just reveal), then show rung's choice,
    the reason and the code. Returns the score."""
    menu = "  ".join(f"{i}) {k}" for i, k in enumerate(_CHOICES, 1))
    print(f"Which plot fits each column? Answer with a number or a name: {menu}", file=out)
    if ex.target:
        print(f"(the target is {ex.target}: other columns can be plotted against it)", file=out)
    asking = answers is not None
    right = asked = 0
    skipped = dict(ex.skipped)
    for column, facts in ex.facts.items():
        print(f"\n{facts.describe()}", file=out)
        plot = ex.plot_for(column)
        kind = plot.kind if plot else "skip"
        reason = plot.reason if plot else skipped.get(column, "")
        if asking:
            print("your pick? ", end="", file=out, flush=True)
            picked, asking = _ask(answers)
            if picked is not None or asking:
                asked += 1
                right += picked == kind
                verdict = "same as rung" if picked == kind else f"you said {picked or '?'}"
                print(f"-> {verdict}", file=out)
            else:
                print("(no more answers: revealing the rest)", file=out)
        print(f"rung: {kind} ({KINDS[kind]}): {reason}", file=out)
        if plot:
            print(f"    {plot.code}", file=out)
    if asked:
        print(f"\nYou picked rung's plot for {right} of {asked} columns.", file=out)
    return QuizScore(right, asked, len(ex.facts))


def _ask(answers: TextIO) -> tuple[str | None, bool]:
    """(the kind answered or None, whether to keep asking); an empty stream stops it."""
    try:
        line = answers.readline()
    except (OSError, ValueError):  # closed, or not readable
        return None, False
    if not line:
        return None, False
    return parse_answer(line), True
