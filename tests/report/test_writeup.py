"""The writeup: report.html is one self-contained, well-formed, escaped page with the plots up
front and the real numbers; report.md links the plots that exist (rung.report.writeup)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from rung.report import page
from rung.report.run_info import read_run
from rung.report.writeup import plot_caption, write_writeup

VOID = {"meta", "img", "br", "hr", "link", "input", "source", "col", "area", "base", "wbr"}


class TagChecker(HTMLParser):
    """Parses a page and records every tag, every src/href, and nesting errors."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self._tag_text: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [v or "" for k, v in attrs if k in ("src", "href")]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        if self.stack:
            self._tag_text.setdefault(self.stack[-1], []).append(data)

    def texts_in(self, tag: str) -> list[str]:
        return self._tag_text.get(tag, [])


def parse(html_text: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(html_text)
    checker.close()
    return checker


@pytest.fixture
def written(run_folder: Path) -> tuple[Path, str, str]:
    paths = write_writeup(run_folder)
    assert paths == {"html": run_folder / "report.html", "md": run_folder / "report.md"}
    return run_folder, paths["html"].read_text(), paths["md"].read_text()


def test_html_is_self_contained(written):
    run, html_text, _ = written
    checker = parse(html_text)
    assert checker.links, "the page should embed its images"
    assert all(link.startswith(("data:", "#")) for link in checker.links), checker.links
    assert not re.search(r"https?://", html_text)
    assert "script" not in checker.tags and "link" not in checker.tags
    assert "@import" not in html_text and "url(" not in html_text
    # each PNG of the run is embedded byte for byte
    embedded = [base64.b64decode(s.split(",", 1)[1]) for s in checker.links]
    for png in ("loss.png", "confusion_matrix.png"):
        assert (run / png).read_bytes() in embedded
    assert all(s.startswith("data:image/png;base64,") for s in checker.links)


def test_html_parses_with_balanced_tags(written):
    _, html_text, _ = written
    checker = parse(html_text)
    assert checker.errors == []
    assert checker.stack == []
    assert html_text.startswith("<!DOCTYPE html>")


def test_headline_shows_task_final_metrics_data_size_and_time(written):
    run, html_text, _ = written
    info = read_run(run)
    last = info.epochs[-1]
    checker = parse(html_text)
    assert checker.texts_in("h1") == ["Images: classification"]
    big_numbers = checker.texts_in("div")
    for name in ("accuracy", "error_rate", "valid_loss"):
        assert page.number(last[name]) in big_numbers, name
    assert "200" in big_numbers  # 160 train + 40 valid
    assert page.duration(sum(r["time"] for r in info.epochs)) in big_numbers
    # the headline comes before the plots, the plots before the tables
    assert html_text.index('class="cards"') < html_text.index("<figure") < html_text.index("<table")


def test_plots_have_captions_and_known_ones_come_first(run_folder):
    shutil.copy(run_folder / "loss.png", run_folder / "aaa_custom_plot.png")
    shutil.copy(run_folder / "loss.png", run_folder / "lr_find.png")  # as the apps write it
    paths = write_writeup(run_folder)
    html_text = paths["html"].read_text()
    captions = [t for t in parse(html_text).texts_in("figcaption")]
    # the LR finder (run first) and the loss open "How it trained"; the rest follow in order
    assert captions == ["Learning-rate finder", "Loss", "Confusion matrix", "Aaa custom plot"]
    assert "![Learning-rate finder](lr_find.png)" in paths["md"].read_text()


def test_metric_table_marks_the_best_epoch(written):
    run, html_text, md_text = written
    info = read_run(run)
    best_loss = min(r["valid_loss"] for r in info.epochs)
    assert f'<td class="num best">{page.number(best_loss)}</td>' in html_text
    assert f"**{page.number(best_loss)}**" in md_text
    for row in info.epochs:  # every epoch's numbers are in the per-epoch table
        assert page.number(row["train_loss"]) in html_text


def test_hostile_text_is_escaped(written):
    _, html_text, md_text = written
    assert "<script>" not in html_text and "<b>bold" not in html_text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html_text
    assert "script" not in parse(html_text).tags
    assert "<script>" not in md_text
    assert "\\<script\\>" in md_text


def test_config_keys_known_first_then_the_rest(written):
    _, html_text, _ = written
    keys = parse(html_text).texts_in("th")
    order = [k for k in keys if k in ("app", "task", "data / path", "arch", "seed")]
    assert order == ["app", "task", "data / path", "arch", "seed"]


def test_markdown_links_the_plots_that_exist(written):
    run, _, md_text = written
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md_text)
    assert sorted(links) == ["confusion_matrix.png", "loss.png"]
    assert all((run / link).is_file() for link in links)
    assert md_text.startswith("# Images: classification\n")
    assert "model.rung" in md_text


def test_model_file_name_and_size_are_shown(written):
    run, html_text, _ = written
    assert "model.rung" in html_text
    assert page.size((run / "model.rung").stat().st_size) in html_text
    assert "mlp(n_in=2, n_out=2, layers=[8])" in html_text


def test_leaderboard_csv_becomes_a_table_with_the_best_in_bold(run_folder):
    (run_folder / "leaderboard.csv").write_text(
        "model,accuracy,valid_loss\nbaseline,0.6162,\nrf,0.8315,0.41\nnn,0.8258,0.43\n"
    )
    html_text = write_writeup(run_folder)["html"].read_text()
    assert "<h2>Leaderboard</h2>" in html_text
    assert '<td class="num best">0.8315</td>' in html_text
    assert '<td class="num best">0.4100</td>' in html_text


def test_the_best_is_marked_only_among_rows_scored_on_the_same_rows(run_folder):
    # the auto leaderboard: models ranked on out-of-fold predictions, then the chosen
    # ensemble scored once on the held-out rows: a higher held-out figure beats nothing
    (run_folder / "leaderboard.csv").write_text(
        "model,accuracy,scored_on\n"
        "baseline,0.6162,cv: 5 folds of 712 training rows\n"
        "hgb,0.8301,cv: 5 folds of 712 training rows\n"
        "lightgbm,0.8215,cv: 5 folds of 712 training rows\n"
        "weighted_ensemble,0.8350,cv: 5 folds of 712 training rows\n"
        "weighted_ensemble (held out),0.8427,valid: 179 rows\n"
    )
    written = write_writeup(run_folder)
    html_text = written["html"].read_text()
    assert '<td class="num best">0.8350</td>' in html_text
    assert '<td class="num best">0.8427</td>' not in html_text
    assert "Each model on the same validation set" not in html_text
    assert "**0.8427**" not in written["md"].read_text()


def test_an_almost_empty_or_damaged_folder_still_gets_a_writeup(tmp_path):
    run = tmp_path / "runs" / "20240131-142501-table"
    run.mkdir(parents=True)
    (run / "config.json").write_text("[1, 2]")
    (run / "broken.png").write_bytes(b"not a png")
    html_text = write_writeup(run)["html"].read_text()
    assert "config.json holds a list, not a JSON object" in html_text
    assert "broken.png is not a PNG image" in html_text
    assert parse(html_text).errors == []
    assert write_writeup(run, title="Mine")["md"].read_text().startswith("# Mine\n")


def test_plot_caption():
    assert plot_caption("confusion_matrix.png") == "Confusion matrix"
    assert plot_caption("top_losses.png") == "Top losses"
    assert plot_caption("partial_dependence_Age.png") == "Partial dependence: Age"
    assert plot_caption("oob-score.png") == "Oob score"


def test_chromium_renders_the_page_with_its_images(written, tmp_path):
    """Headless Chromium draws the page offline: text and the embedded plots appear."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    import numpy as np
    from PIL import Image

    run, _, _ = written
    shot = tmp_path / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", "--window-size=1200,1400"]  # fmt: skip
    subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", (run / "report.html").as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 1400)
    r, g, b = np.asarray(image).astype(int).transpose(2, 0, 1)  # each (H, W)
    dark_text = int((r + g + b < 150).sum())
    # the confusion matrix's darkest cells (matplotlib "Blues"): only the embedded image has them
    deep_blue = int(((b > 90) & (r < 40) & (g < 90)).sum())
    assert dark_text > 2_000, "no text was drawn"
    assert deep_blue > 1_000, "the embedded confusion matrix was not drawn"


def _section(html_text: str, key: str) -> str:
    """The text of ``<section id="key">``, tags removed."""
    found = re.search(rf'<section id="{key}">(.*?)</section>', html_text, re.S)
    assert found, f"no {key} section"
    return re.sub(r"<[^>]+>", " ", found.group(1))


@pytest.mark.slow
def test_a_titanic_run_reasons_question_split_baseline_and_training(titanic_run):
    from collections import Counter

    run = titanic_run.run_dir
    text = (run / "report.html").read_text()
    y = titanic_run.data.df["Survived"].to_numpy()
    y_train, y_valid = y[titanic_run.data.split.train], y[titanic_run.data.split.valid]
    majority = Counter(y_train.tolist()).most_common(1)[0][0]
    by_hand = float((y_valid == majority).mean())  # 106 of 178 did not survive
    assert (len(y_train), len(y_valid), majority) == (713, 178, 0)
    assert "Can Survived (0, 1) be predicted" in _section(text, "question")
    assert "Braund, Mr. Owen Harris" in _section(text, "question")  # the sample rows
    assert "443 (62%)" in _section(text, "question")  # class counts on each side
    assert "A random 20% of the rows validate, drawn with seed 42: 713 rows train and 178" in (
        _section(text, "validation")
    )
    baseline = _section(text, "baseline")
    assert f"gets accuracy {by_hand:.4f} on the same 178 validation rows" in baseline
    board = read_run(run).config["facts"]["baseline"]
    assert board["accuracy"] == pytest.approx(by_hand)
    model = titanic_run.leaderboard.iloc[0]["accuracy"]
    assert f"The model gets {model:.4f}" in baseline
    # the LR finder where the tabular net's lr_find writes it, and the loss, under training
    assert (run / "lr_find.png").is_file()
    training = re.search(r'<section id="training">.*?</section>', text, re.S).group(0)
    assert 'alt="Learning-rate finder"' in training and 'alt="Loss"' in training
    md = (run / "report.md").read_text()
    assert "![Learning-rate finder](lr_find.png)" in md and "## Against a baseline" in md


@pytest.mark.slow
def test_a_cats_dogs_run_shows_the_split_the_baseline_and_both_fits(cats_dogs_run):
    run = cats_dogs_run.run_dir
    text = (run / "report.html").read_text()
    assert (cats_dogs_run.n_train, cats_dogs_run.n_valid) == (30, 10)
    # the real run writes the LR finder's plot into its own folder, where the writeup looks
    assert (run / "lr_find.png").is_file() and not (run / "runs").exists()
    assert "Which of 2 classes (cats, dogs) does a picture show?" in _section(text, "question")
    assert 'alt="Show batch"' in text.split('<section id="question">')[1].split("</section>")[0]
    assert "A random 25% of the images validate, drawn with seed 42: 30 images train and 10" in (
        _section(text, "validation")
    )
    facts = read_run(run).config["facts"]
    counts = facts["target"]["valid"]["counts"]
    assert sum(counts.values()) == 10 and set(counts) == {"cats", "dogs"}
    top = max(
        sorted(facts["target"]["train"]["counts"]), key=facts["target"]["train"]["counts"].get
    )
    by_hand = counts[top] / 10
    assert f"gets accuracy {by_hand:.4f} on the same 10 validation images" in (
        _section(text, "baseline")
    )
    training = _section(text, "training")
    assert "Two fits: 1 epoch(s) with the pretrained body frozen" in training
    fits = [row["fit"] for row in read_run(run).epochs]
    assert fits == [1, 2]  # metrics.csv holds the frozen epoch and the unfrozen one
