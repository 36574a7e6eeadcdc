"""One-cycle schedule values at known points, as the Learner applies them."""

from __future__ import annotations

import numpy as np
import pytest

from rung.callbacks.schedule import combined_cos, sched_cos


def test_sched_cos_ends_and_middle():
    assert sched_cos(1.0, 3.0, 0.0) == pytest.approx(1.0)
    assert sched_cos(1.0, 3.0, 0.5) == pytest.approx(2.0)
    assert sched_cos(1.0, 3.0, 1.0) == pytest.approx(3.0)


def test_one_cycle_lr_and_momentum_at_known_points(regression_learner):
    learn = regression_learner()
    n_batches = len(learn.dls.train)  # 7 batches of 32 (205 rows)
    learn.fit_one_cycle(4, lr_max=0.1, div=25, div_final=1e5, pct_start=0.25)
    lrs = np.array([lr[0] for lr in learn.recorder.lrs])
    moms = np.array(learn.recorder.moms)
    total = 4 * n_batches
    assert len(lrs) == total
    assert lrs[0] == pytest.approx(0.1 / 25)  # starts at lr_max / div
    assert moms[0] == pytest.approx(0.95)
    peak = int(np.argmax(lrs))
    assert peak / total == pytest.approx(0.25, abs=1.5 / total)  # peaks at pct_start
    assert lrs.max() == pytest.approx(0.1, rel=0.01)
    assert moms[peak] == pytest.approx(0.85, abs=0.002)
    # every value equals the formula at pct = step / total
    sched = combined_cos(0.25, 0.1 / 25, 0.1, 0.1 / 1e5)
    expected = np.array([sched(i / total) for i in range(total)])
    assert np.allclose(lrs, expected)
    assert lrs[-1] < 0.1 / 100  # annealing towards lr_max / div_final
    assert moms[-1] == pytest.approx(0.95, abs=0.002)


def test_discriminative_lrs_from_a_slice(regression_learner):
    learn = regression_learner()
    learn.splitter = lambda m: [[m.weight], [m.bias]]
    assert np.allclose(learn.lrs_for(slice(1e-4, 1e-2)), [1e-4, 1e-2])
    assert np.allclose(learn.lrs_for(slice(1e-2)), [1e-3, 1e-2])
    assert np.allclose(learn.lrs_for(3e-3), [3e-3, 3e-3])
    with pytest.raises(ValueError, match="3 learning rates for 2 parameter groups"):
        learn.lrs_for([1e-3, 1e-3, 1e-3])
