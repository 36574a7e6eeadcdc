"""What a web-search download run did: per URL, per label, and in all (a table and JSON).

>>> s = LabelSummary("bird", Path("data/bird"), ["bird photo"], found=3)
>>> s.add(DownloadResult("bird", "https://e.com/1.jpg", "kept"))
>>> s.add(DownloadResult("bird", "https://e.com/2.jpg", "failed", reason="HTTP 404 Not Found"))
>>> s.kept, s.failed
(1, [('https://e.com/2.jpg', 'HTTP 404 Not Found')])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DownloadResult", "LabelSummary", "SearchSummary", "STATUSES"]

STATUSES = ("kept", "existing", "duplicate", "not_image", "failed")


@dataclass
class DownloadResult:
    """What happened to one URL; a ``progress`` callable receives one per URL.

    ``status`` is one of "kept", "existing" (already downloaded, not fetched again),
    "duplicate" (same bytes as an image already kept), "not_image" or "failed".

    >>> DownloadResult("bird", "https://e.com/1.jpg", "failed", reason="HTTP 404 Not Found")
    DownloadResult(label='bird', url='https://e.com/1.jpg', status='failed', path=None, reason='HTTP 404 Not Found')
    """

    label: str
    url: str
    status: str
    path: Path | None = None
    reason: str = ""


@dataclass
class LabelSummary:
    """The outcome for one label: counts, and each problem URL with its reason.

    >>> s = LabelSummary("bird", Path("data/bird"), ["bird photo"], found=2, kept=1)
    >>> s.images
    1
    """

    label: str
    folder: Path
    queries: list[str]
    found: int = 0  # distinct URLs the queries returned
    kept: int = 0  # newly saved
    existing: int = 0  # already there from an earlier run (no request made)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (url, same as which file)
    not_images: list[tuple[str, str]] = field(default_factory=list)  # (url, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (url, reason)
    search_errors: list[tuple[str, str]] = field(default_factory=list)  # (query, reason)

    @property
    def images(self) -> int:
        """Images from this search now in the folder (new + already there)."""
        return self.kept + self.existing

    def add(self, result: DownloadResult) -> None:
        if result.status == "kept":
            self.kept += 1
        elif result.status == "existing":
            self.existing += 1
        elif result.status == "duplicate":
            self.duplicates.append((result.url, result.reason))
        elif result.status == "not_image":
            self.not_images.append((result.url, result.reason))
        elif result.status == "failed":
            self.failed.append((result.url, result.reason))

    def to_dict(self) -> dict[str, Any]:
        pairs = ("duplicates", "not_images", "failed")
        return {
            "label": self.label,
            "folder": str(self.folder),
            "queries": list(self.queries),
            "found": self.found,
            "kept": self.kept,
            "existing": self.existing,
            **{name: [{"url": u, "reason": r} for u, r in getattr(self, name)] for name in pairs},
            "search_errors": [{"query": q, "reason": r} for q, r in self.search_errors],
        }


@dataclass
class SearchSummary:
    """The outcome of a `search_images` run; ``str()`` is a readable table, ``to_dict()`` JSON.

    >>> s = SearchSummary(Path("data"), {"bird": LabelSummary("bird", Path("data/bird"), [])})
    >>> print(str(s).splitlines()[1])
    label  found  kept  already there  duplicates  not images  failed
    """

    dest: Path
    labels: dict[str, LabelSummary]
    seconds: float = 0.0

    @property
    def kept(self) -> int:
        return sum(s.kept for s in self.labels.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "dest": str(self.dest),
            "seconds": round(self.seconds, 2),
            "labels": {name: s.to_dict() for name, s in self.labels.items()},
        }

    def __str__(self) -> str:
        header = ["label", "found", "kept", "already there", "duplicates", "not images", "failed"]
        rows = [
            [
                s.label,
                s.found,
                s.kept,
                s.existing,
                len(s.duplicates),
                len(s.not_images),
                len(s.failed),
            ]
            for s in self.labels.values()
        ]
        if len(rows) > 1:
            rows.append(["total", *(sum(r[i] for r in rows) for i in range(1, len(header)))])
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        lines = [f"{len(self.labels)} label(s) into {self.dest} in {self.seconds:.1f} s"]
        for r in [header, *rows]:
            cells = [
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(r, widths))
            ]
            lines.append("  ".join(cells).rstrip())
        lines += self._problems(per_label=3)
        return "\n".join(lines)

    def _problems(self, per_label: int) -> list[str]:
        lines = []
        for s in self.labels.values():
            problems = [("search", q, r) for q, r in s.search_errors]
            problems += [("not image", u, r) for u, r in s.not_images]
            problems += [("failed", u, r) for u, r in s.failed]
            for kind, what, reason in problems[:per_label]:
                lines.append(f"  {s.label}: {kind}: {what}: {reason}")
            if len(problems) > per_label:
                lines.append(
                    f"  {s.label}: ... and {len(problems) - per_label} more (see to_dict())"
                )
        return ["problems:", *lines] if lines else []
