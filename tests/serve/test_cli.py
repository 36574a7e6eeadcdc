"""``rung serve``: its flags, the one-line errors for bad ones, and a real start on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from rung.cli import build_parser, main
from rung.serve.cli import limits_from_args


def test_the_flags_become_the_servers_limits():
    args = build_parser().parse_args(
        ["serve", "m.rung", "--max-batch", "8", "--max-wait-ms", "0", "--max-body-mb", "2",
         "--max-pixels", "1e6", "--max-in-flight", "4", "--max-items", "3"]
    )  # fmt: skip
    limits = limits_from_args(args)
    assert (limits.max_batch, limits.max_wait_ms, limits.max_body_bytes) == (8, 0.0, 2 * 2**20)
    assert (limits.max_pixels, limits.max_in_flight, limits.max_items) == (10**6, 4, 3)
    assert (args.host, args.port) == ("127.0.0.1", 7860)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--port", "70000"], "--port must be 1-65535, got 70000"),
        (["--max-batch", "0"], "--max-batch: Limits.max_batch must be >= 1, got 0"),
        (["--max-body-mb", "-1"], "--max-body-mb must be in (0, 2048], got -1.0"),
    ],
)
def test_bad_flags_are_one_line_errors(image_model, capsys, flags, message):
    assert main(["serve", str(image_model), *flags]) == 1
    assert message in capsys.readouterr().err


def test_a_port_in_use_is_refused_with_the_fix(image_model, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(image_model), "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is in use; pass another, e.g. --port {port + 1}" in err


def test_a_model_file_rung_cant_serve_is_refused(tmp_path, capsys):
    from rung.modelfile import save_model_file
    from rung.models.registry import build_model

    path = save_model_file(tmp_path / "m.rung", build_model("mlp", n_in=2, n_out=1),
                           {"kind": "tensor", "task": "regression"})  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["serve", str(path), "--port", str(port)]) == 1
    assert "rung serve serves ['image', 'tabular', 'text'] models; this one is 'tensor'" in (
        capsys.readouterr().err
    )


@pytest.mark.slow
def test_rung_serve_answers_on_its_port(titanic_model, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rung = os.path.join(os.path.dirname(sys.executable), "rung")
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen([rung, "serve", str(titanic_model), "--port", str(port)],
                              stdout=log, stderr=log, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                assert httpx.get(url + "/api/health", timeout=2).json()["kind"] == "tabular"
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "rung serve didn't start in 120 s"
                time.sleep(0.5)
        row = {"Pclass": 1, "Sex": "female", "Age": 30, "Fare": 80.0, "Embarked": "C",
               "Name": "Smith, Mrs. Jane"}  # fmt: skip
        answer = httpx.post(url + "/api/predict", json={"row": row})
        assert answer.status_code == 200, answer.text
        assert answer.json()["prediction"]["label"] == 1
    finally:
        server.terminate()
        server.wait(20)
        log.close()
    assert f"at http://127.0.0.1:{port}/" in (tmp_path / "serve.log").read_text()
