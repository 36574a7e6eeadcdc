"""rung publish: a static site (index + one page per run or exploration) that needs nothing
but its files, written only where rung may write."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rung.report import page
from rung.report.publish import publish
from rung.report.run_info import read_run


def test_site_has_an_index_linking_one_self_contained_page_per_run(run_folder, tmp_path):
    exploration = tmp_path / "explore-titanic"
    exploration.mkdir()
    (exploration / "report.html").write_text("<!DOCTYPE html><title>EDA</title><h1>EDA</h1>")
    site = publish([run_folder, exploration], tmp_path / "site")
    index = (site / "index.html").read_text()
    links = re.findall(r'href="([^"]+)"', index)
    assert links == [f"{run_folder.name}.html", "explore-titanic.html"]
    info = read_run(run_folder)
    score = f"{info.main_metric} {page.number(info.metrics[info.main_metric])}"
    assert score in index and "160 / 40" in index and "exploration" in index
    run_page = (site / links[0]).read_text()
    assert '<a href="index.html">' in run_page and 'id="question"' in run_page
    assert not re.search(r'(src|href)="(https?:)?//', run_page)  # no external assets
    assert "data:image/png;base64," in run_page  # the plots travel inside the page
    assert (site / links[1]).read_text().endswith("<h1>EDA</h1>")
    assert (site / ".nojekyll").is_file()
    again = publish([run_folder], site)  # its own folder: it may publish there again
    assert (again / "index.html").read_text().count('.html"') == 1


def test_publish_never_overwrites_a_users_folder_or_writes_inside_a_run(run_folder, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("my own page")
    with pytest.raises(FileExistsError, match="did not write"):
        publish([run_folder], mine)
    assert (mine / "index.html").read_text() == "my own page"
    with pytest.raises(ValueError, match="inside the run"):
        publish([run_folder], run_folder / "site")
    with pytest.raises(ValueError, match="neither a run folder"):
        publish([mine], tmp_path / "site")


def test_rung_publish_and_rung_runs_compare_on_the_command_line(run_folder, tmp_path, capsys):
    from rung.cli import main

    main(["publish", str(run_folder), "--out", str(tmp_path / "site")])
    assert (tmp_path / "site" / "index.html").is_file()
    assert "site written" in capsys.readouterr().out
    root = Path(run_folder).parent
    main(["runs", "--root", str(root), "compare", run_folder.name, "latest"])
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [run_folder.name, run_folder.name]
    assert "accuracy" in out
