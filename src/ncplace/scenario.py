"""Scenario files: a deployment recipe replayed through the runtime emulator into a Layout.

A scenario says what a user does on one machine: which processes start, in which order, with
which environment, and which models each loads, optionally inside a placement context. Replaying
it through :class:`~ncplace.runtime.Runtime` gives the :class:`~ncplace.layout.Layout` the Neuron
runtime would produce (the rules are in :mod:`ncplace.runtime`). Files are YAML or JSON (``.json``
files are read as JSON, anything else as YAML)::

    description: the guide's "Manual Core Selection"   # optional, free text
    instance: {cores: 8, cores_per_chip: 4}   # or a catalogue name such as inf1.6xlarge
    framework: torch-neuron                    # optional; default is the instance's
    processes:                                 # started in order
      - env: {NEURON_RT_NUM_CORES: "4"}        # optional; numbers are taken as their text
        loads:                                 # optional; loaded in order
          - {name: m1, cores: 2, context: {start_nc: 2}}      # neuron_cores_context(start_nc=2)
          - {name: m2, cores: 1, context: {start_nc: 0, nc_count: 4}}
          - {name: m3, cores: 1, context: multicore}          # multicore_context()
          - {name: m4, cores: 1, repeat: 4}    # four loads of m4: four handles, one model
        stop: false                            # optional: stop the process after its loads

Fields of a load: ``name`` (required), ``cores`` (pipeline size, default 1), ``context`` (absent:
the runtime's default placement; ``multicore``; or a mapping with ``start_nc`` and/or
``nc_count``, each defaulting to -1 as in torch-neuron), ``repeat`` (default 1). A repeated load
is that many separate ``torch.jit.load`` calls of the same model: the layout lists one placement
per call, all with the same model name, as with the guide's ``models[0..3]``. A stopped process
frees its cores for the processes after it and leaves the layout.

Errors name the place: ``guide.yaml: processes[1].loads[0].cores: must be an integer >= 1, got 0``.
Unknown fields are refused with the accepted ones listed. An error the runtime raises while
replaying keeps its class (:class:`~ncplace.errors.CoresUnavailable`,
:class:`~ncplace.errors.PlacementError`, :class:`~ncplace.errors.ConfigError` for a malformed
environment variable) and gains the place: ``guide.yaml: processes[1]: NeuronCore(s) not
available ...``. A scenario replays at most :data:`MAX_LOADS` loads in all (repeats included),
so that a hostile file cannot keep the emulator busy for ever.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import ConfigError, Error, check_fields, check_named_entry, file_path, value_text
from .hardware import FRAMEWORKS, Instance
from .inputs import read_data_file
from .layout import Layout
from .mix import parse_instance
from .runtime import Process, Runtime

MAX_LOADS = 10_000
MULTICORE = "multicore"
SCENARIO_FIELDS = ("description", "instance", "framework", "processes")
PROCESS_FIELDS = ("env", "loads", "stop")
LOAD_FIELDS = ("name", "cores", "context", "repeat")
CONTEXT_FIELDS = ("start_nc", "nc_count")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class CoresContext:
    """A load inside ``neuron_cores_context(start_nc, nc_count)``; ranges are checked on replay."""

    start_nc: int = -1
    nc_count: int = -1

    def __post_init__(self) -> None:
        for key in CONTEXT_FIELDS:
            value = getattr(self, key)
            if not _is_int(value):
                raise ConfigError(
                    f"{key}: must be an integer (-1 for the default), got {value_text(value)}"
                )


@dataclass(frozen=True)
class MulticoreContext:
    """A load inside ``multicore_context()``."""


Context = CoresContext | MulticoreContext


@dataclass(frozen=True)
class LoadStep:
    """``repeat`` loads of model ``name`` whose copies need ``cores`` cores, inside ``context``."""

    name: str
    cores: int = 1
    context: Context | None = None
    repeat: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name: must be a non-empty string, got {value_text(self.name)}")
        if not _is_int(self.cores) or self.cores < 1:
            raise ConfigError(f"cores: must be an integer >= 1, got {value_text(self.cores)}")
        if self.context is not None and not isinstance(
            self.context, (CoresContext, MulticoreContext)
        ):
            raise ConfigError(
                "context: expected CoresContext, MulticoreContext "
                f"or None, got {value_text(self.context)}"
            )
        if not _is_int(self.repeat) or not 1 <= self.repeat <= MAX_LOADS:
            raise ConfigError(
                f"repeat: must be an integer from 1 to {MAX_LOADS}, got {value_text(self.repeat)}"
            )

    def apply(self, process: Process) -> None:
        """Perform the loads on ``process``, as a script would."""
        for _ in range(self.repeat):
            if isinstance(self.context, MulticoreContext):
                with process.multicore_context():
                    process.load(self.name, cores=self.cores)
            elif isinstance(self.context, CoresContext):
                with process.neuron_cores_context(self.context.start_nc, self.context.nc_count):
                    process.load(self.name, cores=self.cores)
            else:
                process.load(self.name, cores=self.cores)


@dataclass(frozen=True)
class ProcessStep:
    """A process started with ``env``; it performs ``loads`` in order, then stops if ``stop``.

    Environment values may be given as numbers (``NEURON_RT_NUM_CORES: 4`` in YAML); they are
    kept as their text, which is what a shell ``export`` hands the runtime.
    """

    env: Mapping[str, str] = field(default_factory=dict, hash=False)
    loads: tuple[LoadStep, ...] = ()
    stop: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.env, Mapping):
            raise ConfigError(
                f"env: expected a mapping of variable names to values, "
                f"got {type(self.env).__name__}"
            )
        env: dict[str, str] = {}
        for key, value in self.env.items():
            if not isinstance(key, str):
                raise ConfigError(f"env: variable names must be strings, got {value_text(key)}")
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ConfigError(
                    f"env.{key}: must be a string or a number, got {value_text(value)}"
                )
            env[key] = value if isinstance(value, str) else str(value)
        object.__setattr__(self, "env", MappingProxyType(env))
        if isinstance(self.loads, (str, bytes)) or not isinstance(self.loads, (list, tuple)):
            raise ConfigError(f"loads: expected a list of loads, got {type(self.loads).__name__}")
        object.__setattr__(self, "loads", tuple(self.loads))
        for i, load in enumerate(self.loads):
            if not isinstance(load, LoadStep):
                raise ConfigError(f"loads[{i}]: expected a LoadStep, got {value_text(load)}")
        if not isinstance(self.stop, bool):
            raise ConfigError(f"stop: must be true or false, got {value_text(self.stop)}")


@dataclass(frozen=True)
class Scenario:
    """A deployment recipe: an instance, a framework and the processes started on it, in order.

    ``framework`` defaults to the instance's. ``label`` (the file name when read from a file)
    prefixes every error, so a message points into the file.
    """

    instance: Instance
    processes: tuple[ProcessStep, ...]
    framework: str | None = None
    description: str | None = None
    label: str = field(default="scenario", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.instance, Instance):
            raise ConfigError(f"instance: expected an Instance, got {value_text(self.instance)}")
        if self.framework is None:
            object.__setattr__(self, "framework", self.instance.framework)
        if self.framework not in FRAMEWORKS:
            raise ConfigError(
                f"framework: {value_text(self.framework)} is not one of {', '.join(FRAMEWORKS)}"
            )
        if self.description is not None and not isinstance(self.description, str):
            raise ConfigError(f"description: must be text, got {value_text(self.description)}")
        if isinstance(self.processes, (str, bytes)) or not isinstance(
            self.processes, (list, tuple)
        ):
            raise ConfigError(
                f"processes: expected a non-empty list of processes, got "
                f"{type(self.processes).__name__}"
            )
        object.__setattr__(self, "processes", tuple(self.processes))
        if not self.processes:
            raise ConfigError("processes: expected a non-empty list of processes, got []")
        for i, step in enumerate(self.processes):
            if not isinstance(step, ProcessStep):
                raise ConfigError(f"processes[{i}]: expected a ProcessStep, got {value_text(step)}")
        total = sum(load.repeat for step in self.processes for load in step.loads)
        if total > MAX_LOADS:
            raise ConfigError(f"processes: {_too_many(total)}")

    def replay(self) -> Runtime:
        """Replay the recipe on a fresh :class:`Runtime` and return it (processes, loads)."""
        rt = Runtime(self.instance, self.framework)
        for i, step in enumerate(self.processes):
            where = f"processes[{i}]"
            try:
                process = rt.start_process(step.env)
            except Error as exc:
                raise _located(exc, f"{self.label}: {where}") from None
            for j, load in enumerate(step.loads):
                try:
                    load.apply(process)
                except Error as exc:
                    raise _located(exc, f"{self.label}: {where}.loads[{j}]") from None
            if step.stop:
                process.stop()
        return rt

    def run(self) -> Layout:
        """The layout the runtime ends with after the whole recipe."""
        return self.replay().layout()

    @classmethod
    def from_dict(cls, data: object, label: str = "scenario") -> Scenario:
        """A scenario from parsed YAML/JSON; errors start with ``label`` and the field's place."""
        if not isinstance(data, Mapping):
            got = "an empty file" if data is None else f"a {type(data).__name__}"
            raise ConfigError(
                f"{label}: expected a mapping with 'instance' and 'processes', got {got}"
            )
        check_fields(data, SCENARIO_FIELDS, label)
        inst = parse_instance(data.get("instance"), label)
        raw = data.get("processes")
        if not isinstance(raw, list) or not raw:
            got = "nothing" if raw is None else repr(raw) if raw == [] else type(raw).__name__
            raise ConfigError(
                f"{label}: processes: expected a non-empty list of processes, got {got}"
            )
        entries = sum(
            len(item["loads"])
            for item in raw
            if isinstance(item, Mapping) and isinstance(item.get("loads"), list)
        )
        if entries > MAX_LOADS:  # before building them: YAML aliases can multiply a small file
            raise ConfigError(f"{label}: processes: {_too_many(entries)}")
        processes = tuple(
            _process_from_dict(item, f"{label}: processes[{i}]") for i, item in enumerate(raw)
        )
        try:
            return cls(
                inst,
                processes,
                framework=data.get("framework"),
                description=data.get("description"),
                label=label,
            )
        except ConfigError as exc:
            raise ConfigError(f"{label}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """A mapping :meth:`from_dict` reads back into an equal scenario."""
        inst = self.instance
        out: dict[str, Any] = {}
        if self.description is not None:
            out["description"] = self.description
        out["instance"] = {
            "cores": inst.cores,
            "cores_per_chip": inst.cores_per_chip,
            "chip_memory_gib": inst.chip_memory_gib,
            "name": inst.name,
            "topology": inst.topology,
            "framework": inst.framework,
        }
        if self.framework != inst.framework:
            out["framework"] = self.framework
        out["processes"] = [_process_to_dict(step) for step in self.processes]
        return out


def load_scenario(path: str | Path) -> Scenario:
    """Read a YAML or JSON scenario file (JSON when the name ends in ``.json``)."""
    path = file_path(path, "scenario file path")
    return Scenario.from_dict(read_data_file(path, "scenario file"), str(path))


def emulate_file(path: str | Path) -> Layout:
    """The layout the scenario file at ``path`` produces."""
    return load_scenario(path).run()


def _too_many(count: int) -> str:
    return f"{count} loads in all (repeats included); a scenario replays at most {MAX_LOADS}"


def _located(exc: Error, where: str) -> Error:
    """The same error class, its message prefixed with the place in the scenario."""
    return type(exc)(f"{where}: {exc}")


def _process_from_dict(item: object, where: str) -> ProcessStep:
    if item is None:
        item = {}
    if not isinstance(item, Mapping):
        raise ConfigError(
            f"{where}: expected a mapping with 'env' and 'loads', got {type(item).__name__}"
        )
    check_fields(item, PROCESS_FIELDS, where)
    raw_loads = item.get("loads")
    if raw_loads is None:
        raw_loads = []
    if not isinstance(raw_loads, list):
        raise ConfigError(
            f"{where}.loads: expected a list of loads, got {type(raw_loads).__name__}"
        )
    loads = tuple(_load_from_dict(x, f"{where}.loads[{j}]") for j, x in enumerate(raw_loads))
    env = item.get("env")
    try:
        return ProcessStep({} if env is None else env, loads, item.get("stop", False))
    except ConfigError as exc:
        raise ConfigError(f"{where}.{exc}") from None


def _load_from_dict(item: object, where: str) -> LoadStep:
    item = check_named_entry(item, LOAD_FIELDS, where)
    context = _context_from_dict(item.get("context"), f"{where}.context")
    try:
        return LoadStep(item["name"], item.get("cores", 1), context, item.get("repeat", 1))
    except ConfigError as exc:
        raise ConfigError(f"{where}.{exc}") from None


def _context_from_dict(value: object, where: str) -> Context | None:
    if value is None:
        return None
    if value == MULTICORE:
        return MulticoreContext()
    if isinstance(value, Mapping):
        check_fields(value, CONTEXT_FIELDS, where)
        try:
            return CoresContext(value.get("start_nc", -1), value.get("nc_count", -1))
        except ConfigError as exc:
            raise ConfigError(f"{where}.{exc}") from None
    raise ConfigError(
        f"{where}: expected {MULTICORE!r} or a mapping with start_nc "
        f"and/or nc_count, got {value_text(value)}"
    )


def _process_to_dict(step: ProcessStep) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if step.env:
        out["env"] = dict(step.env)
    out["loads"] = [_load_to_dict(load) for load in step.loads]
    if step.stop:
        out["stop"] = True
    return out


def _load_to_dict(load: LoadStep) -> dict[str, Any]:
    out: dict[str, Any] = {"name": load.name, "cores": load.cores}
    if isinstance(load.context, MulticoreContext):
        out["context"] = MULTICORE
    elif isinstance(load.context, CoresContext):
        out["context"] = {"start_nc": load.context.start_nc, "nc_count": load.context.nc_count}
    if load.repeat != 1:
        out["repeat"] = load.repeat
    return out
