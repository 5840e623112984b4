"""imgfeed.loopback.faults: the switches both test servers share, against a recording server."""

from __future__ import annotations

from typing import Any, Callable, List

import pytest

from imgfeed.loopback.faults import FaultSwitches, check_chunk_sizes


class _Session:
    def __init__(self) -> None:
        self.heartbeats_enabled = True
        self.raw: List[bytes] = []

    def send_raw(self, data: bytes) -> None:
        self.raw.append(data)


class _Server:
    def __init__(self) -> None:
        self.sessions = [_Session(), _Session()]
        self.wakes = 0

    def _for_each_session(self, action: Callable[[Any], None]) -> None:
        for session in self.sessions:
            action(session)

    def _wake_all(self) -> None:
        self.wakes += 1


def test_heartbeat_switch_reaches_every_session() -> None:
    server = _Server()
    faults = FaultSwitches(server)
    faults.stop_heartbeats()
    assert faults.heartbeats_stopped and [s.heartbeats_enabled for s in server.sessions] == [False, False]
    faults.resume_heartbeats()
    assert not faults.heartbeats_stopped and [s.heartbeats_enabled for s in server.sessions] == [True, True]


def test_resume_wakes_the_writers() -> None:
    server = _Server()
    faults = FaultSwitches(server)
    faults.stall()
    assert faults.stalled and server.wakes == 0
    faults.resume()
    assert not faults.stalled and server.wakes == 1


def test_send_raw_goes_to_every_session() -> None:
    server = _Server()
    FaultSwitches(server).send_raw(b"x\r\n")
    assert [s.raw for s in server.sessions] == [[b"x\r\n"], [b"x\r\n"]]


@pytest.mark.parametrize("sizes, expected", [(None, None), ([1], (1,)), ((3, 1, 7), (3, 1, 7)), ([2.0], (2,))])
def test_check_chunk_sizes_accepts(sizes: Any, expected: Any) -> None:
    assert check_chunk_sizes(sizes) == expected


@pytest.mark.parametrize("sizes", [[], [0], [3, -1]])
def test_check_chunk_sizes_names_what_it_got(sizes: Any) -> None:
    with pytest.raises(ValueError, match=r"chunk sizes must be integers >= 1, got"):
        check_chunk_sizes(sizes)
