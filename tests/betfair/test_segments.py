"""Segment assembly: START..SEG..END become one change; anything out of order is an error."""

import pickle

import pytest

from imgfeed.feeds.betfair.protocol.segments import SegmentAssembler, SegmentError

from .helpers import mcm, ocm


def _segments():
    return [
        mcm(
            id=2,
            ct="SUB_IMAGE",
            segmentType="SEG_START",
            initialClk="I",
            clk="C1",
            pt=1,
            heartbeatMs=5000,
            conflateMs=0,
            mc=[{"id": "1.1"}],
        ),
        mcm(id=2, ct="SUB_IMAGE", segmentType="SEG", clk="C2", pt=2, mc=[{"id": "1.2"}, {"id": "1.3"}]),
        mcm(id=2, ct="SUB_IMAGE", segmentType="SEG_END", clk="C3", pt=3, received_at=9.0, mc=[{"id": "1.4"}]),
    ]


def test_non_segmented_messages_pass_through_unchanged():
    assembler = SegmentAssembler()
    message = mcm(id=1, clk="C", mc=[{"id": "1.1"}])
    assert assembler.feed(message) is message
    assert not assembler.is_open


def test_segments_become_one_change_with_the_latest_envelope():
    assembler = SegmentAssembler()
    start, middle, end = _segments()
    assert assembler.feed(start) is None
    assert assembler.is_open
    assert assembler.feed(middle) is None
    change = assembler.feed(end)
    assert not assembler.is_open
    assert [m["id"] for m in change.mc] == ["1.1", "1.2", "1.3", "1.4"]
    assert change.segment_type is None
    assert (change.id, change.ct, change.clk, change.initial_clk, change.pt) == (2, "SUB_IMAGE", "C3", "I", 3)
    assert (change.heartbeat_ms, change.conflate_ms) == (5000, 0)
    assert change.received_at == 9.0
    assert change.raw["mc"] is change.mc and "segmentType" not in change.raw
    assert change.raw["initialClk"] == "I" and change.raw["clk"] == "C3" and change.raw["op"] == "mcm"


def test_start_then_end_without_middle():
    assembler = SegmentAssembler()
    start, _, end = _segments()
    assembler.feed(start)
    assert [m["id"] for m in assembler.feed(end).mc] == ["1.1", "1.4"]


def test_order_segments_assemble_into_an_order_change():
    assembler = SegmentAssembler()
    assembler.feed(ocm(id=3, segmentType="SEG_START", ct="SUB_IMAGE", oc=[{"id": "1.1"}]))
    change = assembler.feed(ocm(id=3, segmentType="SEG_END", ct="SUB_IMAGE", clk="X", oc=[{"id": "1.2"}]))
    assert [m["id"] for m in change.oc] == ["1.1", "1.2"] and change.raw["oc"] is change.oc


def test_a_heartbeat_inside_segments_passes_and_keeps_them():
    assembler = SegmentAssembler()
    start, middle, end = _segments()
    assembler.feed(start)
    heartbeat = mcm(id=2, ct="HEARTBEAT", clk="H")
    assert assembler.feed(heartbeat) is heartbeat
    assembler.feed(middle)
    assert len(assembler.feed(end).mc) == 4


@pytest.mark.parametrize(
    "sequence, reason, discarded",
    [
        (["SEG"], "SEG without a SEG_START", 0),
        (["SEG_END"], "SEG_END without a SEG_START", 0),
        (["SEG_START", "SEG", "SEG_START"], "SEG_START while a segmented change was open", 2),
        (["SEG_START", None], "a change without segmentType arrived inside a segmented change", 1),
        (["SEG_START", "SEG", "SEG_MIDDLE"], "unknown segmentType 'SEG_MIDDLE'", 2),
    ],
)
def test_out_of_order_segments_are_errors_that_reset(sequence, reason, discarded):
    assembler = SegmentAssembler()
    results = [assembler.feed(mcm(id=2, segmentType=kind, mc=[{"id": "1.1"}])) for kind in sequence]
    error = results[-1]
    assert isinstance(error, SegmentError)
    assert error.reason.startswith(reason)
    assert error.discarded == discarded
    assert b'"mc"' in error.raw  # the offending message, for the report


def test_a_new_start_while_open_begins_a_fresh_change():
    assembler = SegmentAssembler()
    assembler.feed(mcm(id=2, segmentType="SEG_START", mc=[{"id": "stale"}]))
    assert isinstance(assembler.feed(mcm(id=2, segmentType="SEG_START", mc=[{"id": "1.1"}])), SegmentError)
    change = assembler.feed(mcm(id=2, segmentType="SEG_END", mc=[{"id": "1.2"}]))
    assert [m["id"] for m in change.mc] == ["1.1", "1.2"]


def test_a_segment_of_another_subscription_is_an_error_and_resets():
    assembler = SegmentAssembler()
    assembler.feed(mcm(id=2, segmentType="SEG_START", mc=[{"id": "1.1"}]))
    error = assembler.feed(mcm(id=3, segmentType="SEG", mc=[{"id": "1.2"}]))
    assert isinstance(error, SegmentError) and "subscription id 3" in error.reason and error.discarded == 1
    assert not assembler.is_open
    assert isinstance(assembler.feed(mcm(id=2, segmentType="SEG_END", mc=[])), SegmentError)


def test_reset_drops_segments_in_flight():
    assembler = SegmentAssembler()
    assembler.feed(mcm(id=2, segmentType="SEG_START", mc=[]))
    assembler.feed(mcm(id=2, segmentType="SEG", mc=[]))
    assert assembler.reset() == 2
    assert not assembler.is_open and "open=False" in repr(assembler)


def test_segment_errors_pickle_with_their_attributes():
    error = SegmentError("why", b"raw", 3)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.raw, copy.discarded) == ("why", b"raw", 3)
