"""How far a dataset is from what the pretrained weights learned, read off the frozen epoch,
and how hard the body should train because of it.

``fine_tune`` trains the body with discriminative learning rates: the head at ``base_lr/2``,
the first layers ``lr_mult`` times lower (fastai's default is 100). That suits photos like
ImageNet's, where the pretrained features already separate the classes and mostly need
keeping. Data far from them (handwritten digits, scans, spectrograms) needs the body itself
to change, and a body 100x slower than the head hardly does in three epochs.

The frozen epoch measures which case a run is in for free: it trains the head alone on the
pretrained features, so its validation accuracy says how well those features fit the data.
Measured on this project's 2-core CPU (tf_efficientnet_lite0, 1 frozen + 3 epochs, the
head-sweep's valley LR, seed 42; other seeds for cats_dogs):

======================  =================  ==============  ==============
data                    frozen-epoch acc.  lr_mult 100     lr_mult 10
======================  =================  ==============  ==============
cats_dogs (224 px)      96-97 %            98.0-98.5 %     96.0-98.5 %
digits (64 px)          79.7 %             84.7 %          97.2 %
======================  =================  ==============  ==============

So the body trains at 1/10 of the head's LR when the frozen head is below
:data:`FEATURES_FIT_ACCURACY`, and at fastai's 1/100 otherwise.

>>> mult, reason = body_lr_mult(0.797)
>>> mult
10.0
>>> print(reason)
the head alone reached 79.7% after the frozen epoch (below 90%): the pretrained features fit this data loosely, so the body trains at 1/10 of the head's LR, not 1/100
>>> body_lr_mult(0.96)[0]
100.0
"""

from __future__ import annotations

import math

__all__ = ["body_lr_mult", "FEATURES_FIT_ACCURACY", "NEAR_LR_MULT", "FAR_LR_MULT"]

FEATURES_FIT_ACCURACY = 0.9  # the frozen head's validation accuracy that says "close data"
NEAR_LR_MULT = 100.0  # fastai's fine_tune default: keep the pretrained features
FAR_LR_MULT = 10.0  # let the body move for data unlike the weights' own


def body_lr_mult(frozen_accuracy: float | None) -> tuple[float, str]:
    """``(lr_mult for fine_tune's unfrozen epochs, the reason in a sentence)`` from the
    validation accuracy after the frozen epoch(s); None (no frozen epoch, or no accuracy
    metric) keeps fastai's default."""
    if frozen_accuracy is None or not math.isfinite(frozen_accuracy):
        return NEAR_LR_MULT, "the body trains at 1/100 of the head's LR (fastai's default)"
    seen = f"the head alone reached {frozen_accuracy:.1%} after the frozen epoch"
    if frozen_accuracy < FEATURES_FIT_ACCURACY:
        return FAR_LR_MULT, (
            f"{seen} (below {FEATURES_FIT_ACCURACY:.0%}): the pretrained features fit this data "
            f"loosely, so the body trains at 1/{FAR_LR_MULT:.0f} of the head's LR, "
            f"not 1/{NEAR_LR_MULT:.0f}"
        )
    return NEAR_LR_MULT, (
        f"{seen}: the pretrained features fit this data, so the body trains at "
        f"1/{NEAR_LR_MULT:.0f} of the head's LR (fastai's default)"
    )
