"""The Neuron runtime's placement environment variables, parsed with exact errors.

- ``NEURON_RT_VISIBLE_CORES``: global core indices as ranges and singles joined by commas
  (``3``, ``4-5``, ``3,4,5,6``, ``3-5,6``). The set must be contiguous and ascending and inside the
  instance; the runtime refuses ``3,5,6`` ("Neuron cores are not contiguous"), a descending range
  ``5-3``, an open range ``4-``, an empty item ``1,,2``, a sign ``-1``, an empty value and letters.
- ``NEURON_RT_NUM_CORES``: an integer from 0 to the instance's cores; 0 means all. Signs,
  fractions, words and counts above the instance are refused.
- ``NEURONCORE_GROUP_SIZES``: a comma list of positive integers (``3,4,1``). ``0``, empty items
  ``2,,2``, other separators ``2;2`` and words are refused.
- ``NEURON_LOGICAL_NC_CONFIG``: the logical NeuronCore configuration, ``1`` or ``2`` (Trn2 only;
  about-neuron/arch/neuron-features/logical-neuroncore-config.rst: "LNC can only be set to 1 or
  2").

Whitespace around the whole value and around each item is tolerated, as a shell ``export``
would often leave it; anything else is a :class:`~ncplace.errors.ConfigError` naming the
variable, the bad text and the accepted forms. Only ASCII digits count as digits. Without a
``total``, core indices are bounded by :data:`~ncplace.hardware.MAX_CORES`, so a hostile value such
as ``0-999999999`` is refused instead of expanded.

:func:`format_visible_cores` writes the canonical form (``4`` or ``4-7``);
``parse_visible_cores(format_visible_cores(run)) == run`` for every contiguous run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise

from .errors import ConfigError
from .hardware import LNC_VARIABLE, MAX_CORES

VISIBLE_CORES = "NEURON_RT_VISIBLE_CORES"
NUM_CORES = "NEURON_RT_NUM_CORES"
GROUP_SIZES = "NEURONCORE_GROUP_SIZES"
LOGICAL_NC_CONFIG = LNC_VARIABLE
PLACEMENT_VARIABLES = (VISIBLE_CORES, NUM_CORES, GROUP_SIZES, LOGICAL_NC_CONFIG)

_VISIBLE_FORMS = (
    "a core '3', a range '4-5', or a comma list of them in ascending contiguous order '3-5,6'"
)
_ITEM = re.compile(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?", re.ASCII)
_INT = re.compile(r"\s*([0-9]+)\s*", re.ASCII)
_MAX_DIGITS = 9


def _whole(digits: str, bad: str, accepted: str) -> int:
    """``int(digits)``, refusing numbers too long to be a core index or count."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > _MAX_DIGITS:
        raise ConfigError(f"{bad}: {digits[:12]}... is far too large; expected {accepted}")
    return int(significant)


def _shown(name: str, text: object) -> str:
    """``NAME='text'`` for messages, a long text cut to its first 40 characters."""
    if isinstance(text, str) and len(text) > 40:
        return f"{name}={text[:40]!r}..."
    return f"{name}={text!r}"


def _not_text(bad: str, text: object, accepted: str) -> ConfigError:
    return ConfigError(f"{bad}: must be a string, got {type(text).__name__}; expected {accepted}")


def parse_visible_cores(text: str, total: int | None = None) -> tuple[int, ...]:
    """The cores ``NEURON_RT_VISIBLE_CORES=text`` names, ascending.

    ``total`` is the instance's core count; the cores must lie in ``0..total-1``.

    >>> parse_visible_cores("3-5,6")
    (3, 4, 5, 6)
    """
    bad = _shown(VISIBLE_CORES, text)
    if not isinstance(text, str):
        raise _not_text(bad, text, _VISIBLE_FORMS)
    if not text.strip():
        raise ConfigError(f"{bad}: empty; expected {_VISIBLE_FORMS}")
    runs: list[tuple[int, int]] = []
    for item in text.split(","):
        match = _ITEM.fullmatch(item)
        if match is None:
            raise ConfigError(
                f"{bad}: {item.strip()!r} is not a core or range; expected {_VISIBLE_FORMS}"
            )
        first = _whole(match.group(1), bad, _VISIBLE_FORMS)
        last = first if match.group(2) is None else _whole(match.group(2), bad, _VISIBLE_FORMS)
        if last < first:
            raise ConfigError(
                f"{bad}: range {first}-{last} is descending; expected {_VISIBLE_FORMS}"
            )
        if runs and first != runs[-1][1] + 1:
            raise ConfigError(
                f"{bad}: Neuron cores are not contiguous ({runs[-1][1]} then {first}); "
                f"expected {_VISIBLE_FORMS}"
            )
        runs.append((first, last))
    first, last = runs[0][0], runs[-1][1]
    if total is not None and last >= total:
        raise ConfigError(
            f"{bad}: core {last} does not exist; this instance has cores 0-{total - 1}"
        )
    if last >= MAX_CORES:
        raise ConfigError(
            f"{bad}: core {last} does not exist; no instance has more than {MAX_CORES} cores"
        )
    return tuple(range(first, last + 1))


def format_visible_cores(cores: Sequence[int]) -> str:
    """The canonical ``NEURON_RT_VISIBLE_CORES`` value of contiguous ``cores``: ``4``, ``4-5``."""
    cores = tuple(cores)
    if (
        not cores
        or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in cores)
        or any(b != a + 1 for a, b in pairwise(cores))
    ):
        raise ConfigError(
            f"{VISIBLE_CORES}: cores {list(cores)} are not a non-empty ascending contiguous run "
            "of core indices >= 0"
        )
    return str(cores[0]) if len(cores) == 1 else f"{cores[0]}-{cores[-1]}"


def parse_num_cores(text: str, total: int | None = None) -> int:
    """The count ``NEURON_RT_NUM_CORES=text`` asks for (0 means all cores)."""
    bad = _shown(NUM_CORES, text)
    accepted = "an integer from 0 (all cores)" + (f" to {total}" if total is not None else " up")
    if not isinstance(text, str):
        raise _not_text(bad, text, accepted)
    match = _INT.fullmatch(text)
    if match is None:
        raise ConfigError(f"{bad}: not a whole number; expected {accepted}")
    value = _whole(match.group(1), bad, accepted)
    if total is not None and value > total:
        raise ConfigError(
            f"{bad}: asks for {value} cores but the instance has {total}; expected {accepted}"
        )
    return value


def parse_group_sizes(text: str) -> tuple[int, ...]:
    """The group sizes ``NEURONCORE_GROUP_SIZES=text`` lists, in order."""
    bad = _shown(GROUP_SIZES, text)
    accepted = "a comma list of positive integers such as '3,4,1'"
    if not isinstance(text, str):
        raise _not_text(bad, text, accepted)
    if not text.strip():
        raise ConfigError(f"{bad}: empty; expected {accepted}")
    sizes = []
    for item in text.split(","):
        match = _INT.fullmatch(item)
        if match is None:
            raise ConfigError(f"{bad}: {item.strip()!r} is not a group size; expected {accepted}")
        size = _whole(match.group(1), bad, accepted)
        if size < 1:
            raise ConfigError(f"{bad}: group size {size} must be at least 1; expected {accepted}")
        sizes.append(size)
    return tuple(sizes)


def format_group_sizes(sizes: Sequence[int]) -> str:
    """The ``NEURONCORE_GROUP_SIZES`` value for ``sizes`` (positive integers)."""
    sizes = tuple(sizes)
    if not sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        raise ConfigError(
            f"{GROUP_SIZES}: sizes {list(sizes)} are not a non-empty list of integers >= 1"
        )
    return ",".join(str(s) for s in sizes)


def parse_lnc(text: str) -> int:
    """The logical NeuronCore configuration ``NEURON_LOGICAL_NC_CONFIG=text`` asks for: 1 or 2."""
    bad = _shown(LOGICAL_NC_CONFIG, text)
    accepted = "1 (physical cores) or 2 (pairs of physical cores, the default on trn2)"
    if not isinstance(text, str):
        raise _not_text(bad, text, accepted)
    match = _INT.fullmatch(text)
    if match is None or match.group(1) not in ("1", "2"):
        raise ConfigError(f"{bad}: expected {accepted}")
    return int(match.group(1))
