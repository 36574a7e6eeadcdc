"""``rung deploy space``: the folder it writes, what it refuses, and that ``python app.py`` in
it serves the model on the port the environment gives."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from rung.cli import main
from rung.serve.deploy import write_space


def test_the_space_folder_holds_what_a_space_needs(image_model, cats_dogs_dir, tmp_path):
    out = tmp_path / "space"
    result = write_space(image_model, out, static=True, title="Cats or dogs",
                         examples=cats_dogs_dir / "val" / "cats")  # fmt: skip
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names[:6] == [".gitattributes", "README.md", "app.py", "examples/00-cat.4001.jpg",
                         "examples/01-cat.4002.jpg", "examples/02-cat.4003.jpg"]  # fmt: skip
    assert {"index.html", "model.rung", "requirements.txt"} <= set(names)
    assert len([n for n in names if n.startswith("examples/")]) == 24  # MAX_EXAMPLES of 100
    assert (out / "model.rung").read_bytes() == image_model.read_bytes()
    readme = (out / "README.md").read_text()
    header = readme.split("---\n")[1]
    assert 'title: "Cats or dogs"\n' in header and "sdk: gradio\n" in header
    assert "app_file: app.py\n" in header and "sdk_version: 6." in header
    assert (out / "requirements.txt").read_text().startswith("rung[serve]==")
    assert "*.rung filter=lfs" in (out / ".gitattributes").read_text()
    compile((out / "app.py").read_text(), "app.py", "exec")
    assert "/api/predict" in (out / "index.html").read_text()
    assert result["files"][:5] == ["app.py", "requirements.txt", "README.md", ".gitattributes",
                                   "index.html"]  # fmt: skip


def test_a_folder_with_files_is_only_written_with_force(image_model, tmp_path):
    out = tmp_path / "space"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    with pytest.raises(FileExistsError, match="pass --force"):
        write_space(image_model, out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.md"]
    write_space(image_model, out, force=True, requirement="rung[serve] @ git+https://x/rung")
    assert (out / "notes.md").read_text() == "mine"
    assert (out / "requirements.txt").read_text() == "rung[serve] @ git+https://x/rung\n"
    write_space(out / "model.rung", out, force=True)  # the model already in place: kept
    assert (out / "model.rung").read_bytes() == image_model.read_bytes()


def test_only_model_files_rung_serves_are_deployed(tmp_path):
    not_a_model = tmp_path / "model.rung"
    not_a_model.write_bytes(b"\x80\x04pickle")
    with pytest.raises(ValueError, match="not a zip archive"):
        write_space(not_a_model, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_rung_deploy_space_from_the_command_line(image_model, tmp_path, capsys):
    out = tmp_path / "space"
    assert main(["deploy", "space", str(image_model), "--out", str(out), "--json"]) == 0
    assert '"files": ["app.py"' in capsys.readouterr().out
    assert main(["deploy", "space", str(image_model), "--out", str(out)]) == 1
    assert "is not empty; pass --force" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_space_folder_runs_with_python_app_py(image_model, photos, tmp_path):
    out = tmp_path / "space"
    write_space(image_model, out, static=True, title='Pets "quoted"')
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "OMP_NUM_THREADS": "1"}
    env.pop("SPACE_ID", None)
    log = open(tmp_path / "app.log", "w")
    app = subprocess.Popen([sys.executable, "app.py"], cwd=out, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert app.poll() is None, (tmp_path / "app.log").read_text()
            try:
                health = httpx.get(url + "/api/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "app.py didn't start in 120 s"
                time.sleep(0.5)
        assert health.json()["model"] == 'Pets "quoted"'
        with open(photos["dogs"][0], "rb") as f:
            answer = httpx.post(url + "/api/predict", files={"image": f}, timeout=30)
        assert answer.status_code == 200 and answer.json()["prediction"]["label"] in (
            "cats",
            "dogs",
        )
        page = httpx.get(url + "/index.html")
        assert page.status_code == 200 and "/api/predict" in page.text
        assert httpx.get(url + "/").status_code == 200  # the gradio page
    finally:
        app.terminate()
        app.wait(20)
        log.close()
