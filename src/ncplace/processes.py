"""Serving processes a mix declares: named processes with their models, or a pool of workers.

On Inf2, Trn1 and Trn2 a deployment is usually several processes, each owning a contiguous run of
cores through ``NEURON_RT_VISIBLE_CORES`` (processes never share a core):

- ``processes: [{name: api, models: [a, b]}, {name: llm, models: [llama], cores: 8}]``: each
  process loads the models listed, every model of the mix in exactly one process; ``cores`` fixes
  the size of the process's range, otherwise the optimizer sizes it.
- ``workers: N``: a pool of N identical processes that each load every model (TorchServe or
  gunicorn style); a request goes to one worker, so each worker serves ``1 / N`` of the traffic.

A tensor-parallel model (``parallel: tensor``, ``cores > 1``) is one process of its own, an LLM
server: its ranks take the process's cores from the first (neuronx-distributed and
transformers-neuronx load rank ``i`` on the process's core ``i``); each of its copies
(``replicas``) is one such server, a process of its own. Its degree ``cores`` must be legal for
the machine (:func:`ncplace.hardware.tensor_degrees`).

:func:`process_specs` gives the processes a plan has: the declared ones; else, when the mix has
tensor-parallel models, one per such model (named after it) plus one process ``main`` for the
rest; else none (today's single process owning the used cores).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, InfeasibleMix, check_fields
from .hardware import tensor_degrees, tensor_starts

if TYPE_CHECKING:
    from .hardware import Instance
    from .mix import Mix, Model

PROCESS_FIELDS = ("name", "models", "cores")
MAIN_PROCESS = "main"


@dataclass(frozen=True)
class ProcessSpec:
    """A declared serving process: its ``name``, the ``models`` it loads and, optionally, the
    number of ``cores`` its range has."""

    name: str
    models: tuple[str, ...]
    cores: int | None = None

    def __post_init__(self) -> None:
        where = f"process {self.name!r}"
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"process name: must be a non-empty string, got {self.name!r}")
        if isinstance(self.models, str) or not isinstance(self.models, Iterable):
            raise ConfigError(
                f"{where}: models: expected a list of model names, got {self.models!r}"
            )
        object.__setattr__(self, "models", tuple(self.models))
        if not self.models or not all(isinstance(m, str) for m in self.models):
            raise ConfigError(
                f"{where}: models: expected a non-empty list of model names, got "
                f"{list(self.models)!r}"
            )
        cores = self.cores
        if cores is not None and (
            isinstance(cores, bool) or not isinstance(cores, int) or cores < 1
        ):
            raise ConfigError(f"{where}: cores: must be an integer >= 1, got {cores!r}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "models": list(self.models)}
        if self.cores is not None:
            out["cores"] = self.cores
        return out


def is_tensor_parallel(model: Model) -> bool:
    """True for a tensor-parallel model over more than one core (an LLM server)."""
    return model.parallel == "tensor" and model.cores > 1


def specs_from_data(value: object, label: str) -> tuple[ProcessSpec, ...]:
    """The ``processes`` list of a mix file."""
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f"{label}: processes: expected a non-empty list of {{name, models, cores}}, got "
            f"{value!r}"
        )
    out = []
    for i, item in enumerate(value):
        where = f"{label}: processes[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: expected a mapping with name and models, got {item!r}")
        check_fields(item, PROCESS_FIELDS, where)
        for key in ("name", "models"):
            if key not in item:
                raise ConfigError(f"{where}.{key}: missing")
        try:
            out.append(ProcessSpec(item["name"], item["models"], item.get("cores")))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return tuple(out)


def validate(mix: Mix) -> None:
    """The process rules of ``mix`` (see the module docstring), one message per broken rule."""
    n = mix.instance.cores
    if mix.processes and mix.workers is not None:
        raise ConfigError("processes and workers: give one or the other, not both")
    for model in mix.models:
        if is_tensor_parallel(model):
            _check_degree(mix, model)
    if mix.workers is not None:
        _check_workers(mix)
    if not mix.processes:
        return
    seen: dict[str, str] = {}
    names: set[str] = set()
    for spec in mix.processes:
        if not isinstance(spec, ProcessSpec):
            raise ConfigError(f"mix processes: expected ProcessSpec objects, got {spec!r}")
        if spec.name in names:
            raise ConfigError(f"processes: duplicate process name {spec.name!r}")
        names.add(spec.name)
        for name in spec.models:
            if name not in mix.names:
                raise ConfigError(
                    f"process {spec.name!r}: models: the mix has no model {name!r}; its models: "
                    f"{', '.join(map(repr, mix.names))}"
                )
            if name in seen:
                raise ConfigError(
                    f"process {spec.name!r}: model {name!r} is already in process "
                    f"{seen[name]!r}; a model belongs to one process"
                )
            seen[name] = spec.name
        _check_spec(mix, spec, n)
    missing = [name for name in mix.names if name not in seen]
    if missing:
        raise ConfigError(
            f"processes: model(s) {', '.join(map(repr, missing))} in no process; list every "
            "model under one"
        )
    fixed = sum(spec.cores or 0 for spec in mix.processes)
    if fixed > n:
        raise ConfigError(
            f"processes: fixed ranges need {fixed} cores but {mix.instance.name} has {n}"
        )


def _check_degree(mix: Mix, model: Model) -> None:
    degrees = tensor_degrees(mix.instance)
    if model.cores not in degrees:
        raise ConfigError(
            f"model {model.name!r}: cores: {model.cores} is not a tensor-parallel degree "
            f"{mix.instance.name} takes; legal: {', '.join(map(str, degrees))}"
        )
    inst = mix.instance
    if not tensor_starts(inst, model.cores):
        raise ConfigError(
            f"model {model.name!r}: no run of {model.cores} cores of {inst.name} fills whole "
            "connected devices (see ncplace.hardware.tensor_starts)"
        )


def _check_spec(mix: Mix, spec: ProcessSpec, n: int) -> None:
    models = [mix[name] for name in spec.models]
    tensor = [m.name for m in models if is_tensor_parallel(m)]
    if tensor and len(models) > 1:
        raise ConfigError(
            f"process {spec.name!r}: tensor-parallel model {tensor[0]!r} is a process of its "
            "own (an LLM server); move the other models to another process"
        )
    if spec.cores is None:
        return
    if tensor and models[0].replicas != 1:
        raise ConfigError(
            f"process {spec.name!r}: cores: each copy of tensor-parallel model {tensor[0]!r} is "
            "a server of its own with its own range; drop cores or give replicas: 1"
        )
    if spec.cores > n:
        raise ConfigError(
            f"process {spec.name!r}: cores: {spec.cores} but {mix.instance.name} has {n}"
        )
    widest = max(models, key=lambda m: m.cores)
    if widest.cores > spec.cores:
        raise ConfigError(
            f"process {spec.name!r}: cores: {spec.cores}, but a copy of {widest.name!r} needs "
            f"{widest.cores}"
        )
    exclusive = sum(m.width for m in models if m.exclusive)
    if exclusive > spec.cores:
        raise ConfigError(
            f"process {spec.name!r}: cores: {spec.cores}, but its exclusive models need "
            f"{exclusive} cores to themselves"
        )


def _check_workers(mix: Mix) -> None:
    workers = mix.workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers: must be an integer >= 1, got {workers!r}")
    n = mix.instance.cores
    slice_cores = n // workers
    need = sum(m.width for m in mix.models if m.exclusive)
    widest = max(m.cores for m in mix.models)
    if slice_cores < max(widest, need, 1):
        raise ConfigError(
            f"workers: {workers} workers get {n} // {workers} = {slice_cores} core(s) each on "
            f"{mix.instance.name}, but each loads every model and needs at least "
            f"{max(widest, need)}"
        )
    pinned = [m.name for m in mix.models if m.start is not None]
    if pinned:
        raise ConfigError(
            f"workers: model {pinned[0]!r} pins its start core, which a pool of identical "
            "workers cannot honour; drop start or declare processes"
        )
    tensor = [m.name for m in mix.models if is_tensor_parallel(m)]
    if tensor and len(mix.models) > 1:
        raise ConfigError(
            f"workers: tensor-parallel model {tensor[0]!r} is a process of its own; a pool of "
            "workers may serve it only alone"
        )
    from .optimize.processes import worker_slice

    try:
        worker_slice(mix)
    except ConfigError as exc:
        inst = worker_slice_instance(mix)
        raise InfeasibleMix(
            f"workers: each of {workers} workers loads every model on {inst.cores} core(s) "
            f"with {inst.memory_gib:g} GiB of device memory: {exc}"
        ) from None


def process_specs(mix: Mix) -> tuple[ProcessSpec, ...]:
    """The processes a plan of ``mix`` has (see the module docstring); ``()`` for one process
    owning the used cores, and for a pool of workers (planned by
    :func:`ncplace.optimize.processes.plan_workers`)."""
    if mix.workers is not None:
        return ()
    if mix.processes:
        return tuple(mix.processes)
    tensor = [m for m in mix.models if is_tensor_parallel(m)]
    if not tensor:
        return ()
    rest = tuple(m.name for m in mix.models if not is_tensor_parallel(m))
    names = {m.name for m in tensor}
    main = MAIN_PROCESS
    while main in names:
        main += "_"
    specs = [ProcessSpec(m.name, (m.name,)) for m in tensor]
    if rest:
        specs.append(ProcessSpec(main, rest))
    return tuple(specs)


def process_of(specs: Sequence[ProcessSpec]) -> dict[str, int]:
    """Model name -> index of its process in ``specs``."""
    return {name: i for i, spec in enumerate(specs) for name in spec.models}


def worker_slice_instance(mix: Mix) -> Instance:
    """The machine one worker of ``mix``'s pool sees (:func:`ncplace.optimize.processes.
    worker_slice`)."""
    from .optimize.processes import slice_instance

    return slice_instance(mix.instance, mix.workers or 1)
