"""docs/faults.md is a table backed by tests: every test it names must exist, and every fault test
of this folder must be named in it, so the table and the suite cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Set, Tuple

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "faults.md"
HERE = Path(__file__).resolve().parent

#: ``file.py::test_name`` or ``::test_name`` (same file as the reference before it), or a path.
_REFERENCE = re.compile(r"`((?:tests/[\w/]+/)?test_\w+\.py)?(?:::(test_\w+))?(?:\[[^\]]*\])?`")

#: Test files that are not fault rows: the harness's own checks, and this one.
NOT_ROWS = {"test_harness.py", "test_fault_table.py"}


def _references() -> List[Tuple[Path, str]]:
    refs: List[Tuple[Path, str]] = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            continue
        current: Path = HERE
        for file, name in _REFERENCE.findall(line.rstrip("|").rsplit("|", 1)[-1]):
            if file:
                current = ROOT / file if file.startswith("tests/") else HERE / file
            if file or name:
                refs.append((current, name))
    return refs


def _defined(path: Path) -> Set[str]:
    return set(re.findall(r"^def (test_\w+)\(", path.read_text(encoding="utf-8"), flags=re.M))


def test_every_test_the_table_names_exists() -> None:
    refs = _references()
    assert len(refs) > 30
    missing = [
        f"{path.name}::{name}"
        for path, name in refs
        if not path.is_file() or (name and name not in _defined(path))
    ]
    assert missing == []


def test_every_fault_test_is_in_the_table() -> None:
    named = {(path.resolve(), name) for path, name in _references()}
    absent = [
        f"{path.name}::{name}"
        for path in sorted(HERE.glob("test_*.py"))
        if path.name not in NOT_ROWS
        for name in sorted(_defined(path))
        if (path.resolve(), name) not in named
    ]
    assert absent == []
