"""Reading user files without trusting them: mix files, scenarios and neuron-monitor reports.

A file is read only when it is a regular file of at most :func:`max_file_bytes` bytes (64 MiB
unless ``NCPLACE_MAX_FILE_BYTES`` says otherwise), so that a FIFO, ``/dev/zero`` or a log of
gigabytes is refused before any parsing. JSON and YAML are held to the same rules: a key repeated
in one mapping is an error (both formats would silently keep the last one), a UTF-8 byte order
mark is accepted, integers are at most :data:`MAX_INT_DIGITS` digits long, strings are valid
Unicode (no lone surrogate, which cannot be written back out), and nesting is at most
:data:`MAX_DEPTH` deep. YAML aliases may not expand the document past
``ALIAS_GROWTH x`` its written nodes plus :data:`ALIAS_ALLOWANCE`: a 450-byte "billion laughs"
file expands to 10**9 nodes, which is refused from the node graph (counted once per node, in
linear time) before anything is built.

Every error is a :class:`~ncplace.errors.ConfigError` naming the file, on one line; a bad value
is quoted by :func:`~ncplace.errors.value_text`, at most about 200 characters of it.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, one_line, value_text

DEFAULT_MAX_FILE_BYTES = 64 * 2**20
"""Largest input file read when ``NCPLACE_MAX_FILE_BYTES`` is not set (64 MiB: a neuron-monitor
report of 100,000 loaded models is about 30 MB)."""

MAX_FILE_BYTES_VARIABLE = "NCPLACE_MAX_FILE_BYTES"

MAX_DEPTH = 64
"""Deepest nesting of lists and mappings in an input file."""

MAX_INT_DIGITS = 30
"""Longest integer written in an input file; anything longer is no core, count or rate."""

ALIAS_GROWTH = 10
ALIAS_ALLOWANCE = 100_000
"""A YAML document may expand through its aliases to ``ALIAS_GROWTH`` times its written nodes
plus this many: room for anchors of shared defaults, none for exponential growth."""


def max_file_bytes() -> int:
    """The size limit of input files: ``NCPLACE_MAX_FILE_BYTES`` (an integer >= 1) or 64 MiB."""
    text = os.environ.get(MAX_FILE_BYTES_VARIABLE)
    if text is None:
        return DEFAULT_MAX_FILE_BYTES
    digits = text.strip()
    value = int(digits) if digits.isascii() and digits.isdigit() and len(digits) < 20 else 0
    if value < 1:
        raise ConfigError(
            f"{MAX_FILE_BYTES_VARIABLE}: expected an integer >= 1 (bytes), got {value_text(text)}"
        )
    return value


def read_text_file(path: Path, what: str) -> str:
    """The UTF-8 text of ``path`` (a regular file of at most :func:`max_file_bytes` bytes);
    ``what`` the file is, for the one-line error when it cannot be read. The file is opened
    without blocking, so that a FIFO with no writer is refused instead of waited on."""
    limit = max_file_bytes()
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as handle:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode):
                raise ConfigError(f"{path}: cannot read {what}: not a regular file")
            if info.st_size > limit:
                raise ConfigError(_too_large(path, what, info.st_size, limit))
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ConfigError(_too_large(path, what, len(data), limit))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None


def _too_large(path: Path, what: str, size: int, limit: int) -> str:
    return (
        f"{path}: {what} of {size} bytes is over the limit of {limit} bytes; set "
        f"{MAX_FILE_BYTES_VARIABLE} to read larger files"
    )


def parse_text(text: str, label: str, json_first: bool) -> object:
    """The data of a YAML or JSON file (JSON when ``json_first``), checked by the rules of the
    module docstring; ``label`` names the file in errors."""
    text = text.removeprefix("\ufeff")
    _check_string(text, label)
    try:
        data = _parse_json(text, label) if json_first else _parse_yaml(text, label)
    except RecursionError:
        raise ConfigError(f"{label}: nested deeper than {MAX_DEPTH} levels") from None
    check_data(data, label, strings="\\u" in text or "\\U" in text)
    return data


def read_data_file(path: Path, what: str, label: str | None = None) -> object:
    """The data of the YAML or JSON file at ``path`` (JSON when its name ends in ``.json``):
    :func:`read_text_file`, then :func:`parse_text`; errors name the file by ``label``, by
    default the path as given."""
    text = read_text_file(path, what)
    return parse_text(text, str(path) if label is None else label, path.suffix.lower() == ".json")


def parse_json(text: str, label: str) -> object:
    """``text`` as JSON, by the module's rules."""
    return parse_text(text, label, json_first=True)


def _parse_json(text: str, label: str) -> object:
    try:
        return json.loads(
            text, object_pairs_hook=_unique_pairs, parse_int=_json_int, parse_constant=_no_constant
        )
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{label}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except _JsonValueError as exc:
        raise ConfigError(f"{label}: invalid JSON: {exc}") from None


class _JsonValueError(Exception):
    """A JSON value the module's rules refuse (raised from json's hooks)."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _JsonValueError(f"duplicate key {value_text(key)} in one object")
        out[key] = value
    return out


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _JsonValueError(f"an integer of {len(text)} digits; at most {MAX_INT_DIGITS}")
    return int(text)


def _no_constant(text: str) -> float:
    raise _JsonValueError(f"{text} is not JSON; write a number")


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key repeated in one mapping (YAML keeps the last one)
    and integers longer than :data:`MAX_INT_DIGITS` digits."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {value_text(key)} in one mapping",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = "".join(ch for ch in str(node.value) if ch.isalnum())
        if len(digits) > MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"an integer of {len(digits)} digits; at most {MAX_INT_DIGITS}",
                node.start_mark,
            )
        return int(super().construct_yaml_int(node))


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)


def _parse_yaml(text: str, label: str) -> object:
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, label)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot parse"
        raise ConfigError(f"{label}: invalid YAML{where}: {one_line(problem)[:200]}") from None
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, label: str) -> None:
    """Refuse a node graph whose aliases expand it past the bound of the module docstring.

    ``size(n) = 1 + sum of size(child)``, memoised per node, is the number of nodes the document
    would have once every alias is copied out, and ``depth(n) = 1 + max depth(child)`` its
    nesting; both are computed in one post-order walk, so each written node is seen once. An
    alias inside its own anchor (a document that contains itself) has no finite expansion."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        children = _children(node)
        if done:
            if any(id(c) not in size for c in children):
                raise ConfigError(f"{label}: a YAML alias refers to a node that contains it")
            size[id(node)] = 1 + sum(size[id(c)] for c in children)
            depth[id(node)] = 1 + max((depth[id(c)] for c in children), default=0)
            if depth[id(node)] > MAX_DEPTH:
                raise ConfigError(f"{label}: nested deeper than {MAX_DEPTH} levels")
            continue
        if id(node) in entered:
            continue
        entered.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children)
    written = len(entered)
    bound = ALIAS_GROWTH * written + ALIAS_ALLOWANCE
    if size[id(root)] > bound:
        raise ConfigError(
            f"{label}: YAML aliases expand {written} nodes to {size[id(root)]}, past the limit "
            f"of {bound}"
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_data(data: object, label: str, strings: bool = True) -> None:
    """Refuse parsed data nested past :data:`MAX_DEPTH` or, when ``strings``, holding a string
    that is not valid Unicode (a lone surrogate, from a ``\\ud800`` escape; a text without
    such escapes cannot produce one), walking it once without recursion."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, str):
            if strings:
                _check_string(value, label)
        elif isinstance(value, (list, dict)):
            if level > MAX_DEPTH:
                raise ConfigError(f"{label}: nested deeper than {MAX_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if strings and isinstance(key, str):
                    _check_string(key, label)
                if strings or isinstance(item, (list, dict)):
                    stack.append((item, level + 1))


def _check_string(text: str, label: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(
            f"{label}: a string holds a lone surrogate {text[exc.start]!r}, which is not text; "
            f"in {value_text(text)}"
        ) from None
