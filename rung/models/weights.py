"""Read safetensors bytes from a stranger: the header first, checked, then the tensors.

A safetensors file is an 8-byte little-endian header length ``N``, ``N`` bytes of JSON
(``{name: {"dtype": "F32", "shape": [2, 3], "data_offsets": [start, end]}, "__metadata__":
{...}}``) and the raw data. :func:`read_header` reads only the first ``8 + N`` bytes and checks
everything they declare against the size of the data that follows (known dtypes, whole
non-negative shapes, each tensor's bytes equal to its shape times its item size, tensors packed
back to back with no gap or overlap), so a caller can compare the declared layout with a model
before reading, let alone allocating, the rest. :func:`tensors_from` then makes the tensors as
views of the bytes already read (no second copy), and :func:`non_finite` names tensors holding
NaN or infinity.

>>> import io, torch
>>> from safetensors.torch import save
>>> data = bytearray(save({"w": torch.ones(2, 3), "n": torch.tensor(5)}))
>>> header = read_header(io.BytesIO(data).read, len(data))
>>> {name: (e.dtype, e.shape) for name, e in header.entries.items()}
{'n': ('I64', ()), 'w': ('F32', (2, 3))}
>>> state = tensors_from(data[header.header_bytes :], header)
>>> state["w"].sum().item(), state["n"].item()
(6.0, 5)
"""

from __future__ import annotations

import json
import math
import struct
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch loads only when tensors are made
    import torch

__all__ = [
    "WeightsError",
    "TensorEntry",
    "Header",
    "read_header",
    "tensors_from",
    "non_finite",
    "finite_tensors",
    "serialize",
]

MAX_HEADER_BYTES = 64 * 2**20  # the JSON header; a model of 100,000 tensors needs ~10 MB
MAX_NDIM = 16
# safetensors dtype -> (torch dtype name, bytes per item)
DTYPES: dict[str, tuple[str, int]] = {
    "BOOL": ("bool", 1), "U8": ("uint8", 1), "I8": ("int8", 1), "I16": ("int16", 2),
    "U16": ("uint16", 2), "I32": ("int32", 4), "U32": ("uint32", 4), "I64": ("int64", 8),
    "U64": ("uint64", 8), "F16": ("float16", 2), "BF16": ("bfloat16", 2), "F32": ("float32", 4),
    "F64": ("float64", 8), "F8_E4M3": ("float8_e4m3fn", 1), "F8_E5M2": ("float8_e5m2", 1),
}  # fmt: skip


class WeightsError(ValueError):
    """Bytes that are not valid safetensors; the message says what is wrong with them."""


@dataclass(frozen=True)
class TensorEntry:
    """One tensor the header declares: safetensors ``dtype``, ``shape``, byte range in the
    data (``start``, ``end``)."""

    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Header:
    """A checked header: ``header_bytes`` (8 + N, where the data starts), ``entries`` by name
    (sorted by name, as safetensors writes them), ``data_bytes`` (the data's size)."""

    header_bytes: int
    entries: dict[str, TensorEntry]
    data_bytes: int

    @property
    def numel(self) -> int:
        """Numbers held by all the tensors."""
        return sum(math.prod(e.shape) for e in self.entries.values())


def read_header(read: Callable[[int], bytes], total: int) -> Header:
    """Read and check the header of ``total`` bytes of safetensors, through ``read(n)``
    (e.g. an open file's ``read``), reading no further than the header.

    >>> import io
    >>> read_header(io.BytesIO(b"PK\\x03\\x04garbage").read, 11)
    Traceback (most recent call last):
    ...
    rung.models.weights.WeightsError: it declares a 7,093,839,458,138,803,024-byte header in 11 bytes
    """
    head = read(8)
    if len(head) < 8:
        raise WeightsError(f"it is {total} bytes, too short for a header")
    (n,) = struct.unpack("<Q", head)
    if n > min(total - 8, MAX_HEADER_BYTES):
        raise WeightsError(f"it declares a {n:,}-byte header in {total:,} bytes")
    raw = read(n)
    if len(raw) != n:
        raise WeightsError(f"its {n:,}-byte header is cut off after {len(raw):,} bytes")
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise WeightsError(f"its header is not JSON ({str(e)[:100]})") from e
    if not isinstance(header, dict):
        raise WeightsError(f"its header is a JSON {type(header).__name__}, not an object")
    header.pop("__metadata__", None)
    entries = {name: _entry(name, value) for name, value in sorted(header.items())}
    data_bytes = total - 8 - n
    _check_packed(entries, data_bytes)
    return Header(8 + n, entries, data_bytes)


def tensors_from(data: bytearray, header: Header) -> dict[str, torch.Tensor]:
    """The tensors of safetensors ``data`` (the bytes after the header), as views of it.

    A tensor whose bytes don't start at a multiple of its item size is copied (CPU kernels may
    assume aligned data), and so is each tensor on a big-endian machine, its bytes swapped.
    """
    import torch

    if len(data) != header.data_bytes:
        raise WeightsError(
            f"{len(data):,} bytes of data for a header declaring {header.data_bytes:,}"
        )
    out = {}
    view = memoryview(data)
    for name, entry in header.entries.items():
        dtype_name, itemsize = DTYPES[entry.dtype]
        dtype = getattr(torch, dtype_name)
        start, count = entry.start, math.prod(entry.shape)
        if count == 0:
            out[name] = torch.empty(entry.shape, dtype=dtype)
            continue
        if start % itemsize or sys.byteorder != "little":
            words = np.frombuffer(view[start : entry.end], dtype=f"<u{itemsize}")
            chunk = words.astype(words.dtype.newbyteorder("="))  # a copy, in this machine's order
            tensor = torch.from_numpy(chunk).view(dtype)
        else:
            tensor = torch.frombuffer(data, dtype=dtype, count=count, offset=start)
        out[name] = tensor.view(entry.shape)
    return out


def finite_tensors(data: bytearray, header: Header, max_listed: int = 5) -> dict[str, torch.Tensor]:
    """:func:`tensors_from`, refused (:class:`~rung.models.untrusted.Refused`) when a
    floating-point tensor holds NaN or infinity: a model that would predict NaN."""
    from rung.models.untrusted import Refused

    state = tensors_from(data, header)
    bad = non_finite(state)
    if bad:
        more = ", ..." if len(bad) > max_listed else ""
        raise Refused(
            f"its weights hold NaN or infinite values in {len(bad)} tensors "
            f"({', '.join(bad[:max_listed])}{more}); the model would predict NaN.",
            "Training diverged before export (lower the learning rate), or the file is "
            "damaged; export it again from a model whose loss was finite.",
        )
    return state


def non_finite(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors that hold a NaN or an infinity.

    >>> import torch
    >>> non_finite({"a": torch.ones(2), "b": torch.tensor([1.0, float("nan")]), "c": torch.ones(2, dtype=torch.int64)})
    ['b']
    """
    import torch

    bad = []
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            continue
        # in chunks: isfinite makes temporaries (abs, comparisons) larger than the tensor
        for chunk in tensor.reshape(-1).split(2**20):
            if chunk.dtype.itemsize == 1:  # float8: isfinite may lack a kernel
                chunk = chunk.float()
            if not bool(torch.isfinite(chunk).all()):
                bad.append(name)
                break
    return bad


def serialize(state: Mapping[str, Any]) -> bytes:
    """safetensors bytes of a state dict. safetensors refuses tensors that share memory (tied
    weights, views of one buffer) or aren't contiguous, so those are copied first.

    >>> import io, torch
    >>> w = torch.ones(2, 3)
    >>> data = bytearray(serialize({"w": w, "w_t": w.t()}))  # shared and not contiguous
    >>> header = read_header(io.BytesIO(data).read, len(data))
    >>> sorted(header.entries), header.numel
    (['w', 'w_t'], 12)
    """
    import torch
    from safetensors.torch import save as save_safetensors

    tensors: dict[str, torch.Tensor] = {}
    seen_storages: set[int] = set()
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(
                f"state_dict entry {key!r} is a {type(value).__name__}, not a tensor; a model "
                "file holds tensors only. Keep such state in the config instead."
            )
        tensor = value.detach().cpu()
        storage = tensor.untyped_storage().data_ptr()
        if storage in seen_storages or not tensor.is_contiguous():
            tensor = tensor.clone(memory_format=torch.contiguous_format)
        elif storage != 0:  # empty tensors all report storage 0 and never conflict
            seen_storages.add(storage)
        tensors[key] = tensor
    return save_safetensors(tensors, metadata={"format": "pt"})


def _entry(name: str, value: object) -> TensorEntry:
    if not isinstance(value, dict):
        raise WeightsError(f"its header entry {name!r} is not an object")
    dtype, shape, offsets = value.get("dtype"), value.get("shape"), value.get("data_offsets")
    if dtype not in DTYPES:
        raise WeightsError(f"tensor {name!r} has dtype {dtype!r}; known: {sorted(DTYPES)}")
    if not isinstance(shape, list) or len(shape) > MAX_NDIM or not all(_whole(d) for d in shape):
        raise WeightsError(
            f"tensor {name!r} has shape {str(shape)[:80]}, not a list of at most {MAX_NDIM} "
            "whole numbers >= 0"
        )
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_whole, offsets)):
        raise WeightsError(f"tensor {name!r} has data_offsets {str(offsets)[:80]}")
    start, end = offsets
    size = math.prod(shape) * DTYPES[dtype][1]
    if end - start != size:
        raise WeightsError(
            f"tensor {name!r} of shape {tuple(shape)} ({dtype}) needs {size:,} bytes but its "
            f"data_offsets {offsets} span {end - start:,}"
        )
    return TensorEntry(dtype, tuple(shape), start, end)


def _check_packed(entries: Mapping[str, TensorEntry], data_bytes: int) -> None:
    """Tensors must tile the data exactly: in offset order, each starts where the last ended."""
    at = 0
    for name, entry in sorted(entries.items(), key=lambda item: (item[1].start, item[1].end)):
        if entry.start != at:
            what = "overlaps the tensor before it" if entry.start < at else "leaves a gap"
            raise WeightsError(f"tensor {name!r} {what} (starts at byte {entry.start:,})")
        at = entry.end
    if at != data_bytes:
        raise WeightsError(f"its tensors declare {at:,} bytes of data but it holds {data_bytes:,}")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
