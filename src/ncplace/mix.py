"""Model mixes: the compiled models a user wants to serve on one instance.

A :class:`Model` says how many cores one copy needs (its NeuronCore Pipeline size), how many copies
to place, how much traffic it gets and how much one copy sustains, and the hard rules it carries
(``exclusive`` cores, ``memory_gib`` per copy, a pinned ``start``). A :class:`Mix` is the models
plus the :class:`~ncplace.hardware.Instance`, checked as a whole so that a mix that cannot fit is
reported with its arithmetic before any solver runs.

Load model (shared with the scorer and the optimizer): ``demand = rate / throughput`` (copies'
worth of busy time the traffic needs; 1.0 when unknown). Each copy carries ``demand / replicas``
on every core it uses.

Errors point at the place. From Python they read ``model 'bert': cores: must be an integer >= 1,
got 0``; from a file, ``mix.yaml: models[2].cores: must be an integer >= 1, got 0``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from .errors import (
    ConfigError,
    FieldError,
    InfeasibleFieldError,
    InfeasibleMix,
    check_fields,
    check_named_entry,
    file_path,
    value_text,
)
from .hardware import FRAMEWORKS, Instance, instance, with_lnc
from .inputs import read_data_file
from .processes import ProcessSpec, specs_from_data
from .processes import validate as validate_processes

MODEL_FIELDS = (
    "name",
    "cores",
    "replicas",
    "rate",
    "throughput",
    "exclusive",
    "memory_gib",
    "file",
    "start",
    "parallel",
    "latency_ms",
    "slo_ms",
    "arrival_cv",
    "service_cv",
    "switch_ms",
)
DEFAULT_ARRIVAL_CV = 1.0
DEFAULT_SERVICE_CV = 0.05
MAX_CV = 10.0
SLO_FACTOR = 5.0
PARALLEL_KINDS = ("pipeline", "tensor")
MIX_FIELDS = ("instance", "models", "framework", "lnc", "processes", "workers")
INSTANCE_FIELDS = (
    "cores",
    "cores_per_chip",
    "chip_memory_gib",
    "topology",
    "framework",
    "name",
    "lnc",
    "bank_cores",
)
MEMORY_TOLERANCE_GIB = 1e-9
MAX_DEMAND = 1e6
"""Largest ``rate / throughput`` of a model: a million copies' worth of busy time is far past
any machine (at most :data:`~ncplace.hardware.MAX_CORES` cores), so more is a unit slip, and
integer loads stay within CP-SAT's 64 bits."""
MAX_CORE_SLOTS = 1_000_000
"""Most core slots a mix may ask for (``cores x min_replicas`` summed over models): each copy
is a model the runtime loads and the baselines place one by one, so a copy count past this is a
slip (``replicas: 1000000000``) refused by arithmetic before any work."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _plural(count: int, word: str) -> str:
    if count == 1:
        return f"1 {word}"
    return f"{count} {word[:-1]}ies" if word.endswith("y") else f"{count} {word}s"


@dataclass(frozen=True)
class Model:
    """A compiled model to place.

    - ``cores``: pipeline size (``--neuroncore-pipeline-cores``): consecutive cores one copy uses.
    - ``replicas``: copies to place: an integer, ``"auto"`` (the optimizer chooses 1..as many as
      fit) or a ``[low, high]`` range the optimizer chooses from. Baseline policies, which cannot
      choose, place ``min_replicas`` copies.
    - ``rate``: requests/s wanted; ``throughput``: requests/s one copy sustains alone. Both or
      neither.
    - ``exclusive``: no other copy (of any model, itself included) may share its cores; pipelined
      models usually want this.
    - ``memory_gib``: device memory one copy needs, split evenly over its cores.
    - ``file``: the path the application passes to ``torch.jit.load``.
    - ``start``: pin the first core of the model's block of copies (global index).
    - ``parallel``: how a copy of ``cores > 1`` spreads over its cores: ``"pipeline"`` (a
      NeuronCore Pipeline, torch-neuron only; what ``None`` means there) or ``"tensor"``
      (tensor parallelism, one rank per core: neuronx-distributed or transformers-neuronx,
      torch-neuronx only). Both occupy ``cores`` consecutive cores.

    Latency fields (all optional; :mod:`ncplace.latency` states the queueing model they feed):

    - ``latency_ms``: unloaded latency of one call. Default: its busy time, ``cores /
      throughput`` for a pipeline, ``1 / throughput`` for a tensor-parallel copy (in ms).
    - ``slo_ms``: the target for the model's p99 latency. Default: ``5 x latency_ms``.
    - ``arrival_cv``: coefficient of variation of the time between calls; 1 (the default) is
      Poisson, above 1 bursty, 0 evenly spaced.
    - ``service_cv``: coefficient of variation of one stage's service time. Default 0.05:
      published Inf1 p99/p50 ratios of 1.01-1.11 say service is nearly deterministic.
    - ``switch_ms``: core time spent before a call of this model when the core last ran another
      model or copy. Default: the value given to the evaluator
      (:data:`ncplace.latency.DEFAULT_SWITCH_MS` when none).

    ``latency_ms`` and ``slo_ms`` need ``rate`` and ``throughput``: a target is judged against
    traffic.
    """

    name: str
    cores: int = 1
    replicas: int | str | tuple[int, int] = 1
    rate: float | None = None
    throughput: float | None = None
    exclusive: bool = False
    memory_gib: float | None = None
    file: str | None = None
    start: int | None = None
    parallel: str | None = None
    latency_ms: float | None = None
    slo_ms: float | None = None
    arrival_cv: float = DEFAULT_ARRIVAL_CV
    service_cv: float = DEFAULT_SERVICE_CV
    switch_ms: float | None = None

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not name.strip():
            raise FieldError(name, "name", f"must be a non-empty string, got {value_text(name)}")
        if not _is_int(self.cores) or self.cores < 1:
            raise FieldError(
                name, "cores", f"must be an integer >= 1, got {value_text(self.cores)}"
            )
        self._validate_replicas()
        for key in ("rate", "throughput"):
            value = getattr(self, key)
            if value is not None and (
                not _is_number(value) or not math.isfinite(value) or value <= 0
            ):
                raise FieldError(name, key, f"must be a number > 0, got {value_text(value)}")
        if self.rate is not None and self.throughput is not None and self.demand > MAX_DEMAND:
            raise FieldError(
                name,
                "rate",
                f"rate / throughput = {self.rate:g} / {self.throughput:g} = {self.demand:.3g} "
                f"copies' worth of busy time, more than the {MAX_DEMAND:g} ncplace accepts; "
                "are both in requests per second?",
            )
        if (self.rate is None) != (self.throughput is None):
            given, missing = "rate", "throughput"
            if self.rate is None:
                given, missing = missing, given
            raise FieldError(
                name,
                missing,
                f"missing while {given} is given; give both rate (requests/s wanted) and "
                "throughput (requests/s one copy sustains) or neither",
            )
        if not isinstance(self.exclusive, bool):
            raise FieldError(
                name, "exclusive", f"must be true or false, got {value_text(self.exclusive)}"
            )
        mem = self.memory_gib
        if mem is not None and (not _is_number(mem) or not math.isfinite(mem) or mem < 0):
            raise FieldError(name, "memory_gib", f"must be a number >= 0, got {value_text(mem)}")
        if self.file is not None and (not isinstance(self.file, str) or not self.file):
            raise FieldError(
                name, "file", f"must be a non-empty string, got {value_text(self.file)}"
            )
        if self.start is not None and (not _is_int(self.start) or self.start < 0):
            raise FieldError(
                name, "start", f"must be an integer >= 0, got {value_text(self.start)}"
            )
        if self.parallel is not None and self.parallel not in PARALLEL_KINDS:
            raise FieldError(
                name, "parallel", f"must be 'pipeline' or 'tensor', got {value_text(self.parallel)}"
            )
        self._validate_latency()

    def _validate_latency(self) -> None:
        name = self.name
        for key in ("latency_ms", "slo_ms"):
            value = getattr(self, key)
            if value is None:
                continue
            if not _is_number(value) or not math.isfinite(value) or value <= 0:
                raise FieldError(name, key, f"must be a number > 0, got {value_text(value)}")
            if self.throughput is None:
                raise FieldError(
                    name, key, "needs rate and throughput: a latency is judged against traffic"
                )
        for key in ("arrival_cv", "service_cv"):
            value = getattr(self, key)
            if not _is_number(value) or not 0 <= value <= MAX_CV:
                raise FieldError(
                    name, key, f"must be a number from 0 to {MAX_CV:g}, got {value_text(value)}"
                )
        switch = self.switch_ms
        if switch is not None and (not _is_number(switch) or not 0 <= switch < math.inf):
            raise FieldError(name, "switch_ms", f"must be a number >= 0, got {value_text(switch)}")
        busy = self.busy_ms
        if self.latency_ms is not None and busy is not None and self.latency_ms < busy - 1e-9:
            raise FieldError(
                name,
                "latency_ms",
                f"must be at least the busy time of one call, {self.stages} stage(s) x "
                f"1000 / {self.throughput:g} = {busy:g} ms, got {value_text(self.latency_ms)}",
            )

    @property
    def stages(self) -> int:
        """Cores one call runs on one after another: ``cores`` for a pipeline, 1 when
        tensor-parallel (its ranks run together)."""
        return 1 if self.parallel == "tensor" else self.cores

    @property
    def busy_ms(self) -> float | None:
        """Unloaded time one call spends being served: ``stages x 1000 / throughput`` ms."""
        return None if self.throughput is None else self.stages * 1000.0 / self.throughput

    @property
    def unloaded_ms(self) -> float | None:
        """``latency_ms``, or :attr:`busy_ms` when it is not given."""
        return self.latency_ms if self.latency_ms is not None else self.busy_ms

    @property
    def target_ms(self) -> float | None:
        """The p99 target: ``slo_ms``, else ``5 x`` :attr:`unloaded_ms` (None without traffic)."""
        if self.slo_ms is not None:
            return self.slo_ms
        unloaded = self.unloaded_ms
        return None if unloaded is None else SLO_FACTOR * unloaded

    @property
    def gives_latency(self) -> bool:
        """True when any latency field differs from its default."""
        return (
            self.latency_ms is not None
            or self.slo_ms is not None
            or self.switch_ms is not None
            or self.arrival_cv != DEFAULT_ARRIVAL_CV
            or self.service_cv != DEFAULT_SERVICE_CV
        )

    def _validate_replicas(self) -> None:
        value = self.replicas
        accepted = "an integer >= 1, 'auto', or a range [low, high] with 1 <= low <= high"
        if _is_int(value) and value >= 1:  # type: ignore[operator]
            return
        if isinstance(value, str) and value == "auto":
            return
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_int(v) for v in value):
            low, high = value
            if 1 <= low <= high:
                object.__setattr__(self, "replicas", (low, high))
                return
        raise FieldError(self.name, "replicas", f"must be {accepted}, got {value_text(value)}")

    @property
    def fixed_replicas(self) -> bool:
        """True when the copy count is given (an integer), not left to the optimizer."""
        return _is_int(self.replicas)

    @property
    def min_replicas(self) -> int:
        """The fewest copies allowed (what baselines place)."""
        if _is_int(self.replicas):
            return self.replicas  # type: ignore[return-value]
        if self.replicas == "auto":
            return 1
        return self.replicas[0]  # type: ignore[index,return-value]

    def max_replicas(self, cores: int) -> int:
        """The most copies allowed on a machine of ``cores`` cores (at least ``min_replicas``)."""
        if _is_int(self.replicas):
            return self.replicas  # type: ignore[return-value]
        most = max(1, cores // self.cores)
        if self.replicas == "auto":
            return most
        return self.replicas[1]  # type: ignore[index,return-value]

    @property
    def demand(self) -> float:
        """Copies' worth of busy time the traffic needs: ``rate / throughput``, 1.0 when unknown."""
        if self.rate is None or self.throughput is None:
            return 1.0
        return self.rate / self.throughput

    @property
    def width(self) -> int:
        """Cores of the smallest block of copies: ``cores * min_replicas``."""
        return self.cores * self.min_replicas

    @property
    def path(self) -> str:
        """What the application loads: ``file``, else ``<name>.pt``."""
        return self.file if self.file is not None else f"{self.name}.pt"

    def to_dict(self) -> dict[str, Any]:
        """The fields that differ from the defaults, as a mix file writes them."""
        out: dict[str, Any] = {"name": self.name}
        defaults = Model("x")
        for key in MODEL_FIELDS[1:]:
            value = getattr(self, key)
            if value != getattr(defaults, key):
                out[key] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class Mix:
    """Models to serve together on one instance.

    ``framework`` defaults to the instance's (torch-neuron on inf1, torch-neuronx on inf2/trn).
    torch-neuronx has no NeuronCore Pipeline, so its models use 1 core unless tensor-parallel
    (``parallel="tensor"``).

    Construction rejects a mix no layout can satisfy, with the arithmetic (see
    :func:`_validate_fit`): a copy wider than the instance, a copy whose memory exceeds a chip
    however it is placed, a pinned block past the last core, exclusive blocks that overlap or need
    more cores than exist, and models needing more memory than the machine has.
    """

    models: tuple[Model, ...]
    instance: Instance = None  # type: ignore[assignment]  # required; None is refused below
    framework: str | None = None
    processes: tuple[ProcessSpec, ...] = ()
    workers: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        if self.instance is None:
            raise ConfigError(
                "mix instance: missing; give an Instance or a catalogue name such as "
                "'inf1.6xlarge' (ncplace.INSTANCES lists them)"
            )
        if isinstance(self.instance, str):
            object.__setattr__(self, "instance", instance(self.instance))
        if not isinstance(self.instance, Instance):
            raise ConfigError(
                f"mix instance: expected an Instance or a name, got {value_text(self.instance)}"
            )
        if self.framework is None:
            object.__setattr__(self, "framework", self.instance.framework)
        if self.framework not in FRAMEWORKS:
            raise ConfigError(
                f"mix framework: {value_text(self.framework)} is not one of {', '.join(FRAMEWORKS)}"
            )
        for m in self.models:
            if not isinstance(m, Model):
                raise ConfigError(f"mix models: expected Model objects, got {value_text(m)}")
        _validate_names(self.models)
        _validate_copies(self)
        _validate_fit(self)
        if isinstance(self.processes, (str, bytes)) or not isinstance(self.processes, Iterable):
            raise ConfigError(
                f"mix processes: expected ProcessSpec objects, got {value_text(self.processes)}"
            )
        object.__setattr__(self, "processes", tuple(self.processes))
        validate_processes(self)

    def __getitem__(self, name: str) -> Model:
        return self._by_name[name]

    @cached_property
    def _by_name(self) -> dict[str, Model]:
        """Models by name, built once: a lookup by name is a dict lookup, not a scan."""
        return {m.name: m for m in self.models}

    def __iter__(self) -> Iterator[Model]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    def with_instance(self, inst: Instance | str) -> Mix:
        """The same models on another instance."""
        keep = None if self.framework == self.instance.framework else self.framework
        return Mix(self.models, inst, keep, self.processes, self.workers)  # type: ignore[arg-type]

    def with_models(self, models: Iterable[Model]) -> Mix:
        """Other models on the same instance and framework; declared processes keep the models
        that remain (a process left without any is dropped), and a pool keeps its size."""
        models = tuple(models)
        names = {m.name for m in models if isinstance(m, Model)}
        processes = []
        for spec in self.processes:
            kept = tuple(name for name in spec.models if name in names)
            if kept:
                processes.append(ProcessSpec(spec.name, kept, spec.cores))
        return Mix(models, self.instance, self.framework, tuple(processes), self.workers)

    @classmethod
    def from_file(
        cls, path: str | Path, instance_name: str | None = None, *, label: str | None = None
    ) -> Mix:
        """Read a YAML or JSON mix file; ``instance_name`` overrides the file's instance.

        Errors name the file by ``label``, by default the path as given (as a compiler does)."""
        path = file_path(path, "mix file path")
        label = str(path) if label is None else label
        return cls.from_dict(read_data_file(path, "mix file", label), label, instance_name)

    @classmethod
    def from_dict(cls, data: object, label: str = "mix", instance_name: str | None = None) -> Mix:
        """Build a mix from parsed YAML/JSON, with errors that point at the place."""
        if not isinstance(data, Mapping):
            got = "an empty file" if data is None else f"a {type(data).__name__}"
            raise ConfigError(
                f"{label}: expected a mapping with 'instance' and 'models', got {got}"
            )
        check_fields(data, MIX_FIELDS, label)
        if instance_name is not None:
            inst = instance(instance_name)
        else:
            inst = parse_instance(data.get("instance"), label)
        if data.get("lnc") is not None:
            inst = with_lnc(inst, data["lnc"], f"{label}: lnc")
        processes: tuple[ProcessSpec, ...] = ()
        if data.get("processes") is not None:
            processes = specs_from_data(data["processes"], label)
        workers = data.get("workers")
        framework = data.get("framework")
        if framework is not None and framework not in FRAMEWORKS:
            raise ConfigError(
                f"{label}: framework: {value_text(framework)} is not one of {', '.join(FRAMEWORKS)}"
            )
        raw_models = data.get("models")
        if raw_models is None:
            raise ConfigError(f"{label}: models: missing; expected a non-empty list of models")
        if not isinstance(raw_models, list) or not raw_models:
            raise ConfigError(
                f"{label}: models: expected a non-empty list "
                f"of models, got {value_text(raw_models)}"
            )
        models = [
            _model_from_dict(item, f"{label}: models[{i}]") for i, item in enumerate(raw_models)
        ]
        try:
            return cls(tuple(models), inst, framework, processes, workers)
        except FieldError as exc:
            if exc.index is None:
                raise ConfigError(f"{label}: {exc}") from None
            raise exc.at(f"{label}: models[{exc.index}]") from None
        except ConfigError as exc:
            raise type(exc)(f"{label}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """A mapping that :meth:`from_dict` reads back into an equal mix."""
        inst = self.instance
        base, _, _ = inst.name.partition(":")
        inst_out: Any = base
        lnc = None
        try:
            known: Instance | None = instance(inst.name)
        except ConfigError:
            known = None
        if known == inst and base != inst.name:
            lnc = inst.lnc
        if known != inst:
            inst_out = {
                "cores": inst.cores,
                "cores_per_chip": inst.cores_per_chip,
                "chip_memory_gib": inst.chip_memory_gib,
            }
            if inst.topology != "chain":
                inst_out["topology"] = inst.topology
            if inst.framework != "torch-neuron":
                inst_out["framework"] = inst.framework
            if inst.name != "custom":
                inst_out["name"] = inst.name
            for key in ("lnc", "bank_cores"):
                if getattr(inst, key) is not None:
                    inst_out[key] = getattr(inst, key)
        out: dict[str, Any] = {"instance": inst_out}
        if lnc is not None:
            out["lnc"] = lnc
        if self.framework != inst.framework:
            out["framework"] = self.framework
        out["models"] = [m.to_dict() for m in self.models]
        if self.processes:
            out["processes"] = [spec.to_dict() for spec in self.processes]
        if self.workers is not None:
            out["workers"] = self.workers
        return out


def parse_instance(value: object, label: str) -> Instance:
    """An instance from a mix or scenario file: a catalogue name or ``{cores, cores_per_chip}``."""
    if value is None:
        raise ConfigError(
            f"{label}: instance: missing; give a catalogue name or {{cores, cores_per_chip}}"
        )
    if isinstance(value, str):
        try:
            return instance(value)
        except ConfigError as exc:
            raise ConfigError(f"{label}: instance: {exc}") from None
    if isinstance(value, Mapping):
        check_fields(value, INSTANCE_FIELDS, f"{label}: instance")
        if "cores" not in value:
            raise ConfigError(f"{label}: instance.cores: missing")
        try:
            return Instance(**{str(k): v for k, v in value.items()})
        except ConfigError as exc:
            message = str(exc)
            head, sep, rest = message.partition(": ")
            if sep and head.startswith("Instance "):
                raise ConfigError(f"{label}: instance.{head[len('Instance ') :]}: {rest}") from None
            raise ConfigError(f"{label}: instance: {message}") from None
    raise ConfigError(
        f"{label}: instance: expected a catalogue name or a mapping, got {type(value).__name__}"
    )


def _model_from_dict(item: object, where: str) -> Model:
    item = check_named_entry(item, MODEL_FIELDS, where)
    try:
        return Model(**{str(k): v for k, v in item.items()})
    except FieldError as exc:
        raise exc.at(where) from None


def _validate_names(models: tuple[Model, ...]) -> None:
    if not models:
        raise ConfigError("models: a mix needs at least one model")
    first: dict[str, int] = {}
    for i, m in enumerate(models):
        if m.name in first:
            raise FieldError(
                m.name,
                "name",
                f"duplicate model name {value_text(m.name)} (first at models[{first[m.name]}]); "
                "names must be unique",
                i,
            )
        first[m.name] = i


def min_chip_share(cores: int, inst: Instance) -> int:
    """The fewest of a ``cores``-core copy's cores that must share one memory pool (a chip, or an
    HBM bank: :attr:`~ncplace.hardware.Instance.memory_cores`), however it is placed.

    ``min over starts s of max over pools of |[s, s + cores) ∩ pool|``: a copy's memory is split
    evenly over its cores, so the pool holding this many of them carries at least
    ``share x memory_gib / cores``.
    """
    return _min_pool_share(cores, inst.cores, inst.memory_cores)


@lru_cache(maxsize=1024)
def _min_pool_share(cores: int, n: int, width: int) -> int:
    """:func:`min_chip_share` by copy width, machine size and pool width: the same few values
    for every model of a mix, so a scan over the starts is done once per width, not per model
    (a mix of 10,000 models on 256 cores read in 13 s without it)."""
    best = cores
    for s in range(n - cores + 1):
        most = 0
        chip = s // width
        while chip * width < s + cores:
            lo, hi = max(s, chip * width), min(s + cores, (chip + 1) * width)
            most = max(most, hi - lo)
            chip += 1
        best = min(best, most)
    return best


_PARALLEL_OF: dict[str | None, str] = {"torch-neuron": "pipeline", "torch-neuronx": "tensor"}


def _validate_fit(mix: Mix) -> None:
    """Raise :class:`InfeasibleMix` for a mix that cannot fit at all (see :func:`_check_fit`)."""
    try:
        _check_fit(mix)
    except FieldError as exc:
        raise InfeasibleFieldError(exc.name, exc.key, exc.detail, exc.index) from None
    except ConfigError as exc:
        raise InfeasibleMix(str(exc)) from None


def _check_fit(mix: Mix) -> None:
    """Reject mixes that cannot fit at all, showing the arithmetic.

    Per model: torch-neuronx models use 1 core; a copy fits the instance; a pinned block of
    ``cores x min_replicas`` cores ends by the last core; a copy's memory on its busiest chip
    (:func:`min_chip_share`) fits a chip. Across models: pinned blocks of exclusive models overlap
    no other pinned block; exclusive blocks fit the cores, leaving room for the widest copy of any
    other model (which may share cores only with non-exclusive models); total memory of
    ``memory_gib x min_replicas`` fits the machine.
    """
    inst = mix.instance
    n = inst.cores
    cap = inst.pool_memory_gib
    pool = "chip" if inst.memory_cores == inst.cores_per_chip else "memory bank"
    for i, m in enumerate(mix.models):
        if mix.framework == "torch-neuronx" and m.cores != 1 and m.parallel != "tensor":
            raise FieldError(
                m.name,
                "cores",
                f"torch-neuronx has no NeuronCore Pipeline, so a model uses 1 core unless it is "
                f"tensor-parallel (parallel: tensor), got {m.cores}",
                i,
            )
        kind = _PARALLEL_OF[str(mix.framework)]
        if m.parallel is not None and m.parallel != kind:
            raise FieldError(
                m.name,
                "parallel",
                f"{value_text(m.parallel)} is not available under {mix.framework}, which takes "
                f"{kind!r} models",
                i,
            )
        if m.cores > n:
            raise FieldError(
                m.name, "cores", f"a copy needs {m.cores} cores but {inst.name} has {n}", i
            )
        if m.start is not None and m.start + m.width > n:
            raise FieldError(
                m.name,
                "start",
                f"a block of {_plural(m.min_replicas, 'copy')} x {_plural(m.cores, 'core')} = "
                f"{m.width} cores from core {m.start} ends at core {m.start + m.width - 1}, "
                f"past core {n - 1}, the last of {inst.name}",
                i,
            )
        if m.memory_gib:
            share = min_chip_share(m.cores, inst)
            per_core = m.memory_gib / m.cores
            need = share * per_core
            if need > cap + MEMORY_TOLERANCE_GIB:
                spread = (
                    f"{m.memory_gib:g} GiB"
                    if m.cores == 1
                    else f"{share} of its {m.cores} cores x {per_core:g} GiB = {need:g} GiB"
                )
                raise FieldError(
                    m.name,
                    "memory_gib",
                    f"one copy puts at least {spread} on one {pool}, more than a {pool}'s "
                    f"{cap:g} GiB",
                    i,
                )
    _validate_pins(mix)
    exclusive = [m for m in mix.models if m.exclusive]
    exclusive_cores = sum(m.width for m in exclusive)
    parts = " + ".join(f"{m.name} {m.cores}x{m.min_replicas}" for m in exclusive)
    if exclusive_cores > n:
        raise ConfigError(
            f"models: exclusive models need {parts} = {exclusive_cores} cores to themselves but "
            f"{inst.name} has {n}"
        )
    others = [m for m in mix.models if not m.exclusive]
    if exclusive and others:
        widest = max(others, key=lambda m: m.cores)
        if exclusive_cores + widest.cores > n:
            raise ConfigError(
                f"models: exclusive models need {parts} = {exclusive_cores} cores to themselves, "
                f"leaving {n} - {exclusive_cores} = {n - exclusive_cores} on {inst.name}, but a "
                f"copy of {value_text(widest.name)} needs {widest.cores}"
            )
    memory = sum((m.memory_gib or 0.0) * m.min_replicas for m in mix.models)
    if memory > inst.memory_gib + MEMORY_TOLERANCE_GIB:
        terms = " + ".join(
            f"{m.name} {m.memory_gib:g}x{m.min_replicas}" for m in mix.models if m.memory_gib
        )
        raise ConfigError(
            f"models: need {terms} = {memory:g} GiB of device memory (memory_gib x replicas) but "
            f"{inst.name} has {inst.chips} chip(s) x {inst.chip_memory_gib:g} GiB = "
            f"{inst.memory_gib:g} GiB"
        )


def _validate_copies(mix: Mix) -> None:
    """At most :data:`MAX_CORE_SLOTS` core slots, by arithmetic on the copy counts, before
    anything loads a copy."""
    for i, m in enumerate(mix.models):
        if m.width > MAX_CORE_SLOTS:
            raise FieldError(
                m.name,
                "replicas",
                f"{_plural(m.min_replicas, 'copy')} x {_plural(m.cores, 'core')} = {m.width} "
                f"core slots, more than the {MAX_CORE_SLOTS} ncplace accepts",
                i,
            )
    total = sum(m.width for m in mix.models)
    if total > MAX_CORE_SLOTS:
        raise ConfigError(
            f"models: {total} core slots in all (cores x replicas summed over models), more "
            f"than the {MAX_CORE_SLOTS} ncplace accepts"
        )


def _span(start: int, width: int) -> str:
    return f"nc{start}" if width == 1 else f"nc{start}-nc{start + width - 1}"


def _validate_pins(mix: Mix) -> None:
    pinned = [(i, m) for i, m in enumerate(mix.models) if m.start is not None]
    for a, (i, m) in enumerate(pinned):
        for j, other in pinned[a + 1 :]:
            if not (m.exclusive or other.exclusive):
                continue
            s1, s2 = m.start or 0, other.start or 0
            if s1 < s2 + other.width and s2 < s1 + m.width:
                holder = m if m.exclusive else other
                raise FieldError(
                    other.name,
                    "start",
                    f"its block {_span(s2, other.width)} overlaps the block "
                    f"{_span(s1, m.width)} of {value_text(m.name)} (models[{i}]), and "
                    f"{value_text(holder.name)} is exclusive",
                    j,
                )
