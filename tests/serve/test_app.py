"""The pages in a real browser (headless chromium; skipped without one): the gradio page of an
image model answers an uploaded photo with its label and probability, the table form answers a
filled-in row, and the static page works against the running server. Screenshots are saved in
each test's tmp folder."""

from __future__ import annotations

import re

import httpx
import pytest

import rung

TIMEOUT_MS = 60_000


def _percent(text: str) -> float:
    return float(re.search(r"(\d+(?:\.\d+)?)\s*%", text).group(1))


def test_the_image_page_labels_an_uploaded_photo(browser, image_server, image_model, photos,
                                                 tmp_path):  # fmt: skip
    photo = photos["dogs"][3]
    expected = rung.load(image_model).predict(photo)
    page = browser.new_page()
    page.goto(image_server.url + "/", timeout=TIMEOUT_MS)
    page.locator("input[type=file]").first.set_input_files(str(photo))
    page.get_by_role("button", name="Submit").click()
    label = page.get_by_test_id("label-output-value")
    label.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=label-output-value]').innerText.trim()",
        timeout=TIMEOUT_MS,
    )
    page.screenshot(path=str(tmp_path / "image_page.png"), full_page=True)
    assert label.inner_text().strip() == expected.label
    shown = page.locator(".output-class, [data-testid=label-output-value]").first.inner_text()
    assert shown.strip() == expected.label
    confidences = page.get_by_test_id(expected.label + "-confidence-set")
    assert round(_percent(confidences.inner_text())) == round(100 * expected.probs[expected.label])


@pytest.mark.slow
def test_a_trained_model_page_labels_a_real_photo_rightly(browser, live_server, cats_dogs_dir,
                                                           trained_image_model, tmp_path):  # fmt: skip
    """A model trained on cats_dogs (the vision tests' run): the page, given a validation photo
    it gets right with high confidence, shows the right label and predict()'s probability."""
    predictor = rung.load(trained_image_model)
    candidates = [p for folder in ("cats", "dogs")
                  for p in sorted((cats_dogs_dir / "val" / folder).glob("*.jpg"))[:6]]  # fmt: skip
    scored = [(predictor.predict(p), p) for p in candidates]
    right = [(pred, p) for pred, p in scored if pred.label == p.parent.name]
    assert len(right) >= 10, "the trained model should get most of 12 validation photos right"
    expected, photo = max(right, key=lambda pair: pair[0].probs[pair[0].label])
    assert expected.probs[expected.label] > 0.9
    server = live_server(trained_image_model)
    page = browser.new_page()
    page.goto(server.url + "/", timeout=TIMEOUT_MS)
    page.locator("input[type=file]").first.set_input_files(str(photo))
    page.get_by_role("button", name="Submit").click()
    label = page.get_by_test_id("label-output-value")
    label.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=label-output-value]').innerText.trim()",
        timeout=TIMEOUT_MS,
    )
    page.screenshot(path=str(tmp_path / "trained_image_page.png"), full_page=True)
    assert label.inner_text().strip() == photo.parent.name == expected.label
    confidences = page.get_by_test_id(expected.label + "-confidence-set")
    assert round(_percent(confidences.inner_text())) == round(100 * expected.probs[expected.label])
    other = next(c for c in expected.probs if c != expected.label)
    shown_other = _percent(page.get_by_test_id(other + "-confidence-set").inner_text())
    assert round(shown_other) == round(100 * expected.probs[other])


def test_the_table_form_answers_a_filled_in_row(browser, table_server, titanic_model, tmp_path):
    page = browser.new_page()
    page.goto(table_server.url + "/", timeout=TIMEOUT_MS)
    for name, value in [("Sex", "female"), ("Pclass", "1"), ("Embarked", "C")]:
        box = page.get_by_label(name, exact=True)
        box.click()
        box.fill(value)
        box.press("Enter")
    typed = {"Age": "30", "Fare": "80"}
    form = httpx.get(table_server.url + "/api/health").json()["inputs"]["columns"]
    if "Name" in {c["name"] for c in form}:  # when training learned from the names
        typed["Name"] = "Cumings, Mrs. John Bradley"
    for name, value in typed.items():
        page.locator(f"#column-{name} input, #column-{name} textarea").fill(value)
    page.get_by_role("button", name="Submit").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=label-output-value]')?.innerText.trim()",
        timeout=TIMEOUT_MS,
    )
    page.screenshot(path=str(tmp_path / "table_page.png"), full_page=True)
    row = {c["name"]: None for c in form}  # the boxes left empty
    row.update({"Sex": "female", "Pclass": "1", "Embarked": "C", **typed, "Age": 30.0,
                "Fare": 80.0})  # fmt: skip
    expected = rung.load(titanic_model).predict(row)
    assert page.get_by_test_id("label-output-value").inner_text().strip() == str(expected.label)
    assert expected.label == 1
    shown = page.get_by_test_id("1-confidence-set").inner_text()
    assert round(_percent(shown)) == round(100 * expected.probs[1])


def test_the_static_page_works_against_the_server(browser, image_server, image_model, photos,
                                                  tmp_path):  # fmt: skip
    photo = photos["cats"][5]
    expected = rung.load(image_model).predict(photo)
    page = browser.new_page()
    page.goto(image_server.url + "/index.html", timeout=TIMEOUT_MS)
    page.wait_for_selector("#file", timeout=TIMEOUT_MS)  # built from /api/health
    assert page.locator("#title").inner_text() == "pets"
    page.locator("#file").set_input_files(str(photo))
    page.locator("#go").click()
    page.wait_for_function("() => document.getElementById('label').innerText", timeout=TIMEOUT_MS)
    page.screenshot(path=str(tmp_path / "static_page.png"), full_page=True)
    text = page.locator("#label").inner_text()
    assert text.startswith(expected.label + " (")
    assert _percent(text) == round(100 * expected.probs[expected.label], 1)
    assert page.locator("#probs .bar").count() == 2

    # a bad upload shows the server's message
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    page.locator("#file").set_input_files(str(bad))
    page.locator("#go").click()
    page.wait_for_function("() => document.getElementById('error').innerText", timeout=TIMEOUT_MS)
    assert "notes.jpg is not an image" in page.locator("#error").inner_text()


# ---------------------------------------------------------------------------- without a browser
def test_the_page_checks_a_photo_like_the_api(image_model):
    import asyncio

    import gradio as gr
    import pytest

    from rung.serve.api import make_batcher
    from rung.serve.app import _answer
    from rung.serve.model import load_served

    from .test_api import _png_header

    served = load_served(image_model)
    batcher = make_batcher(served)
    with pytest.raises(gr.Error, match="bomb.png is 9000x9000 = 81,000,000 pixels, over the"):
        asyncio.run(_answer(served, batcher, ("bomb.png", _png_header(9000, 9000))))
    assert batcher.stats.passes == 0


def test_gradio_uploads_are_capped_and_examples_shown(image_model, cats_dogs_dir):
    from fastapi.testclient import TestClient

    from rung.serve.limits import Limits
    from rung.serve.server import build_server

    examples = cats_dogs_dir / "val" / "dogs"
    app = build_server(image_model, Limits(max_body_bytes=10_000), examples=examples,
                       allow_origins=["https://pages.example.org"])  # fmt: skip
    client = TestClient(app)
    big = client.post("/gradio_api/upload", files={"files": ("big.jpg", b"x" * 20_000)})
    assert big.status_code == 413
    config = client.get("/config").text
    assert "dog.4001.jpg" in config and "dog.4024.jpg" in config and "dog.4025.jpg" not in config
    preflight = client.options("/api/predict", headers={
        "origin": "https://pages.example.org", "access-control-request-method": "POST"})  # fmt: skip
    assert preflight.headers["access-control-allow-origin"] == "https://pages.example.org"
    other = client.get("/api/health", headers={"origin": "https://elsewhere.example.com"})
    assert "access-control-allow-origin" not in other.headers


def test_a_text_model_gets_one_box_per_text_column():
    import asyncio

    from rung.serve.api import make_batcher
    from rung.serve.app import _answer, build_ui
    from rung.serve.rows import TextModel

    from .test_rows import _TextPredictor

    served = TextModel(_TextPredictor(["anchor", "target", "context"]))
    demo = build_ui(served, make_batcher(served))
    assert [c.label for c in demo.input_components] == ["anchor", "target", "context"]
    shown = asyncio.run(_answer(served, make_batcher(served), ("the form", {"anchor": "abcd"})))
    assert shown == "### 0.4 (training targets ranged from 0 to 1)"
