"""The Recorder keeps every fit: fine_tune's frozen epoch and its unfrozen ones, in
metrics.csv and in the loss plot."""

from __future__ import annotations

import csv

from PIL import Image

from tests.callbacks.test_fine_tune import _learner


def test_recorder_keeps_the_batch_losses_of_every_fit_but_not_the_lr_finders(tmp_path):
    learn = _learner()  # 128 rows, 80% train, batch 16: 7 training batches per epoch
    batches = len(learn.dls.train)
    learn.lr_find(num_it=5, plot_path=None)  # restored afterwards: not a fit of the history
    learn.fine_tune(2, base_lr=1e-2, freeze_epochs=1)
    fits = learn.recorder.per_fit()
    assert [len(losses) for losses, _ in fits] == [batches, 2 * batches]
    assert [[row["fit"] for row in rows] for _, rows in fits] == [[1], [2, 2]]
    assert fits[1][0] == learn.recorder.losses  # the last fit's are the usual ones
    with open(learn.recorder.to_csv(tmp_path / "metrics.csv")) as f:
        assert [row["fit"] for row in csv.DictReader(f)] == ["1", "2", "2"]


def test_loss_plot_draws_all_fits_by_default(tmp_path):
    learn = _learner()
    learn.fine_tune(1, base_lr=1e-2, freeze_epochs=1)
    both = learn.recorder.plot_loss(tmp_path / "all.png")
    last = learn.recorder.plot_loss(tmp_path / "last.png", all_fits=False)
    assert both.read_bytes() != last.read_bytes()
    assert Image.open(both).size == Image.open(last).size == (600, 400)
