"""What get_preds returns: a tuple of values that also reads by name."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from rung.callbacks.predictions import Predictions


def test_predictions_unpack_to_values_and_read_by_name():
    p, t = torch.tensor([[0.2, 0.8]]), torch.tensor([1])
    out = Predictions(preds=p, targets=t)
    preds, targets = out
    assert preds is p and targets is t and out[0] is p and len(out) == 2
    assert out["preds"] is p and out.targets is t and "preds" in out and "losses" not in out
    assert dict(out) == {"preds": p, "targets": t}
    assert list(out.items()) == [("preds", p), ("targets", t)]
    with pytest.raises(KeyError, match=r"'loss'.*\['preds', 'targets'\].*'losses'"):
        out["loss"]
    for copied in (copy.copy(out), pickle.loads(pickle.dumps(out))):
        assert list(copied.keys()) == ["preds", "targets"] and torch.equal(copied["preds"], p)
