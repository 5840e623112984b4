"""``imgfeed simulate``: run the local odds distribution simulator and say exactly how to connect.

On first use it creates a state directory (``~/.imgfeed/simulator`` by default, mode 0700) with a
persistent host key, a client key pair (``client_ed25519``), an ``authorized_keys`` file that
admits that key (append your own keys to it: it is read again for every connection, as sshd does),
and a ``known_hosts`` file with the simulator's
entry; every file is mode 0600. Then it serves until Ctrl-C (or SIGTERM), and stops cleanly:
every connection closed, every thread joined.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Dict, Optional, TextIO

from imgfeed.cli._betfair import add_feed_option
from imgfeed.cli._parsing import one_line_errors, positive_number, seconds
from imgfeed.errors import ImgFeedError
from imgfeed.feeds.betfair.emulator import cli as emulator_cli
from imgfeed.feeds.img.simulator import ScenarioConfig, SessionConfig, SimulatorServer
from imgfeed.feeds.img.simulator.keys import public_line, write_private_key
from imgfeed.loopback.cli import serve

__all__ = ["register", "run", "prepare_state_dir", "DEFAULT_STATE_DIR", "DEFAULT_SIM_PORT"]

DEFAULT_STATE_DIR = os.path.join("~", ".imgfeed", "simulator")
#: The real service's port (docs/protocol.md preamble), so that commands look the same.
DEFAULT_SIM_PORT = 2093
#: The username the printed commands use; the simulator accepts any.
DEFAULT_USER = "demo"

_EXAMPLES = """\
examples:
  imgfeed simulate                          # 127.0.0.1:2093, small scenario, 5 updates/s
  imgfeed simulate --port 0 --size tiny     # a free port, a handful of markets
  imgfeed simulate --size large --updates-per-second 20000   # a load generator
  imgfeed simulate --mustard                # behave like the older Mustard service
  imgfeed simulate --feed betfair           # Betfair's stream API over TLS on 127.0.0.1:8443
  imgfeed simulate --feed betfair --markets 200 --split utf8   # hostile framing
"""


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run a local simulator of the odds feed, or of Betfair's stream (no credentials needed)",
        description="Run a local odds distribution service over SSH with simulated golf tournaments "
        "(or, with --feed betfair, a local Betfair Exchange Stream API over TLS), and print how to "
        "connect to it with OpenSSH (OpenSSL) and with `imgfeed tail`.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # The Betfair emulator's options come first; the options both share (--host, --port,
        # --seed, --updates-per-second, --duration) are then redefined once, below.
        conflict_handler="resolve",
    )
    add_feed_option(parser)
    emulator_cli.add_arguments(parser.add_argument_group("Betfair emulator (--feed betfair)"))  # type: ignore[arg-type]
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    add(
        "--port",
        type=int,
        help=f"port; 0 picks a free one (default: {DEFAULT_SIM_PORT}; {emulator_cli.DEFAULT_PORT} with --feed betfair)",
    )
    add(
        "--state-dir",
        default=DEFAULT_STATE_DIR,
        metavar="DIR",
        help="keys and known_hosts live here, made on first use (default: %(default)s)",
    )
    add("--user", default=DEFAULT_USER, help="username to show in the commands (any is accepted)")
    add("--seed", type=int, default=0, help="scenario seed: same seed, same tournaments (default: 0)")
    add("--size", choices=("tiny", "small", "large"), default="small", help="scenario size (default: small)")
    add(
        "--updates-per-second",
        type=float,
        default=5.0,
        metavar="N",
        help="market updates per second; 0: prices only on subscription (default: 5)",
    )
    add(
        "--steps-per-second",
        type=positive_number,
        default=1.0,
        metavar="N",
        help="how fast tournaments move through pre-play, play and settlement (default: 1)",
    )
    add("--heartbeat-interval", type=seconds, default=3.0, metavar="S", help="heartbeat period (default: 3)")
    add("--init-timeout", type=seconds, default=10.0, metavar="S", help="to wait for init (default: 10)")
    add("--mustard", action="store_true", help="no init response, no publish_time: the older Mustard service")
    add("--stamp-send-time", action="store_true", help="add sim_sent_at to updates (latency benchmarks)")
    add("--duration", type=seconds, metavar="SECONDS", help="stop after this many seconds")
    one_line_errors(parser)
    parser.set_defaults(func=run)


def _write_private_text(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text)
    os.chmod(path, 0o600)


def prepare_state_dir(state_dir: str) -> Dict[str, Path]:
    """Create what the simulator needs in ``state_dir`` if missing; return the paths.

    Keys: ``dir``, ``host_key``, ``client_key``, ``client_pub``, ``authorized_keys``,
    ``known_hosts``. Existing files are kept (a host key that changed would break known_hosts).
    """
    root = Path(state_dir).expanduser()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = {
        "dir": root,
        "host_key": root / "host_ed25519",
        "client_key": root / "client_ed25519",
        "client_pub": root / "client_ed25519.pub",
        "authorized_keys": root / "authorized_keys",
        "known_hosts": root / "known_hosts",
    }
    if not paths["client_key"].exists():
        key = write_private_key(paths["client_key"], comment="imgfeed-simulator-client")
        os.chmod(paths["client_pub"], 0o600)
        if not paths["authorized_keys"].exists():
            _write_private_text(paths["authorized_keys"], public_line(key) + " imgfeed-simulator-client\n")
    if not paths["authorized_keys"].exists():
        _write_private_text(paths["authorized_keys"], paths["client_pub"].read_text(encoding="ascii"))
    return paths


def _instructions(server: SimulatorServer, paths: Dict[str, Path], args: argparse.Namespace) -> str:
    q = shlex.quote
    key, known = str(paths["client_key"]), str(paths["known_hosts"])
    ssh = (
        f"ssh -T -p {server.port} -i {q(key)} -o UserKnownHostsFile={q(known)} -o StrictHostKeyChecking=yes "
        f"-o IdentitiesOnly=yes {q(args.user)}@{server.host}"
    )
    tail = (
        f"imgfeed tail --host {server.host} --port {server.port} --user {q(args.user)} --key {q(key)} "
        f"--known-hosts {q(known)} --subscribe-all"
    )
    mode = " (Mustard mode)" if args.mustard else ""
    return f"""\
imgfeed simulator listening on {server.host}:{server.port}{mode}
  scenario:     seed {args.seed}, size {args.size}, {args.updates_per_second:g} updates/s

  host:         {server.host}
  port:         {server.port}
  username:     {args.user} (any username is accepted)
  private key:  {key}
  public key:   {paths["client_pub"]} (listed in {paths["authorized_keys"]}; add your own keys
                there: it is read again for every connection)
  known_hosts:  {known}
  host key:     {server.known_hosts_line()}

Connect with OpenSSH, then type {{"request": "init", "msg": {{}}}} and press Enter:
  {ssh}

Connect with imgfeed:
  {tail}

Ctrl-C stops the simulator.
"""


def run(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    if getattr(args, "feed", "img") == "betfair":
        if args.port is None:
            args.port = emulator_cli.DEFAULT_PORT
        return emulator_cli.run(args, out)
    if args.port is None:
        args.port = DEFAULT_SIM_PORT
    out = out if out is not None else sys.stdout
    try:
        session_config = SessionConfig(
            heartbeat_interval=args.heartbeat_interval, init_timeout=args.init_timeout, mustard=args.mustard
        )
        scenario_config = ScenarioConfig.of_size(
            args.size, seed=args.seed, updates_per_second=args.updates_per_second,
            steps_per_second=args.steps_per_second, stamp_send_time=args.stamp_send_time,
        )
    except ValueError as exc:
        raise ImgFeedError(str(exc)) from None
    paths = prepare_state_dir(args.state_dir)
    server = SimulatorServer(
        authorized_keys=[paths["authorized_keys"]],
        host_key=paths["host_key"],
        host=args.host,
        port=args.port,
        session_config=session_config,
        scenario_config=scenario_config,
    )

    def announce() -> str:
        _write_private_text(paths["known_hosts"], server.known_hosts_line() + "\n")
        return _instructions(server, paths, args)

    return serve(server, out, args.duration, announce, "simulator", f"holds a key in {paths['authorized_keys']}")
