"""The import contract that keeps the architecture honest (docs/architecture.md).

- ``imgfeed.runtime`` knows no feed: it imports nothing from ``imgfeed.feeds``, ``imgfeed.cli``,
  ``imgfeed.recording`` or ``imgfeed.fanout``, and no transport but the interface;
- transports know no feed and no runtime;
- the framing and the errors import nothing of imgfeed but the errors;
- feeds do not import each other, nor the CLI;
- the fan-out knows no CLI, no recording and no SSH.
- what both replays share (``imgfeed.recording.play``) knows no feed;
- the loopback test servers' shared pieces (``imgfeed.loopback``) know no feed, runtime or CLI.

Every import counts, including those inside functions (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "imgfeed"

#: (package prefix, prefixes it must never import)
RULES: List[Tuple[str, Tuple[str, ...]]] = [
    (
        "imgfeed.runtime",
        (
            "imgfeed.feeds",
            "imgfeed.cli",
            "imgfeed.recording",
            "imgfeed.fanout",
            "imgfeed.transport.ssh",
            "imgfeed.transport.tls",
            "imgfeed.transport.replay",
            "imgfeed.transport.recording",
            "imgfeed.betfair",
            "paramiko",
        ),
    ),
    ("imgfeed.transport", ("imgfeed.feeds", "imgfeed.runtime", "imgfeed.cli", "imgfeed.fanout")),
    ("imgfeed.framing", ("imgfeed.feeds", "imgfeed.runtime", "imgfeed.transport", "imgfeed.cli")),
    ("imgfeed.errors", ("imgfeed.",)),
    ("imgfeed.feeds.img", ("imgfeed.feeds.betfair", "imgfeed.cli", "imgfeed.fanout")),
    ("imgfeed.feeds.betfair", ("imgfeed.feeds.img", "imgfeed.cli", "imgfeed.fanout")),
    ("imgfeed.fanout", ("imgfeed.cli", "imgfeed.recording", "paramiko")),
    ("imgfeed.recording.play", ("imgfeed.feeds", "imgfeed.cli", "imgfeed.fanout", "imgfeed.betfair")),
    ("imgfeed.loopback", ("imgfeed.feeds", "imgfeed.runtime", "imgfeed.cli", "imgfeed.fanout", "imgfeed.betfair")),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str = "") -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    name = name or _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                yield f"{base}.{node.module}" if node.module else base
            elif node.module:
                yield node.module


def _modules() -> Dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@pytest.mark.parametrize("owner, forbidden", RULES, ids=[r[0] for r in RULES])
def test_import_contract(owner: str, forbidden: Tuple[str, ...]) -> None:
    broken = []
    for name, path in _modules().items():
        if name != owner and not name.startswith(owner + "."):
            continue
        for imported in _imports(path, name):
            if any(imported == f or imported.startswith(f if f.endswith(".") else f + ".") for f in forbidden):
                broken.append(f"{name} imports {imported}")
    assert broken == []


def test_the_contract_sees_a_violation(tmp_path: Path) -> None:
    """The checker itself: a runtime module importing a feed is caught (the test can fail)."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from imgfeed.feeds.img.book import MarketBook\n", encoding="utf-8")
    assert "imgfeed.feeds.img.book" in list(_imports(bad, "imgfeed.runtime.bad"))


def test_every_module_is_small() -> None:
    """No module over 400 lines: one job each (paho-mqtt's 5,000-line client.py is the warning)."""
    big = {name: n for name, p in _modules().items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert big == {}
