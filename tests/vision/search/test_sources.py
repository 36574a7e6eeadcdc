"""Image sources: URL lists from lists and files, and the ddgs web search failing clearly."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from rung.vision.search.images import search_images
from rung.vision.search.sources import DDGSSource, ImageSource, SearchError, URLListSource

A, B, C = (f"https://example.com/{n}.jpg" for n in "abc")


def test_url_list_from_a_list_answers_every_query():
    source = URLListSource([A, f"  {B} ", C])
    assert isinstance(source, ImageSource) and not source.labelled
    assert source.image_urls("bird photo", max_results=2) == [A, B]
    assert source.image_urls("forest photo", max_results=10) == [A, B, C]
    with pytest.raises(ValueError, match="has no labels"):
        source.label_queries()


def test_url_list_files(tmp_path: Path):
    plain = tmp_path / "urls.txt"
    plain.write_text(f"# my photos\n{A}\n\n{B}\n")
    assert URLListSource(plain).image_urls("x", 10) == [A, B]

    labelled = tmp_path / "urls.tsv"
    labelled.write_text(f"bird\t{A}\nforest\t{B}\nbird\t{C}\n")
    source = URLListSource(labelled)
    assert source.label_queries() == {"bird": ["bird"], "forest": ["forest"]}
    assert source.image_urls("bird", 10) == [A, C]
    with pytest.raises(ValueError, match=r"no URLs labelled 'bird photo'.*\['bird', 'forest'\]"):
        source.image_urls("bird photo", 10)

    table = tmp_path / "urls.csv"
    table.write_text(f"Label,URL,title\nbird,{A},a bird\nforest,{B},trees\n")
    assert URLListSource(table).by_label == {"bird": [A], "forest": [B]}
    only_urls = tmp_path / "only.csv"
    only_urls.write_text(f"url\n{A}\n{C}\n")
    assert URLListSource(only_urls).image_urls("x", 10) == [A, C]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.txt", f"{A}\nwww.example.com/b.jpg\n", r"bad.txt, line 2: 'www.example.com/b.jpg'"),
        ("mixed.txt", f"bird\t{A}\n{B}\n", "label every line or none"),
        ("nourl.csv", f"label,link\nbird,{A}\n", "needs a 'url' column"),
        ("ftp.csv", "url\nftp://example.com/a.jpg\n", r"ftp.csv, row 2: .* not an http\(s\) URL"),
    ],
)
def test_bad_url_files_are_explained(tmp_path: Path, name: str, text: str, message: str):
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=message):
        URLListSource(tmp_path / name)


def test_missing_url_file_and_unlabelled_list_for_many_labels(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        URLListSource(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="would get the same photos"):
        search_images(["bird", "forest"], tmp_path, source=URLListSource([A]), progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddgs_with_nothing_to_reach_fails_at_once_and_writes_nothing(tmp_path: Path):
    # The proxy is a closed local port: the same everywhere, online or not.
    source = DDGSSource(timeout=1, proxy=f"http://127.0.0.1:{_free_port()}")
    start = time.monotonic()
    with pytest.raises(SearchError) as info:
        search_images(["bird", "forest"], tmp_path / "birds", source=source, progress=False)
    assert time.monotonic() - start < 3
    message = str(info.value)
    assert message.startswith("the image search for 'bird photo' failed: DDGSException")
    assert "Are you online?" in message and "URLListSource('urls.txt')" in message
    assert "one folder per label" in message
    assert not (tmp_path / "birds").exists()


def test_ddgs_search_that_never_answers_times_out(tmp_path: Path):
    with socket.socket() as silent:  # accepts connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        source = DDGSSource(timeout=1, proxy=f"http://127.0.0.1:{silent.getsockname()[1]}")
        start = time.monotonic()
        with pytest.raises(SearchError, match="did not answer in time"):
            source.image_urls("bird photo", max_results=5)
        assert time.monotonic() - start < 4
