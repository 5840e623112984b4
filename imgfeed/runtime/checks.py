"""Validators and converters for the attrs config objects of the runtime, the feeds and the fan-out.

Contract: every validator raises :class:`~imgfeed.errors.ConfigError` naming the field, the value
given and what is allowed, so a typo fails when the object is built, never an hour later during a
reconnect. A secret is never echoed: validators of secret fields say ``<hidden>``.
"""

from __future__ import annotations

import enum
import math
import os
from typing import Any, Callable, Type, TypeVar

import attrs

from imgfeed.errors import ConfigError, allowed_values

__all__ = [
    "Validator",
    "positive",
    "non_negative",
    "optional_positive",
    "positive_int",
    "boolean",
    "non_empty_str",
    "optional_path",
    "expand_path",
    "is_enum",
    "to_enum",
    "between",
    "tcp_port",
    "PARSERS",
    "check_parser",
]

#: The shape of an attrs validator.
Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]

E = TypeVar("E", bound=enum.Enum)


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _kind(value: Any) -> str:
    """What a wrongly typed value is, for the message: a string "10" reads as a number otherwise."""
    return f" (a {type(value).__name__}, not a number)" if isinstance(value, (str, bytes)) else ""


def positive(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if not _is_number(value) or value <= 0:
        raise ConfigError(attribute.name, value, "a finite number of seconds > 0" + _kind(value))


def non_negative(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if not _is_number(value) or value < 0:
        raise ConfigError(attribute.name, value, "a finite number >= 0" + _kind(value))


def optional_positive(inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if value is not None:
        positive(inst, attribute, value)


def positive_int(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(attribute.name, value, "an integer >= 1" + _kind(value))


def between(low: float, high: float, unit: str = "") -> Validator:
    """A number in ``[low, high]`` (``unit`` is named in the message)."""

    def check(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if not _is_number(value) or not low <= value <= high:
            raise ConfigError(attribute.name, value, f"a number between {low:g} and {high:g}{unit}" + _kind(value))

    return check


def tcp_port(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ConfigError(attribute.name, value, "a TCP port number between 1 and 65535")


def boolean(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(attribute.name, value, "True or False")


def non_empty_str(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(attribute.name, value, "a non-empty string")


def optional_path(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise ConfigError(attribute.name, value, "a path (str or os.PathLike) or None")


def expand_path(value: Any) -> Any:
    """``~`` expanded and ``os.PathLike`` turned into ``str``; anything else is left to a validator."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        return os.path.expanduser(value)
    return value


def to_enum(enum_cls: Type[E]) -> Callable[[Any], Any]:
    """A converter: the enum member for a member or its value; anything else is left to the validator."""

    def convert(value: Any) -> Any:
        try:
            return enum_cls(value)
        except ValueError:
            return value

    return convert


def is_enum(enum_cls: Type[enum.Enum]) -> Validator:
    """The value must be a member of ``enum_cls``; the message lists the allowed values."""

    def check(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if not isinstance(value, enum_cls):
            raise ConfigError(attribute.name, value, allowed_values(m.value for m in enum_cls))

    return check


#: The JSON parsers a feed's ``parser`` setting may name.
PARSERS = ("auto", "ujson", "msgspec")


def check_parser(field: str, value: Any, msgspec_available: bool) -> None:
    """Check a ``parser`` setting: one of :data:`PARSERS`, and ``"msgspec"`` only when installed.

    Raises:
        ConfigError: naming ``field``, the value and what is allowed.
    """
    if value not in PARSERS:
        raise ConfigError(field, value, "one of 'auto', 'ujson', 'msgspec'")
    if value == "msgspec" and not msgspec_available:
        raise ConfigError(field, value, "'auto' or 'ujson': msgspec is not installed (pip install 'imgfeed[speed]')")
