"""The latency fields of Model: defaults, validation messages and the mix-file round trip."""

from __future__ import annotations

import pytest

from ncplace import ConfigError, Mix, Model


def test_defaults_follow_from_throughput() -> None:
    m = Model("bert", cores=4, rate=100, throughput=500)
    assert (m.latency_ms, m.slo_ms, m.arrival_cv, m.service_cv, m.switch_ms) == (
        None,
        None,
        1.0,
        0.05,
        None,
    )
    assert m.busy_ms == 8.0
    assert m.unloaded_ms == 8.0
    assert m.target_ms == 40.0
    assert not m.gives_latency
    tensor = Model("llm", cores=2, parallel="tensor", rate=10, throughput=50)
    assert tensor.busy_ms == 20.0
    assert tensor.target_ms == 100.0


def test_given_fields_set_the_target() -> None:
    m = Model("a", rate=100, throughput=500, latency_ms=3.0)
    assert m.target_ms == 15.0
    assert m.gives_latency
    assert Model("a", rate=1, throughput=2, slo_ms=7).target_ms == 7
    assert Model("a").target_ms is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"slo_ms": 0}, "model 'a': slo_ms: must be a number > 0, got 0"),
        ({"latency_ms": "5"}, "model 'a': latency_ms: must be a number > 0, got '5'"),
        ({"arrival_cv": -1}, "model 'a': arrival_cv: must be a number from 0 to 10, got -1"),
        ({"service_cv": True}, "model 'a': service_cv: must be a number from 0 to 10, got True"),
        ({"switch_ms": -0.5}, "model 'a': switch_ms: must be a number >= 0, got -0.5"),
        (
            {"latency_ms": 1.0, "cores": 2},
            r"model 'a': latency_ms: must be at least the busy time of one call, 2 stage\(s\) x "
            r"1000 / 500 = 4 ms, got 1.0",
        ),
    ],
)
def test_bad_fields_are_named(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{message}$"):
        Model("a", rate=100, throughput=500, **fields)  # type: ignore[arg-type]


def test_a_target_needs_traffic() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^model .a.: slo_ms: needs rate and throughput: a latency is judged against "
        "traffic$",
    ):
        Model("a", slo_ms=10)


def test_fields_round_trip_through_a_mix_file() -> None:
    data = {
        "instance": "inf1.xlarge",
        "models": [
            {
                "name": "a",
                "rate": 100,
                "throughput": 500,
                "latency_ms": 3.0,
                "slo_ms": 12,
                "arrival_cv": 1.5,
                "service_cv": 0,
                "switch_ms": 0.3,
            }
        ],
    }
    mix = Mix.from_dict(data)
    assert mix.to_dict() == data
    assert Mix.from_dict(mix.to_dict()) == mix


def test_a_bad_field_in_a_file_names_its_place() -> None:
    data = {"instance": "inf1.xlarge", "models": [{"name": "a", "arrival_cv": 11}]}
    with pytest.raises(
        ConfigError,
        match=r"^mix.yaml: models\[0\].arrival_cv: must be a number from 0 to 10, got 11$",
    ):
        Mix.from_dict(data, "mix.yaml")
