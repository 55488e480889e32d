"""The fleet's instances solved as Ray tasks give the plan solved in this process (skipped when
Ray is not installed: ``pip install 'ncplace[ray]'``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ncplace.fleet import plan_fleet

ray = pytest.importorskip("ray")

INF2 = "inf2.xlarge,inf2.24xlarge"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A Ray started on this machine with 2 CPUs (its tasks run in worker processes, as on a
    cluster), shut down after the module."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_and_the_local_executor_give_the_same_plan(local_ray: None) -> None:
    from benchmarks.fleet_catalogue import catalogue

    cat = catalogue(12, 5)
    kwargs: dict[str, Any] = {
        "target_scale": 1.5,
        "time_limit": 1.0,
        "instance_time_limit": 0.2,
        "seed": 2,
    }
    local = plan_fleet(cat, INF2, **kwargs)
    on_ray = plan_fleet(cat, INF2, executor="ray", workers=2, **kwargs)
    assert [p.layout.canonical() for p in on_ray.instances] == [
        p.layout.canonical() for p in local.instances
    ]
    assert on_ray.cost_per_hour == local.cost_per_hour
    assert on_ray.executor == "ray"
