"""Every example of the torch-neuron core placement guide, reproduced on its 8-core machine.

Each :class:`GuideExample` holds the guide's script, driven through the emulator the way the
guide writes it, and the placement the guide states: the processes' cores and groups, and each
load's copies (the ``# Loads to ...`` comments and the diagrams). ``tests/test_scenario.py``
checks the bundled scenario files against the same data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from ncplace import Instance, Layout, Loaded, Runtime

GUIDE_INSTANCE = Instance(cores=8, cores_per_chip=4)

Cores = tuple[int, ...]


@dataclass(frozen=True)
class GuideExample:
    """One example: the script, then the expected processes and loads.

    ``processes``: per process, its cores and its NeuronCore Groups. ``loads``: per load, in
    load order, ``(model, process index, replicas)``.
    """

    section: str
    script: Callable[[Runtime], list[Loaded]]
    processes: tuple[tuple[Cores, tuple[Cores, ...]], ...]
    loads: tuple[tuple[str, int, tuple[Cores, ...]], ...]

    @property
    def slug(self) -> str:
        """The bundled scenario's file stem: the section title in lower-case words and dashes."""
        title = self.section.split(": ", 1)[1]
        return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")

    def run(self) -> tuple[Layout, list[Loaded]]:
        rt = Runtime(GUIDE_INSTANCE)
        loaded = self.script(rt)
        return rt.layout(), loaded


def _default(rt: Runtime) -> list[Loaded]:
    p = rt.start_process()
    return [p.load("m0", cores=1), p.load("m1", cores=1)]


def _num_cores(rt: Runtime) -> list[Loaded]:
    p = rt.start_process({"NEURON_RT_NUM_CORES": "2"})
    return [p.load("m0", cores=1), p.load("m1", cores=1)]


def _visible_cores(rt: Runtime) -> list[Loaded]:
    p = rt.start_process({"NEURON_RT_VISIBLE_CORES": "4-5"})
    return [p.load("m0", cores=1), p.load("m1", cores=1)]


def _overlapping(rt: Runtime) -> list[Loaded]:
    p = rt.start_process({"NEURON_RT_VISIBLE_CORES": "0-1"})
    return [p.load("m0", cores=1), p.load("m1", cores=2), p.load("m2", cores=1)]


def _multiple_processes(rt: Runtime) -> list[Loaded]:
    loaded = []
    for _ in range(2):  # "if the script is run twice"
        p = rt.start_process({"NEURON_RT_NUM_CORES": "2"})
        loaded += [p.load("m0", cores=1), p.load("m1", cores=1)]
    return loaded


def _single_group(rt: Runtime) -> list[Loaded]:
    p = rt.start_process({"NEURONCORE_GROUP_SIZES": "4"})
    return [p.load("m0", cores=4)]


def _multiple_groups(rt: Runtime) -> list[Loaded]:
    p = rt.start_process({"NEURONCORE_GROUP_SIZES": "3,4,1"})
    return [p.load("m0", cores=3), p.load("m1", cores=4), p.load("m2", cores=1)]


def _differing_sizes(rt: Runtime) -> list[Loaded]:
    p = rt.start_process({"NEURONCORE_GROUP_SIZES": "2,2"})
    return [
        p.load("m0", cores=2),
        p.load("m1", cores=2),
        p.load("m2", cores=1),
        p.load("m3", cores=1),
        p.load("m4", cores=1),
    ]


def _incompatible_sizes(rt: Runtime) -> list[Loaded]:
    p = rt.start_process({"NEURONCORE_GROUP_SIZES": "2,2"})
    return [p.load("m0", cores=2), p.load("m1", cores=2), p.load("m2", cores=3)]


def _multiple_copies(rt: Runtime) -> list[Loaded]:
    p = rt.start_process({"NEURONCORE_GROUP_SIZES": "2,2,2,2"})
    return [p.load("m0", cores=2) for _ in range(4)]


def _manual_selection(rt: Runtime) -> list[Loaded]:
    p = rt.start_process({"NEURON_RT_NUM_CORES": "4"})
    loaded = []
    with p.neuron_cores_context(2):
        loaded.append(p.load("m1", cores=2))
    with p.neuron_cores_context(0):
        loaded.append(p.load("m2", cores=3))
    with p.neuron_cores_context(0):
        loaded.append(p.load("m0", cores=2))
    with p.neuron_cores_context(3):
        loaded.append(p.load("m3", cores=1))
    return loaded


def _automatic_multicore(rt: Runtime) -> list[Loaded]:
    p = rt.start_process({"NEURON_RT_NUM_CORES": "8"})
    with p.multicore_context():
        return [p.load("m0", cores=1)]


def _explicit_replication(rt: Runtime) -> list[Loaded]:
    p = rt.start_process({"NEURON_RT_NUM_CORES": "8"})
    with p.neuron_cores_context(start_nc=2, nc_count=4):
        return [p.load("m0", cores=2)]


ALL = tuple(range(8))

GUIDE_EXAMPLES = (
    GuideExample(
        "Example: Default",
        _default,
        processes=((ALL, ()),),
        loads=(
            ("m0", 0, ((0,),)),  # Loads to nc0
            ("m1", 0, ((1,),)),  # Loads to nc1
        ),
    ),
    GuideExample(
        "Example: NEURON_RT_NUM_CORES",
        _num_cores,
        processes=(((0, 1), ()),),
        loads=(
            ("m0", 0, ((0,),)),  # Loads to nc0
            ("m1", 0, ((1,),)),  # Loads to nc1
        ),
    ),
    GuideExample(
        "Example: NEURON_RT_VISIBLE_CORES",
        _visible_cores,
        processes=(((4, 5), ()),),
        loads=(
            ("m0", 0, ((4,),)),  # Loads to nc4
            ("m1", 0, ((5,),)),  # Loads to nc5
        ),
    ),
    GuideExample(
        "Example: Overlapping Models",
        _overlapping,
        processes=(((0, 1), ()),),
        loads=(
            ("m0", 0, ((0,),)),  # Loads to nc0
            ("m1", 0, ((0, 1),)),  # Loads to nc0-nc1
            ("m2", 0, ((1,),)),  # Loads to nc1
        ),
    ),
    GuideExample(
        "Example: Multiple Processes",
        _multiple_processes,
        processes=(((0, 1), ()), ((2, 3), ())),  # proc0, proc1, unallocated
        loads=(
            ("m0", 0, ((0,),)),
            ("m1", 0, ((1,),)),
            ("m0", 1, ((2,),)),
            ("m1", 1, ((3,),)),
        ),
    ),
    GuideExample(
        "Example: Single NeuronCore Group",
        _single_group,
        processes=(((0, 1, 2, 3), ((0, 1, 2, 3),)),),  # ncg0, unallocated
        loads=(("m0", 0, ((0, 1, 2, 3),)),),  # Loads to nc0-nc3
    ),
    GuideExample(
        "Example: Multiple NeuronCore Groups",
        _multiple_groups,
        processes=((ALL, ((0, 1, 2), (3, 4, 5, 6), (7,))),),  # ncg0 ncg1 ncg2
        loads=(
            ("m0", 0, ((0, 1, 2),)),  # Loads to nc0-nc2
            ("m1", 0, ((3, 4, 5, 6),)),  # Loads to nc3-nc6
            ("m2", 0, ((7,),)),  # Loads to nc7
        ),
    ),
    GuideExample(
        "Issue: Overlapping Models with Differing Model Sizes",
        _differing_sizes,
        processes=(((0, 1, 2, 3), ((0, 1), (2, 3))),),  # ncg0 ncg1 unallocated
        loads=(
            ("m0", 0, ((0, 1),)),  # Loads to nc0-nc1
            ("m1", 0, ((2, 3),)),  # Loads to nc2-nc3
            ("m2", 0, ((0,),)),  # Loads to nc0
            ("m3", 0, ((2,),)),  # Loads to nc2
            ("m4", 0, ((0,),)),  # Loads to nc0
        ),
    ),
    GuideExample(
        "Issue: Incompatible Model Sizes",
        _incompatible_sizes,
        processes=(((0, 1, 2, 3), ((0, 1), (2, 3))),),  # ncg0 ncg1 unallocated
        loads=(
            ("m0", 0, ((0, 1),)),  # Loads to nc0-nc1
            ("m1", 0, ((2, 3),)),  # Loads to nc2-nc3
            ("m2", 0, ((0, 1, 2),)),  # Loads to nc0-nc2
        ),
    ),
    GuideExample(
        "Issue: Multiple Model Copies",
        _multiple_copies,
        processes=((ALL, ((0, 1), (2, 3), (4, 5), (6, 7))),),  # ncg0 .. ncg3
        loads=(
            ("m0", 0, ((0, 1),)),  # models[0]
            ("m0", 0, ((2, 3),)),  # models[1]
            ("m0", 0, ((4, 5),)),  # models[2]
            ("m0", 0, ((6, 7),)),  # models[3]
        ),
    ),
    GuideExample(
        "Example: Manual Core Selection",
        _manual_selection,
        processes=(((0, 1, 2, 3), ()),),  # allocated, unallocated
        loads=(
            ("m1", 0, ((2, 3),)),  # Loads to nc2-nc3
            ("m2", 0, ((0, 1, 2),)),  # Loads to nc0-nc2
            ("m0", 0, ((0, 1),)),  # Loads to nc0-nc1
            ("m3", 0, ((3,),)),  # Loads to nc3
        ),
    ),
    GuideExample(
        "Example: Automatic Multicore",
        _automatic_multicore,
        processes=((ALL, ()),),
        loads=(("m0", 0, tuple((c,) for c in ALL)),),  # Loads replications to nc0-nc7
    ),
    GuideExample(
        "Example: Explicit Replication",
        _explicit_replication,
        processes=((ALL, ()),),
        loads=(("m0", 0, ((2, 3), (4, 5))),),  # Loads replications to nc2-nc5
    ),
)


def assert_guide_layout(layout: Layout, example: GuideExample) -> None:
    """``layout`` is exactly the placement the guide states for ``example``."""
    assert layout.instance == GUIDE_INSTANCE
    assert [(p.cores, p.groups) for p in layout.processes] == list(example.processes)
    assert [(p.model, p.process, p.replicas) for p in layout.placements] == list(example.loads)


def guide_example(slug: str) -> GuideExample:
    return next(e for e in GUIDE_EXAMPLES if e.slug == slug)


def test_the_guide_has_thirteen_examples_with_distinct_names() -> None:
    assert len(GUIDE_EXAMPLES) == 13
    assert len({e.slug for e in GUIDE_EXAMPLES}) == 13
    assert guide_example("explicit-replication").section == "Example: Explicit Replication"
    assert guide_example("neuron-rt-num-cores").section == "Example: NEURON_RT_NUM_CORES"


@pytest.mark.parametrize("example", GUIDE_EXAMPLES, ids=lambda e: e.slug)
def test_guide_example_layout(example: GuideExample) -> None:
    layout, loaded = example.run()
    assert_guide_layout(layout, example)
    assert [(m.name, m.replicas) for m in loaded] == [(m, r) for m, _, r in example.loads]


def test_multiple_processes_leave_the_rest_unallocated() -> None:
    layout, _ = guide_example("multiple-processes").run()
    assert layout.owner() == [0, 0, 1, 1, None, None, None, None]


def test_differing_sizes_overload_nc0_as_the_guide_warns() -> None:
    layout, _ = guide_example("overlapping-models-with-differing-model-sizes").run()
    assert layout.copies_per_core() == [3, 1, 2, 1, 0, 0, 0, 0]


def test_manual_core_selection_does_not_depend_on_load_order() -> None:
    example = guide_example("manual-core-selection")
    expected = {m: r for m, _, r in example.loads}
    starts = {"m1": 2, "m2": 0, "m0": 0, "m3": 3}
    sizes = {"m0": 2, "m1": 2, "m2": 3, "m3": 1}
    for order in (["m3", "m0", "m2", "m1"], ["m0", "m1", "m2", "m3"], ["m2", "m3", "m1", "m0"]):
        rt = Runtime(GUIDE_INSTANCE)
        p = rt.start_process({"NEURON_RT_NUM_CORES": "4"})
        for name in order:
            with p.neuron_cores_context(starts[name]):
                assert p.load(name, cores=sizes[name]).replicas == expected[name]
