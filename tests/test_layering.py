"""The rungs: a module imports only from its own rung or the rungs below it; `import rung` and
`rung --help` load nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rung"

# lower number = lower rung
RUNGS = {"scratch": 0, "data": 1, "learner": 2, "report": 3, "apps": 4}
LEARNER_RUNG = {
    "learner",
    "callbacks",
    "models",
    "export",
    "interpret",
    "metrics",
    "losses",
    "param_groups",
}
SHARED = {"utils", "__init__"}  # usable from every rung


def rung_of(module: str) -> int | None:
    """'rung.data.images' -> 1; None for modules every rung may use."""
    parts = module.split(".")
    if parts[0] != "rung" or len(parts) == 1:
        return None
    top = parts[1]
    if top in SHARED:
        return None
    if top in ("scratch", "data", "report"):
        return RUNGS[top]
    if top in LEARNER_RUNG:
        return RUNGS["learner"]
    return RUNGS["apps"]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts)


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return [n for n in names if n == "rung" or n.startswith("rung.")]


def test_rung_of_knows_every_rung():
    assert rung_of("rung.scratch.trees") == 0
    assert rung_of("rung.data.images") == 1
    assert rung_of("rung.callbacks.progress") == 2
    assert rung_of("rung.report.writeup") == 3
    assert rung_of("rung.cli") == 4
    assert rung_of("rung.utils") is None


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: module_name(p))
def test_no_module_imports_a_higher_rung(path):
    own = rung_of(module_name(path))
    if own is None:
        return
    higher = [m for m in imports_of(path) if (r := rung_of(m)) is not None and r > own]
    assert not higher, f"{module_name(path)} (rung {own}) imports higher rungs: {higher}"


HEAVY = (
    "torch",
    "torchvision",
    "timm",
    "transformers",
    "gradio",
    "sklearn",
    "matplotlib",
    "pandas",
    "accelerate",
)


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "; import sys; print(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True, cwd=PACKAGE.parent,
    )  # fmt: skip
    return set(out.stdout.split())


def test_import_rung_loads_nothing_heavy():
    loaded = _loaded_after("import rung")
    assert not [m for m in HEAVY if m in loaded]


def test_cli_help_loads_nothing_heavy():
    loaded = _loaded_after(
        "import contextlib, io\nfrom rung.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['--help'])\n    except SystemExit: pass"
    )
    assert not [m for m in HEAVY if m in loaded]
