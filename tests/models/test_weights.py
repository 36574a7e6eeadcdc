"""Safetensors bytes read without trusting them: every dtype round-trips exactly (checked
against the safetensors library), and each way a header can lie is refused by name."""

from __future__ import annotations

import io
import json
import struct

import pytest
import torch
from safetensors.torch import load

from rung.models.untrusted import Refused
from rung.models.weights import (
    WeightsError,
    finite_tensors,
    non_finite,
    read_header,
    serialize,
    tensors_from,
)

DTYPES = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
          torch.float16, torch.bfloat16, torch.float32, torch.float64]  # fmt: skip


def read(data: bytes) -> dict[str, torch.Tensor]:
    header = read_header(io.BytesIO(data).read, len(data))
    return tensors_from(bytearray(data[header.header_bytes :]), header)


def raw(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def test_every_dtype_round_trips_exactly_as_safetensors_reads_it():
    g = torch.Generator().manual_seed(0)
    state = {
        f"t{i}": (torch.randn(3, 5, generator=g) * 100).to(dtype) for i, dtype in enumerate(DTYPES)
    }
    state["scalar"], state["empty"] = torch.tensor(7), torch.zeros(0, 4)
    data = serialize(state)
    ours, theirs = read(data), load(data)
    for name, tensor in state.items():
        assert ours[name].dtype == tensor.dtype and torch.equal(ours[name], tensor), name
        assert torch.equal(ours[name], theirs[name])


def test_a_tensor_that_starts_off_its_alignment_is_copied_and_read_right():
    value = struct.pack("<2f", 1.5, -2.0)
    header = {"flags": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]},
              "w": {"dtype": "F32", "shape": [2], "data_offsets": [3, 11]}}  # fmt: skip
    state = read(raw(header, b"\x01\x00\x01" + value))
    assert state["flags"].tolist() == [True, False, True] and state["w"].tolist() == [1.5, -2.0]


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, 8, "needs 8 bytes but"),
        ({"a": {"dtype": "Q8", "shape": [2], "data_offsets": [0, 2]}}, 2, "dtype 'Q8'"),
        ({"a": {"dtype": "U8", "shape": [-2], "data_offsets": [0, 2]}}, 2, "whole numbers"),
        ({"a": {"dtype": "U8", "shape": [1] * 17, "data_offsets": [0, 1]}}, 1, "at most 16"),
        ({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
          "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}, 3, "'b' overlaps"),
        ({"a": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}, 3, "'a' leaves a gap"),
        ({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}, 5, "declare 2 bytes of data but it holds 5"),
        ({"a": [1, 2]}, 0, "entry 'a' is not an object"),
    ],
)  # fmt: skip
def test_a_header_that_lies_is_refused_by_name(header, data, message):
    with pytest.raises(WeightsError, match=message):
        read(raw(header, b"\0" * data))


def test_a_header_longer_than_the_file_or_not_json_is_refused_unread():
    with pytest.raises(WeightsError, match="declares a 1,000,000-byte header in 20 bytes"):
        read(struct.pack("<Q", 10**6) + b"{" * 12)
    with pytest.raises(WeightsError, match="header is not JSON"):
        read(struct.pack("<Q", 4) + b"{{{{")
    with pytest.raises(WeightsError, match="too short"):
        read(b"\x01\x02")


def test_non_finite_values_are_found_in_every_float_type():
    state = {
        str(d): torch.tensor([1.0, float("nan")]).to(d)
        for d in (torch.float16, torch.bfloat16, torch.float64)
    }
    state["inf"], state["ok"], state["ints"] = (
        torch.tensor([float("-inf")]),
        torch.ones(3),
        torch.arange(3),
    )
    assert non_finite(state) == ["torch.float16", "torch.bfloat16", "torch.float64", "inf"]
    big = torch.zeros(3 * 2**20)  # beyond one chunk: the NaN is in the third
    big[-1] = float("nan")
    data = serialize({"big": big})
    header = read_header(io.BytesIO(data).read, len(data))
    with pytest.raises(Refused, match=r"NaN or infinite values in 1 tensors \(big\)"):
        finite_tensors(bytearray(data[header.header_bytes :]), header)
