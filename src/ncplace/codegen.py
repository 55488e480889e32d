"""Placement code: the Python script that makes the Neuron runtime reproduce a layout.

A layout is *codeable* when every load is an explicit block: a placement of model ``m`` with
``r`` copies of ``k`` cores (``k`` its pipeline size) occupies the ``r * k`` consecutive cores
``s .. s + r*k - 1`` of its process, copy ``j`` on ``s + j*k .. s + (j+1)*k - 1``. That is exactly
what one ``neuron_cores_context(start_nc=s - base, nc_count=r*k)`` load produces (rule 4 of
:mod:`ncplace.runtime`: ``floor(nc_count / k)`` copies on consecutive blocks), where ``base`` is
the process's first core, because ``start_nc`` counts from the cores visible to the process.

Each process gets one script that

1. sets ``NEURON_RT_VISIBLE_CORES`` to the process's cores in ``os.environ`` *before* importing
   the framework (the runtime reads it when it starts), so other processes can own the rest;
2. imports ``torch`` and ``torch_neuron`` (or ``torch_neuronx``);
3. loads every model inside ``torch_neuron.experimental.neuron_cores_context(...)``
   (``torch_neuronx.neuron_cores_context(...)``), so the order of loads does not matter.

NeuronCore Groups of a layout are not reproduced: explicit contexts ignore them.

A tensor-parallel model (``parallel: tensor``, ``cores: k``) is its process's only model; its
script loads it with ``neuronx_distributed.trace.parallel_model_load(path)``, whose ``k`` ranks
take the process's first ``k`` cores, so its copy must start at the process's first core. On a
trn2 machine at LNC=1 every script also sets ``NEURON_LOGICAL_NC_CONFIG=1`` (the runtime's
default is 2). ``keep_visible_cores=True`` writes ``os.environ.setdefault`` instead of an
assignment, so that a value the environment already has wins: under Kubernetes the Neuron device
plugin sets ``NEURON_RT_VISIBLE_CORES`` to the cores it allocated (:mod:`ncplace.deploy`).

Safety: model names and paths come from user files. They reach the script only as ``repr()``
string literals (a ``repr`` of a ``str`` is always one valid literal on one line). Variable
names are derived from the names but reduced to ASCII letters, digits and ``_``, never a keyword,
soft keyword, builtin or a module the script uses. Comments only carry sanitised text (printable
characters on one line), and no text from the mix appears in the first two lines, where Python
would read a ``coding:`` declaration.
"""

from __future__ import annotations

import builtins
import itertools
import keyword
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import envvars
from .errors import ConfigError, PlacementError, check_type
from .hardware import FRAMEWORKS
from .layout import Layout, Placement, copies_text, core_span
from .mix import Mix
from .score import score

RESERVED_NAMES = frozenset({"os", "torch", "torch_neuron", "torch_neuronx", "neuronx_distributed"})
"""Module names the generated script binds; no model variable may shadow them."""

_SOFT_KEYWORDS = frozenset({"_", "case", "match", "type"})
_BUILTIN_NAMES = frozenset(dir(builtins))
_MAX_IDENTIFIER = 40
_MAX_LISTED_COPIES = 8
_MAX_GRID_WIDTH = 100

_MAX_GRID_MODELS = 500

_CONTEXT_CALL = {
    "torch-neuron": "torch_neuron.experimental.neuron_cores_context",
    "torch-neuronx": "torch_neuronx.neuron_cores_context",
}
_MODULE = {"torch-neuron": "torch_neuron", "torch-neuronx": "torch_neuronx"}


def comment_text(text: object, limit: int = 80) -> str:
    """``text`` made safe for a ``#`` comment: printable characters only, one line, bounded.

    Line breaks (``\\n``, ``\\r``, ``\\x0b``, ``\\x0c``, ``\\x85``, ``\\u2028`` ...) and other
    non-printable characters (tabs, bidi controls) become ``?``.
    """
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def is_reserved(name: str) -> bool:
    """True when ``name`` may not be a model variable of a generated script."""
    return (
        keyword.iskeyword(name)
        or keyword.issoftkeyword(name)
        or name in _SOFT_KEYWORDS
        or name in _BUILTIN_NAMES
        or name in RESERVED_NAMES
    )


def identifier(name: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A readable variable name for model ``name``, not in ``taken`` and never reserved.

    ASCII letters and digits survive (accents are stripped: ``é`` -> ``e``), runs of anything else
    become one ``_``, the result is lower-cased, never starts with ``_`` or a digit (``model_`` is
    prefixed) and is at most 40 characters. A reserved word gets ``_model`` appended; a name
    already taken gets ``_2``, ``_3``, ...
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    base = re.sub(r"[^0-9A-Za-z]+", "_", ascii_name).strip("_").lower()
    base = base[:_MAX_IDENTIFIER].rstrip("_") or "model"
    if base[0].isdigit():
        base = f"model_{base}"
    if is_reserved(base):
        base = f"{base}_model"
    candidate, n = base, 1
    while candidate in taken or is_reserved(candidate):
        n += 1
        candidate = f"{base}_{n}"
    return candidate


@dataclass(frozen=True)
class BlockLoad:
    """One placement as a context load: ``neuron_cores_context(start_nc, nc_count)``."""

    placement: Placement
    variable: str
    path: str
    cores_per_copy: int
    start_nc: int
    nc_count: int
    tensor: bool = False

    @property
    def copies(self) -> int:
        return len(self.placement.replicas)


def _check_framework(framework: str) -> None:
    if framework not in FRAMEWORKS:
        raise ConfigError(f"framework {framework!r} is not one of {', '.join(FRAMEWORKS)}")


def block_start(placement: Placement, cores_per_copy: int, process_cores: Sequence[int]) -> int:
    """The first global core of ``placement`` if it is one explicit block, else PlacementError.

    The block condition: copy ``j`` is exactly ``(s + j*k, ..., s + j*k + k - 1)`` for the first
    core ``s``, and every core belongs to the process.
    """
    name = comment_text(placement.model)
    k = cores_per_copy
    start = placement.replicas[0][0]  # a Layout's placements have copies, each on cores
    for j, copy in enumerate(placement.replicas):
        expected = tuple(range(start + j * k, start + (j + 1) * k))
        if copy != expected:
            raise PlacementError(
                f"placement of {name!r} is not one explicit block: copy {j} uses cores "
                f"{list(copy)}, expected {list(expected)} ({k} core(s) per copy, copies "
                "consecutive); codegen writes neuron_cores_context blocks only"
            )
    owned = set(process_cores)
    outside = [c for copy in placement.replicas for c in copy if c not in owned]
    if outside:
        raise PlacementError(
            f"placement of {name!r} uses core(s) {outside} outside its process's cores "
            f"{core_span(sorted(owned)) if owned else '(none)'}"
        )
    return start


def _placement_order(layout: Layout, mix: Mix, process: int) -> list[tuple[int, Placement]]:
    """Loads of ``process`` as ``(round, placement)`` in script order.

    Order does not change an explicit placement, but :func:`ncplace.replay` matches a path shared
    by several models to the model with the fewest loads so far (ties in mix order). Loading such
    models round by round in mix order lets the replay tell them apart.
    """
    index = {m.name: i for i, m in enumerate(mix.models)}
    path_users: dict[str, set[str]] = {}
    for m in mix.models:
        path_users.setdefault(m.path, set()).add(m.name)
    seen: dict[str, int] = {}
    keyed = []
    for p in layout.placements:
        if p.process != process:
            continue
        rnd = seen.get(p.model, 0)
        seen[p.model] = rnd + 1
        shared = len(path_users[mix[p.model].path]) > 1
        keyed.append(((rnd if shared else 0, index[p.model], rnd), rnd, p))
    keyed.sort(key=lambda item: item[0])
    return [(rnd, p) for _, rnd, p in keyed]


def block_loads(layout: Layout, mix: Mix, process: int, framework: str) -> list[BlockLoad]:
    """The context loads that reproduce ``process`` of ``layout``, in script order."""
    known = set(mix.names)
    unknown = [p.model for p in layout.placements if p.model not in known]
    if unknown:
        names = ", ".join(repr(comment_text(n)) for n in dict.fromkeys(unknown))
        raise PlacementError(f"layout loads model(s) {names} that the mix does not define")
    cores = layout.processes[process].cores
    if not cores or any(b != a + 1 for a, b in itertools.pairwise(cores)):
        raise PlacementError(
            f"process {process} owns cores {list(cores)}: NEURON_RT_VISIBLE_CORES needs a "
            "non-empty contiguous run"
        )
    taken: set[str] = set()
    loads = []
    for _, p in _placement_order(layout, mix, process):
        model = mix[p.model]
        tensor = model.parallel == "tensor" and model.cores > 1
        if tensor and (len(p.replicas) != 1 or p.replicas[0][0] != cores[0]):
            raise PlacementError(
                f"tensor-parallel model {comment_text(p.model)!r} must be one copy on the first "
                f"cores of its process (nc{cores[0]}...), where parallel_model_load puts its "
                f"ranks; it uses {[list(r) for r in p.replicas]}"
            )
        if framework == "torch-neuronx" and model.cores != 1 and not tensor:
            raise PlacementError(
                f"model {comment_text(p.model)!r} uses {model.cores} cores per copy; torch-neuronx "
                "has no NeuronCore Pipeline (1 core per model)"
            )
        start = block_start(p, model.cores, cores)
        variable = identifier(p.model, taken)
        taken.add(variable)
        loads.append(
            BlockLoad(
                placement=p,
                variable=variable,
                path=model.path,
                cores_per_copy=model.cores,
                start_nc=start - cores[0],
                nc_count=len(p.replicas) * model.cores,
                tensor=tensor,
            )
        )
    return loads


def grid_lines(layout: Layout, max_width: int = _MAX_GRID_WIDTH) -> list[str]:
    """``layout.render()`` as sanitised lines; when wider than ``max_width``, models are drawn as
    ``m0, m1, ...`` (in placement order) with a legend line ``m0 = <name>`` per model. Past
    :data:`_MAX_GRID_MODELS` models one line says the grid is not drawn: a grid and legend of
    thousands of models is no help in a comment, and drawing 10,000 took 0.7 s."""
    placed = len(layout.models())
    if placed > _MAX_GRID_MODELS:
        limit = _MAX_GRID_MODELS
        return [f"(not drawn for {placed} models, over {limit}: Layout.render() draws it)"]
    # The core header alone is 4 columns a core (3 or more, and a separator): skip a render
    # that is sure to be too wide (on 256 cores with 10,000 models it took about a second).
    if 4 * layout.instance.cores - 1 <= max_width:
        rows = [comment_text(row, 10_000) for row in layout.render().split("\n")]
        if max(len(row) for row in rows) <= max_width:
            return rows
    labels = {name: f"m{i}" for i, name in enumerate(layout.models())}
    short = Layout(
        layout.instance,
        layout.processes,
        tuple(Placement(labels[p.model], p.replicas, p.process) for p in layout.placements),
    )
    rows = [comment_text(row, 10_000) for row in short.render().split("\n")]
    return rows + [f"{label} = {comment_text(name, 60)}" for name, label in labels.items()]


def _score_lines(layout: Layout, mix: Mix) -> list[str]:
    placed = set(layout.models())
    sub = mix.with_models(m for m in mix.models if m.name in placed)
    s = score(layout, sub)
    headroom = "inf" if s.peak_load == 0 else f"{s.headroom:.4g}x"
    return [
        f"Score: peak core load {s.peak_load:.4g} (headroom {headroom}), overlap {s.overlap}, "
        f"at most {s.max_copies_per_core} cop{'y' if s.max_copies_per_core == 1 else 'ies'} "
        "per core,",
        f"  {s.idle_cores} idle core(s), {s.chip_crossings} chip crossing(s), "
        f"{s.handles} handle(s), feasible: {'yes' if s.feasible else 'no'}.",
    ]


def _copies_text(load: BlockLoad) -> str:
    text = copies_text(load.copies, load.cores_per_copy)
    if load.copies > 1:
        shown = [core_span(r) for r in load.placement.replicas[:_MAX_LISTED_COPIES]]
        more = ", ..." if load.copies > _MAX_LISTED_COPIES else ""
        text += f" ({', '.join(shown)}{more})"
    return text


def _script(
    layout: Layout,
    mix: Mix,
    process: int,
    framework: str,
    header: str | None,
    keep_visible_cores: bool = False,
) -> str:
    from . import __version__

    proc = layout.processes[process]
    loads = block_loads(layout, mix, process, framework)
    visible = envvars.format_visible_cores(proc.cores)
    module = _MODULE[framework]
    inst = layout.instance
    # Lines 1 and 2 hold no text from the mix: Python reads a coding declaration there.
    lines = [f"# Placement code generated by ncplace {__version__} for {framework}."]
    if len(layout.processes) > 1:
        lines.append(
            f"# Process {process + 1} of {len(layout.processes)} (run each script as its own "
            f"process): it owns {core_span(proc.cores)}."
        )
    else:
        lines.append(f"# This process owns {core_span(proc.cores)}.")
    lines += [
        f"# Instance {comment_text(inst.name)}: {inst.cores} NeuronCores, "
        f"{inst.cores_per_chip} per chip.",
        "#",
        "# Layout:",
    ]
    lines += [f"#   {row}".rstrip() for row in grid_lines(layout)]
    lines.append("#")
    lines += [f"# {row}" for row in _score_lines(layout, mix)]
    if header:
        lines += [f"# {comment_text(row, 200)}".rstrip() for row in str(header).splitlines()]
    lines += [
        "#",
        f"# start_nc counts from nc{proc.cores[0]}, the first core this process sees. A model with "
        "several copies",
        "# has one handle; the runtime sends its calls round-robin over the copies, which run in",
        "# parallel only when the handle is called from several threads at once. The contexts are",
        "# process-global: load the models from one thread.",
        "",
        "import os",
        "",
    ]
    settings = [(envvars.VISIBLE_CORES, visible)]
    if inst.lnc == 1:
        settings.append((envvars.LOGICAL_NC_CONFIG, "1"))
    for name, value in settings:
        if keep_visible_cores and name == envvars.VISIBLE_CORES:
            lines.append(f"os.environ.setdefault({name!r}, {value!r})")
        else:
            lines.append(f"os.environ[{name!r}] = {value!r}")
    lines += ["", "import torch  # noqa: E402", f"import {module}  # noqa: E402"]
    if any(load.tensor for load in loads):
        lines.append("import neuronx_distributed  # noqa: E402")
    lines += ["", "# The order of the loads does not matter: every model is placed explicitly."]
    handles: dict[str, list[str]] = {}
    for load in loads:
        handles.setdefault(load.placement.model, []).append(load.variable)
    for load in loads:
        name = comment_text(load.placement.model, 60)
        if load.tensor:
            lines += [
                "",
                f"# {name}: {core_span(load.placement.cores)}, tensor-parallel over "
                f"{load.cores_per_copy} cores (rank i on the process's core i)",
                f"{load.variable} = neuronx_distributed.trace.parallel_model_load({load.path!r})",
            ]
            continue
        lines += [
            "",
            f"# {name}: {core_span(load.placement.cores)}, {_copies_text(load)}",
        ]
        if load.copies > 1:
            lines.append(
                f"# Call {load.variable} from {load.copies} threads at once to use all its copies."
            )
        siblings = handles[load.placement.model]
        if len(siblings) > 1 and siblings[0] == load.variable:
            lines.append(
                f"# {name} has {len(siblings)} handles ({', '.join(siblings)}): the application "
                "routes requests across them."
            )
        lines += [
            f"with {_CONTEXT_CALL[framework]}(start_nc={load.start_nc}, nc_count={load.nc_count}):",
            f"    {load.variable} = torch.jit.load({load.path!r})",
        ]
    return "\n".join(lines) + "\n"


def generate_scripts(
    layout: Layout,
    mix: Mix,
    framework: str | None = None,
    header: str | None = None,
    *,
    keep_visible_cores: bool = False,
) -> list[str]:
    """One script per process of ``layout`` (see the module docstring).

    ``framework`` defaults to the mix's. ``header`` adds comment lines to each script's header
    (a plan's status and bound, for instance); it is sanitised like every comment.
    ``keep_visible_cores``: leave a ``NEURON_RT_VISIBLE_CORES`` the environment already has.
    """
    check_type(layout, Layout, "generate_scripts: layout")
    check_type(mix, Mix, "generate_scripts: mix")
    framework = mix.framework if framework is None else framework
    assert framework is not None
    _check_framework(framework)
    if not layout.processes:
        raise PlacementError("the layout has no process; there is nothing to load")
    return [
        _script(layout, mix, i, framework, header, keep_visible_cores)
        for i in range(len(layout.processes))
    ]


def generate_code(
    layout: Layout, mix: Mix, framework: str | None = None, header: str | None = None
) -> str:
    """The script that reproduces a single-process ``layout`` (``framework``: the mix's by default).

    Multi-process layouts need one script per process: :func:`generate_scripts`.
    """
    check_type(layout, Layout, "generate_code: layout")
    check_type(mix, Mix, "generate_code: mix")
    if len(layout.processes) != 1:
        raise PlacementError(
            f"the layout has {len(layout.processes)} processes; generate_code writes the script "
            "of a single process, use generate_scripts for one script per process"
        )
    return generate_scripts(layout, mix, framework, header)[0]


def plan_header(plan: Any) -> str:
    """The header lines describing a plan: status, objective, bound (and which layouts it covers,
    :attr:`~ncplace.optimize.Plan.bound_scope`) and gap, solver version."""
    gap = getattr(plan, "gap", None)
    gap_text = "n/a" if gap is None else f"{100.0 * gap:.3g}%"
    bound = getattr(plan, "bound", None)
    bound_text = "n/a" if bound is None else f"{bound:.4g}"
    scope = getattr(plan, "bound_scope", "every layout")
    if bound is not None and scope != "every layout":
        bound_text += f" (over layouts with {scope})"
    status = getattr(plan.status, "value", plan.status)
    name = getattr(plan, "objective_name", None) or "peak"
    objective = {"peak": "peak load", "slo": "peak load"}.get(name, name)
    latency = ""
    if name == "slo" and getattr(plan, "max_scale", None) is not None:
        latency = f", max scale {plan.max_scale:.3g} (simulated, seed {plan.seed})"
    version = getattr(plan, "ortools_version", None)
    solver = f", CP-SAT (OR-Tools {version})" if version else ""
    return (
        f"Plan: status {status}, {objective} {plan.objective:.4g}{latency}, bound {bound_text}, "
        f"gap {gap_text}{solver}."
    )


def plan_code(plan: Any, framework: str | None = None) -> str:
    """The script for a :class:`~ncplace.optimize.Plan` (``framework``: the plan's mix's)."""
    if plan.layout is None:
        status = getattr(plan.status, "value", plan.status)
        raise PlacementError(f"the plan has no layout (status {status}); there is no code to write")
    return generate_code(plan.layout, plan.mix, framework, header=plan_header(plan))
