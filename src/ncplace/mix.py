"""Model mixes: the compiled models a user wants to serve on one instance.

A :class:`Model` says how many cores one copy needs (its NeuronCore Pipeline size), how many copies
to place, how much traffic it gets and how much one copy sustains, and the hard rules it carries
(``exclusive`` cores, ``memory_gib`` per copy, a pinned ``start``). A :class:`Mix` is the models
plus the :class:`~ncplace.hardware.Instance`, checked as a whole so that a mix that cannot fit is
reported with its arithmetic before any solver runs.

Load model (shared with the scorer and the optimizer): ``demand = rate / throughput`` (copies'
worth of busy time the traffic needs; 1.0 when unknown). Each copy carries ``demand / replicas``
on every core it uses.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .hardware import FRAMEWORKS, Instance, instance

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
)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Model:
    """A compiled model to place.

    - ``cores``: pipeline size (``--neuroncore-pipeline-cores``): consecutive cores one copy uses.
    - ``replicas``: copies to place: an integer, ``"auto"`` (the optimizer chooses 1..as many as
      fit) or a ``[low, high]`` range the optimizer chooses from. Baseline policies, which cannot
      choose, place ``min_replicas`` copies.
    - ``rate``: requests/s wanted; ``throughput``: requests/s one copy sustains alone. Both or neither.
    - ``exclusive``: no other model may share its cores (pipelined models usually want this).
    - ``memory_gib``: device memory one copy needs, split evenly over its cores.
    - ``file``: the path the application passes to ``torch.jit.load``.
    - ``start``: pin the first core of the model's block (global index).
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

    def __post_init__(self) -> None:
        where = f"model {self.name!r}"
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"model name: must be a non-empty string, got {self.name!r}")
        if not _is_int(self.cores) or self.cores < 1:
            raise ConfigError(f"{where}: cores: must be an integer >= 1, got {self.cores!r}")
        self._validate_replicas(where)
        for key in ("rate", "throughput"):
            value = getattr(self, key)
            if value is not None and (
                not _is_number(value) or not math.isfinite(value) or value <= 0
            ):
                raise ConfigError(f"{where}: {key}: must be a number > 0, got {value!r}")
        if (self.rate is None) != (self.throughput is None):
            raise ConfigError(
                f"{where}: rate and throughput: give both (requests/s wanted and requests/s one "
                f"copy sustains) or neither, got rate={self.rate!r}, throughput={self.throughput!r}"
            )
        if not isinstance(self.exclusive, bool):
            raise ConfigError(f"{where}: exclusive: must be true or false, got {self.exclusive!r}")
        mem = self.memory_gib
        if mem is not None and (not _is_number(mem) or not math.isfinite(mem) or mem < 0):
            raise ConfigError(f"{where}: memory_gib: must be a number >= 0, got {mem!r}")
        if self.file is not None and (not isinstance(self.file, str) or not self.file):
            raise ConfigError(f"{where}: file: must be a non-empty string, got {self.file!r}")
        if self.start is not None and (not _is_int(self.start) or self.start < 0):
            raise ConfigError(f"{where}: start: must be an integer >= 0, got {self.start!r}")

    def _validate_replicas(self, where: str) -> None:
        value = self.replicas
        accepted = "an integer >= 1, 'auto', or a range [low, high] with 1 <= low <= high"
        if _is_int(value) and value >= 1:  # type: ignore[operator]
            return
        if value == "auto":
            return
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_int(v) for v in value):
            low, high = value
            if 1 <= low <= high:
                object.__setattr__(self, "replicas", (low, high))
                return
        raise ConfigError(f"{where}: replicas: must be {accepted}, got {value!r}")

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
    torch-neuronx has no NeuronCore Pipeline, so its mixes hold 1-core models only.
    """

    models: tuple[Model, ...]
    instance: Instance = field(default_factory=lambda: instance("inf1.6xlarge"))
    framework: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        if isinstance(self.instance, str):
            object.__setattr__(self, "instance", instance(self.instance))
        if not isinstance(self.instance, Instance):
            raise ConfigError(f"mix instance: expected an Instance or a name, got {self.instance!r}")
        if self.framework is None:
            object.__setattr__(self, "framework", self.instance.framework)
        if self.framework not in FRAMEWORKS:
            raise ConfigError(
                f"mix framework: {self.framework!r} is not one of {', '.join(FRAMEWORKS)}"
            )
        for m in self.models:
            if not isinstance(m, Model):
                raise ConfigError(f"mix models: expected Model objects, got {m!r}")
        _validate_names(self.models)
        _validate_fit(self)

    def __getitem__(self, name: str) -> Model:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    def with_instance(self, inst: Instance | str) -> Mix:
        """The same models on another instance."""
        keep = None if self.framework == self.instance.framework else self.framework
        return Mix(self.models, inst, keep)

    def with_models(self, models: Iterable[Model]) -> Mix:
        """Other models on the same instance and framework."""
        return Mix(tuple(models), self.instance, self.framework)

    @classmethod
    def from_file(cls, path: str | Path, instance_name: str | None = None) -> Mix:
        """Read a YAML or JSON mix file; ``instance_name`` overrides the file's instance."""
        path = Path(path)
        label = path.name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read mix file: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a UTF-8 text file") from None
        data = _parse_text(text, label, json_first=path.suffix.lower() == ".json")
        return cls.from_dict(data, label, instance_name)

    @classmethod
    def from_dict(
        cls, data: object, label: str = "mix", instance_name: str | None = None
    ) -> Mix:
        """Build a mix from parsed YAML/JSON, with errors that point at the place."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{label}: expected a mapping with 'instance' and 'models'")
        unknown = set(data) - {"instance", "models", "framework"}
        if unknown:
            raise ConfigError(
                f"{label}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
                "accepted: instance, models, framework"
            )
        inst = parse_instance(
            instance_name if instance_name is not None else data.get("instance"), label
        )
        framework = data.get("framework")
        if framework is not None and framework not in FRAMEWORKS:
            raise ConfigError(
                f"{label}: framework: {framework!r} is not one of {', '.join(FRAMEWORKS)}"
            )
        raw_models = data.get("models")
        if not isinstance(raw_models, list) or not raw_models:
            raise ConfigError(f"{label}: models: expected a non-empty list of models")
        models = [_model_from_dict(item, f"{label}: models[{i}]") for i, item in enumerate(raw_models)]
        try:
            return cls(tuple(models), inst, framework)
        except ConfigError as exc:
            raise ConfigError(f"{label}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """A mapping that :meth:`from_dict` reads back into an equal mix."""
        inst = self.instance
        inst_out: Any = inst.name
        if inst.name not in _catalogue_names() or _catalogue_instance(inst.name) != inst:
            inst_out = {
                "cores": inst.cores,
                "cores_per_chip": inst.cores_per_chip,
                "chip_memory_gib": inst.chip_memory_gib,
            }
        out: dict[str, Any] = {"instance": inst_out}
        if self.framework != inst.framework:
            out["framework"] = self.framework
        out["models"] = [m.to_dict() for m in self.models]
        return out


def _catalogue_names() -> tuple[str, ...]:
    from .hardware import INSTANCES

    return tuple(INSTANCES)


def _catalogue_instance(name: str) -> Instance:
    return instance(name)


def _parse_text(text: str, label: str, json_first: bool) -> object:
    if json_first:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{label}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot parse"
        raise ConfigError(f"{label}: invalid YAML{where}: {problem}") from None


def parse_instance(value: object, label: str) -> Instance:
    """An instance from a mix or scenario file: a catalogue name or ``{cores, cores_per_chip, ...}``."""
    if value is None:
        raise ConfigError(f"{label}: instance: missing; give a catalogue name or {{cores, cores_per_chip}}")
    if isinstance(value, str):
        try:
            return instance(value)
        except ConfigError as exc:
            raise ConfigError(f"{label}: instance: {exc}") from None
    if isinstance(value, Mapping):
        accepted = {"cores", "cores_per_chip", "chip_memory_gib", "topology", "framework", "name"}
        unknown = set(value) - accepted
        if unknown:
            raise ConfigError(
                f"{label}: instance: unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
                f"accepted: {', '.join(sorted(accepted))}"
            )
        if "cores" not in value:
            raise ConfigError(f"{label}: instance.cores: missing")
        try:
            return Instance(**{str(k): v for k, v in value.items()})
        except ConfigError as exc:
            raise ConfigError(f"{label}: instance: {exc}") from None
    raise ConfigError(
        f"{label}: instance: expected a catalogue name or a mapping, got {type(value).__name__}"
    )


def _model_from_dict(item: object, where: str) -> Model:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping with at least 'name'")
    unknown = set(item) - set(MODEL_FIELDS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
            f"accepted: {', '.join(MODEL_FIELDS)}"
        )
    if "name" not in item:
        raise ConfigError(f"{where}.name: missing")
    try:
        return Model(**{str(k): v for k, v in item.items()})
    except ConfigError as exc:
        # Model messages read "model 'x': cores: ..."; re-anchor them at the file location.
        message = str(exc)
        prefix = f"model {item.get('name')!r}: "
        if message.startswith(prefix):
            message = message[len(prefix) :]
            key, _, rest = message.partition(": ")
            raise ConfigError(f"{where}.{key}: {rest}") from None
        raise ConfigError(f"{where}: {message}") from None
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _validate_names(models: tuple[Model, ...]) -> None:
    seen: set[str] = set()
    for m in models:
        if m.name in seen:
            raise ConfigError(f"models: duplicate model name {m.name!r}; names must be unique")
        seen.add(m.name)
    if not models:
        raise ConfigError("models: a mix needs at least one model")


def _validate_fit(mix: Mix) -> None:
    """Reject mixes that cannot fit at all, showing the arithmetic."""
    inst = mix.instance
    for m in mix.models:
        if mix.framework == "torch-neuronx" and m.cores != 1:
            raise ConfigError(
                f"model {m.name!r}: cores: torch-neuronx has no NeuronCore Pipeline, so every "
                f"model uses 1 core, got {m.cores}"
            )
        if m.cores > inst.cores:
            raise ConfigError(
                f"model {m.name!r}: cores: a copy needs {m.cores} cores but {inst.name} has "
                f"{inst.cores}"
            )
        if m.start is not None and m.start + m.cores > inst.cores:
            raise ConfigError(
                f"model {m.name!r}: start: a copy of {m.cores} core(s) at core {m.start} ends "
                f"past core {inst.cores - 1}, the last of {inst.name}"
            )
        if m.memory_gib:
            per_core = m.memory_gib / m.cores
            if per_core > inst.chip_memory_gib + 1e-9:  # type: ignore[operator]
                raise ConfigError(
                    f"model {m.name!r}: memory_gib: {m.memory_gib:g} GiB over {m.cores} core(s) is "
                    f"{per_core:g} GiB per core, more than a whole chip's "
                    f"{inst.chip_memory_gib:g} GiB"
                )
    exclusive_cores = sum(m.width for m in mix.models if m.exclusive)
    if exclusive_cores > inst.cores:
        parts = " + ".join(f"{m.name} {m.cores}x{m.min_replicas}" for m in mix.models if m.exclusive)
        raise ConfigError(
            f"exclusive models need {parts} = {exclusive_cores} cores to themselves but "
            f"{inst.name} has {inst.cores}"
        )
    memory = sum((m.memory_gib or 0.0) * m.min_replicas for m in mix.models)
    if memory > inst.memory_gib + 1e-9:
        raise ConfigError(
            f"models need {memory:g} GiB of device memory (memory_gib x replicas) but "
            f"{inst.name} has {inst.chips} chip(s) x {inst.chip_memory_gib:g} GiB = "
            f"{inst.memory_gib:g} GiB"
        )
