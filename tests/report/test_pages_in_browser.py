"""A Titanic run's writeup, a cats_dogs run's writeup and a published site of both, drawn by
headless Chromium: the reasoning sections are there, every picture (the LR finder's included)
has loaded, and screenshots are kept (under $RUNG_TEST_ARTIFACTS, else the test's tmp_path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rung.report.publish import publish

SECTIONS = ("question", "validation", "baseline", "training")


def _artifacts(tmp_path: Path) -> Path:
    where = Path(os.environ.get("RUNG_TEST_ARTIFACTS", tmp_path)) / "pages"
    where.mkdir(parents=True, exist_ok=True)
    return where


def _check_page(browser, url: str, shot: Path) -> dict:
    """Open ``url`` offline, screenshot it, and read what the DOM holds."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    page.wait_for_load_state("load")
    page.screenshot(path=str(shot), full_page=True)
    found = page.evaluate(
        """() => ({
            sections: [...document.querySelectorAll('section[id]')].map(s => s.id),
            images: [...document.images].map(i => ({alt: i.alt, w: i.naturalWidth,
                                                    done: i.complete})),
            links: [...document.querySelectorAll('a')].map(a => a.getAttribute('href')),
            h1: document.querySelector('h1').textContent,
        })"""
    )
    page.close()
    found["requests"] = [r for r in requests if not r.startswith(("file:", "data:"))]
    assert shot.stat().st_size > 10_000
    return found


@pytest.mark.slow
def test_run_writeups_and_the_published_site_render_in_chromium(
    browser, titanic_run, cats_dogs_run, tmp_path
):
    shots = _artifacts(tmp_path)
    for name, run in (("titanic", titanic_run.run_dir), ("cats_dogs", cats_dogs_run.run_dir)):
        found = _check_page(browser, (run / "report.html").as_uri(), shots / f"{name}.png")
        assert set(SECTIONS) <= set(found["sections"]), found["sections"]
        assert found["requests"] == []  # nothing fetched from anywhere
        alts = {i["alt"] for i in found["images"]}
        assert {"Learning-rate finder", "Loss"} <= alts
        assert all(i["done"] and i["w"] > 0 for i in found["images"]), found["images"]
    assert "Show batch" in alts and "Confusion matrix" in alts  # the cats_dogs page's

    site = publish([titanic_run.run_dir, cats_dogs_run.run_dir], tmp_path / "site")
    index = _check_page(browser, (site / "index.html").as_uri(), shots / "site_index.png")
    pages = [link for link in index["links"] if link.endswith(".html")]
    assert pages == [f"{titanic_run.run_dir.name}.html", f"{cats_dogs_run.run_dir.name}.html"]
    for i, link in enumerate(pages):
        found = _check_page(browser, (site / link).as_uri(), shots / f"site_page_{i}.png")
        assert set(SECTIONS) <= set(found["sections"])
        assert "index.html" in found["links"]  # the way back
        assert found["images"] and all(img["w"] > 0 for img in found["images"])
        assert found["requests"] == []
