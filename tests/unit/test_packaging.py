"""What the package promises about itself: a licence, type hints, and the Pythons it supports.

Read from ``setup.cfg`` (the metadata's single source), without building anything, so it runs
offline. A wheel built from this tree (``pip wheel .``) carries ``imgfeed/py.typed`` and
``LICENSE`` through the settings checked here.
"""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path
from typing import List, Tuple

ROOT = Path(__file__).resolve().parents[2]


def _setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg", encoding="utf-8")
    return parser


def _lines(value: str) -> List[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def test_the_licence_file_matches_the_metadata() -> None:
    cfg = _setup_cfg()
    assert cfg["metadata"]["license"] == "MIT"
    assert cfg["metadata"]["license_files"] == "LICENSE"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "Copyright (c)" in text and "imgfeed contributors" in text
    assert "License :: OSI Approved :: MIT License" in _lines(cfg["metadata"]["classifiers"])


def test_the_type_hints_are_shipped() -> None:
    cfg = _setup_cfg()
    assert (ROOT / "imgfeed" / "py.typed").is_file()
    assert _lines(cfg["options.package_data"]["imgfeed"]) == ["py.typed"]
    assert cfg["options"]["zip_safe"] == "False"
    assert "Typing :: Typed" in _lines(cfg["metadata"]["classifiers"])


def _oldest_python() -> Tuple[int, int]:
    match = re.fullmatch(r">=\s*3\.(\d+)", _setup_cfg()["options"]["python_requires"].strip())
    assert match, "python_requires should be a lower bound, >=3.N"
    return (3, int(match.group(1)))


def test_the_classifiers_list_each_python_from_python_requires_on() -> None:
    oldest = _oldest_python()
    listed = sorted(
        (3, int(m.group(1)))
        for c in _lines(_setup_cfg()["metadata"]["classifiers"])
        for m in [re.fullmatch(r"Programming Language :: Python :: 3\.(\d+)", c)]
        if m
    )
    assert listed and listed[0] == oldest
    assert listed == [(3, n) for n in range(oldest[1], listed[-1][1] + 1)]  # no gaps


def test_the_code_parses_as_the_oldest_python_supported() -> None:
    """python_requires stays honest about syntax (``match``, ``except*``, parenthesised ``with`` ...)."""
    oldest = _oldest_python()
    for path in sorted((ROOT / "imgfeed").rglob("*.py")):
        ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=oldest)
