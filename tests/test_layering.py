"""The rungs, as the folders show them: a module imports (or names, even in a string) only its
own rung or the rungs below it; apps never import each other; an app's predict module loads no
training code; `import rung` and `rung --help` load nothing heavy."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rung"

# Every top-level module or folder of the package, and its rung (lower = more basic). No
# catch-all: a new top-level module fails `test_every_module_has_a_rung` until it is placed.
RUNG_OF_TOP = {
    "scratch": 0,  # from scratch: plain torch/numpy, checked against the libraries
    "data": 1,  # loaders and splitters, nothing about images, tables or text
    "learner": 2,
    "callbacks": 2,
    "losses": 2,
    "metrics": 2,
    "param_groups": 2,
    "models": 2,  # the registry and generic models; apps register their own
    "modelfile": 2,
    "predictor": 2,
    "interpret": 2,
    "report": 3,  # run folders, writeups, the runs index
    "vision": 4,  # the apps
    "tabular": 4,
    "text": 4,
    "serve": 5,  # the faces
    "cli": 5,
    "demo": 5,
}
APPS = {top for top, level in RUNG_OF_TOP.items() if level == 4}
# Usable from every rung: plain helpers that import no rung module (`rung/__init__.py` is the
# lazy top-level API: its map names the modules that define each public name, nothing more).
SHARED = {"__init__", "utils", "commands"}
TRAINING = ("rung.learner", "rung.callbacks", "rung.report", "matplotlib", "sklearn")


def top_of(module: str) -> str | None:
    """'rung.vision.data' -> 'vision'; None for the package itself and outside modules."""
    parts = module.split(".")
    return parts[1] if parts[0] == "rung" and len(parts) > 1 else None


def rung_of(module: str) -> int | None:
    """'rung.vision.data' -> 4; None for shared modules and modules outside rung."""
    top = top_of(module)
    return None if top is None or top in SHARED else RUNG_OF_TOP[top]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" and len(rel.parts) > 2 else rel.parts
    return ".".join(parts)


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)  # and `from rung.x import y` where y is a module
            names += [
                f"{node.module}.{a.name}" for a in node.names if _is_module(node.module, a.name)
            ]
    return [n for n in names if n.startswith("rung.")]


def _is_module(package: str, name: str) -> bool:
    folder = PACKAGE.parent.joinpath(*package.split("."))
    return (folder / f"{name}.py").exists() or (folder / name / "__init__.py").exists()


def strings_naming_rung_modules(path: Path) -> list[str]:
    """Module names like 'rung.vision.predict' in the code's string constants (not docstrings)."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                found += re.findall(r"\brung\.[a-z_]+(?:\.[a-z_]+)*", node.value)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_rung_of_knows_every_rung():
    assert rung_of("rung.scratch.trees") == 0
    assert rung_of("rung.data.splitters") == 1
    assert rung_of("rung.callbacks.progress") == 2
    assert rung_of("rung.report.writeup") == 3
    assert rung_of("rung.vision.data") == 4
    assert rung_of("rung.cli") == 5
    assert rung_of("rung.utils") is None
    with pytest.raises(KeyError):
        rung_of("rung.somewhere_new")


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_every_module_has_a_rung(path):
    top = top_of(module_name(path))
    assert top is None or top in SHARED or top in RUNG_OF_TOP, (
        f"{module_name(path)} is in no rung: add {top!r} to RUNG_OF_TOP in {Path(__file__).name}"
    )


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_imports_or_names_a_higher_rung(path):
    name = module_name(path)
    if top_of(name) in SHARED:
        if name != "rung":  # the lazy top-level map is the one place that names every rung
            assert not imports_of(path), f"{name} is shared by every rung: it imports no rung"
        return
    own = rung_of(name)
    higher = [m for m in imports_of(path) if (r := rung_of(m)) is not None and r > own]
    assert not higher, f"{name} (rung {own}) imports higher rungs: {higher}"
    named = [
        m
        for m in strings_naming_rung_modules(path)
        if top_of(m) in RUNG_OF_TOP and rung_of(m) > own
    ]
    assert not named, (
        f"{name} (rung {own}) names higher rungs in strings: {named}; let them register "
        "themselves (entry points in pyproject.toml) instead"
    )


@pytest.mark.parametrize(
    "path", [p for p in MODULES if top_of(module_name(p)) in APPS], ids=module_name
)
def test_apps_never_import_each_other(path):
    name = module_name(path)
    others = [m for m in imports_of(path) if top_of(m) in APPS and top_of(m) != top_of(name)]
    assert not others, f"{name} imports another app: {others}"


def test_the_layering_checks_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""rung.vision in a docstring is fine."""\nKINDS = {"image": "rung.vision.predict"}\n'
                   "from rung.tabular.data import TabularData\n")  # fmt: skip
    assert imports_of(bad) == ["rung.tabular.data"]
    assert strings_naming_rung_modules(bad) == ["rung.vision.predict"]


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


@pytest.mark.parametrize("app", sorted(a for a in APPS if (PACKAGE / a / "predict.py").exists()))
def test_an_apps_predict_module_loads_no_training_code(app):
    loaded = _loaded_after(f"import rung.{app}.predict")
    assert f"rung.{app}.predict" in loaded
    training = sorted(m for m in loaded if m.startswith(TRAINING) or m == f"rung.{app}.train")
    assert not training, f"rung.{app}.predict loads training code: {training}"


def test_import_rung_loads_nothing_heavy():
    loaded = _loaded_after("import rung")
    assert not [m for m in HEAVY if m in loaded]


def test_cli_help_loads_nothing_heavy():
    loaded = _loaded_after(
        "import contextlib, io\nfrom rung.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['--help'])\n    except SystemExit: pass"
    )
    assert not [m for m in HEAVY if m in loaded]
