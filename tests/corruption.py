"""Corrupting parsed input files for property tests: any JSON-like value put at any place of a
tree that a mix, scenario or neuron-monitor file parses to."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 50)
    | st.floats(allow_nan=True)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
"""Values a parsed YAML or JSON file can hold (NaN and infinities too: YAML's ``.nan``, ``.inf``),
kept small so that many draws stay fast."""

FIELD_VALUES = st.one_of(
    st.integers(0, 6), st.floats(0.0, 3.0), st.booleans(), st.none(), JSON_VALUES
)
"""Small counts and loads first (so that about a fifth of corrupted mix files still parse and
reach the policies), then anything :data:`JSON_VALUES` holds."""


def paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every place in ``node``: the key path of each value, the root (``()``) first."""
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += paths(value, (*prefix, i))
    return out


def corrupt(data: st.DataObject, tree: Any, value: object) -> tuple[object, ...]:
    """Put ``value`` at a place of ``tree`` (not its root) that ``data`` draws; returns the path."""
    path = data.draw(st.sampled_from(paths(tree)[1:]))
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return path
