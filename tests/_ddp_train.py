"""Run under torchrun with 2 processes (ACCELERATE_USE_CPU=1): trains, then writes what each
process ended with, so tests/test_distributed.py can compare them. Not collected by pytest."""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from rung.data.core import DataLoaders
from rung.learner import Learner
from rung.metrics import accuracy


def main(out: Path) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(501, 6, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    # 101 validation rows: not a multiple of 2 processes x batch 16, so shards need padding
    dls = DataLoaders.from_tensors(x, y, valid_pct=101 / 501, batch_size=16, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    learn = Learner(model, dls, nn.CrossEntropyLoss(), metrics=[accuracy], progress=False, seed=0)
    learn.fit_one_cycle(3, 5e-2)
    acc = learn.accelerator
    rank = acc.process_index
    weights = {k: v.detach().contiguous() for k, v in learn.model.state_dict().items()}
    save_file(weights, str(out / f"weights{rank}.safetensors"))
    report = {
        "num_processes": acc.num_processes,
        "backend": str(acc.state.backend),
        "n_valid_seen": learn.metrics_callback.n_valid,
        "metrics": learn.recorder.final_metrics(),
        "train_batches": learn.n_train_batches,
    }
    (out / f"rank{rank}.json").write_text(json.dumps(report))
    acc.wait_for_everyone()
    acc.end_training()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
