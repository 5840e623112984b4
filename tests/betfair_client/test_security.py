"""Secrets never show: the session token is in no log line (at DEBUG, every logger), no repr, no stats."""

from __future__ import annotations

import logging
from typing import Any, Callable

import pytest

from imgfeed.betfair import BetfairClient
from imgfeed.feeds.betfair.emulator import DEFAULT_APP_KEY, EmulatorConfig
from tests.betfair_client.conftest import ALL_FIELDS, WAIT
from tests.betfair_client.support import Recorder, called, caught_up

Make = Callable[..., Any]
OLD = "expired-token-6d1b9a0c"
NEW = "fresh-token-0f9e8d7c"


def test_the_token_is_never_logged_or_shown(
    make_server: Make, make_client: Make, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    server = make_server(EmulatorConfig(auth_timeout=5.0, session_tokens={NEW}))
    tokens = iter([OLD, NEW])
    with caplog.at_level(logging.DEBUG):
        client: BetfairClient = make_client(server, [recorder], session_token=None, session_provider=lambda: next(tokens))
        client.start()
        client.subscribe_markets({}, ALL_FIELDS)
        server.scenario.step()
        caught_up(server, client)
        seen = " ".join(
            [repr(client), repr(client.config), repr(client.stats()), repr(client._betfair), repr(client.markets)]
            + [repr(c) for c in recorder.wait_for(called("on_connect"))]
        )
        client.stop(WAIT)
    text = caplog.text + seen
    assert "INVALID_SESSION_INFORMATION" in caplog.text  # the refresh did happen, and was logged
    assert OLD not in text and NEW not in text
    assert DEFAULT_APP_KEY not in repr(client.config)
