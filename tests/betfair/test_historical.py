"""Betfair historical files: every compression by its magic bytes, errors naming file and line."""

import bz2
import gzip
import json

import pytest

from imgfeed.errors import ReplayError
from imgfeed.feeds.betfair.historical import FileKind, iter_lines, sniff

from .helpers import DATA, Pipeline

LINES = [
    b'{"op":"mcm","clk":"1","pt":1,"mc":[{"id":"1.1","rc":[{"id":5,"ltp":2.5}]}]}',
    b'{"op":"mcm","clk":"2","pt":2,"mc":[{"id":"1.1","rc":[{"id":5,"ltp":2.6,"tv":3}]}]}',
    b'{"op":"mcm","clk":"3","pt":3,"mc":[{"id":"1.1","rc":[{"id":5,"ltp":2.7}]}]}',
]
CONTENT = LINES[0] + b"\r\n" + LINES[1] + b"\n\n  \n" + LINES[2] + b"\n"


@pytest.fixture(params=["plain", "gzip", "bz2"])
def historical(request, tmp_path):
    compress = {"plain": bytes, "gzip": gzip.compress, "bz2": bz2.compress}[request.param]
    path = tmp_path / "1.1"  # no extension: recognised by content
    path.write_bytes(compress(CONTENT))
    return path


def test_lines_with_their_numbers_whatever_the_compression(historical):
    assert list(iter_lines(historical)) == [(LINES[0], 1), (LINES[1], 2), (LINES[2], 5)]


def test_a_misleading_extension_does_not_matter(tmp_path):
    path = tmp_path / "market.gz"  # says gzip, is bzip2
    path.write_bytes(bz2.compress(CONTENT))
    assert [number for _, number in iter_lines(path)] == [1, 2, 5]


def test_lines_feed_the_same_pipeline_as_a_stream(historical):
    pipeline = Pipeline().feed(line for line, _ in iter_lines(historical))
    assert pipeline.errors == [] and pipeline.cache.book("1.1").runner(5).last_price_traded == 2.7


def test_bflw_historical_sample():
    lines = list(iter_lines(DATA / "BASIC-1.132153978"))
    assert len(lines) == 480 and lines[-1][1] == 480
    assert json.loads(lines[0][0])["op"] == "mcm"


def test_a_missing_file_names_the_path(tmp_path):
    path = tmp_path / "absent"
    with pytest.raises(ReplayError) as caught:
        list(iter_lines(path))
    assert caught.value.path == str(path) and "cannot open" in str(caught.value)
    with pytest.raises(ReplayError):
        sniff(path)


# bzip2 decodes whole blocks (100 kB at level 1): enough data that some blocks precede the cut.
@pytest.mark.parametrize("compress", [gzip.compress, lambda data: bz2.compress(data, compresslevel=1)])
def test_a_truncated_file_names_the_line_where_it_broke(tmp_path, compress):
    data = compress(CONTENT * 3000)
    path = tmp_path / "cut"
    path.write_bytes(data[: len(data) // 2])
    read = []
    with pytest.raises(ReplayError) as caught:
        for _, number in iter_lines(path):
            read.append(number)
    assert caught.value.path == str(path)
    assert len(read) > 100  # the complete lines before the cut were delivered
    # the line after the last one read (CONTENT's blank lines are counted, not yielded)
    assert read[-1] < caught.value.line_number <= read[-1] + 3
    assert f"line {caught.value.line_number}" in str(caught.value)


def test_corrupt_compressed_data_is_a_replay_error(tmp_path):
    path = tmp_path / "corrupt"
    data = bytearray(gzip.compress(CONTENT * 50))
    data[30:60] = b"\x00" * 30
    path.write_bytes(bytes(data))
    with pytest.raises(ReplayError, match="corrupt or truncated"):
        list(iter_lines(path))


def test_sniff_tells_betfair_files(historical):
    assert sniff(historical) == FileKind.BETFAIR
    assert sniff(DATA / "BASIC-1.132153978") is FileKind.BETFAIR
    assert sniff(DATA / "ORDER-1.177596575") is FileKind.BETFAIR


@pytest.mark.parametrize(
    "content, kind",
    [
        (
            b'\n{"imgfeed_recording": 1, "created": "2024-01-01T00:00:00Z", "source": "x"}\n'
            b'{"t": 1, "line": "{}"}\n',
            FileKind.IMGFEED_RECORDING,
        ),
        (b'{"mode":"push","type":"heartbeat"}\n', FileKind.UNKNOWN),
        (b"", FileKind.UNKNOWN),
        (b"\n\n", FileKind.UNKNOWN),
        (b"not json\n", FileKind.UNKNOWN),
        (b"[1]\n", FileKind.UNKNOWN),
        (b'  \n{"op":"connection","connectionId":"x"}\r\n', FileKind.BETFAIR),
    ],
)
def test_sniff_by_content(tmp_path, content, kind):
    path = tmp_path / "file"
    path.write_bytes(gzip.compress(content))
    assert sniff(path) is kind


def test_sniff_a_first_line_longer_than_it_reads(tmp_path, monkeypatch):
    from imgfeed.feeds.betfair import historical

    monkeypatch.setattr(historical, "SNIFF_BYTES", 40)
    path = tmp_path / "long"
    path.write_bytes(LINES[0] + b"\n")
    assert sniff(path) is FileKind.BETFAIR
