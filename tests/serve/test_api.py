"""The JSON API through a real uvicorn server on 127.0.0.1: health, predictions that match
``rung.load(path).predict`` on real photos and Titanic rows, every bad input answered with a
4xx that names the problem (and the server still answering afterwards), and batching counted in
the model's own forward calls."""

from __future__ import annotations

import base64
import io
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

import rung


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels in 60 bytes: a decompression bomb's
    header (a decoder would allocate width * height * 3 bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + (
        chunk(b"IEND", b"")
    )  # fmt: skip


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_health_names_the_model_and_versions(image_server):
    info = httpx.get(image_server.url + "/api/health").json()
    assert info["status"] == "ok"
    assert (info["model"], info["kind"], info["task"]) == ("pets", "image", "classification")
    assert info["classes"] == ["cats", "dogs"] and info["architecture"] == "resnet18"
    assert info["format_version"] == 1 and info["rung_version"] == rung.__version__
    assert info["inputs"]["type"] == "image" and info["limits"]["max_items"] == 8


def test_a_photo_uploaded_or_in_json_gets_the_models_own_answer(image_server, image_model, photos):
    expected = rung.load(image_model).predict(photos["cats"][0])
    url = image_server.url + "/api/predict"
    with open(photos["cats"][0], "rb") as f:
        uploaded = httpx.post(url, files={"image": ("cat.jpg", f, "image/jpeg")})
    in_json = httpx.post(url, json={"image": _b64(photos["cats"][0])})
    for response in (uploaded, in_json):
        assert response.status_code == 200, response.text
        got = response.json()["prediction"]
        assert got["label"] == expected.label
        assert got["probs"] == pytest.approx(expected.probs, abs=1e-5)
        assert got["probability"] == pytest.approx(max(expected.probs.values()), abs=1e-5)


def test_a_batch_answers_each_photo_in_order(image_server, image_model, photos):
    files = [photos["cats"][1], photos["dogs"][1], photos["dogs"][2]]
    expected = rung.load(image_model).predict(files)
    response = httpx.post(image_server.url + "/api/predict",
                          json={"images": [_b64(f) for f in files]})  # fmt: skip
    assert response.status_code == 200, response.text
    got = response.json()["predictions"]
    assert [g["label"] for g in got] == expected.labels
    for g, probs in zip(got, expected.probs):
        assert [g["probs"]["cats"], g["probs"]["dogs"]] == pytest.approx(probs.tolist(), abs=1e-5)


def _bad_image_requests(photo: Path) -> list[tuple[str, dict, int, str]]:
    """(what, httpx.post kwargs, status, words the error must hold)"""
    return [
        ("a text file uploaded", {"files": {"image": ("notes.txt", b"not a photo")}}, 422,
         "notes.txt is not an image"),
        ("a GIF", {"files": {"image": ("a.gif", _gif())}}, 422, "GIF"),
        ("a decompression bomb", {"files": {"image": ("bomb.png", _png_header(40_000, 40_000))}},
         413, "bomb.png declares 1,600,000,000 pixels, over the server's cap of 36,000,000"),
        ("a bomb under PIL's own cap", {"files": {"image": ("b.png", _png_header(8000, 8000))}},
         413, "b.png is 8000x8000 = 64,000,000 pixels, over the server's cap of 36,000,000"),
        ("a missing field", {"json": {"picture": _b64(photo)}}, 400, "needs the field 'image'"),
        ("an upload under another name", {"files": {"file": ("c.jpg", photo.read_bytes())}},
         400, "unknown form field(s) ['file']"),
        ("a number for an image", {"json": {"image": 42}}, 422, "must be a base64 string"),
        ("bad base64", {"json": {"image": "%%%"}}, 422, "not valid base64"),
        ("a batch that isn't a list", {"json": {"images": "abc"}}, 422, "must be a list"),
        ("an empty batch", {"json": {"images": []}}, 400, "is empty"),
        ("a batch over the cap", {"json": {"images": [_b64(photo)] * 9}}, 413, "cap of 8"),
        ("broken JSON", {"content": b"{", "headers": {"content-type": "application/json"}},
         400, "not valid JSON"),
        ("NaN in JSON", {"content": b'{"image": NaN}', "headers": {"content-type": "application/json"}},
         400, "NaN is not JSON"),
        ("plain text", {"content": b"cat", "headers": {"content-type": "text/plain"}}, 415,
         "'text/plain' is not one /api/predict reads"),
        ("a JPEG cut in its header", {"files": {"image": ("cut.jpg", photo.read_bytes()[:600])}},
         422, "cut.jpg is not an image rung can read"),
        ("a JPEG cut in half", {"files": {"image": ("half.jpg", _half(photo.read_bytes()))}},
         422, "half.jpg: can't decode it as an image (image file is truncated"),
        ("a PNG cut in half", {"files": {"image": ("half.png", _half(_png()))}}, 422,
         "half.png: can't decode it as an image (image file is truncated"),
    ]  # fmt: skip


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _png() -> bytes:
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def _gif() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "GIF")
    return buf.getvalue()


def test_every_bad_request_gets_a_4xx_naming_it_and_the_server_keeps_serving(image_server, photos):
    url = image_server.url + "/api/predict"
    photo = photos["dogs"][0]
    for what, kwargs, status, words in _bad_image_requests(photo):
        response = httpx.post(url, **kwargs)
        assert response.status_code == status, (what, response.text)
        body = response.json()
        assert words in body["error"], (what, body)
        assert body["status"] == status
    with open(photo, "rb") as f:
        assert httpx.post(url, files={"image": f}).status_code == 200


def test_a_body_over_the_cap_is_refused_before_it_is_read(live_server, image_model, photos):
    from rung.serve.limits import Limits

    server = live_server(image_model, limits=Limits(max_body_bytes=50_000))
    big = next(p for p in photos["cats"] + photos["dogs"] if p.stat().st_size > 50_000)
    with open(big, "rb") as f:
        response = httpx.post(server.url + "/api/predict", files={"image": f})
    assert response.status_code == 413 and "48.8 KB" in response.json()["error"]

    def chunks():  # no Content-Length: the cap stops the stream itself
        yield b'{"image": "'
        for _ in range(100):
            yield b"A" * 1000
        yield b'"}'

    response = httpx.post(server.url + "/api/predict", content=chunks(),
                          headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 413
    small = next(p for p in photos["cats"] if p.stat().st_size < 40_000)
    assert httpx.post(server.url + "/api/predict", json={"image": _b64(small)}).status_code == 200


def test_when_every_place_is_taken_the_next_request_gets_503(image_server, photos):
    batcher = image_server.batcher
    taken = batcher.in_flight
    batcher.in_flight = batcher.max_in_flight  # as if that many requests were being served
    try:
        response = httpx.post(image_server.url + "/api/predict",
                              json={"image": _b64(photos["cats"][0])})  # fmt: skip
    finally:
        batcher.in_flight = taken
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert "busy" in response.json()["error"]
    assert httpx.get(image_server.url + "/api/health").status_code == 200


def _count_forward_calls(model):
    calls = []
    lock = threading.Lock()

    def hook(module, args, output):
        with lock:
            calls.append(args[0].shape[0])  # the batch size of this forward pass

    return calls, model.register_forward_hook(hook)


def _post_concurrently(url: str, bodies: list[dict]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(bodies))

    def post(body: dict) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            return client.post(url, json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_concurrent_requests_share_forward_passes(image_server, image_model, photos):
    files = photos["cats"] + photos["dogs"]  # 16 requests of one photo each
    expected = rung.load(image_model).predict(files)
    calls, handle = _count_forward_calls(image_server.served.predictor.model)
    try:
        responses = _post_concurrently(image_server.url + "/api/predict",
                                       [{"image": _b64(f)} for f in files])  # fmt: skip
    finally:
        handle.remove()
    assert [r.status_code for r in responses] == [200] * len(files)
    assert [r.json()["prediction"]["label"] for r in responses] == expected.labels
    assert sum(calls) == len(files)  # every photo went through the model once
    assert len(calls) < len(files), f"{len(files)} requests took {len(calls)} forward passes"
    assert max(calls) > 1, calls


def test_with_max_batch_1_each_request_is_its_own_forward_pass(live_server, image_model, photos):
    from rung.serve.limits import Limits

    server = live_server(image_model, limits=Limits(max_batch=1))
    files = photos["cats"][:6]
    calls, handle = _count_forward_calls(server.served.predictor.model)
    try:
        responses = _post_concurrently(server.url + "/api/predict",
                                       [{"image": _b64(f)} for f in files])  # fmt: skip
    finally:
        handle.remove()
    assert [r.status_code for r in responses] == [200] * 6
    assert calls == [1] * 6


# ---------------------------------------------------------------------------- tables
WOMAN_FIRST_CLASS = {"Pclass": 1, "Name": "Cumings, Mrs. John Bradley", "Sex": "female",
                     "Age": 38, "SibSp": 1, "Parch": 0, "Ticket": "PC 17599", "Fare": 71.28,
                     "Cabin": "C85", "Embarked": "C"}  # row 2 of train.csv  # fmt: skip
MAN_THIRD_CLASS = {"Pclass": 3, "Name": "Braund, Mr. Owen Harris", "Sex": "male", "Age": 22,
                   "SibSp": 1, "Parch": 0, "Ticket": "A/5 21171", "Fare": 7.25, "Cabin": None,
                   "Embarked": "S"}  # row 1  # fmt: skip


def test_a_titanic_row_gets_the_models_answer(table_server, titanic_model):
    predictor = rung.load(titanic_model)
    url = table_server.url + "/api/predict"
    woman = httpx.post(url, json={"row": WOMAN_FIRST_CLASS}).json()["prediction"]
    assert woman["label"] == 1 and woman["probs"]["1"] > 0.5
    assert woman["probs"] == pytest.approx(
        {str(k): v for k, v in predictor.predict(WOMAN_FIRST_CLASS).probs.items()}, abs=1e-9
    )
    both = httpx.post(url, json={"rows": [MAN_THIRD_CLASS, WOMAN_FIRST_CLASS]}).json()
    assert [p["label"] for p in both["predictions"]] == [0, 1]
    assert both["predictions"][1]["probs"] == pytest.approx(woman["probs"], abs=1e-12)


def test_a_missing_column_is_filled_as_in_training_and_id_target_are_ignored(table_server):
    url = table_server.url + "/api/predict"
    row = {**MAN_THIRD_CLASS, "PassengerId": 7, "Survived": 1}
    with_extras = httpx.post(url, json={"row": row}).json()["prediction"]
    assert with_extras == httpx.post(url, json={"row": MAN_THIRD_CLASS}).json()["prediction"]
    no_age = {k: v for k, v in MAN_THIRD_CLASS.items() if k not in ("Age", "Name")}
    assert httpx.post(url, json={"row": no_age}).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"row": {**MAN_THIRD_CLASS, "Agee": 3}}, 422, "unknown column 'Agee'; did you mean 'Age'?"),
        ({"row": {**MAN_THIRD_CLASS, "Age": "old"}}, 422, "column 'Age' must be a number, got 'old'"),
        ({"row": {**MAN_THIRD_CLASS, "Age": True}}, 422, "column 'Age' must be a number"),
        ({"row": {**MAN_THIRD_CLASS, "Sex": ["male"]}}, 422, "column 'Sex' must be a single value"),
        ({"row": [1, 2]}, 422, "row must be an object of column: value"),
        ({"rows": [MAN_THIRD_CLASS, {"Fare": "x"}]}, 422, "rows[1]: column 'Fare'"),
        ({"rows": [MAN_THIRD_CLASS] * 65}, 413, "65 items in one request, over the server's cap of 64"),
        ({"image": "abc"}, 400, "needs the field 'row'"),
    ],
    ids=["unknown column", "text for a number", "bool for a number", "list for a category",
         "row not an object", "bad row in a batch", "batch over the cap", "wrong field"],
)  # fmt: skip
def test_bad_rows_get_a_4xx_naming_the_problem(table_server, body, status, words):
    response = httpx.post(table_server.url + "/api/predict", json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    ok = httpx.post(table_server.url + "/api/predict", json={"row": MAN_THIRD_CLASS})
    assert ok.status_code == 200


def test_a_table_model_refuses_uploads(table_server, photos):
    with open(photos["cats"][0], "rb") as f:
        response = httpx.post(table_server.url + "/api/predict", files={"image": f})
    assert response.status_code == 415 and "takes JSON" in response.json()["error"]


def test_health_of_a_table_model_lists_its_form(table_server):
    info = httpx.get(table_server.url + "/api/health").json()
    assert info["kind"] == "tabular" and info["classes"] == [0, 1]
    assert info["target"] == "Survived"
    columns = {c["name"]: c for c in info["inputs"]["columns"]}
    # the CSV's own columns (what a user has), never ones training derived from them
    assert {"Pclass", "Sex", "SibSp", "Parch", "Cabin", "Embarked", "Age", "Fare"} <= set(columns)
    assert set(columns) <= {"Pclass", "Name", "Sex", "Age", "SibSp", "Parch", "Ticket", "Fare",
                            "Cabin", "Embarked"}  # fmt: skip
    assert columns["Sex"]["type"] == "category" and columns["Sex"]["choices"] == ["female", "male"]
    assert columns["Age"]["type"] == "number" and columns["Age"]["median"] == 28.0
    assert {"PassengerId", "Survived"} <= set(info["inputs"]["ignored"])
    assert set(columns) | set(info["inputs"]["ignored"]) == set(WOMAN_FIRST_CLASS) | {
        "PassengerId",
        "Survived",
    }  # every column of train.csv is welcome
