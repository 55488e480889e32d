"""neuron-monitor reports built from layouts, in the format the Neuron docs show (one runtime entry
per process, one loaded model per copy, one subgraph per core with the core's index within its
device), for tests and for ``examples/neuron-monitor.json``."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from ncplace import Layout


def uuid_of(name: str) -> str:
    """A stable 32-hex-digit uuid for a model name (neuron-monitor's uuids have that form)."""
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def report_of(
    layout: Layout,
    utilization: Sequence[float] | None = None,
    pids: Sequence[int] | None = None,
    uuids: Mapping[str, str] | None = None,
    instance_type: str | None = None,
) -> dict[str, Any]:
    """The report neuron-monitor would print for ``layout``: ``utilization`` in 0-1 per core
    (reported in percent by the process owning the core, 0 elsewhere), ``pids`` per process
    (default 1000, 1001, ...), ``uuids`` per model name (default :func:`uuid_of`)."""
    inst = layout.instance
    per = inst.cores_per_chip
    busy = list(utilization) if utilization is not None else [0.0] * inst.cores
    runtimes = []
    model_id = 10001
    for index, process in enumerate(layout.processes):
        loaded = []
        for placement in layout.placements:
            if placement.process != index:
                continue
            uuid = (uuids or {}).get(placement.model, uuid_of(placement.model))
            for copy in placement.replicas:
                subgraphs = {
                    f"sg_{j:02d}": {
                        "memory_used_bytes": {"host": 12328, "neuron_device": 62547744},
                        "neuroncore_index": core % per,
                        "neuron_device_index": core // per,
                    }
                    for j, core in enumerate(copy)
                }
                loaded.append(
                    {
                        "name": f"1.13.5.0+7dcf000a6-/tmp/tmp{uuid[:8]}",
                        "uuid": uuid,
                        "model_id": model_id,
                        "is_running": True,
                        "subgraphs": subgraphs,
                    }
                )
                model_id += 1
        runtimes.append(
            {
                "pid": pids[index] if pids is not None else 1000 + index,
                "neuron_runtime_tag": str(index),
                "error": "",
                "report": {
                    "memory_used": {
                        "period": 5.0,
                        "neuron_runtime_used_bytes": {"host": 2605992, "neuron_device": 63105088},
                        "loaded_models": loaded,
                        "error": "",
                    },
                    "neuroncore_counters": {
                        "period": 5.0,
                        "neuroncores_in_use": {
                            str(c): {"neuroncore_utilization": 100 * busy[c]} for c in process.cores
                        },
                        "error": "",
                    },
                },
            }
        )
    report: dict[str, Any] = {
        "neuron_runtime_data": runtimes,
        "system_data": {},
        "neuron_hardware_info": {
            "neuron_device_count": inst.chips,
            "neuroncore_per_device_count": per,
            "error": "",
        },
    }
    if instance_type is not None:
        report["instance_info"] = {"instance_type": instance_type, "error": ""}
    return report
