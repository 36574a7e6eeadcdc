"""rung explore on real tables: the plots it picks (the issue's Done-means on Titanic), the
writeup (self-contained HTML, Markdown, PNGs), the caps, and where it writes."""

from __future__ import annotations

import base64
import re
from html import escape as html_escape
from pathlib import Path

import pandas as pd
import pytest

from rung.report.explore import explore, read_table

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
TITANIC = DATA / "titanic" / "train.csv"
HOUSING = DATA / "california_housing" / "housing.csv"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def titanic_ex(tmp_path_factory):
    return explore(TITANIC, target="Survived", out=tmp_path_factory.mktemp("ex") / "titanic")


def test_titanic_plot_list(titanic_ex, tmp_path):
    kinds = {p.column: p for p in titanic_ex.plots}
    fare = kinds["Fare"]
    assert fare.kind in ("log_hist", "boxen") and "log_scale=True" in fare.code
    for column in ("Sex", "Pclass", "Embarked"):
        assert kinds[column].kind == "count" and "sns.countplot(" in kinds[column].code
    assert {c for c, _ in titanic_ex.skipped} == {"PassengerId", "Name", "Ticket", "Cabin"}
    assert kinds["(missing values)"].kind == "missing"
    assert "Cabin (687)" in kinds["(missing values)"].reason
    # without a target, Fare is a histogram on a log axis
    plain = explore(TITANIC, out=tmp_path / "plain")
    assert plain.plot_for("Fare").kind == "log_hist"


def test_writeup_is_self_contained_with_the_code(titanic_ex):
    html = titanic_ex.files["html"].read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == len(titanic_ex.plots)
    assert all(base64.b64decode(i).startswith(PNG) for i in images)
    assert 'src="plots/' not in html and "http" not in html.replace("http-equiv", "")
    fare = titanic_ex.plot_for("Fare")
    assert html_escape(fare.code) in html  # the code under the plot, escaped
    assert "df.describe()" in html and "891" in html
    md = titanic_ex.files["md"].read_text()
    assert f"![Fare](plots/{fare.png.name})" in md and fare.code in md
    for p in titanic_ex.plots:
        assert (
            p.png.read_bytes().startswith(PNG)
            and p.png.parent.parent == titanic_ex.files["md"].parent
        )


def test_notebook_html_is_a_fragment(titanic_ex):
    fragment = titanic_ex._repr_html_()
    assert fragment.startswith("<h1>Exploring train</h1>") and "<html" not in fragment
    assert fragment.count("<figure>") == len(titanic_ex.plots)


@pytest.mark.slow
def test_california_samples_scatters_and_maps_missing(tmp_path):
    ex = explore(HOUSING, target="median_house_value", out=tmp_path / "ca")
    scatters = [p for p in ex.plots if p.kind == "scatter"]
    assert [p.column for p in scatters] == [
        "total_bedrooms vs households",
        "total_rooms vs total_bedrooms",
        "longitude vs latitude",
    ]  # fmt: skip  (the 3 strongest of 36 pairs, |r| 0.98, 0.93, 0.92)
    assert all("df.sample(2000, random_state=0)" in p.code for p in scatters)
    assert "random sample of 2,000 of the 20,640 rows" in " ".join(ex.notes)
    assert ex.plot_for("(missing values)").reason.endswith("total_bedrooms (207)")


def test_caps_on_columns_bytes_and_rows(tmp_path):
    ex = explore(TITANIC, out=tmp_path / "few", max_columns=3)
    assert [p.column for p in ex.plots if p.kind != "missing"] == ["Survived", "Pclass"]
    assert ex.notes[0].startswith("9 of 12 columns not plotted (max_columns=3): Name, Sex")
    with pytest.raises(ValueError, match=r"train.csv is 60.3 KB, over the 1.0 KB"):
        explore(TITANIC, out=tmp_path / "big", max_bytes=1000)
    df, notes = read_table(TITANIC, max_rows=100)
    assert len(df) == 100 and notes == ["read the first 100 rows only (max_rows=100)"]


def test_never_writes_where_the_data_is(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    csv = data / "t.csv"
    pd.DataFrame({"x": [1.0, 2.0, 3.5], "k": ["a", "b", "a"]}).to_csv(csv, index=False)
    before = csv.read_bytes()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    ex = explore(csv)
    assert ex.files["html"] == Path("explore/t/report.html")
    assert sorted(p.name for p in data.iterdir()) == ["t.csv"] and csv.read_bytes() == before
    with pytest.raises(ValueError, match="the data's own folder"):
        explore(csv, out=data)
    with pytest.raises(KeyError, match="target 'y' is not a column; the columns are x, k"):
        explore(csv, target="y")


def test_a_rerun_replaces_its_old_plots(tmp_path):
    out = tmp_path / "ex"
    explore(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "x"]}), out=out)
    keep = out / "plots" / "mine.txt"
    keep.write_text("not a plot")
    explore(pd.DataFrame({"b": ["x", "y", "x"]}), out=out)
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["00_count_b.png", "mine.txt"]
