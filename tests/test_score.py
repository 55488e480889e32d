"""The scorer on hand-computed layouts, the guide's inefficient layouts among them."""

from __future__ import annotations

import pytest

from ncplace import (
    Error,
    Instance,
    Layout,
    Mix,
    Model,
    Placement,
    PlacementError,
    ProcessSpan,
    Runtime,
    score,
)

EIGHT = Instance(cores=8, cores_per_chip=4, chip_memory_gib=4.0)  # the guide's 8-core machine


def unit_mix(*specs: tuple[str, int], inst: Instance = EIGHT, exclusive: str = "") -> Mix:
    """Models of demand 1.0 (no traffic given), as in the guide's drawings."""
    return Mix(
        [Model(name, cores=k, exclusive=name in exclusive.split()) for name, k in specs], inst
    )


# --- every metric on one hand-computed layout ---------------------------------------------------


@pytest.fixture
def busy():
    """Three models on EIGHT, one process owning every core.

    a: 2 cores x 2 copies, demand 300/200 = 1.5 (0.75 per copy), exclusive, 2.5 GiB per copy.
    b: 1 core, demand 1.0, 1 GiB.   c: 3 cores, demand 100/400 = 0.25, 1.5 GiB (0.5 per core).
    a on nc0-1 and nc2-3, b on nc1, c on nc3-5 (crossing from chip 0 into chip 1).
    """
    mix = Mix(
        [
            Model(
                "a", cores=2, replicas=2, rate=300, throughput=200, exclusive=True, memory_gib=2.5
            ),
            Model("b", memory_gib=1.0),
            Model("c", cores=3, rate=100, throughput=400, memory_gib=1.5),
        ],
        EIGHT,
    )
    layout = Layout.single_process(
        EIGHT,
        [Placement("a", ((0, 1), (2, 3))), Placement("b", ((1,),)), Placement("c", ((3, 4, 5),))],
    )
    return layout, mix


def test_every_metric_by_hand(busy):
    s = score(*busy)
    # loads: nc0 .75, nc1 .75 + 1, nc2 .75, nc3 .75 + .25, nc4 .25, nc5 .25, nc6 0, nc7 0
    assert s.loads == pytest.approx((0.75, 1.75, 0.75, 1.0, 0.25, 0.25, 0.0, 0.0))
    assert s.copies_per_core == (1, 2, 1, 2, 1, 1, 0, 0)
    assert s.peak_load == pytest.approx(1.75)
    assert s.headroom == pytest.approx(1 / 1.75)
    assert s.overlap == 2  # one extra copy on nc1 and on nc3
    assert s.max_copies_per_core == 2
    assert s.idle_cores == 2
    assert s.largest_free_block == 2  # nc6-nc7
    assert s.exclusive_violations == 2  # a's cores nc1 and nc3 carry b and c
    assert s.chip_crossings == 1  # c spans chips 0 and 1
    # chip 0: a 2.5 + 2.5, b 1, c 0.5 (its nc3 third) = 6.5 > 4; chip 1: c 1.0
    assert s.memory_overflow_gib == pytest.approx(2.5)
    assert s.handles == 3
    assert s.outside_process == 0 and s.shared_process_cores == 0
    assert s.feasible is False


def test_the_same_models_placed_well_are_feasible(busy):
    _, mix = busy
    layout = Layout.single_process(
        EIGHT,
        [Placement("a", ((0, 1), (2, 3))), Placement("b", ((4,),)), Placement("c", ((5, 6, 7),))],
    )
    s = score(layout, mix)
    assert s.loads == pytest.approx((0.75,) * 4 + (1.0, 0.25, 0.25, 0.25))
    assert (s.peak_load, s.overlap, s.max_copies_per_core, s.idle_cores) == (1.0, 0, 1, 0)
    assert (s.exclusive_violations, s.chip_crossings, s.largest_free_block) == (0, 0, 0)
    # chip 0: 5 GiB of a > 4 (chip 1: b 1 + c 1.5): memory alone still breaks a rule
    assert s.memory_overflow_gib == pytest.approx(1.0)
    assert not s.feasible
    roomy = Mix(mix.models, Instance(8, 4, chip_memory_gib=8.0))
    assert score(Layout.single_process(roomy.instance, layout.placements), roomy).feasible


def test_each_copy_carries_demand_over_its_copy_count_on_every_core():
    mix = Mix([Model("m", cores=2, rate=90, throughput=100)], EIGHT)  # demand 0.9
    one = Layout.single_process(EIGHT, [Placement("m", ((0, 1),))])
    three = Layout.single_process(
        EIGHT, [Placement("m", ((0, 1), (2, 3))), Placement("m", ((4, 5),))]
    )
    assert score(one, mix).loads[:2] == pytest.approx((0.9, 0.9))
    assert score(three, mix).loads[:6] == pytest.approx((0.3,) * 6)
    assert score(three, mix).handles == 2


def test_memory_within_tolerance_is_not_overflow():
    inst = Instance(4, 4, chip_memory_gib=0.3)
    mix = Mix([Model(f"m{i}", memory_gib=0.1) for i in range(3)], inst)
    layout = Layout.single_process(inst, [Placement(f"m{i}", ((i,),)) for i in range(3)])
    s = score(layout, mix)
    assert s.memory_overflow_gib == 0.0 and s.feasible


def test_copies_of_the_same_exclusive_model_may_not_share_either():
    mix = Mix([Model("e", replicas=2, exclusive=True)], EIGHT)
    layout = Layout.single_process(EIGHT, [Placement("e", ((0,), (0,)))])
    s = score(layout, mix)
    assert (s.exclusive_violations, s.overlap, s.peak_load, s.feasible) == (1, 1, 1.0, False)


def test_process_rules():
    mix = unit_mix(("a", 1), ("b", 2))
    procs = (ProcessSpan((0, 1, 2, 3)), ProcessSpan((3, 4)))
    # b's copy on nc4-5 leaves its process (nc3-4); nc3 is owned twice.
    layout = Layout(EIGHT, procs, (Placement("a", ((0,),), 0), Placement("b", ((4, 5),), 1)))
    s = score(layout, mix)
    assert (s.outside_process, s.shared_process_cores, s.feasible) == (1, 1, False)
    inside = Layout(
        EIGHT,
        (ProcessSpan((0, 1)), ProcessSpan((4, 5))),
        (Placement("a", ((0,),), 0), Placement("b", ((4, 5),), 1)),
    )
    s = score(inside, mix)
    assert (s.outside_process, s.shared_process_cores, s.feasible) == (0, 0, True)
    assert (s.idle_cores, s.largest_free_block) == (5, 3)  # nc1, nc2, nc3 and nc6, nc7


@pytest.mark.parametrize(
    ("placement", "span", "message"),
    [
        (Placement("a", ((),)), (0,), r"^placement of 'a': copy 0: uses no core$"),
        (Placement("a", ()), (0,), r"^placement of 'a' has no copies$"),
        (
            Placement("a", ((9,),)),
            (0,),
            r"^placement of 'a': copy 0: core 9 does not exist; custom has cores 0-7$",
        ),
        (Placement("a", ((-1,),)), (0,), r"copy 0: core -1 does not exist"),
        (Placement("a", (("1",),)), (0,), r"copy 0: core '1' does not exist"),
        (Placement("a", ((2, 2),)), (0,), r"copy 0: uses a core twice: \[2, 2\]"),
        (Placement("a", ((0,),)), (0, 8), r"^process 0: cores: core 8 does not exist"),
        (Placement(None, ((0,),)), (0,), r"^placement model: expected a name, got None$"),  # type: ignore[arg-type]
    ],
)
def test_a_layout_holds_only_cores_of_its_instance(placement, span, message):
    with pytest.raises(PlacementError, match=message):
        Layout(EIGHT, (ProcessSpan(span),), (placement,))


def test_a_copy_on_a_core_its_process_does_not_own_is_outside_it():
    mix = unit_mix(("a", 1))
    s = score(Layout(EIGHT, (ProcessSpan((0,)),), (Placement("a", ((1,),)),)), mix)
    assert (s.outside_process, s.feasible, s.peak_load, s.idle_cores) == (1, False, 1.0, 7)


def test_to_dict_is_plain():
    mix = unit_mix(("a", 1))
    s = score(Layout.single_process(EIGHT, [Placement("a", ((2,),))]), mix)
    d = s.to_dict()
    assert d["loads"] == [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert d["copies_per_core"] == [0, 0, 1, 0, 0, 0, 0, 0]
    assert d["headroom"] == 1.0 and d["feasible"] is True


def test_score_is_pure():
    mix = unit_mix(("a", 1), ("b", 2))
    layout = Layout.single_process(EIGHT, [Placement("a", ((0,),)), Placement("b", ((0, 1),))])
    first = score(layout, mix)
    assert score(layout, mix) == first
    assert layout == Layout.single_process(
        EIGHT, [Placement("a", ((0,),)), Placement("b", ((0, 1),))]
    )


# --- layouts that do not match the mix ---------------------------------------------------------


def test_models_missing_from_the_layout_are_named():
    mix = unit_mix(("a", 1), ("b", 1), ("c", 1))
    layout = Layout.single_process(EIGHT, [Placement("b", ((0,),))])
    with pytest.raises(Error, match=r"^models of the mix missing from the layout: 'a', 'c'$"):
        score(layout, mix)


def test_loads_not_in_the_mix_are_named():
    mix = unit_mix(("a", 1))
    layout = Layout.single_process(
        EIGHT, [Placement("a", ((0,),)), Placement("zz", ((1,),)), Placement("b", ((2,),))]
    )
    with pytest.raises(Error, match=r"^loads not in the mix: 'zz', 'b'$"):
        score(layout, mix)
    layout = Layout.single_process(EIGHT, [Placement("zz", ((1,),))])
    with pytest.raises(Error, match=r"missing from the layout: 'a'; loads not in the mix: 'zz'$"):
        score(layout, mix)


def test_a_layout_for_another_machine_is_an_error():
    mix = unit_mix(("a", 1))
    other = Instance(4, 4)
    with pytest.raises(Error, match=r"the layout is for custom \(4 cores, 4 per chip.*8 cores"):
        score(Layout.single_process(other, [Placement("a", ((0,),))]), mix)


# --- the guide's layouts, in numbers ------------------------------------------------------------


def test_guide_overlapping_models():
    """VISIBLE_CORES 0-1: m0 on nc0, m1 on nc0-nc1, m2 on nc1 (the guide's drawing).

    Two cores for four core-uses: every core carries two models (overlap 2, peak 2), though six
    cores sit idle. Default placement did spread evenly: stacking m2 on nc0 as well would make
    the peak 3. Given four cores the same loads share nothing (overlap 0, peak 1).
    """
    mix = unit_mix(("m0", 1), ("m1", 2), ("m2", 1))
    rt = Runtime(EIGHT)
    p = rt.start_process({"NEURON_RT_VISIBLE_CORES": "0-1"})
    for name in ("m0", "m1", "m2"):
        p.load(name, cores=mix[name].cores)
    layout = rt.layout()
    assert [pl.replicas for pl in layout.placements] == [((0,),), ((0, 1),), ((1,),)]
    s = score(layout, mix)
    assert s.loads == (2.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert (s.peak_load, s.headroom, s.overlap, s.max_copies_per_core) == (2.0, 0.5, 2, 2)
    assert (s.idle_cores, s.largest_free_block, s.feasible) == (6, 6, True)

    stacked = Layout(
        EIGHT,
        layout.processes,
        (Placement("m0", ((0,),)), Placement("m1", ((0, 1),)), Placement("m2", ((0,),))),
    )
    st = score(stacked, mix)
    assert (st.peak_load, st.overlap, st.max_copies_per_core) == (3.0, 2, 3)

    rt = Runtime(EIGHT)
    p = rt.start_process({"NEURON_RT_VISIBLE_CORES": "0-3"})
    for name in ("m0", "m1", "m2"):
        p.load(name, cores=mix[name].cores)
    roomy = score(rt.layout(), mix)
    assert (roomy.peak_load, roomy.overlap, roomy.max_copies_per_core) == (1.0, 0, 1)


def _group_layout(loads: list[tuple[str, int]]) -> Layout:
    rt = Runtime(EIGHT)
    p = rt.start_process({"NEURONCORE_GROUP_SIZES": "2,2"})
    for name, k in loads:
        p.load(name, cores=k)
    return rt.layout()


def test_guide_overlapping_models_with_differing_model_sizes():
    """Groups 2,2: m0 nc0-1, m1 nc2-3, then m2 nc0, m3 nc2, m4 nc0 (groups strictly in turn).

    nc0 carries three models and nc1 only one: peak 3. The guide's better layout, m4 on nc1,
    has the same overlap (3: five loads of six core-uses on four cores must share three times)
    but peak 2 and at most two models per core; default placement in a 4-core process finds
    that layout by itself.
    """
    specs = [("m0", 2), ("m1", 2), ("m2", 1), ("m3", 1), ("m4", 1)]
    mix = unit_mix(*specs)
    layout = _group_layout(specs)
    assert [pl.replicas for pl in layout.placements] == [
        ((0, 1),),
        ((2, 3),),
        ((0,),),
        ((2,),),
        ((0,),),
    ]
    s = score(layout, mix)
    assert s.loads[:4] == (3.0, 1.0, 2.0, 1.0)
    assert (s.peak_load, s.overlap, s.max_copies_per_core, s.idle_cores) == (3.0, 3, 3, 4)

    better = Layout(
        EIGHT,
        layout.processes,
        tuple(Placement("m4", ((1,),)) if pl.model == "m4" else pl for pl in layout.placements),
    )
    b = score(better, mix)
    assert b.loads[:4] == (2.0, 2.0, 2.0, 1.0)
    assert (b.peak_load, b.overlap, b.max_copies_per_core) == (2.0, 3, 2)
    assert b.headroom / s.headroom == pytest.approx(1.5)

    rt = Runtime(EIGHT)
    p = rt.start_process({"NEURON_RT_NUM_CORES": "4"})
    for name, k in specs:
        p.load(name, cores=k)
    d = score(rt.layout(), mix)
    assert d.loads[:4] == (2.0, 2.0, 2.0, 1.0)
    assert (d.peak_load, d.overlap, d.max_copies_per_core) == (2.0, 3, 2)


def test_guide_incompatible_model_sizes():
    """Groups 2,2: m0 nc0-1, m1 nc2-3, then the 3-core m2 spills from group 0 over nc0-nc2.

    The pipelined m2 gets no core to itself: three of its cores are shared (peak 2, overlap 3),
    and if m2 is exclusive, as pipelines want, the layout breaks that rule on all three. The
    groups confine the process to 4 cores; explicit placement on the guide's 8 cores puts m2 on
    nc4-nc6: nothing shared, peak 1.
    """
    specs = [("m0", 2), ("m1", 2), ("m2", 3)]
    layout = _group_layout(specs)
    assert [pl.replicas for pl in layout.placements] == [((0, 1),), ((2, 3),), ((0, 1, 2),)]
    mix = unit_mix(*specs)
    s = score(layout, mix)
    assert s.loads[:4] == (2.0, 2.0, 2.0, 1.0)
    assert (s.peak_load, s.overlap, s.max_copies_per_core, s.chip_crossings) == (2.0, 3, 2, 0)
    assert s.feasible

    pipelined = unit_mix(*specs, exclusive="m2")
    sp = score(layout, pipelined)
    assert (sp.exclusive_violations, sp.feasible) == (3, False)

    rt = Runtime(EIGHT)
    p = rt.start_process({"NEURON_RT_NUM_CORES": "8"})
    for (name, k), start in zip(specs, (0, 2, 4), strict=True):
        with p.neuron_cores_context(start_nc=start):
            p.load(name, cores=k)
    e = score(rt.layout(), pipelined)
    assert e.loads == (1.0,) * 7 + (0.0,)
    assert (e.peak_load, e.overlap, e.exclusive_violations, e.chip_crossings) == (1.0, 0, 0, 0)
    assert e.feasible


def test_guide_multiple_model_copies_cost_handles():
    """Groups 2,2,2,2 and four loads of one 2-core model: four handles to route across, where one
    neuron_cores_context(0, 8) load gives the same cores with one handle."""
    mix = Mix([Model("m", cores=2, replicas=4)], EIGHT)
    rt = Runtime(EIGHT)
    p = rt.start_process({"NEURONCORE_GROUP_SIZES": "2,2,2,2"})
    for _ in range(4):
        p.load("m", cores=2)
    grouped = score(rt.layout(), mix)
    rt = Runtime(EIGHT)
    p = rt.start_process({"NEURON_RT_NUM_CORES": "8"})
    with p.neuron_cores_context(start_nc=0, nc_count=8):
        p.load("m", cores=2)
    single = score(rt.layout(), mix)
    assert (grouped.handles, single.handles) == (4, 1)
    assert grouped.loads == single.loads == (0.25,) * 8
