"""The README's set-up commands are the ones CI runs: keep them from drifting apart."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.*?)\n```", text, flags=re.S)[:2]


def test_readme_opens_with_demo_and_test_commands() -> None:
    demo, tests = _readme_commands()
    assert "imgfeed demo" in demo
    assert "pytest" in tests and "openssh-server" in tests


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    _, tests = _readme_commands()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert tests.strip() in ci_lines


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    import attrs

    from imgfeed import FeedConfig

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(\w+)` \|", text, flags=re.M))
    missing = [f.name for f in attrs.fields(FeedConfig) if f.name not in documented]
    assert not missing, f"settings missing from the README's configuration table: {missing}"
