"""Where the per-instance solves run: in this process, a local process pool, or a Ray cluster.

The instances of a fleet are independent once copies are assigned, so their solves are a map.
Every solve is seeded and single-worker, hence reproducible: the three executors return the same
plans for the same inputs, in the same order.

- ``"local"`` with ``workers == 1``: one after the other in this process (no start-up cost);
- ``"local"`` with ``workers > 1``: a :class:`concurrent.futures.ProcessPoolExecutor`;
- ``"ray"``: Ray tasks (``pip install 'ncplace[ray]'``), on the cluster at ``address``
  (``ray start --head`` prints it; ``"auto"`` finds a local one) or on a Ray started here with
  ``workers`` CPUs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from ..errors import ConfigError

EXECUTORS = ("local", "ray")

T = TypeVar("T")
R = TypeVar("R")


def check_executor(executor: object, workers: object, address: object) -> None:
    """ConfigError for an unknown executor, a worker count below 1, or an address without Ray."""
    if executor not in EXECUTORS:
        raise ConfigError(f"executor: {executor!r} is not one of {', '.join(EXECUTORS)}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers: must be an integer >= 1, got {workers!r}")
    if address is not None and executor != "ray":
        raise ConfigError(f"address {address!r}: a Ray address needs executor 'ray'")


def run_map(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
) -> list[R]:
    """``[fn(t) for t in tasks]`` on the chosen executor, results in task order."""
    check_executor(executor, workers, address)
    if executor == "ray":
        return _ray_map(fn, tasks, workers, address)
    if workers == 1 or len(tasks) <= 1:
        return [fn(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        return list(pool.map(fn, tasks, chunksize=max(1, len(tasks) // (4 * workers))))


def connect(executor: str, workers: int, address: str | None) -> None:
    """Start or join Ray now when ``executor`` is ``"ray"`` (a no-op otherwise), so that a
    missing Ray or a wrong address fails before any solving."""
    check_executor(executor, workers, address)
    if executor == "ray":
        _ray(workers, address)


def _ray(workers: int, address: str | None) -> Any:
    """The ``ray`` module, initialised (started here with ``workers`` CPUs, or joined at
    ``address``)."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "executor 'ray' needs Ray, which is not installed: pip install 'ncplace[ray]'"
        ) from None
    if not ray.is_initialized():
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is None:
            options["num_cpus"] = workers
        else:
            options["address"] = address
        try:
            ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot connect to Ray at {address!r}: {exc}") from None
    return ray


def _ray_map(
    fn: Callable[[T], R], tasks: Sequence[T], workers: int, address: str | None
) -> list[R]:
    ray = _ray(workers, address)
    remote = ray.remote(num_cpus=1)(fn)
    return list(ray.get([remote.remote(t) for t in tasks]))
