"""The untrusted-input checks on their own: member counts read from the zip's end record
(zip64 too), inflation caps that spare small and stored members, reads with a hard stop, and
the JSON depth limit at its boundary."""

from __future__ import annotations

import io
import zipfile

import pytest

from rung.models.untrusted import (
    Refused,
    capped_member,
    read_exactly,
    read_member,
    strict_json,
    zip_entries,
)


def test_the_member_count_comes_from_the_end_record_zip64_included():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i in range(70_000):  # past 65,535: the count lives in the zip64 end record
            zf.writestr(f"m{i}", b"")
    assert zip_entries(buffer) == 70_000
    assert zip_entries(io.BytesIO(b"PK\x03\x04 not a whole zip")) is None


def test_inflation_is_capped_for_deflated_members_only_and_past_the_first_mib():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("small", b"\0" * 2**19, compress_type=zipfile.ZIP_DEFLATED)  # 500x, 512 KiB
        zf.writestr("stored", b"\0" * 2**21, compress_type=zipfile.ZIP_STORED)
        zf.writestr("bomb", b"\0" * 2**21, compress_type=zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(buffer) as zf:
        assert len(read_member(zf, capped_member(zf, "small", 2**20, 32))) == 2**19
        assert len(read_member(zf, capped_member(zf, "stored", 2**22, 32))) == 2**21
        with pytest.raises(Refused, match=r"its bomb inflates [\d,]+ times"):
            capped_member(zf, "bomb", 2**22, 32)
        with pytest.raises(
            Refused, match="its stored is 2,097,152 bytes uncompressed, over the limit of 1,000"
        ):
            capped_member(zf, "stored", 1000)


def test_reads_stop_at_the_declared_size():
    assert read_exactly(io.BytesIO(b"abc"), 3, "data") == bytearray(b"abc")
    with pytest.raises(Refused, match="its data is cut off after 2 of 3 bytes"):
        read_exactly(io.BytesIO(b"ab"), 3, "data")


def test_json_depth_is_counted_in_containers():
    assert strict_json(b"[[[1]]]", max_depth=3) == [[[1]]]
    assert strict_json(b'{"a": {"b": [1, {}]}}', max_depth=4)
    with pytest.raises(Refused, match="config.json is nested more than 3 levels deep"):
        strict_json(b'{"a": {"b": [{}]}}', max_depth=3, what="config.json")
    with pytest.raises(Refused, match="Infinity is not a JSON value"):
        strict_json(b"[Infinity]", max_depth=3)
