"""Per-subscription state: ids, clocks, image completeness, staleness, conflation."""

from imgfeed.feeds.betfair.protocol.segments import SegmentError
from imgfeed.feeds.betfair.protocol.stream import SubscriptionStream

from .helpers import mcm, ocm


def _subscribed(**kwargs):
    stream = SubscriptionStream()
    stream.subscribed(5, **kwargs)
    return stream


def test_messages_of_another_subscription_are_dropped_and_counted():
    stream = _subscribed()
    assert stream.receive(mcm(id=4, clk="OLD", mc=[{"id": "1.1"}])) is None
    assert stream.clk is None
    assert stream.stats()["dropped_other_id"] == 1
    message = mcm(id=5, clk="NEW")
    assert stream.receive(message) is message and stream.clk == "NEW"


def test_messages_without_id_are_accepted_as_in_historical_files():
    stream = _subscribed()
    assert stream.receive(mcm(clk="H1", mc=[{"id": "1.1"}])) is not None
    assert stream.clk == "H1"


def test_without_a_subscription_every_id_is_accepted():
    stream = SubscriptionStream()
    assert stream.receive(mcm(id=77, clk="X")) is not None


def test_an_unsegmented_image_commits_clocks_rates_and_completes():
    stream = _subscribed()
    assert not stream.is_image_complete
    stream.receive(mcm(id=5, ct="SUB_IMAGE", initialClk="I", clk="C", heartbeatMs=5000, conflateMs=0, mc=[]))
    assert (stream.initial_clk, stream.clk, stream.heartbeat_ms, stream.conflate_ms) == ("I", "C", 5000, 0)
    assert stream.is_image_complete and stream.is_up_to_date
    assert stream.resubscribe_payload() == {"initial_clk": "I", "clk": "C"}


def test_clocks_are_committed_only_at_seg_end():
    stream = _subscribed()
    assert (
        stream.receive(mcm(id=5, ct="SUB_IMAGE", segmentType="SEG_START", initialClk="I", clk="C1")) is None
    )
    assert stream.receive(mcm(id=5, ct="SUB_IMAGE", segmentType="SEG", clk="C2")) is None
    assert (stream.initial_clk, stream.clk, stream.is_image_complete) == (None, None, False)
    assert stream.resubscribe_payload() == {}
    change = stream.receive(mcm(id=5, ct="SUB_IMAGE", segmentType="SEG_END", clk="C3"))
    assert change is not None and change.segment_type is None
    assert (stream.initial_clk, stream.clk, stream.is_image_complete) == ("I", "C3", True)


def test_null_clocks_do_not_erase_committed_ones():
    stream = _subscribed()
    stream.receive(mcm(id=5, ct="SUB_IMAGE", initialClk="I", clk="C"))
    stream.receive(mcm(id=5, mc=[{"id": "1.1"}]))
    assert (stream.initial_clk, stream.clk) == ("I", "C")


def test_heartbeats_commit_their_clock_but_complete_nothing():
    stream = _subscribed()
    stream.receive(mcm(id=5, ct="HEARTBEAT", clk="H"))
    assert stream.clk == "H" and not stream.is_image_complete
    assert stream.stats()["heartbeats"] == 1 and stream.stats()["changes"] == 0


def test_resub_delta_completes_the_image_after_a_reconnect():
    stream = _subscribed()
    stream.receive(mcm(id=5, ct="SUB_IMAGE", initialClk="I", clk="C"))
    assert stream.connection_lost() == 0
    assert not stream.is_image_complete
    payload = stream.resubscribe_payload()
    assert payload == {"initial_clk": "I", "clk": "C"}
    stream.subscribed(6, resumed=True)
    assert stream.resubscribe_payload() == payload  # resuming keeps the clocks
    stream.receive(mcm(id=6, ct="RESUB_DELTA", clk="D", mc=[]))
    assert stream.is_image_complete and stream.clk == "D" and stream.initial_clk == "I"
    assert stream.stats()["images"] == 2


def test_a_fresh_subscription_forgets_the_clocks():
    stream = _subscribed()
    stream.receive(mcm(id=5, ct="SUB_IMAGE", initialClk="I", clk="C"))
    stream.subscribed(7)
    assert (stream.initial_clk, stream.clk, stream.subscription_id) == (None, None, 7)
    assert stream.resubscribe_payload() == {}


def test_connection_lost_discards_segments_in_flight():
    stream = _subscribed()
    stream.receive(mcm(id=5, ct="SUB_IMAGE", segmentType="SEG_START", clk="C1"))
    assert stream.connection_lost() == 1
    # the SEG_END of the lost connection's image cannot complete anything
    assert isinstance(
        stream.receive(mcm(id=5, ct="SUB_IMAGE", segmentType="SEG_END", clk="C2")), SegmentError
    )


def test_invalid_clock_resets_clocks_and_image():
    stream = _subscribed()
    stream.receive(mcm(id=5, ct="SUB_IMAGE", initialClk="I", clk="C"))
    stream.invalid_clock()
    assert (stream.initial_clk, stream.clk, stream.is_image_complete) == (None, None, False)
    assert stream.resubscribe_payload() == {}


def test_a_segment_error_marks_the_image_incomplete_but_keeps_clocks():
    stream = _subscribed()
    stream.receive(mcm(id=5, ct="SUB_IMAGE", initialClk="I", clk="C"))
    error = stream.receive(mcm(id=5, segmentType="SEG", clk="X"))
    assert isinstance(error, SegmentError)
    assert not stream.is_image_complete
    assert stream.resubscribe_payload() == {"initial_clk": "I", "clk": "C"}  # a resubscription recovers
    assert stream.stats()["segment_errors"] == 1


def test_status_503_sets_stale_until_a_message_without_it():
    stream = _subscribed()
    stream.receive(mcm(id=5, ct="SUB_IMAGE", initialClk="I", clk="C"))
    stream.receive(mcm(id=5, status=503, mc=[{"id": "1.1"}]))
    assert stream.is_stale and not stream.is_up_to_date
    stream.receive(mcm(id=5, status=503))
    assert stream.stats()["stale_messages"] == 2
    stream.receive(mcm(id=5, ct="HEARTBEAT", clk="H"))
    assert not stream.is_stale and stream.is_up_to_date


def test_con_without_requested_conflation_counts_as_reading_too_slowly():
    stream = _subscribed()
    stream.receive(mcm(id=5, mc=[{"id": "1.1", "con": True}, {"id": "1.2", "con": True}, {"id": "1.3"}]))
    assert stream.stats()["unrequested_conflations"] == 2


def test_con_with_requested_conflation_is_expected():
    stream = _subscribed(conflate_ms=500)
    stream.receive(mcm(id=5, mc=[{"id": "1.1", "con": True}]))
    assert stream.stats()["unrequested_conflations"] == 0


def test_order_streams_use_the_same_rules():
    stream = _subscribed()
    stream.receive(ocm(id=5, ct="SUB_IMAGE", initialClk="OI", clk="OC", oc=[{"id": "1.1"}]))
    assert stream.is_image_complete and stream.resubscribe_payload() == {"initial_clk": "OI", "clk": "OC"}
    assert stream.stats()["unrequested_conflations"] == 0


def test_repr_shows_key_state():
    text = repr(_subscribed())
    assert "id=5" in text and "image_complete=False" in text
