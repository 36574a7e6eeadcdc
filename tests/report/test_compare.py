"""rung runs compare A B: the runs side by side and their curves overlaid (rung.report.compare)."""

from __future__ import annotations

import shutil

from PIL import Image

from rung.report.compare import comparison_table, plot_overlaid, write_comparison
from rung.report.run_info import read_run


def _two_runs(run_folder):
    other = run_folder.parent / (run_folder.name[:16] + "-other")
    shutil.copytree(run_folder, other)
    config = (other / "config.json").read_text().replace('"lr": 0.05', '"lr": 0.2')
    (other / "config.json").write_text(config)
    rows = (other / "metrics.csv").read_text().splitlines()
    (other / "metrics.csv").write_text("\n".join(rows[:2]) + "\n")  # a run of one epoch
    return run_folder, other


def test_table_puts_metrics_and_differing_settings_side_by_side(run_folder):
    a, b = _two_runs(run_folder)
    header, rows = comparison_table([read_run(a), read_run(b)])
    assert header == ["", a.name, b.name]
    by_label = {row[0]: row[1:] for row in rows}
    assert by_label["hyperparameters.lr"] == ["0.05", "0.2"]
    assert by_label["epochs"] == ["3", "1"]
    assert "seed" not in by_label  # the same in both: not shown


def test_curves_are_overlaid_one_line_per_run_and_the_page_embeds_them(run_folder, tmp_path):
    a, b = _two_runs(run_folder)
    png = plot_overlaid([read_run(a), read_run(b)], tmp_path / "curves.png")
    width, _ = Image.open(png).size
    # train_loss, valid_loss, accuracy, error_rate: four panels of 4.2 inches at 90 dpi
    assert width == round(4 * 4.2 * 90)
    page = write_comparison(a.parent, [a.name, b.name], tmp_path / "cmp")
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 1 and a.name in text and b.name in text
    assert (tmp_path / "cmp" / "compare.png").is_file()
