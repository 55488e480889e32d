"""The Neuron runtime's placement environment variables, parsed with exact errors.

- ``NEURON_RT_VISIBLE_CORES``: global core indices as ranges and singles joined by commas
  (``3``, ``4-5``, ``3,4,5,6``, ``3-5,6``). The set must be contiguous and ascending and inside the
  instance; the runtime refuses ``3,5,6`` ("Neuron cores are not contiguous").
- ``NEURON_RT_NUM_CORES``: an integer from 0 to the instance's cores; 0 means all.
- ``NEURONCORE_GROUP_SIZES``: a comma list of positive integers (``3,4,1``).

Whitespace around the whole value and around each item is tolerated, as a shell ``export``
would often leave it; anything else is a :class:`~ncplace.errors.ConfigError` naming the
variable, the bad text and the accepted forms.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .errors import ConfigError

VISIBLE_CORES = "NEURON_RT_VISIBLE_CORES"
NUM_CORES = "NEURON_RT_NUM_CORES"
GROUP_SIZES = "NEURONCORE_GROUP_SIZES"
PLACEMENT_VARIABLES = (VISIBLE_CORES, NUM_CORES, GROUP_SIZES)

_VISIBLE_FORMS = "a core '3', a range '4-5', or a comma list of them in ascending contiguous order '3-5,6'"
_ITEM = re.compile(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?")
_INT = re.compile(r"\s*([0-9]+)\s*")


def parse_visible_cores(text: str, total: int | None = None) -> tuple[int, ...]:
    """The cores ``NEURON_RT_VISIBLE_CORES=text`` names, ascending.

    >>> parse_visible_cores("3-5,6")
    (3, 4, 5, 6)
    """
    bad = f"{VISIBLE_CORES}={text!r}"
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{bad}: empty; expected {_VISIBLE_FORMS}")
    cores: list[int] = []
    for item in text.split(","):
        match = _ITEM.fullmatch(item)
        if match is None:
            raise ConfigError(f"{bad}: {item.strip()!r} is not a core or range; expected {_VISIBLE_FORMS}")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ConfigError(f"{bad}: range {first}-{last} is descending; expected {_VISIBLE_FORMS}")
        cores.extend(range(first, last + 1))
    for previous, core in zip(cores, cores[1:]):
        if core != previous + 1:
            raise ConfigError(
                f"{bad}: Neuron cores are not contiguous ({previous} then {core}); "
                f"expected {_VISIBLE_FORMS}"
            )
    if total is not None and cores[-1] >= total:
        raise ConfigError(
            f"{bad}: core {cores[-1]} does not exist; this instance has cores 0-{total - 1}"
        )
    return tuple(cores)


def format_visible_cores(cores: Sequence[int]) -> str:
    """The canonical ``NEURON_RT_VISIBLE_CORES`` value for contiguous ``cores`` (``"4"`` or ``"4-5"``)."""
    cores = tuple(cores)
    if not cores or any(b != a + 1 for a, b in zip(cores, cores[1:])):
        raise ConfigError(f"{VISIBLE_CORES}: cores {list(cores)} are not a non-empty contiguous run")
    return str(cores[0]) if len(cores) == 1 else f"{cores[0]}-{cores[-1]}"


def parse_num_cores(text: str, total: int | None = None) -> int:
    """The count ``NEURON_RT_NUM_CORES=text`` asks for (0 means all cores)."""
    bad = f"{NUM_CORES}={text!r}"
    accepted = "an integer from 0 (all cores)" + (f" to {total}" if total is not None else " up")
    match = _INT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(f"{bad}: not a whole number; expected {accepted}")
    value = int(match.group(1))
    if total is not None and value > total:
        raise ConfigError(f"{bad}: asks for {value} cores but the instance has {total}; expected {accepted}")
    return value


def parse_group_sizes(text: str) -> tuple[int, ...]:
    """The group sizes ``NEURONCORE_GROUP_SIZES=text`` lists, in order."""
    bad = f"{GROUP_SIZES}={text!r}"
    accepted = "a comma list of positive integers such as '3,4,1'"
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{bad}: empty; expected {accepted}")
    sizes = []
    for item in text.split(","):
        match = _INT.fullmatch(item)
        if match is None:
            raise ConfigError(f"{bad}: {item.strip()!r} is not a group size; expected {accepted}")
        size = int(match.group(1))
        if size < 1:
            raise ConfigError(f"{bad}: group size {size} must be at least 1; expected {accepted}")
        sizes.append(size)
    return tuple(sizes)


def format_group_sizes(sizes: Sequence[int]) -> str:
    """The ``NEURONCORE_GROUP_SIZES`` value for ``sizes``."""
    return ",".join(str(s) for s in sizes)
