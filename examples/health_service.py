"""Embed imgfeed in a plain threaded service, with an HTTP health endpoint.

Many trading back-ends are not asyncio programs: they are a main thread, some worker threads and a
small HTTP server for the load balancer's health checks. This example is that service. The feed
client runs its own threads; the HTTP server answers on its own thread from:

- ``client.stats()``: a frozen snapshot of the client's health (state, session id, heartbeat age,
  message counts, the last disconnection and its reason), and
- ``client.book``: which markets may be traded *now* (the feed's suspension rules applied).

``GET /health`` returns 200 while a session is up and heartbeats are on time, 503 otherwise, with a
JSON body -- so a load balancer takes the instance out of rotation exactly when its prices must not
be trusted. ``GET /markets`` lists the tradable markets with their shortest price.

Run it against the simulator. In one terminal start ``imgfeed simulate`` (it prints the key and
known_hosts paths it made, by default under ``~/.imgfeed/simulator``); in another::

    python examples/health_service.py --host 127.0.0.1 --port 2093 --user demo \\
        --key ~/.imgfeed/simulator/client_ed25519 \\
        --known-hosts ~/.imgfeed/simulator/known_hosts --http-port 8080
    curl -s localhost:8080/health

It stops cleanly on Ctrl-C or SIGTERM: the HTTP server and the client are shut down, every thread
is joined.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Tuple

import imgfeed
from imgfeed.signals import stop_on_signals

log = logging.getLogger("health_service")


def health(client: imgfeed.FeedClient) -> Tuple[int, Dict[str, Any]]:
    """The health status code and body: healthy means "prices can be trusted right now"."""
    stats = client.stats()
    suspended = client.book.suspended
    tradable = client.book.tradable_market_ids()
    body = {
        "state": str(stats.state),
        "session_id": stats.session_id,
        "heartbeat_age": stats.heartbeat_age,
        "suspended": None if suspended is None else str(suspended),
        "tradable_markets": len(tradable),
        "markets": len(client.book),
        "messages": stats.messages,
        "reconnects": stats.reconnects,
        "protocol_errors": stats.protocol_errors,
        "handler_errors": stats.handler_errors,
        "last_disconnect": None if stats.last_disconnect is None else str(stats.last_disconnect),
    }
    healthy = stats.session_id is not None and str(stats.state) == "running" and suspended is None
    return (200 if healthy else 503), body


def tradable_markets(client: imgfeed.FeedClient) -> Dict[str, Any]:
    """Every market tradable now, with its shortest priced selection."""
    snapshot = client.book.snapshot()
    out = {}
    for market_id in sorted(snapshot.tradable):
        image = snapshot.images.get(market_id)
        priced = [s for s in (image.selections if image else ()) if s.price is not None]
        best = min(priced, key=lambda s: s.price) if priced else None
        market = snapshot.markets.get(market_id)
        out[market_id] = {
            "name": market.name if market else None,
            "favourite": None if best is None else {"name": best.name, "price": best.price},
        }
    return out


def make_http_server(client: imgfeed.FeedClient, port: int) -> ThreadingHTTPServer:
    class Endpoint(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            if self.path == "/health":
                code, body = health(client)
            elif self.path == "/markets":
                code, body = 200, tradable_markets(client)
            else:
                code, body = 404, {"error": "try /health or /markets"}
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    # Loopback only: a health endpoint is for the local load balancer agent, not the internet.
    return ThreadingHTTPServer(("127.0.0.1", port), Endpoint)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=2093)
    parser.add_argument("--user", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--known-hosts", default="~/.ssh/known_hosts")
    parser.add_argument("--http-port", type=int, default=8080, help="0 picks a free port")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    config = imgfeed.FeedConfig(
        host=args.host,
        port=args.port,
        username=args.user,
        key_filename=args.key,
        known_hosts=args.known_hosts,
    )
    stop = threading.Event()
    # SIGTERM (from a process manager) and Ctrl-C both mean: shut down cleanly. Not with a handler
    # that calls stop.set(): it can run inside stop.wait() below and hang (imgfeed/signals.py).
    with stop_on_signals(stop):
        client = imgfeed.FeedClient(config, handlers=[imgfeed.LoggingHandler()])
        client.start()
        server = make_http_server(client, args.http_port)
        http_thread = threading.Thread(target=server.serve_forever, name="health-http")
        http_thread.start()
        print(f"health endpoint: http://127.0.0.1:{server.server_address[1]}/health", flush=True)
        try:
            # Subscribing needs a session; the client keeps the subscription across reconnects.
            while not stop.is_set():
                try:
                    client.subscribe(timeout=5.0)
                    print("subscribed to every market", flush=True)
                    break
                except imgfeed.ImgFeedError as exc:
                    log.warning("subscribe failed (%s); retrying", exc)
                    stop.wait(1.0)
            stop.wait()
        finally:
            server.shutdown()
            server.server_close()
            http_thread.join(5.0)
            client.stop(timeout=5.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
