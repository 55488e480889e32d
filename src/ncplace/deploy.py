"""Starting a plan's processes: a launch script, or Kubernetes manifests.

Both start one process per :class:`~ncplace.layout.ProcessSpan` of a layout, each running its
placement script (:func:`ncplace.codegen.generate_scripts`), named by :func:`process_names`.

**Launch script** (:func:`launch_script`): a POSIX shell script that starts every process in the
background with the environment the plan gives it (``NEURON_RT_VISIBLE_CORES``, and
``NEURON_LOGICAL_NC_CONFIG`` at LNC=1), then waits for them; ``PYTHON`` picks the interpreter. The
processes start one after another, each owning its own range, so none asks for a core another
owns (``NeuronCore(s) not available``).

**Kubernetes** (:func:`k8s_manifests`): a ConfigMap holding the scripts and a Deployment of one
pod whose containers are the processes (one pod, so all of them land on one node, the machine
the plan is for; ``nodeSelector`` asks for its instance type). Each container requests
``aws.amazon.com/neuroncore`` equal to its range's size, as a limit (extended resources take
limits). What the cluster does with that, from the Neuron documents (deploy/eks,
deploy/infrastructure/scheduler.rst):

- the Neuron device plugin advertises ``aws.amazon.com/neuroncore`` (and whole devices as
  ``aws.amazon.com/neuron``) and, when a container is admitted, sets its
  ``NEURON_RT_VISIBLE_CORES`` to the cores it was given;
- the Neuron scheduler extension, needed for any request of more than one core, picks them:
  contiguous ids on directly connected devices, first fit from the lowest free; on trn1 it takes
  whole-device requests of 1, 4, 8 or 16 devices only.

So a manifest pins *how many* cores each process gets and keeps them contiguous, but not *which*:
the plan's ranges are written as annotations, and the scripts use ``os.environ.setdefault`` so the
device plugin's value wins. Placement inside a process is unaffected (``start_nc`` counts from
the process's first visible core); what may differ is where a range falls against chip
boundaries (chip crossings, memory per chip), and the first-fit order of the containers decides
that. A manifest cannot request particular core ids, and the scripts must not override the
plugin's ``NEURON_RT_VISIBLE_CORES``, or two containers could claim the same cores.

Names: process names come from the mix (declared processes, tensor-parallel models, ``worker-i``)
reduced to lower-case ASCII letters, digits and ``-`` (RFC 1123 labels, at most 40 characters,
never empty, made unique), so they are safe as file names, shell words and Kubernetes names.
Values that reach YAML are written by the YAML emitter, so any text stays one quoted scalar.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Sequence

import yaml

from . import envvars
from .codegen import generate_scripts
from .errors import ConfigError, PlacementError, check_type
from .layout import Layout, core_span
from .mix import Mix
from .processes import process_specs

NEURONCORE_RESOURCE = "aws.amazon.com/neuroncore"
DEFAULT_IMAGE = "neuron-inference:latest"
"""Placeholder image: one with Python, torch-neuronx (or torch-neuron) and the models' files."""
SCRIPT_DIR = "/ncplace"
_MAX_NAME = 40


def safe_name(text: str, fallback: str) -> str:
    """``text`` as an RFC 1123 label: lower-case ASCII letters, digits and ``-``, starting and
    ending with a letter or digit, at most 40 characters; ``fallback`` when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    label = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:_MAX_NAME].strip("-")
    return label or fallback


def process_names(layout: Layout, mix: Mix) -> list[str]:
    """One unique safe name per process of ``layout``: the name of the mix's process holding its
    models (``-0``, ``-1``, ... after it for the servers of a tensor-parallel model with several
    copies), ``worker-i`` for a pool, else ``process-i``."""
    specs = process_specs(mix)
    n = len(layout.processes)
    owner = {
        name: safe_name(spec.name, f"process-{i}")
        for i, spec in enumerate(specs)
        for name in spec.models
    }
    first = [next((p.model for p in layout.placements if p.process == i), None) for i in range(n)]
    if specs and all(m in owner for m in first):
        raw = [owner[m] for m in first if m is not None]
        repeated = {name for name in raw if raw.count(name) > 1}
        seen: dict[str, int] = {}
        for i, name in enumerate(raw):
            if name in repeated:
                seen[name] = seen.get(name, -1) + 1
                raw[i] = f"{name[: _MAX_NAME - 4]}-{seen[name]}"
    elif mix.workers is not None and mix.workers == n:
        raw = [f"worker-{i}" for i in range(n)]
    else:
        raw = [f"process-{i}" for i in range(n)]
    names: list[str] = []
    for name in raw:
        candidate, k = name, 1
        while candidate in names:
            k += 1
            candidate = f"{name[: _MAX_NAME - 4]}-{k}"
        names.append(candidate)
    return names


def _check(layout: Layout, mix: Mix, what: str) -> None:
    check_type(layout, Layout, f"{what}: layout")
    check_type(mix, Mix, f"{what}: mix")
    if not layout.processes:
        raise PlacementError("the layout has no process; there is nothing to start")


def process_env(layout: Layout, index: int) -> dict[str, str]:
    """The placement variables process ``index`` starts with: its ``NEURON_RT_VISIBLE_CORES``
    and, at LNC=1, ``NEURON_LOGICAL_NC_CONFIG=1``."""
    env = {envvars.VISIBLE_CORES: envvars.format_visible_cores(layout.processes[index].cores)}
    if layout.instance.lnc == 1:
        env[envvars.LOGICAL_NC_CONFIG] = "1"
    return env


def launch_script(
    layout: Layout,
    mix: Mix,
    script_names: Sequence[str] | None = None,
    *,
    scripts: Sequence[str] | None = None,
) -> str:
    """A shell script starting each process of ``layout`` with its environment (module doc);
    ``script_names`` are the scripts' file names, by default ``<process name>.py``. With
    ``scripts`` (one per process) the launcher carries them: it first writes each next to
    itself (a quoted here-document, so the shell expands nothing in them)."""
    _check(layout, mix, "launch_script")
    names = process_names(layout, mix)
    files = [f"{n}.py" for n in names] if script_names is None else list(script_names)
    if len(files) != len(names) or not all(isinstance(f, str) and f for f in files):
        raise ConfigError(
            f"launch_script: {len(files)} script name(s) for {len(names)} process(es)"
        )
    lines = [
        "#!/bin/sh",
        "# Starts the processes of an ncplace plan, each with its NeuronCores, and waits for them.",
        f"# Instance: {layout.instance.cores} NeuronCores; set PYTHON to choose the interpreter.",
        "set -eu",
        'cd "$(dirname "$0")"',
        'PYTHON="${PYTHON:-python3}"',
    ]
    if scripts is not None:
        if len(scripts) != len(files):
            raise ConfigError(
                f"launch_script: {len(scripts)} script(s) for {len(names)} process(es)"
            )
        for file, code in zip(files, scripts, strict=True):
            if _END in code.splitlines():
                raise ConfigError(f"launch_script: a script holds the line {_END!r}")
            lines += ["", f"cat > {shlex.quote(file)} <<'{_END}'", code.rstrip("\n"), _END]
    for i, (name, file) in enumerate(zip(names, files, strict=True)):
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in process_env(layout, i).items())
        lines += [
            "",
            f"# {name}: {core_span(layout.processes[i].cores)}",
            f'env {env} "$PYTHON" {shlex.quote(file)} &',
        ]
    lines += ["", "wait"]
    return "\n".join(lines) + "\n"


_END = "NCPLACE_SCRIPT_END"


def k8s_manifests(
    layout: Layout,
    mix: Mix,
    *,
    name: str = "ncplace",
    image: str = DEFAULT_IMAGE,
    framework: str | None = None,
    header: str | None = None,
) -> str:
    """A ConfigMap with the scripts and a Deployment running them, one container per process, as
    one YAML stream (see the module docstring for what the cluster does with it)."""
    _check(layout, mix, "k8s_manifests")
    if not isinstance(image, str) or not image.strip() or "\n" in image:
        raise ConfigError(f"k8s_manifests: image must be a one-line image name, got {image!r}")
    app = safe_name(str(name), "ncplace")
    names = process_names(layout, mix)
    scripts = generate_scripts(layout, mix, framework, header, keep_visible_cores=True)
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{app}-scripts", "labels": {"app": app}},
        "data": {f"{n}.py": code for n, code in zip(names, scripts, strict=True)},
    }
    containers = []
    for i, process in enumerate(names):
        container: dict[str, object] = {
            "name": process,
            "image": image,
            "command": ["python3", f"{SCRIPT_DIR}/{process}.py"],
        }
        # NEURON_RT_VISIBLE_CORES is the device plugin's to set; the rest of the plan's env stays.
        env = process_env(layout, i)
        del env[envvars.VISIBLE_CORES]
        if env:
            container["env"] = [{"name": k, "value": v} for k, v in env.items()]
        container["resources"] = {"limits": {NEURONCORE_RESOURCE: len(layout.processes[i].cores)}}
        container["volumeMounts"] = [{"name": "scripts", "mountPath": SCRIPT_DIR, "readOnly": True}]
        containers.append(container)
    annotations = {
        f"ncplace/cores.{process}": envvars.format_visible_cores(span.cores)
        for process, span in zip(names, layout.processes, strict=True)
    }
    instance_type = layout.instance.name.partition(":")[0]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "labels": {"app": app}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}, "annotations": annotations},
                "spec": {
                    "nodeSelector": {"node.kubernetes.io/instance-type": instance_type},
                    "containers": containers,
                    "volumes": [{"name": "scripts", "configMap": {"name": f"{app}-scripts"}}],
                },
            },
        },
    }
    head = (
        "# Generated by ncplace: one pod, one container per planned process. Each container\n"
        f"# requests its range's size of {NEURONCORE_RESOURCE}; the Neuron scheduler extension\n"
        "# picks contiguous cores and the device plugin sets NEURON_RT_VISIBLE_CORES. The planned\n"
        "# ranges are in the ncplace/cores.* annotations: a manifest cannot pin core ids.\n"
    )
    body = yaml.dump_all([config, deployment], Dumper=_Dumper, sort_keys=False, width=100)
    return head + body


class _Dumper(yaml.SafeDumper):
    """Safe YAML whose multi-line strings (the scripts) are literal blocks, readable as code."""


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _text)
