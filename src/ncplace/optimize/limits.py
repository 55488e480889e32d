"""The accepted ``time_limit`` and ``seed`` of a solve, shared by :func:`ncplace.optimize` and the
CLI (``--time-limit``, ``--seed``), so that both refuse the same values with the same range.

``time_limit`` is seconds from 0 to :data:`MAX_TIME_LIMIT`: the budget turns seconds into step
counts and deterministic time (:mod:`.budget`), and far past it a count no longer fits an integer
(``1e308`` seconds of tabu steps is an infinite float). ``seed`` is CP-SAT's ``random_seed``, a
32-bit signed integer: 0 to :data:`MAX_SEED`. A bad value is refused up front, as a
:class:`ncplace.ConfigError` that quotes it, rather than as an ``OverflowError`` from deep in a
stage.
"""

from __future__ import annotations

from ..errors import ConfigError, value_text

MAX_TIME_LIMIT = 10**6
"""Longest time limit in seconds (11.6 days): past it a solver's step counts overflow."""

MAX_SEED = 2**31 - 1
"""Largest seed: CP-SAT's random seed is a 32-bit signed integer."""

NO_TIME_S = 1e-3
"""The time limit a caller gives a solve when its own deadline has passed: not 0, which the
plan would report as "time limit 0" (a limit asked for), but nearly nothing."""


def check_time_limit(value: object, what: str, name: str = "time_limit") -> float:
    """``value`` as seconds, or a :class:`ConfigError` naming it (``what``: the caller, first in
    the message; ``name``: its keyword). A number (not a bool) from 0 to
    :data:`MAX_TIME_LIMIT`; the range test alone refuses ``nan``, the infinities and integers too
    large for a float."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= MAX_TIME_LIMIT
    ):
        raise ConfigError(
            f"{what}: {name} must be a number of seconds from 0 to {MAX_TIME_LIMIT:g}, "
            f"got {value_text(value)}"
        )
    return float(value)


def check_seed(value: object, what: str) -> int:
    """``value`` as a seed, or a :class:`ConfigError` naming it: an integer (not a bool) from 0
    to :data:`MAX_SEED`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ConfigError(
            f"{what}: seed must be an integer from 0 to {MAX_SEED}, got {value_text(value)}"
        )
    return value
