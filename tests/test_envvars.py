"""NEURON_RT_VISIBLE_CORES, NEURON_RT_NUM_CORES and NEURONCORE_GROUP_SIZES parsing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ncplace import ConfigError
from ncplace.envvars import (
    format_group_sizes,
    format_visible_cores,
    parse_group_sizes,
    parse_num_cores,
    parse_visible_cores,
)
from ncplace.hardware import MAX_CORES

VISIBLE_FORMS = r"expected a core '3', a range '4-5', or a comma list"


@pytest.mark.parametrize(
    ("text", "cores"),
    [
        ("3", (3,)),
        ("4-5", (4, 5)),
        ("3,4,5,6", (3, 4, 5, 6)),
        ("3-5,6", (3, 4, 5, 6)),
        ("3,4-6", (3, 4, 5, 6)),
        ("0-1,2-3", (0, 1, 2, 3)),
        ("5-5", (5,)),
        (" 4 - 5 ", (4, 5)),
        ("3 , 4", (3, 4)),
        ("007", (7,)),
    ],
)
def test_visible_cores_accepted_forms(text: str, cores: tuple[int, ...]) -> None:
    assert parse_visible_cores(text) == cores
    assert parse_visible_cores(text, total=8) == cores


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3,5,6", r"=\'3,5,6\': Neuron cores are not contiguous \(3 then 5\); " + VISIBLE_FORMS),
        ("5-3", r"=\'5-3\': range 5-3 is descending; " + VISIBLE_FORMS),
        ("4-", r"=\'4-\': \'4-\' is not a core or range; " + VISIBLE_FORMS),
        ("1,,2", r"=\'1,,2\': \'\' is not a core or range; " + VISIBLE_FORMS),
        ("-1", r"=\'-1\': \'-1\' is not a core or range; " + VISIBLE_FORMS),
        ("", r"=\'\': empty; " + VISIBLE_FORMS),
        ("   ", r"=\'   \': empty; " + VISIBLE_FORMS),
        ("abc", r"=\'abc\': \'abc\' is not a core or range; " + VISIBLE_FORMS),
        ("nc4", r".*\'nc4\' is not a core or range"),
        ("4-5a", r".*\'4-5a\' is not a core or range"),
        ("3;4", r".*\'3;4\' is not a core or range"),
        ("1.5", r".*\'1.5\' is not a core or range"),
        ("4,3", r".*not contiguous \(4 then 3\)"),
        ("3,3", r".*not contiguous \(3 then 3\)"),
        ("3-5,4", r".*not contiguous \(5 then 4\)"),
        ("\u0663", r".*is not a core or range"),  # an Arabic-Indic digit is not a digit here
        ("3,", r".*\'\' is not a core or range"),
    ],
)
def test_visible_cores_rejected_forms(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^NEURON_RT_VISIBLE_CORES" + message):
        parse_visible_cores(text, total=8)


def test_visible_cores_must_be_inside_the_instance() -> None:
    assert parse_visible_cores("6-7", total=8) == (6, 7)
    with pytest.raises(
        ConfigError,
        match=r"NEURON_RT_VISIBLE_CORES='7-8': core 8 does not exist; "
        r"this instance has cores 0-7$",
    ):
        parse_visible_cores("7-8", total=8)


def test_visible_cores_refuses_huge_values_without_expanding_them() -> None:
    with pytest.raises(
        ConfigError,
        match=f"core 999999999 does not exist; no instance has more than {MAX_CORES} cores",
    ):
        parse_visible_cores("0-999999999")
    huge = "12345678901234567890" * 300
    with pytest.raises(
        ConfigError,
        match=rf"^NEURON_RT_VISIBLE_CORES='{huge[:40]}'\.\.\.: "
        r"123456789012\.\.\. is far too large; expected a core",
    ):
        parse_visible_cores(huge)


def test_visible_cores_must_be_text() -> None:
    with pytest.raises(ConfigError, match=r"NEURON_RT_VISIBLE_CORES=3: must be a string, got int"):
        parse_visible_cores(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("cores", "text"), [((4,), "4"), ((4, 5), "4-5"), ((0, 1, 2, 3), "0-3")])
def test_format_visible_cores(cores: tuple[int, ...], text: str) -> None:
    assert format_visible_cores(cores) == text


@pytest.mark.parametrize("cores", [(), (1, 3), (3, 2), (-1, 0), (True,), (1.0,)])
def test_format_visible_cores_rejects_non_runs(cores: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError, match=r"are not a non-empty ascending contiguous run"):
        format_visible_cores(cores)


@st.composite
def visible_forms(draw: st.DrawFn) -> tuple[tuple[int, ...], str]:
    """A contiguous run and one way of writing it: split at random points, each piece a core or a
    range, with optional spaces."""
    start = draw(st.integers(0, 60))
    length = draw(st.integers(1, 16))
    run = tuple(range(start, start + length))
    cuts = sorted(
        draw(st.sets(st.integers(1, length - 1), max_size=length - 1)) if length > 1 else []
    )
    pieces = [run[a:b] for a, b in zip([0, *cuts], [*cuts, length], strict=True)]
    items = []
    for piece in pieces:
        if len(piece) == 1 and draw(st.booleans()):
            item = str(piece[0])
        else:
            item = f"{piece[0]}-{piece[-1]}"
        pad = draw(st.sampled_from(["", " "]))
        items.append(pad + item + pad)
    return run, ",".join(items)


@settings(max_examples=100, deadline=None)
@given(visible_forms())
def test_visible_cores_round_trip(form: tuple[tuple[int, ...], str]) -> None:
    run, text = form
    assert parse_visible_cores(text) == run
    assert parse_visible_cores(text, total=run[-1] + 1) == run
    canonical = format_visible_cores(run)
    assert parse_visible_cores(canonical) == run
    assert format_visible_cores(parse_visible_cores(text)) == canonical


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 60), st.integers(1, 8), st.integers(1, 8))
def test_visible_cores_with_a_gap_are_refused(start: int, first: int, gap: int) -> None:
    second = start + first - 1 + 1 + gap
    text = f"{start}-{start + first - 1},{second}"
    with pytest.raises(ConfigError, match="not contiguous"):
        parse_visible_cores(text)


@pytest.mark.parametrize(("text", "count"), [("0", 0), ("1", 1), ("8", 8), (" 2 ", 2), ("02", 2)])
def test_num_cores_accepted(text: str, count: int) -> None:
    assert parse_num_cores(text, total=8) == count


NUM_FORMS = r"expected an integer from 0 \(all cores\) to 8$"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", r"='-1': not a whole number; " + NUM_FORMS),
        ("-0", r"='-0': not a whole number; " + NUM_FORMS),
        ("1.5", r"='1.5': not a whole number; " + NUM_FORMS),
        ("2.0", r"='2.0': not a whole number; " + NUM_FORMS),
        ("1/2", r"='1/2': not a whole number; " + NUM_FORMS),
        ("two", r"='two': not a whole number; " + NUM_FORMS),
        ("all", r"='all': not a whole number; " + NUM_FORMS),
        ("", r"='': not a whole number; " + NUM_FORMS),
        ("1e3", r"='1e3': not a whole number; " + NUM_FORMS),
        ("+2", r"='\+2': not a whole number; " + NUM_FORMS),
        ("9", r"='9': asks for 9 cores but the instance has 8; " + NUM_FORMS),
        ("64", r"='64': asks for 64 cores but the instance has 8; " + NUM_FORMS),
        ("9" * 50, r"='9{40}'\.\.\.: 9{12}\.\.\. is far too large; " + NUM_FORMS),
    ],
)
def test_num_cores_rejected(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^NEURON_RT_NUM_CORES" + message):
        parse_num_cores(text, total=8)


def test_num_cores_without_an_instance() -> None:
    assert parse_num_cores("64") == 64
    with pytest.raises(ConfigError, match=r"expected an integer from 0 \(all cores\) up$"):
        parse_num_cores("x")


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 64), st.data())
def test_num_cores_round_trip(total: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(0, total))
    assert parse_num_cores(str(n), total) == n
    with pytest.raises(ConfigError, match="asks for"):
        parse_num_cores(str(total + data.draw(st.integers(1, 100))), total)


@pytest.mark.parametrize(
    ("text", "sizes"),
    [("4", (4,)), ("3,4,1", (3, 4, 1)), ("2, 2", (2, 2)), (" 1 ", (1,)), ("16", (16,))],
)
def test_group_sizes_accepted(text: str, sizes: tuple[int, ...]) -> None:
    assert parse_group_sizes(text) == sizes


GROUP_FORMS = r"expected a comma list of positive integers such as '3,4,1'$"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", r"='0': group size 0 must be at least 1; " + GROUP_FORMS),
        ("2,0", r"='2,0': group size 0 must be at least 1; " + GROUP_FORMS),
        ("2,,2", r"='2,,2': '' is not a group size; " + GROUP_FORMS),
        ("2;2", r"='2;2': '2;2' is not a group size; " + GROUP_FORMS),
        ("2 2", r"='2 2': '2 2' is not a group size; " + GROUP_FORMS),
        ("two", r"='two': 'two' is not a group size; " + GROUP_FORMS),
        ("2,x", r"='2,x': 'x' is not a group size; " + GROUP_FORMS),
        ("-2", r"='-2': '-2' is not a group size; " + GROUP_FORMS),
        ("1.5", r"='1.5': '1.5' is not a group size; " + GROUP_FORMS),
        ("2,", r"='2,': '' is not a group size; " + GROUP_FORMS),
        ("", r"='': empty; " + GROUP_FORMS),
    ],
)
def test_group_sizes_rejected(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^NEURONCORE_GROUP_SIZES" + message):
        parse_group_sizes(text)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 64), min_size=1, max_size=10))
def test_group_sizes_round_trip(sizes: list[int]) -> None:
    assert parse_group_sizes(format_group_sizes(sizes)) == tuple(sizes)


@pytest.mark.parametrize("sizes", [(), (0,), (2, -1), (True,)])
def test_format_group_sizes_rejects_bad_sizes(sizes: tuple[int, ...]) -> None:
    with pytest.raises(ConfigError, match="not a non-empty list of integers >= 1"):
        format_group_sizes(sizes)
