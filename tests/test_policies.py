"""Baseline policies: exact layouts on small mixes, and what every policy always guarantees."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import ncplace
from ncplace import (
    POLICIES,
    ConfigError,
    Instance,
    Layout,
    Mix,
    Model,
    PlacementError,
    Policy,
    instance,
    score,
)
from ncplace.policies import greedy

XL = instance("inf1.xlarge")  # 4 cores on one chip
EIGHT = Instance(cores=8, cores_per_chip=4, chip_memory_gib=4.0)


def loads_of(layout: Layout) -> list[tuple[str, tuple[tuple[int, ...], ...], int]]:
    return [(p.model, p.replicas, p.process) for p in layout.placements]


@pytest.fixture
def fits() -> Mix:
    """Copies that fit side by side on 8 cores: m2 2 cores x 2, m1 1 core, m3 3 cores."""
    return Mix([Model("m2", cores=2, replicas=2), Model("m1"), Model("m3", cores=3)], EIGHT)


def test_registry():
    assert list(POLICIES) == [
        "default",
        "round_robin",
        "group_sizes",
        "multicore",
        "processes",
        "greedy",
    ]
    for name, policy in POLICIES.items():
        assert isinstance(policy, Policy)
        assert policy.name == name  # type: ignore[attr-defined]
        assert policy.description and "\n" not in policy.description
        assert len(policy.description) <= 100
        assert "torch.jit.load" in (policy.place.__doc__ or "")  # type: ignore[attr-defined]


# --- default ---------------------------------------------------------------------------------


def test_default_loads_each_copy_least_used(small):
    layout = POLICIES["default"](small)
    assert [(p.cores, dict(p.env)) for p in layout.processes] == [((0, 1, 2, 3), {})]
    # a on the first 2-core window; b's copies on the two idle cores; c on the least-used,
    # lowest core once every core has one copy.
    assert loads_of(layout) == [
        ("a", ((0, 1),), 0),
        ("b", ((2,),), 0),
        ("b", ((3,),), 0),
        ("c", ((0,),), 0),
    ]


def test_default_on_torch_neuronx_goes_round_robin():
    mix = Mix([Model("x", replicas=3), Model("y", replicas=2)], instance("inf2.xlarge"))
    assert loads_of(POLICIES["default"](mix)) == [
        ("x", ((0,),), 0),
        ("x", ((1,),), 0),
        ("x", ((0,),), 0),
        ("y", ((1,),), 0),
        ("y", ((0,),), 0),
    ]


# --- round_robin -----------------------------------------------------------------------------


def test_round_robin_on_torch_neuronx():
    mix = Mix([Model("x", replicas=2), Model("y")], instance("inf2.24xlarge"))
    layout = POLICIES["round_robin"](mix)
    assert loads_of(layout) == [("x", ((0,),), 0), ("x", ((1,),), 0), ("y", ((2,),), 0)]
    assert layout == POLICIES["default"](mix)


def test_round_robin_refuses_a_torch_neuron_mix(small):
    with pytest.raises(
        PlacementError,
        match=r"^round_robin is torch-neuronx's default placement; this mix is torch-neuron",
    ):
        POLICIES["round_robin"](small)


# --- group_sizes -----------------------------------------------------------------------------


def test_group_sizes_one_group_per_copy(fits):
    layout = POLICIES["group_sizes"](fits)
    (proc,) = layout.processes
    assert dict(proc.env) == {"NEURONCORE_GROUP_SIZES": "2,2,1,3"}
    assert proc.cores == tuple(range(8))
    assert proc.groups == ((0, 1), (2, 3), (4,), (5, 6, 7))
    assert loads_of(layout) == [
        ("m2", ((0, 1),), 0),
        ("m2", ((2, 3),), 0),
        ("m1", ((4,),), 0),
        ("m3", ((5, 6, 7),), 0),
    ]


def test_group_sizes_take_only_the_cores_they_need():
    mix = Mix([Model("p", cores=3), Model("q")], EIGHT)
    layout = POLICIES["group_sizes"](mix)
    assert layout.processes[0].cores == (0, 1, 2, 3)
    assert loads_of(layout) == [("p", ((0, 1, 2),), 0), ("q", ((3,),), 0)]


def test_group_sizes_beyond_the_cores(small):
    with pytest.raises(
        PlacementError,
        match=r"^group_sizes: one group per copy needs a 2x1 \+ b 1x2 \+ c 1x1 = 5 cores but "
        r"inf1.xlarge has 4; NeuronCore Groups cannot share cores$",
    ):
        POLICIES["group_sizes"](small)


def test_group_sizes_is_torch_neuron_only():
    mix = Mix([Model("x")], instance("inf2.xlarge"))
    with pytest.raises(PlacementError, match=r"torch-neuron \(Inf1\) setting; this mix is "):
        POLICIES["group_sizes"](mix)


# --- multicore -------------------------------------------------------------------------------


def test_multicore_replicates_every_model_over_every_core(small):
    layout = POLICIES["multicore"](small)
    assert loads_of(layout) == [
        ("a", ((0, 1), (2, 3)), 0),
        ("b", ((0,), (1,), (2,), (3,)), 0),
        ("c", ((0,), (1,), (2,), (3,)), 0),
    ]


def test_multicore_leaves_the_remainder_of_a_pipeline_idle():
    mix = Mix([Model("p", cores=3)], EIGHT)
    assert loads_of(POLICIES["multicore"](mix)) == [("p", ((0, 1, 2), (3, 4, 5)), 0)]


# --- processes -------------------------------------------------------------------------------


def test_processes_one_per_model_first_fit(fits):
    layout = POLICIES["processes"](fits)
    assert [(p.cores, dict(p.env)) for p in layout.processes] == [
        ((0, 1, 2, 3), {"NEURON_RT_NUM_CORES": "4"}),
        ((4,), {"NEURON_RT_NUM_CORES": "1"}),
        ((5, 6, 7), {"NEURON_RT_NUM_CORES": "3"}),
    ]
    assert loads_of(layout) == [
        ("m2", ((0, 1),), 0),
        ("m2", ((2, 3),), 0),
        ("m1", ((4,),), 1),
        ("m3", ((5, 6, 7),), 2),
    ]


def test_processes_cannot_share_cores(small):
    with pytest.raises(
        PlacementError,
        match=r"^processes: the process for 'c' asks for 1 core\(s\) after earlier processes "
        r"took 4; one process per model needs a 2x1 \+ b 1x2 \+ c 1x1 = 5 cores but "
        r"inf1.xlarge has 4, and processes cannot share cores$",
    ):
        POLICIES["processes"](small)


def test_processes_with_a_block_wider_than_the_machine():
    mix = Mix([Model("many", replicas=6)], XL)
    with pytest.raises(PlacementError, match=r"'many' asks for 6 core\(s\) after earlier "):
        POLICIES["processes"](mix)


# --- greedy ----------------------------------------------------------------------------------


def test_greedy_places_by_demand_on_the_least_loaded_window(small):
    # b (1.5) first on nc0-1; a (0.5) where the peak stays lowest, nc2-3; c (0.1) then sees
    # peaks 0.85, 0.85, 0.6, 0.6 and overlap 1 everywhere: nc2, the leftmost.
    layout = greedy.place(small)
    assert [(p.cores, dict(p.env)) for p in layout.processes] == [((0, 1, 2, 3), {})]
    assert loads_of(layout) == [("b", ((0,), (1,)), 0), ("a", ((2, 3),), 0), ("c", ((2,),), 0)]
    assert score(layout, small).loads == pytest.approx((0.75, 0.75, 0.6, 0.5))


def test_greedy_keeps_other_models_off_exclusive_cores():
    mix = Mix(
        [
            Model("x", replicas=3),
            Model("y", cores=2, rate=50, throughput=100),
            Model("e", cores=4, exclusive=True),
        ],
        EIGHT,
    )
    # e first (exclusive) on nc0-3; x (demand 1) on nc4-6; y (0.5) keeps the peak at 0.83 on
    # any window of nc4-7 and adds the least overlap on nc6-7.
    assert loads_of(greedy.place(mix)) == [
        ("e", ((0, 1, 2, 3),), 0),
        ("x", ((4,), (5,), (6,)), 0),
        ("y", ((6, 7),), 0),
    ]


def test_greedy_respects_chip_memory():
    mix = Mix([Model("a", memory_gib=3.0), Model("b", memory_gib=3.0), Model("c")], EIGHT)
    # b would go to nc1 but chip 0 then holds 6 GiB of 4: it moves to chip 1.
    assert loads_of(greedy.place(mix)) == [
        ("a", ((0,),), 0),
        ("b", ((4,),), 0),
        ("c", ((1,),), 0),
    ]


def test_greedy_breaks_memory_as_little_as_it_can_when_it_must():
    mix = Mix(
        [Model("a", memory_gib=3.0), Model("b", memory_gib=3.0), Model("c", memory_gib=1.5)],
        EIGHT,
    )
    s = score(greedy.place(mix), mix)
    assert s.memory_overflow_gib == pytest.approx(0.5)
    assert not s.feasible


def test_greedy_honours_pins_first():
    mix = Mix([Model("a", rate=9, throughput=10), Model("p", cores=2, start=1)], XL)
    assert loads_of(greedy.place(mix)) == [("p", ((1, 2),), 0), ("a", ((0,),), 0)]


def test_greedy_splits_more_copies_than_fit_side_by_side():
    mix = Mix([Model("many", cores=2, replicas=3)], XL)
    assert loads_of(greedy.place(mix)) == [("many", ((0, 1), (2, 3)), 0), ("many", ((0, 1),), 0)]


def test_greedy_is_deterministic(small):
    assert greedy.place(small) == greedy.place(small)


# --- every policy, always ----------------------------------------------------------------------

_instances = st.sampled_from(
    [
        instance("inf1.xlarge"),
        instance("inf1.6xlarge"),
        instance("inf2.24xlarge"),
        Instance(cores=8, cores_per_chip=4, chip_memory_gib=2.0),
        Instance(cores=6, cores_per_chip=2, chip_memory_gib=3.0),
    ]
)


@st.composite
def mixes(draw: st.DrawFn) -> Mix:
    inst = draw(_instances)
    neuronx = inst.framework == "torch-neuronx"
    count = draw(st.integers(1, 6))
    models = []
    for i in range(count):
        cores = 1 if neuronx else draw(st.integers(1, min(4, inst.cores)))
        traffic = draw(st.booleans())
        models.append(
            Model(
                f"m{i}",
                cores=cores,
                replicas=draw(st.one_of(st.integers(1, 3), st.just("auto"), st.just((2, 3)))),
                rate=draw(st.floats(1, 100)) if traffic else None,
                throughput=draw(st.floats(10, 200)) if traffic else None,
                exclusive=draw(st.booleans()) and draw(st.booleans()),
                memory_gib=draw(st.one_of(st.none(), st.floats(0, 1.5))),
                start=draw(st.one_of(st.none(), st.integers(0, inst.cores - 1)))
                if draw(st.integers(0, 4)) == 0
                else None,
            )
        )
    try:
        return Mix(models, inst)
    except ConfigError:
        assume(False)
        raise


@settings(max_examples=80, deadline=None)
@given(mixes())
def test_every_layout_keeps_copies_in_their_process_and_places_every_model(mix):
    total = sum(m.width for m in mix)
    fits_apart = total <= mix.instance.cores
    for name, policy in POLICIES.items():
        try:
            layout = policy(mix)
        except PlacementError:
            # Only the techniques that cannot share cores (or that the framework lacks) refuse.
            assert {
                "round_robin": mix.framework == "torch-neuron",
                "group_sizes": mix.framework == "torch-neuronx" or not fits_apart,
                "processes": not fits_apart,
            }.get(name, False), name
            continue
        s = score(layout, mix)  # raises if a model is missing or a load is not in the mix
        if name in {"group_sizes", "processes"}:
            assert fits_apart and s.overlap == 0
        assert s.outside_process == 0, name
        assert s.shared_process_cores == 0, name
        assert set(layout.models()) == set(mix.names)
        for model, cores in layout.copies():
            assert len(cores) == mix[model].cores
            assert list(cores) == list(range(cores[0], cores[0] + len(cores)))
        if name in {"default", "round_robin", "group_sizes", "processes", "greedy"}:
            for m in mix:
                copies = sum(len(p.replicas) for p in layout.placements_of(m.name))
                assert copies == m.min_replicas, (name, m.name)


@settings(max_examples=60, deadline=None)
@given(mixes())
def test_greedy_keeps_hard_rules_when_the_blocks_fit_apart(mix):
    """With room for every block apart, no pins, and all the memory within one chip (so that
    memory forces no start: see the next test), greedy breaks no rule."""
    assume(all(m.start is None for m in mix))
    assume(sum(m.width for m in mix) <= mix.instance.cores)
    assume(sum((m.memory_gib or 0) * m.min_replicas for m in mix) <= mix.instance.chip_memory_gib)
    s = score(greedy.place(mix), mix)
    assert s.exclusive_violations == 0
    assert s.memory_overflow_gib == 0.0


def test_greedy_keeps_memory_before_exclusivity_when_no_block_layout_keeps_both():
    """Two 2-GiB chips of 4 cores: the exclusive model's two 1.5-GiB copies fit only one per
    chip, so its block must sit on cores 3-4, and then no 4-core block fits beside it. Greedy
    keeps memory (an overflowing model would not load) and shares a core with the exclusive
    model, as its docstring says."""
    inst = Instance(cores=8, cores_per_chip=4, chip_memory_gib=2.0)
    mix = Mix(
        (
            Model("m0", cores=2, replicas=2),
            Model("m1", cores=1),
            Model("m2", cores=1, replicas=2, exclusive=True, memory_gib=1.5),
        ),
        inst,
    )
    layout = greedy.place(mix)
    s = score(layout, mix)
    assert [p.replicas for p in layout.placements_of("m2")] == [((3,), (4,))]
    assert s.memory_overflow_gib == 0.0
    assert s.exclusive_violations == 1


def test_a_refusal_of_thousands_of_models_stays_one_short_line() -> None:
    inst = ncplace.Instance(cores=16, cores_per_chip=4)
    mix = ncplace.Mix([ncplace.Model(f"m{i}", cores=2) for i in range(3000)], instance=inst)
    with pytest.raises(ncplace.PlacementError) as caught:
        ncplace.POLICIES["group_sizes"](mix)
    message = str(caught.value)
    assert "m7 2x1 + 2,992 more models 5,984 = 6000 cores but" in message
    assert len(message) < 300 and "\n" not in message
