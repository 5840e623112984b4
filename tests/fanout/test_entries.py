"""The stream's entry and checkpoint formats, and what importing the fan-out costs (no Redis here)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from imgfeed.errors import ProtocolError
from imgfeed.fanout.redis.entries import (
    FORMAT,
    MARKERS,
    checkpoint_key,
    decode_checkpoint,
    encode_checkpoint,
    marker_fields,
    meta_key,
    pointer_key,
    read_marker,
)


@pytest.mark.parametrize("kind", sorted(MARKERS))
def test_every_marker_round_trips(kind: str) -> None:
    data = {"reason": "server closing", "detail": "ünïcode ✓", "nested": {"a": [1, None]}}
    assert read_marker(b"1-0", marker_fields(kind, data)) == (kind, data)


@pytest.mark.parametrize(
    "fields, why",
    [
        ({b"x": b"y"}, "KeyError"),
        ({b"m": b"teleport", b"d": b"{}"}, "unknown marker 'teleport'"),
        ({b"m": b"tick", b"d": b"[not json"}, "JSONDecodeError"),
        ({b"m": b"tick", b"d": b"[1, 2]"}, "not a JSON object"),
        ({b"m": b"\xff", b"d": b"{}"}, "UnicodeDecodeError"),
    ],
)
def test_a_malformed_marker_is_a_protocol_error_with_its_bytes(fields: dict, why: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        read_marker(b"17-3", fields)
    assert "stream entry 17-3 is malformed" in str(caught.value) and why in str(caught.value)
    assert caught.value.raw == repr(fields).encode("utf-8", "backslashreplace")


def test_a_checkpoint_blob_round_trips_and_a_wrong_one_is_refused() -> None:
    meta = {"format": FORMAT, "feed": "img", "session": None, "tradable": ["m1"]}
    lines = [b'{"a": 1}\n', b'{"b": "\xc3\xa9"}\n']
    assert decode_checkpoint(encode_checkpoint(meta, lines)) == (meta, b"".join(lines))
    assert decode_checkpoint(encode_checkpoint(meta, [])) == (meta, b"")
    for blob in (b"not json\n", b'{"format": 99}\n', b"[]\n"):
        with pytest.raises(ProtocolError, match="checkpoint"):
            decode_checkpoint(blob)


def test_the_keys_beside_a_stream() -> None:
    assert (meta_key("golf"), pointer_key("golf")) == ("golf:meta", "golf:checkpoint")
    assert checkpoint_key("golf", "run1", 7) == "golf:checkpoint:run1:7"


def test_importing_imgfeed_and_the_fan_out_does_not_import_redis() -> None:
    code = "import imgfeed, imgfeed.cli, imgfeed.fanout.redis, sys; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
