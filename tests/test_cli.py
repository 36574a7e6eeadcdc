"""The rung command: --json results, one-line errors, exit codes."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from rung.cli import main
from rung.modelfile import save_model_file
from rung.models.registry import build_model

ROOT = Path(__file__).resolve().parents[1]


def rung(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed command line in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "rung.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=300,
    )


@pytest.fixture
def classifier_file(tmp_path) -> Path:
    torch.manual_seed(0)
    model = build_model("mlp", n_in=2, n_out=2, layers=[8])
    config = {"kind": "tensor", "task": "classification", "classes": ["left", "right"]}
    return save_model_file(tmp_path / "toy.rung", model, config)


def test_help_lists_the_commands():
    out = rung("--help")
    assert out.returncode == 0
    for verb in ("demo", "train", "predict", "search", "info", "scratch"):
        assert verb in out.stdout


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: rung" in capsys.readouterr().out


def test_predict_csv_json_and_out_file(classifier_file, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("x1,x2\n0.5,-1\n2,3\n-1,0\n")
    out_csv = tmp_path / "preds.csv"
    out = rung("predict", str(classifier_file), str(rows), "--out", str(out_csv), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["rows"] == 3 and result["out"] == str(out_csv)
    lines = out_csv.read_text().splitlines()
    assert lines[0] == "prediction,prob_left,prob_right" and len(lines) == 4
    # the same labels as predicting in this process
    import rung as rung_pkg

    expected = rung_pkg.load(classifier_file).predict([[0.5, -1], [2, 3], [-1, 0]]).labels
    assert [ln.split(",")[0] for ln in lines[1:]] == expected == result["predictions"]


def test_errors_are_one_line_without_traceback(tmp_path, classifier_file):
    bad = tmp_path / "bad.rung"
    bad.write_bytes(b"this is not a model file")
    out = rung("info", str(bad))
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("rung info: error: ") and "bad.rung" in out.stderr
    missing = rung("predict", str(classifier_file), str(tmp_path / "nope.jpg"))
    assert missing.returncode == 1 and "nope.jpg does not exist" in missing.stderr
    debug = rung("info", str(bad), "--debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_info_json_shows_the_config(classifier_file):
    out = rung("info", str(classifier_file), "--json")
    config = json.loads(out.stdout)
    assert config["task"] == "classification" and config["classes"] == ["left", "right"]
    assert config["format_version"] == 1 and config["model"]["name"] == "mlp"


@pytest.fixture
def image_server(cats_dogs_dir, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    for i, src in enumerate(sorted((cats_dogs_dir / "train" / "cats").glob("*.jpg"))[:3]):
        shutil.copy(src, root / f"cat{i}.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_search_from_a_url_list_json(image_server, tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text(
        "".join(
            f"cat\t{image_server}/{n}\n" for n in ["cat0.jpg", "cat1.jpg", "cat2.jpg", "broken.jpg"]
        )
    )
    dest = tmp_path / "data"
    out = rung("search", "--urls", str(urls), "--dest", str(dest), "--pause", "0", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert len(list((dest / "cat").glob("*.jpg"))) == 3
    assert json.dumps(summary).count("broken.jpg") >= 1


def test_search_without_network_is_one_clear_line(tmp_path):
    # a search backend through a proxy that refuses connections: fails at once, writes nothing
    out = rung(
        "search",
        "bird",
        "--dest",
        str(tmp_path / "d"),
        "--search-timeout",
        "1",
        "--backend",
        "bing",
    )
    if out.returncode == 0:
        pytest.skip("this machine reached the real search engine")
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]  # progress bars may come first, on stderr too
    assert (
        last.startswith("rung search: error: ")
        and "search" in last
        and "Traceback" not in out.stderr
    )
    assert not (tmp_path / "d").exists()


def test_predict_never_overwrites_the_input_or_an_existing_file(classifier_file, tmp_path):
    rows = tmp_path / "t.csv"
    rows.write_text("x1,x2\n0.5,-1\n2,3\n")
    same = rung("predict", str(classifier_file), str(rows), "--out", str(rows))
    assert same.returncode == 1 and "is the input file" in same.stderr
    assert rows.read_text() == "x1,x2\n0.5,-1\n2,3\n"  # the user's data is untouched
    forced = rung("predict", str(classifier_file), str(rows), "--out", str(rows), "--force")
    assert forced.returncode == 1 and rows.read_text() == "x1,x2\n0.5,-1\n2,3\n"

    mine = tmp_path / "mine.csv"
    mine.write_text("my own work")
    refused = rung("predict", str(classifier_file), str(rows), "--out", str(mine))
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert mine.read_text() == "my own work"
    replaced = rung("predict", str(classifier_file), str(rows), "--out", str(mine), "--force")
    assert replaced.returncode == 0 and mine.read_text().startswith("prediction,")


def test_predict_without_out_writes_a_new_name_beside_an_existing_one(classifier_file, tmp_path):
    rows = tmp_path / "t.csv"
    rows.write_text("x1,x2\n0.5,-1\n")
    (tmp_path / "t_predictions.csv").write_text("yesterday's predictions")
    out = rung("predict", str(classifier_file), str(rows), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "t_predictions.csv").read_text() == "yesterday's predictions"
    assert (tmp_path / "t_predictions-2.csv").read_text().startswith("prediction,")
    assert "t_predictions-2.csv" in out.stdout and "exists" in out.stdout


def test_a_warning_is_one_line_and_the_run_still_succeeds(tmp_path, titanic_dir):
    """A damaged runs index makes record_run warn; the command says so in one line, exit 0."""
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "index.sqlite").write_bytes(b"not a database at all" * 100)
    out = rung(
        "train", "table", str(titanic_dir / "train.csv"), "--target", "Survived",
        "--models", "linear", "--out", str(runs), "--json", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if "index" in line]
    assert warnings and all(line.startswith("rung: warning: ") for line in warnings)
    # Python's own display adds the file:line and a source line ("  record_run(run_dir)")
    assert not [line for line in out.stderr.splitlines() if line.startswith(" ")]


def test_predict_a_latin1_csv_with_a_table_model(shared_data, tmp_path):
    """A table model trained on UTF-8 Titanic and a test CSV saved as latin-1: the error names
    --encoding; with --encoding latin-1 the same rows are predicted."""
    import pandas as pd

    import rung as rung_pkg
    from rung.tabular.train import train_table

    train = pd.read_csv(shared_data / "titanic" / "train.csv")
    run = train_table(train, "Survived", models="linear", explain=False, progress=False,
                      out=tmp_path / "runs")  # fmt: skip
    rows = train.drop(columns="Survived").head(5).copy()
    rows.loc[0, "Name"] = "Müller, Mr. Jürgen"
    test = tmp_path / "test_latin.csv"
    test.write_bytes(rows.to_csv(index=False).encode("latin-1"))
    out = tmp_path / "p.csv"
    refused = rung("predict", str(run.model_path), str(test), "--out", str(out))
    assert refused.returncode != 0 and "--encoding latin-1" in refused.stderr
    assert not out.exists()
    done = rung("predict", str(run.model_path), str(test), "--out", str(out), "--encoding",
                "latin-1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = pd.read_csv(out)
    expected = rung_pkg.load(run.model_path).predict(rows)
    assert got["Survived"].tolist() == expected["Survived"].tolist() and len(got) == 5


def test_a_table_budget_that_is_not_a_duration_is_one_line_before_reading(titanic_dir, tmp_path):
    out = rung("train", "table", str(titanic_dir / "train.csv"), "--target", "Survived",
               "--budget", "soon", "--out", str(tmp_path))  # fmt: skip
    assert out.returncode == 1 and out.stderr.count("\n") == 1
    assert "budget 'soon' is not a duration; give e.g. --budget 3m" in out.stderr
    assert not any(tmp_path.iterdir())  # no run folder
