"""``imgfeed tail`` against the simulator: valid JSON lines, the documented kinds, clean exits."""

from __future__ import annotations

from typing import Any, Dict, List

import ujson

from tests.cli.conftest import run_subprocess, single_error_line


def _jsonl(out: str) -> List[Dict[str, Any]]:
    lines = out.splitlines()
    assert lines, "no output"
    return [ujson.loads(line) for line in lines]  # every line must be one JSON object


def test_tail_jsonl_prints_one_json_object_per_line(run_cli: "object", sim: "object") -> None:
    result = run_cli("tail", *sim.connect_args("--subscribe-all", "--format", "jsonl", "--duration", "1.5"))  # type: ignore
    assert result.code == 0, result
    objs = _jsonl(result.out)
    kinds = [o["kind"] for o in objs]
    assert kinds[0] == "connected" and objs[0]["session_id"]
    for kind in ("sport", "competition", "event", "market_type", "market", "market_update", "heartbeat"):
        assert kind in kinds, kind
    assert kinds.index("sport") < kinds.index("market") < kinds.index("market_update")
    update = next(o for o in objs if o["kind"] == "market_update")
    assert set(update) == {"kind", "received_at", "msg"}
    assert update["received_at"].endswith("+00:00")
    market_id = update["msg"]["id"]
    # "msg as received": the simulator's latest image of the market has the same shape
    assert set(update["msg"]) <= set(sim.server.scenario.market_image(market_id)) | {"sim_sent_at"}  # type: ignore


def test_tail_without_subscription_shows_the_offering_only(run_cli: "object", sim: "object") -> None:
    result = run_cli("tail", *sim.connect_args("--format", "jsonl", "--duration", "0.8"))  # type: ignore
    kinds = {o["kind"] for o in _jsonl(result.out)}
    assert "market" in kinds and "heartbeat" in kinds
    assert "market_update" not in kinds


def test_tail_follows_a_reconnect(sim: "object") -> None:
    import signal

    from tests.cli.conftest import Process

    args = ["-m", "imgfeed", "tail", *sim.connect_args("--subscribe-all", "--format", "jsonl")]  # type: ignore
    proc = Process(args)
    try:
        assert proc.wait_for_line(lambda line: '"market_update"' in line), proc.lines
        sim.server.faults.drop_connections()  # type: ignore
        seen = len(proc.lines)
        assert proc.wait_for_line(lambda line: '"connected"' in line and proc.lines.index(line) >= seen)
        again = len(proc.lines)
        assert proc.wait_for_line(lambda line: '"market_update"' in line and proc.lines.index(line) >= again)
    finally:
        code, err = proc.finish(signal.SIGINT)
    assert code == 0 and "Traceback" not in err, err
    kinds = [o["kind"] for o in _jsonl("\n".join(proc.lines))]
    assert kinds.count("connected") == 2, kinds
    drop = kinds.index("disconnected")
    assert "suspended_all" in kinds[drop - 2 : drop + 2]
    assert "market_update" in kinds[kinds.index("connected", drop) :]  # re-subscribed by itself


def test_tail_pretty_is_readable(run_cli: "object", sim: "object") -> None:
    result = run_cli("tail", *sim.connect_args("--subscribe-all", "--duration", "1"))  # type: ignore
    assert result.code == 0
    assert "** connected to 127.0.0.1:" in result.out
    assert "market_update" in result.out


def test_unknown_host_key_says_how_to_add_it(run_cli: "object", sim: "object", tmp_path: "object") -> None:
    from pathlib import Path

    empty = Path(str(tmp_path)) / "empty_known_hosts"
    empty.write_text("")
    args = sim.connect_args("--duration", "10")  # type: ignore
    args[args.index("--known-hosts") + 1] = str(empty)
    result = run_cli("tail", *args)  # type: ignore
    assert result.code == 2
    line = single_error_line(result)
    assert "unknown host key for [127.0.0.1]:" in line and "SHA256:" in line
    assert f"ssh-keyscan -p {sim.port} 127.0.0.1" in line  # type: ignore


def test_changed_host_key_is_refused_loudly(run_cli: "object", sim: "object", tmp_path: "object") -> None:
    from pathlib import Path

    from imgfeed.cli.demo import memory_key

    other = memory_key()
    wrong = Path(str(tmp_path)) / "wrong_known_hosts"
    wrong.write_text(f"[127.0.0.1]:{sim.port} {other.get_name()} {other.get_base64()}\n")  # type: ignore
    args = sim.connect_args("--duration", "10")  # type: ignore
    args[args.index("--known-hosts") + 1] = str(wrong)
    result = run_cli("tail", *args)  # type: ignore
    assert result.code == 2
    assert "CHANGED" in single_error_line(result)


def test_key_not_authorized(run_cli: "object", sim: "object", tmp_path: "object") -> None:
    from pathlib import Path

    from imgfeed.cli.keygen import generate_key_pair

    stranger = Path(str(tmp_path)) / "stranger"
    generate_key_pair(str(stranger))
    args = sim.connect_args("--duration", "10")  # type: ignore
    args[args.index("--key") + 1] = str(stranger)
    result = run_cli("tail", *args)  # type: ignore
    assert result.code == 2
    line = single_error_line(result)
    assert "IMG Arena has your public key" in line


def test_tail_as_a_subprocess_pipes_valid_json(sim: "object") -> None:
    result = run_subprocess(
        ["tail", *sim.connect_args("--subscribe-all", "--format", "jsonl", "--duration", "1.5")]
    )  # type: ignore
    assert result.code == 0, result
    assert "Traceback" not in result.err
    assert {o["kind"] for o in _jsonl(result.out)} >= {"connected", "market_update", "heartbeat"}


def test_tail_jsonl_against_imgfeed_simulate(tmp_path: "object") -> None:
    """The issue's done-criterion, verbatim: `imgfeed tail --format jsonl` against `imgfeed simulate`."""
    import shlex
    import signal

    from tests.cli.conftest import Process

    state = str(tmp_path)
    sim = Process(
        ["-m", "imgfeed", "simulate", "--port", "0", "--state-dir", state, "--heartbeat-interval", "0.3"]
    )
    try:
        line = sim.wait_for_line(lambda line: line.strip().startswith("imgfeed tail "))
        assert line, sim.lines
        tail_args = shlex.split(line.strip())[1:]
        result = run_subprocess([*tail_args, "--format", "jsonl", "--duration", "2"])
    finally:
        code, err = sim.finish(signal.SIGTERM)
    assert result.code == 0, result
    assert {o["kind"] for o in _jsonl(result.out)} >= {
        "connected",
        "sport",
        "market",
        "market_update",
        "heartbeat",
    }
    assert code == 0, err
