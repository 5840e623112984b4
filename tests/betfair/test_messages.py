from datetime import datetime, timezone

import attrs
import pytest

from imgfeed.feeds.betfair.protocol.messages import (
    STALE_STATUS,
    ChangeType,
    ErrorCode,
    MarketChangeMessage,
    OrderChangeMessage,
    SegmentType,
    StatusMessage,
)


def _mcm(**fields):
    return MarketChangeMessage(received_at=1.0, raw={"op": "mcm"}, **fields)


def test_records_are_frozen():
    message = _mcm(id=1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        message.id = 2  # type: ignore[misc]


def test_publish_time_converts_pt_to_aware_utc():
    assert _mcm(pt=1471370159007).publish_time == datetime(2016, 8, 16, 17, 55, 59, 7000, tzinfo=timezone.utc)
    assert _mcm().publish_time is None


def test_equality_ignores_received_at_and_hashing_works():
    a = MarketChangeMessage(id=1, clk="c", received_at=1.0, raw={"op": "mcm"}, mc=[{"id": "1.1"}])
    b = MarketChangeMessage(id=1, clk="c", received_at=2.0, raw={"op": "mcm"}, mc=[{"id": "1.1"}])
    assert a == b
    assert hash(a) == hash(b)
    assert a != attrs.evolve(a, clk="d")


@pytest.mark.parametrize(
    "ct, is_image, is_heartbeat",
    [
        (None, False, False),
        ("SUB_IMAGE", True, False),
        ("RESUB_DELTA", True, False),
        ("HEARTBEAT", False, True),
    ],
)
def test_change_type_questions(ct, is_image, is_heartbeat):
    message = _mcm(ct=ct)
    assert message.is_image is is_image
    assert message.is_heartbeat is is_heartbeat


def test_stale_is_status_503_only():
    assert _mcm(status=STALE_STATUS).is_stale
    assert not _mcm(status=None).is_stale
    assert not _mcm(status=200).is_stale


def test_changes_alias_mc_and_oc():
    assert _mcm(mc=[{"id": "1.2"}]).changes == [{"id": "1.2"}]
    order = OrderChangeMessage(received_at=0.0, raw={}, oc=[{"id": "1.3"}])
    assert order.changes == [{"id": "1.3"}]
    assert (MarketChangeMessage.CHANGES_KEY, OrderChangeMessage.CHANGES_KEY) == ("mc", "oc")


def test_repr_counts_changes_instead_of_dumping_them():
    text = repr(_mcm(id=3, mc=[{"id": "1.2", "rc": [{"id": 1, "atb": [[1.5, 2.0]] * 50}]}]))
    assert "mc=[1 changes]" in text
    assert "atb" not in text


def test_enums_compare_equal_to_their_wire_strings():
    assert ChangeType.SUB_IMAGE == "SUB_IMAGE"
    assert SegmentType.SEG_END == "SEG_END"
    assert ErrorCode("INVALID_CLOCK") is ErrorCode.INVALID_CLOCK


def test_status_is_success():
    assert StatusMessage(id=1, status_code="SUCCESS", received_at=0.0, raw={}).is_success
    assert not StatusMessage(id=1, status_code="FAILURE", received_at=0.0, raw={}).is_success
