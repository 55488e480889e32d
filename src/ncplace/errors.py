"""Errors a user can cause, and the small checks every module raises them with.

Every error derives from :class:`Error`, itself a ``ValueError`` so that code written against
torch-neuron (which raises ``ValueError`` for a bad ``nc_count``) catches ours too. Each message
is one line and names the offending value and what would be accepted: user text inside it is
quoted (:func:`key_text`) or folded (:func:`one_line`).
"""

from __future__ import annotations

import os
import reprlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) made one space: how user text
    and other errors' messages are quoted in a one-line message."""
    return " ".join(str(text).split())


def printable_text(text: str, keep: str = "\n") -> str:
    """``text`` safe to show on a terminal: every character that is not printable (escape
    sequences' ESC and CSI, other control and format characters, lone surrogates), except those
    in ``keep``, is written as its Python escape (``\\x1b``), so a name cannot move the cursor,
    recolour or hide the output around it."""
    if text.translate(dict.fromkeys(map(ord, keep))).isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in keep else ascii(ch)[1:-1] for ch in text)


def json_printable(text: str) -> str:
    """JSON text with every non-printable character other than a line break written as a JSON
    ``\\uXXXX`` escape (a surrogate pair past U+FFFF): the same data, safe on a terminal.
    Outside its strings JSON text holds only printable characters and line breaks."""
    if text.replace("\n", "").isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch == "\n":
            out.append(ch)
        elif ord(ch) > 0xFFFF:
            high, low = divmod(ord(ch) - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


VALUE_TEXT_LIMIT = 200
"""Most characters of a bad value a message quotes (a hostile file can hold megabytes)."""


def value_text(value: object, limit: int = VALUE_TEXT_LIMIT) -> str:
    """A bad value as a message quotes it: its ``repr`` on one line, at most about ``limit``
    characters (a long string or list is cut with ``...``, as :mod:`reprlib` does), so that an
    error stays one readable line whatever was written."""
    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = shortener.maxlong = limit
    shortener.maxlevel = 3
    try:
        text = one_line(shortener.repr(value))
    except ValueError:  # an integer past Python's limit of digits for str()
        return "an integer of more than 4300 digits"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def key_text(key: object) -> str:
    """A key of user data as a message shows it: a plain name (letters, digits, ``_``, ``-``)
    as is, anything else quoted with ``repr`` so that a message stays one line and shows
    exactly what was written."""
    if isinstance(key, str) and key.replace("_", "").replace("-", "").isalnum() and key.isascii():
        return key
    return repr(key)


class Error(ValueError):
    """Base class of every error ncplace raises for bad input or an impossible request."""


class ConfigError(Error):
    """A malformed environment variable, mix file, scenario file or argument."""


class CoresUnavailable(Error):
    """A process cannot acquire the NeuronCores it asks for (they are owned or do not exist)."""


class PlacementError(Error):
    """A model load, policy or plan cannot be placed on the cores available."""


class InfeasibleMix(ConfigError):
    """A mix that cannot fit its instance at all; the message shows the arithmetic.

    A :class:`ConfigError` (the mix, as written, cannot be used) that callers can tell apart from a
    malformed file: the command line exits 1 for it, as for a mix the optimizer proves infeasible.
    """


class FieldError(ConfigError):
    """A rule broken by one field of one model of a mix, re-anchored when it came from a file.

    ``str()`` reads ``model 'x': key: detail``; :meth:`ncplace.Mix.from_dict` reports it as
    ``label: models[i].key: detail`` using ``index`` (the model's position) when it is known.
    """

    def __init__(self, name: object, key: str, detail: str, index: int | None = None) -> None:
        self.name = name
        self.key = key
        self.detail = detail
        self.index = index
        super().__init__(f"model {value_text(name)}: {key}: {detail}")

    def at(self, where: str) -> ConfigError:
        """The same rule as a plain error of its kind, placed at ``where``."""
        kind = InfeasibleMix if isinstance(self, InfeasibleMix) else ConfigError
        return kind(f"{where}.{self.key}: {self.detail}")

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str]]:
        return (ConfigError, (str(self),))


class InfeasibleFieldError(FieldError, InfeasibleMix):
    """A field of a model that makes the mix impossible on its instance."""

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str]]:
        return (InfeasibleMix, (str(self),))


def check_type(value: object, kind: type | tuple[type, ...], what: str) -> None:
    """Raise :class:`ConfigError` ("``what`` must be a Mix, got str") unless ``value`` is a
    ``kind``: each public entry point checks its arguments so that a wrong one is named, not
    met as an AttributeError deep inside."""
    if not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        expected = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"{what} must be a {expected}, got {type(value).__name__}")


def check_deadline(value: object, what: str) -> float | None:
    """``value`` as a deadline: ``time.perf_counter()`` seconds (a real number, not NaN) or
    None; anything else is a :class:`ConfigError` naming it."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ConfigError(
            f"{what}: deadline must be time.perf_counter() seconds or None, got {value_text(value)}"
        )
    return float(value)


def file_path(value: object, what: str) -> Path:
    """``value`` as a :class:`~pathlib.Path`, or :class:`ConfigError` when it is no path."""
    check_type(value, (str, os.PathLike), what)
    return Path(value)  # type: ignore[arg-type]


def check_fields(data: Mapping[Any, Any], accepted: Iterable[str], where: str) -> None:
    """Raise :class:`ConfigError` naming every key of ``data`` that is not ``accepted``."""
    accepted = tuple(accepted)
    unknown = sorted(key_text(k) for k in data if k not in accepted)
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}"
        )


def check_named_entry(item: object, accepted: Iterable[str], where: str) -> Mapping[Any, Any]:
    """``item`` as a mapping with a ``name`` and only ``accepted`` fields (a model of a mix, a
    load of a scenario), or :class:`ConfigError` saying which of these it is not."""
    if not isinstance(item, Mapping):
        raise ConfigError(
            f"{where}: expected a mapping with at least 'name', got {type(item).__name__}"
        )
    check_fields(item, accepted, where)
    if "name" not in item:
        raise ConfigError(f"{where}.name: missing")
    return item
