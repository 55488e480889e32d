"""optimize() refuses a bad time_limit or seed up front, in the range the CLI accepts."""

from __future__ import annotations

import math

import pytest

from ncplace import ConfigError, Mix, Model, Status, cli, instance, optimize
from ncplace.optimize.limits import MAX_SEED, MAX_TIME_LIMIT, check_seed, check_time_limit


def one_model() -> Mix:
    return Mix([Model("a", rate=10, throughput=100)], instance=instance("inf1.xlarge"))


TIME = "optimize: time_limit must be a number of seconds from 0 to 1e+06, got "
SEED = "optimize: seed must be an integer from 0 to 2147483647, got "


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1e308, "1e+308"),
        (1e6 + 1, "1000001.0"),
        (10**400, "1" + "0" * 97 + "..." + "0" * 99),  # cut to one line
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (math.nan, "nan"),
        (-1, "-1"),
        (-0.5, "-0.5"),
        ("10", "'10'"),
        (None, "None"),
        (True, "True"),
        ([1], "[1]"),
    ],
)
def test_a_bad_time_limit_is_refused_naming_it_and_the_range(value: object, shown: str) -> None:
    mix = one_model()
    with pytest.raises(ConfigError) as caught:
        optimize(mix, time_limit=value)  # type: ignore[arg-type]
    assert str(caught.value) == TIME + shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (2**31, "2147483648"),
        (-1, "-1"),
        (1.0, "1.0"),
        ("5", "'5'"),
        (None, "None"),
        (True, "True"),
    ],
)
def test_a_bad_seed_is_refused_naming_it_and_the_range(value: object, shown: str) -> None:
    mix = one_model()
    with pytest.raises(ConfigError) as caught:
        optimize(mix, time_limit=1, seed=value)  # type: ignore[arg-type]
    assert str(caught.value) == SEED + shown


def test_the_ends_of_both_ranges_are_accepted_and_shared_with_the_cli() -> None:
    assert (MAX_TIME_LIMIT, MAX_SEED) == (10**6, 2**31 - 1)
    assert (cli.MAX_TIME_LIMIT, cli.MAX_SEED) == (MAX_TIME_LIMIT, MAX_SEED)
    assert check_time_limit(MAX_TIME_LIMIT, "x") == 1e6
    assert check_time_limit(0, "x") == 0.0
    assert check_seed(MAX_SEED, "x") == MAX_SEED
    plan = optimize(one_model(), time_limit=1, seed=MAX_SEED, deterministic=True)
    assert plan.status is Status.OPTIMAL and plan.seed == MAX_SEED
