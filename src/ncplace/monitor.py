"""A live layout read from ``neuron-monitor``'s JSON report.

``neuron-monitor`` (aws-neuron-tools) prints a JSON report every period. For each Neuron runtime
(one per serving process) it lists, under ``report.memory_used.loaded_models``, every loaded
model with its ``uuid`` (the compiled model's, so every copy of one model shares it), its
``model_id`` (the runtime's, one per load) and its ``subgraphs``, each on a ``neuroncore_index`` of
a ``neuron_device_index``; ``report.neuroncore_counters.neuroncores_in_use`` gives each core's
utilization in percent over the period. :func:`read_monitor` turns one report into an
:class:`Observation`: a :class:`~ncplace.Layout` (to score, compare, draw, or hand to
``optimize(mix, current=...)`` so that the plan keeps models where they run) and the measured
utilization of each core; :func:`calibrate` compares that utilization with the load the mix
predicts, model by model, so that a mix whose ``rate`` or ``throughput`` is off is caught before a
plan is built on it.

How the report is read, where it leaves a choice open:

- *Cores.* A subgraph's global core is ``neuron_device_index * cores_per_chip +
  neuroncore_index``: the runtime reports the index within the device (0-1 on every device of a
  trn1.32xlarge). An index past the device's cores is read as a global index when it lies on
  that device, and is an error otherwise.
- *Copies.* One loaded model is one copy; its cores are those of its subgraphs (a pipeline's
  ``sg_00``, ``sg_01``, ... on consecutive cores; a model cut by CPU operators has several
  subgraphs on one core). The copies of one uuid in one process, in ``model_id`` order, form one
  placement, as one ``multicore_context`` or ``neuron_cores_context`` load routes across its
  copies: the report does not tell separate handles of one model apart.
- *Processes.* One per runtime entry, in report order, with its ``pid``; in the first report
  format an entry has only a ``neuron_runtime_index``, which is no pid, so its pid is ``None``.
  A process owns the cores its models use and every other core its runtime reports memory
  (``memory_used.neuron_runtime_used_bytes.usage_breakdown.neuroncore_memory_usage``) or
  utilization (``neuroncore_counters.neuroncores_in_use``) on: a runtime holds its cores whether
  or not a model sits there. A core reported by several runtimes belongs to the one whose models
  use it, else to the first that reports it. A runtime with an ``error`` and no ``memory_used``
  report (a process that exited) is left out, with a note.
- *Names.* ``names`` maps a uuid (or a unique start of one) or a reported model name (often a
  temporary path) to a model name. A uuid it does not map is matched to a mix model by shape:
  first where exactly one mix model not yet named has its copy size (``cores``) and allows its copy
  count (over all processes) and no other uuid claims that model; then the same by copy size
  alone. What stays unmatched is an error naming each uuid and its shape.
  Without a mix a model is called by the first 8 characters of its uuid (more when two share them).
- *Instance.* The mix's when a mix is given, else ``instance``, else the report's instance type
  (``instance_info`` or ``instance_data``) when the catalogue has it, else a machine built from
  ``neuron_hardware_info``: ``neuron_device_count`` chips of ``neuroncore_per_device_count``
  cores, ``neuron_device_memory_size`` bytes each when given, and from ``neuron_device_type``
  its framework (Inferentia2 and Trainium run torch-neuronx, Inferentia torch-neuron) and
  interconnect (:data:`DEVICE_TYPES`); its name says it was built from the report.
  When the report has ``neuron_hardware_info``, an instance of other chips is an error (every core
  index would be misread).
- *Streams.* A file of several reports (neuron-monitor's output, one JSON object per line) is
  read at its last complete report.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError, key_text, one_line, value_text
from .hardware import INSTANCES, LNC_VALUES, Instance, with_lnc
from .hardware import instance as catalogue_instance
from .inputs import parse_json, read_text_file
from .layout import Layout, Placement, ProcessSpan, copies_text, layout_to_dict
from .mix import Mix

DEVICE_TYPES = {
    "inferentia": ("torch-neuron", "chain"),
    "inferentia2": ("torch-neuronx", "ring"),
    "trainium": ("torch-neuronx", "torus"),
    "trainium2": ("torch-neuronx", "torus"),
}
"""``neuron_device_type`` -> the framework and interconnect of a machine of those chips."""

UUID_PREFIX = 8
"""Characters of a uuid that name a model when there is no mix."""

CALIBRATION_TOLERANCE = 0.05
"""A model whose measured load is off the mix's by more than this is reported (and calibrated)."""

SATURATED = 0.99
"""A core measured at least this busy is saturated: its traffic may be more than it serves, so
a ratio read there is a lower bound."""


@dataclass(frozen=True)
class ObservedModel:
    """One model of one process as the report shows it: the name it is given in the layout
    (``model``), the compiled model's ``uuid``, the name the runtime reports, the index of its
    process in the layout, the runtime's ``model_ids`` and the global cores of each copy."""

    model: str
    uuid: str
    reported_name: str
    process: int
    model_ids: tuple[int, ...]
    copies: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Observation:
    """What one neuron-monitor report shows: the ``layout``; ``utilization``, each core's measured
    busy fraction (0-1, the report's percent / 100; the largest any runtime reports for the core,
    since a core serves one runtime and the others report it idle; ``None`` where none reports it);
    the ``models`` behind the layout's placements; each process's ``pids`` (``None`` for a
    first-format report, which gives a runtime index instead); ``notes`` on what was left out."""

    layout: Layout
    utilization: tuple[float | None, ...]
    models: tuple[ObservedModel, ...]
    pids: tuple[int | None, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the layout as ``ncplace compare --format json`` writes layouts)."""
        return {
            "layout": layout_to_dict(self.layout),
            "utilization": list(self.utilization),
            "models": [
                {
                    "model": m.model,
                    "uuid": m.uuid,
                    "reported_name": m.reported_name,
                    "process": m.process,
                    "pid": self.pids[m.process],
                    "model_ids": list(m.model_ids),
                    "copies": [list(c) for c in m.copies],
                }
                for m in self.models
            ],
            "pids": list(self.pids),
            "instance": self.layout.instance.describe(),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Calibration:
    """How one model's measured load compares with the mix's prediction, read on the cores it
    has to itself (``cores``: no other model's copy there, so the core's utilization is this
    model's alone): ``ratio`` = sum of measured / sum of predicted over them (``None`` when it
    shares every core, or the mix predicts no load there); ``saturated`` when one of them is at
    least :data:`SATURATED` busy, so the true ratio may be higher. A ratio above 1 means more
    traffic (``rate``) or a slower copy (``throughput``) than the mix says: ``rate * ratio`` is
    the rate that explains the measurement. ``predicted`` is False when the mix gives the model
    no ``rate`` and ``throughput``: it predicts no load, so there is nothing to compare (and
    ``ratio`` is ``None``)."""

    model: str
    ratio: float | None
    cores: tuple[int, ...]
    saturated: bool
    predicted: bool = True


def calibrate(seen: Observation, mix: Mix) -> tuple[Calibration, ...]:
    """A :class:`Calibration` per mix model running in ``seen`` (in mix order), from the
    utilization neuron-monitor measured and the load the mix predicts (``demand / copies`` on
    each core of each copy, as :func:`ncplace.score` counts it)."""
    layout = seen.layout
    running = set(layout.models())
    users: list[set[str]] = [set() for _ in range(layout.instance.cores)]
    covering = [0] * layout.instance.cores
    copies: dict[str, int] = {}
    for name, cores in layout.copies():
        copies[name] = copies.get(name, 0) + 1
        for c in cores:
            users[c].add(name)
            covering[c] += 1
    out = []
    for m in mix.models:
        if m.name not in running:
            continue
        own = tuple(
            c
            for c, names in enumerate(users)
            if names == {m.name} and seen.utilization[c] is not None
        )
        rated = m.rate is not None and m.throughput is not None
        predicted = sum(m.demand / copies[m.name] * covering[c] for c in own)
        measured = sum(seen.utilization[c] or 0.0 for c in own)
        ratio = measured / predicted if rated and own and predicted > 0 else None
        saturated = any((seen.utilization[c] or 0.0) >= SATURATED for c in own)
        out.append(Calibration(m.name, ratio, own, saturated, rated))
    return tuple(out)


def is_off(reading: Calibration, tolerance: float = CALIBRATION_TOLERANCE) -> bool:
    """True when a model's measured load is off the mix's by more than ``tolerance``, or it is
    saturated below the prediction (its true load is unknown but higher)."""
    if reading.ratio is None:
        return False
    return abs(reading.ratio - 1) > tolerance or (reading.saturated and reading.ratio < 1)


def calibrated_mix(mix: Mix, readings: tuple[Calibration, ...]) -> Mix:
    """``mix`` with the measured rates: ``rate x ratio`` for each model whose reading
    :func:`is_off` and that gives a rate and throughput (a model without them has no traffic to
    rescale). A saturated reading is a lower bound, so its rate is too."""
    rates = {
        c.model: mix[c.model].rate * c.ratio  # type: ignore[operator]
        for c in readings
        if is_off(c) and c.ratio is not None and mix[c.model].rate is not None
    }
    if not rates:
        return mix
    return mix.with_models(
        replace(m, rate=rates[m.name]) if m.name in rates else m for m in mix.models
    )


@dataclass(frozen=True)
class _Loaded:
    """One loaded model (one copy) of one runtime."""

    runtime: int
    uuid: str
    reported_name: str
    model_id: int
    cores: tuple[int, ...]


def read_monitor(
    source: str | os.PathLike[str] | Mapping[str, Any],
    mix: Mix | None = None,
    *,
    names: Mapping[str, str] | None = None,
    instance: Instance | str | None = None,
    label: str | None = None,
) -> Observation:
    """Read a neuron-monitor report (a file path, or the parsed JSON object) into an
    :class:`Observation`; model names come from ``names`` (uuid or reported name -> mix model),
    then from matching the copies' shapes against ``mix``. Errors name the report by ``label``
    (default: its path, or "neuron-monitor report"). See the module doc for every rule."""
    if isinstance(source, Mapping):
        report = source
        label = label or "neuron-monitor report"
    elif isinstance(source, (str, os.PathLike)):
        path_label, report = read_json(Path(source))
        label = label or path_label
    else:
        raise ConfigError(
            f"read_monitor: expected a report file path or the parsed report (a mapping), got "
            f"{type(source).__name__}"
        )
    if mix is not None and not isinstance(mix, Mix):
        raise ConfigError(f"read_monitor: mix must be a Mix or None, got {type(mix).__name__}")
    names = _check_names(names, mix)
    inst = _instance(report, mix, instance, label)
    runtimes = _field(report, "neuron_runtime_data", list, label)
    pids: list[int | None] = []
    reported: list[set[int]] = []
    loaded: list[_Loaded] = []
    utilization: list[float | None] = [None] * inst.cores
    notes: list[str] = []
    for i, entry in enumerate(runtimes):
        where = f"{label}: neuron_runtime_data[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected an object, got {type(entry).__name__}")
        pid, runtime_label = _pid(entry, where)
        runtime_report = entry.get("report")
        if not isinstance(runtime_report, Mapping):
            runtime_report = {}
        memory = runtime_report.get("memory_used")
        if memory is None and entry.get("error"):
            notes.append(f"runtime {runtime_label} left out: {one_line(entry['error'])}")
            continue
        if not isinstance(memory, Mapping):
            raise ConfigError(
                f"{where}: no report.memory_used, which lists the loaded models; run "
                f"neuron-monitor with the memory_used metric group"
            )
        process = len(pids)
        pids.append(pid)
        for j, model in enumerate(_field(memory, "loaded_models", list, f"{where}.memory_used")):
            loaded.append(_loaded(model, process, inst, f"{where}.memory_used.loaded_models[{j}]"))
        cores = _add_utilization(runtime_report, utilization, inst, where)
        reported.append(cores | _memory_cores(memory, inst, f"{where}.memory_used"))
    naming = _naming(loaded, mix, names, label)
    owner = _owners(loaded, reported)
    models, placements, processes = [], [], []
    by_process: list[dict[str, list[_Loaded]]] = [{} for _ in pids]
    for x in loaded:
        by_process[x.runtime].setdefault(x.uuid, []).append(x)
    owned: list[list[int]] = [[] for _ in pids]
    for core, process in sorted(owner.items()):
        owned[process].append(core)
    for process, mine in enumerate(by_process):
        processes.append(ProcessSpan(tuple(owned[process])))
        for uuid, group in mine.items():
            copies = sorted(group, key=lambda x: x.model_id)
            name = naming[uuid]
            placements.append(Placement(name, tuple(x.cores for x in copies), process))
            models.append(
                ObservedModel(
                    name,
                    uuid,
                    copies[0].reported_name,
                    process,
                    tuple(x.model_id for x in copies),
                    tuple(x.cores for x in copies),
                )
            )
    layout = Layout(inst, tuple(processes), tuple(placements))
    return Observation(layout, tuple(utilization), tuple(models), tuple(pids), tuple(notes))


def read_json(path: Path, what: str = "neuron-monitor report") -> tuple[str, Mapping[str, Any]]:
    """The JSON object in ``path`` (for a stream of neuron-monitor reports, the last complete
    one), with the label errors name it by; ``what`` the file is, for those errors. The file
    is read and parsed by the rules of :mod:`ncplace.inputs` (size, duplicate keys, nesting)."""
    label = str(path)
    text = read_text_file(path, what)
    try:
        data = parse_json(text, label)
    except ConfigError as exc:
        for line in reversed(text.splitlines()):
            try:
                data = parse_json(line, label)
            except ConfigError:
                continue
            if isinstance(data, Mapping) and "neuron_runtime_data" in data:
                return label, data
        detail = str(exc).removeprefix(f"{label}: ")
        raise ConfigError(f"{label}: not a {what} in JSON ({detail})") from None
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{label}: expected a {what} (a JSON object), got a JSON {type(data).__name__}"
        )
    return label, data


def _field(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        got = "nothing" if value is None else f"a {type(value).__name__}"
        raise ConfigError(f"{where}: {key}: expected a {kind.__name__}, got {got}")
    return value


def _member(where: str, key: object) -> str:
    """``where.key`` for a plain name, ``where['key']`` for any other key (see ``key_text``)."""
    text = key_text(key)
    return f"{where}.{text}" if text == key else f"{where}[{text}]"


def _index(value: object, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: {what}: expected an integer >= 0, got {value_text(value)}")
    return value


def _check_names(names: Mapping[str, str] | None, mix: Mix | None) -> dict[str, str]:
    if names is None:
        return {}
    if not isinstance(names, Mapping):
        raise ConfigError(
            f"read_monitor: names must map a uuid or reported name to a model name, got "
            f"{type(names).__name__}"
        )
    out: dict[str, str] = {}
    for key, name in names.items():
        if not isinstance(key, str) or not isinstance(name, str) or not key or not name:
            raise ConfigError(
                f"read_monitor: names: {value_text(key)} -> {value_text(name)}: "
                "expected non-empty strings"
            )
        if mix is not None and name not in mix.names:
            raise ConfigError(
                f"read_monitor: names: {value_text(key)} -> {value_text(name)}: "
                f"the mix has no model {value_text(name)}; "
                f"its models: {', '.join(map(repr, mix.names))}"
            )
        out[key] = name
    return out


def _instance(
    report: Mapping[str, Any], mix: Mix | None, given: Instance | str | None, label: str
) -> Instance:
    """The instance (see the module doc), checked against the report's hardware when it has
    ``neuron_hardware_info``: on a machine of other chips, every core index would be misread."""
    hardware = _hardware(report, label)
    if mix is not None:
        inst = mix.instance
    elif isinstance(given, str):
        inst = catalogue_instance(given)
    elif isinstance(given, Instance):
        inst = given
    elif given is not None:
        raise ConfigError(
            f"read_monitor: instance must be an Instance, a name or None, got "
            f"{type(given).__name__}"
        )
    else:
        kinds = [report.get(key) for key in ("instance_info", "instance_data")]
        names = [k.get("instance_type") for k in kinds if isinstance(k, Mapping)]
        known = [n for n in names if isinstance(n, str) and n in INSTANCES]
        if known:
            inst = INSTANCES[known[0]]
            if inst.lnc is not None and hardware is not None:
                # A trn2 report at LNC=1 shows 8 cores per device: the same machine at lnc=1.
                inst = next(
                    (
                        other
                        for other in (with_lnc(inst, lnc) for lnc in LNC_VALUES)
                        if (other.chips, other.cores_per_chip) == hardware
                    ),
                    inst,
                )
        elif hardware is not None:
            return _built_instance(report, hardware, label)
        else:
            raise ConfigError(
                f"{label}: the report names no known instance type and has no "
                f"neuron_hardware_info; give the instance (--instance NAME) or a mix"
            )
    if hardware is not None and hardware != (inst.chips, inst.cores_per_chip):
        raise ConfigError(
            f"{label}: neuron_hardware_info reports {hardware[0]} device(s) of {hardware[1]} "
            f"core(s), but {inst.name} has {inst.chips} chip(s) of {inst.cores_per_chip}; give "
            f"the instance the report comes from"
        )
    return inst


def _built_instance(report: Mapping[str, Any], hardware: tuple[int, int], label: str) -> Instance:
    """A machine of ``neuron_hardware_info``'s chips (see the module doc)."""
    info = report["neuron_hardware_info"]
    devices, per = hardware
    kind = info.get("neuron_device_type")
    kind = kind.strip().lower() if isinstance(kind, str) and kind.strip() else None
    if kind is not None and kind not in DEVICE_TYPES:
        raise ConfigError(
            f"{label}: neuron_hardware_info: neuron_device_type {kind!r} is not one of "
            f"{', '.join(DEVICE_TYPES)}; give the instance (--instance NAME) or a mix"
        )
    framework, topology = DEVICE_TYPES[kind] if kind else ("torch-neuron", "chain")
    memory = info.get("neuron_device_memory_size")
    gib = None
    if memory is not None:
        gib = _index(memory, "neuron_device_memory_size", f"{label}: neuron_hardware_info") / 2**30
    name = f"{devices}x {kind or 'Neuron device'} (from neuron_hardware_info)"
    return Instance(
        cores=devices * per,
        cores_per_chip=per,
        chip_memory_gib=gib or None,
        name=name,
        topology=topology,
        framework=framework,
    )


def _hardware(report: Mapping[str, Any], label: str) -> tuple[int, int] | None:
    """``neuron_hardware_info``'s device count and cores per device, when it gives both."""
    hardware = report.get("neuron_hardware_info")
    if not isinstance(hardware, Mapping):
        return None
    where = f"{label}: neuron_hardware_info"
    devices = _index(hardware.get("neuron_device_count"), "neuron_device_count", where)
    per = _index(hardware.get("neuroncore_per_device_count"), "neuroncore_per_device_count", where)
    return (devices, per) if devices and per else None


def _pid(entry: Mapping[str, Any], where: str) -> tuple[int | None, str]:
    """The runtime's pid (``None`` in the first report format, whose runtime index is no pid)
    and how notes name the runtime."""
    if "pid" in entry:
        pid = _index(entry["pid"], "pid", where)
        return pid, f"of pid {pid}"
    if "neuron_runtime_index" in entry:
        index = _index(entry["neuron_runtime_index"], "neuron_runtime_index", where)
        return None, f"index {index}"
    raise ConfigError(f"{where}: neither pid nor neuron_runtime_index")


def _owners(loaded: list[_Loaded], reported: list[set[int]]) -> dict[int, int]:
    """Core -> process: the cores a process's models use, then the other cores it reports,
    each to the first process reporting it."""
    owner = {c: x.runtime for x in loaded for c in x.cores}
    for process, cores in enumerate(reported):
        for c in sorted(cores):
            owner.setdefault(c, process)
    return owner


def _memory_cores(memory: Mapping[str, Any], inst: Instance, where: str) -> set[int]:
    """The cores a runtime reports device memory on (``neuroncore_memory_usage``'s keys)."""
    used = memory.get("neuron_runtime_used_bytes")
    breakdown = used.get("usage_breakdown") if isinstance(used, Mapping) else None
    per_core = breakdown.get("neuroncore_memory_usage") if isinstance(breakdown, Mapping) else None
    if not isinstance(per_core, Mapping):
        return set()
    return {_core_key(key, inst, f"{where}: neuroncore_memory_usage") for key in per_core}


def _core_key(key: object, inst: Instance, where: str) -> int:
    try:
        core = int(key)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: core {key!r} is not an integer") from None
    if not 0 <= core < inst.cores:
        raise ConfigError(f"{where}: core {core} is no core of {inst.describe()}")
    return core


def _core(subgraph: Mapping[str, Any], inst: Instance, where: str) -> int:
    device = _index(subgraph.get("neuron_device_index"), "neuron_device_index", where)
    index = _index(subgraph.get("neuroncore_index"), "neuroncore_index", where)
    per = inst.cores_per_chip
    core = device * per + index if index < per else index
    if core // per != device or core >= inst.cores:
        raise ConfigError(
            f"{where}: neuroncore_index {index} of neuron_device_index {device} is no core of "
            f"{inst.describe()}"
        )
    return core


def _loaded(model: object, runtime: int, inst: Instance, where: str) -> _Loaded:
    if not isinstance(model, Mapping):
        raise ConfigError(f"{where}: expected an object, got {type(model).__name__}")
    reported = model.get("name", "")
    uuid = model.get("uuid", reported)
    if not isinstance(uuid, str) or not uuid or not isinstance(reported, str):
        raise ConfigError(f"{where}: expected a uuid or name string, got {value_text(uuid)}")
    if not uuid.isprintable() or uuid != uuid.strip():
        raise ConfigError(
            f"{where}: uuid {value_text(uuid)}: expected printable text without spaces at the ends"
        )
    model_id = _index(model.get("model_id", 0), "model_id", where)
    subgraphs = _field(model, "subgraphs", Mapping, where)
    cores = set()
    for key, subgraph in subgraphs.items():
        at = _member(f"{where}.subgraphs", key)
        if not isinstance(subgraph, Mapping):
            raise ConfigError(f"{at}: expected an object, got {type(subgraph).__name__}")
        cores.add(_core(subgraph, inst, at))
    if not cores:
        raise ConfigError(f"{where}: subgraphs: the model has none, so no core")
    return _Loaded(runtime, uuid, reported, model_id, tuple(sorted(cores)))


def _add_utilization(
    report: Mapping[str, Any], utilization: list[float | None], inst: Instance, where: str
) -> set[int]:
    """Record the utilization the runtime reports; the cores it reports on."""
    counters = report.get("neuroncore_counters")
    in_use = counters.get("neuroncores_in_use") if isinstance(counters, Mapping) else None
    if not isinstance(in_use, Mapping):
        return set()
    cores = set()
    for key, data in in_use.items():
        value = data.get("neuroncore_utilization") if isinstance(data, Mapping) else None
        core = _core_key(key, inst, f"{where}: neuroncores_in_use")
        cores.add(core)
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            raise ConfigError(
                f"{_member(f'{where}: neuroncores_in_use', key)}.neuroncore_utilization: "
                f"expected a percent >= 0, got {value_text(value)}"
            )
        utilization[core] = max(utilization[core] or 0.0, value / 100.0)
    return cores


def _naming(
    loaded: list[_Loaded], mix: Mix | None, names: dict[str, str], label: str
) -> dict[str, str]:
    """The model name of each uuid (see the module doc)."""
    copies: dict[str, list[_Loaded]] = {}
    for x in loaded:
        copies.setdefault(x.uuid, []).append(x)
    uuids = list(copies)
    out = _named(uuids, {u: c[0].reported_name for u, c in copies.items()}, names, label)
    if mix is None:
        widths = _prefix_widths(uuids)
        return {u: out.get(u, u[: widths[u]]) for u in uuids}
    shape = {u: (len(c[0].cores), len(c)) for u, c in copies.items()}
    for by_count in (True, False):
        while sure := _sure_matches(shape, out, mix, by_count):
            out.update(sure)
    missing = [u for u in uuids if u not in out]
    if missing:
        described = ", ".join(f"{u} ({copies_text(shape[u][1], shape[u][0])})" for u in missing)
        taken = set(out.values())
        left = [m.name for m in mix.models if m.name not in taken]
        raise ConfigError(
            f"{label}: copy shapes do not tell which mix model these are: {described}; "
            f"unmatched mix models: {', '.join(left) or 'none'}; name them with "
            f"--name UUID=MODEL (names={{uuid: model}} in Python)"
        )
    return out


def _named(
    uuids: list[str], reported: dict[str, str], names: dict[str, str], label: str
) -> dict[str, str]:
    """The uuids ``names`` names: a key is a uuid, a reported name, or a unique start of a
    uuid."""
    out: dict[str, str] = {}
    for key, name in names.items():
        exact = [u for u in uuids if key in (u, reported[u])]
        hits = exact or [u for u in uuids if u.startswith(key)]
        if not hits or (not exact and len(hits) > 1):
            found = "no model" if not hits else f"{len(hits)} models ({', '.join(hits)})"
            raise ConfigError(
                f"{label}: names: {value_text(key)} -> {value_text(name)}: "
                f"the key matches {found} of the report; "
                f"give a uuid, a unique start of one, or a reported model name"
            )
        out.update(dict.fromkeys(hits, name))
    return out


def _prefix_widths(uuids: list[str]) -> dict[str, int]:
    """For each uuid, the length of its shortest start of at least :data:`UUID_PREFIX`
    characters that no other uuid shares (the whole uuid when none is): one more than its
    longest common start with another uuid, which in sorted order is a neighbour's."""
    ordered = sorted(uuids)
    common = [0] * len(ordered)
    for i in range(1, len(ordered)):
        a, b = ordered[i - 1], ordered[i]
        k = next((j for j in range(min(len(a), len(b))) if a[j] != b[j]), min(len(a), len(b)))
        common[i - 1] = max(common[i - 1], k)
        common[i] = max(common[i], k)
    return {u: min(len(u), max(UUID_PREFIX, k + 1)) for u, k in zip(ordered, common, strict=True)}


def _sure_matches(
    shape: dict[str, tuple[int, int]], out: dict[str, str], mix: Mix, by_count: bool
) -> dict[str, str]:
    """The unnamed uuids that exactly one free mix model fits (same copy size and, when
    ``by_count``, a copy count it allows) and that no other unnamed uuid fits too."""
    taken = set(out.values())
    free_by_cores: dict[int, list[str]] = {}
    for m in mix.models:
        if m.name not in taken:
            free_by_cores.setdefault(m.cores, []).append(m.name)
    fits: dict[str, list[str]] = {}
    for u, (cores, count) in shape.items():
        if u in out:
            continue
        found: list[str] = []
        for name in free_by_cores.get(cores, []):
            if not by_count or _allows(mix, name, count):
                found.append(name)
                if len(found) > 1:
                    break
        fits[u] = found
    claims = Counter(name for found in fits.values() for name in found)
    return {u: found[0] for u, found in fits.items() if len(found) == 1 and claims[found[0]] == 1}


def _allows(mix: Mix, name: str, count: int) -> bool:
    model = mix[name]
    return model.min_replicas <= count <= model.max_replicas(mix.instance.cores)
