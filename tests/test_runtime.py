"""The runtime emulator: each documented rule, its errors, and properties over random scripts."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ncplace
from ncplace import (
    ConfigError,
    CoresUnavailable,
    Error,
    Instance,
    Layout,
    PlacementError,
    Process,
    Runtime,
    instance,
)

EIGHT = Instance(cores=8, cores_per_chip=4)


def rt8(framework: str | None = None) -> Runtime:
    return Runtime(EIGHT, framework)


# Rule 1: acquiring cores ----------------------------------------------------------------------


def test_default_process_takes_every_core() -> None:
    p = rt8().start_process()
    assert p.cores == tuple(range(8))
    assert p.groups == ()
    assert Runtime(instance("inf1.6xlarge")).start_process().cores == tuple(range(16))


def test_visible_cores_win_over_num_cores() -> None:
    p = rt8().start_process({"NEURON_RT_VISIBLE_CORES": "4-5", "NEURON_RT_NUM_CORES": "3"})
    assert p.cores == (4, 5)


@pytest.mark.parametrize("text", ["3,4,5,6", "3-5,6", "3-6", "3,4-6"])
def test_visible_cores_forms_give_the_same_cores(text: str) -> None:
    assert rt8().start_process({"NEURON_RT_VISIBLE_CORES": text}).cores == (3, 4, 5, 6)


def test_num_cores_takes_the_first_free_run_lowest_first() -> None:
    rt = rt8()
    assert rt.start_process({"NEURON_RT_NUM_CORES": "2"}).cores == (0, 1)
    assert rt.start_process({"NEURON_RT_VISIBLE_CORES": "4-5"}).cores == (4, 5)
    assert rt.start_process({"NEURON_RT_NUM_CORES": "2"}).cores == (2, 3)
    assert rt.start_process({"NEURON_RT_NUM_CORES": "1"}).cores == (6,)
    assert rt.start_process({"NEURON_RT_NUM_CORES": "1"}).cores == (7,)
    assert rt.free_cores() == ()


def test_num_cores_skips_runs_that_are_too_short() -> None:
    rt = rt8()
    rt.start_process({"NEURON_RT_VISIBLE_CORES": "2"})
    assert rt.start_process({"NEURON_RT_NUM_CORES": "3"}).cores == (3, 4, 5)
    assert rt.start_process({"NEURON_RT_NUM_CORES": "2"}).cores == (0, 1)


def test_num_cores_zero_means_all() -> None:
    assert rt8().start_process({"NEURON_RT_NUM_CORES": "0"}).cores == tuple(range(8))


def test_fragmentation_refuses_a_run_although_enough_cores_are_free() -> None:
    rt = rt8()
    rt.start_process({"NEURON_RT_VISIBLE_CORES": "2-3"})
    rt.start_process({"NEURON_RT_VISIBLE_CORES": "6-7"})
    with pytest.raises(
        CoresUnavailable,
        match=r"^NeuronCore\(s\) not available - Requested:3 contiguous core\(s\) "
        r"Available:4 \(nc0-nc1,nc4-nc5\) \(largest free run 2\)$",
    ):
        rt.start_process({"NEURON_RT_NUM_CORES": "3"})


def test_visible_cores_already_owned() -> None:
    rt = rt8()
    rt.start_process({"NEURON_RT_VISIBLE_CORES": "0-1"})
    with pytest.raises(
        CoresUnavailable,
        match=r"^NeuronCore\(s\) not available - Requested:nc1-nc1 Available:6 \(nc2-nc7\) "
        r"\(nc1 is owned by another process; largest free run 6\)$",
    ):
        rt.start_process({"NEURON_RT_VISIBLE_CORES": "1"})


def test_second_default_process_finds_nothing_free() -> None:
    rt = rt8()
    rt.start_process()
    with pytest.raises(
        CoresUnavailable,
        match=r"^NeuronCore\(s\) not available - Requested:8 contiguous core\(s\) "
        r"Available:0 \(largest free run 0\)$",
    ):
        rt.start_process()


def test_default_process_needs_the_whole_machine_free() -> None:
    rt = rt8()
    rt.start_process({"NEURON_RT_VISIBLE_CORES": "7"})
    with pytest.raises(CoresUnavailable, match=r"Requested:8 contiguous core\(s\) Available:7"):
        rt.start_process()


def test_group_sizes_alone_take_their_sum_first_fit() -> None:
    rt = rt8()
    rt.start_process({"NEURON_RT_NUM_CORES": "1"})
    p = rt.start_process({"NEURONCORE_GROUP_SIZES": "2,1"})
    assert p.cores == (1, 2, 3)
    assert p.groups == ((1, 2), (3,))


def test_group_sizes_above_the_instance() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^NEURONCORE_GROUP_SIZES='4,5': the groups need 9 cores but the instance has 8$",
    ):
        rt8().start_process({"NEURONCORE_GROUP_SIZES": "4,5"})


def test_group_sizes_above_the_process() -> None:
    rt = rt8()
    with pytest.raises(
        ConfigError,
        match=r"^NEURONCORE_GROUP_SIZES='3,2': the groups need 5 cores but the process owns 4 "
        r"\(nc0-nc3\)$",
    ):
        rt.start_process({"NEURON_RT_NUM_CORES": "4", "NEURONCORE_GROUP_SIZES": "3,2"})
    assert rt.free_cores() == tuple(range(8))  # a failed start takes nothing
    with pytest.raises(ConfigError, match=r"the groups need 3 cores but the process owns 2"):
        rt.start_process({"NEURON_RT_VISIBLE_CORES": "6-7", "NEURONCORE_GROUP_SIZES": "3"})


def test_group_sizes_may_leave_process_cores_outside_any_group() -> None:
    p = rt8().start_process({"NEURON_RT_NUM_CORES": "6", "NEURONCORE_GROUP_SIZES": "2,2"})
    assert p.cores == tuple(range(6))
    assert p.groups == ((0, 1), (2, 3))


def test_groups_follow_visible_cores() -> None:
    p = rt8().start_process({"NEURON_RT_VISIBLE_CORES": "3-7", "NEURONCORE_GROUP_SIZES": "1,4"})
    assert p.groups == ((3,), (4, 5, 6, 7))


@pytest.mark.parametrize(
    ("env", "error", "message"),
    [
        (
            {"NEURON_RT_VISIBLE_CORES": "3,5,6"},
            ConfigError,
            r"^NEURON_RT_VISIBLE_CORES='3,5,6': Neuron cores are not contiguous",
        ),
        (
            {"NEURON_RT_VISIBLE_CORES": "7-8"},
            ConfigError,
            r"^NEURON_RT_VISIBLE_CORES='7-8': core 8 does not exist; this instance has cores 0-7$",
        ),
        (
            {"NEURON_RT_NUM_CORES": "9"},
            ConfigError,
            r"^NEURON_RT_NUM_CORES='9': asks for 9 cores but the instance has 8",
        ),
        (
            {"NEURONCORE_GROUP_SIZES": "2;2"},
            ConfigError,
            r"^NEURONCORE_GROUP_SIZES='2;2': '2;2' is not a group size",
        ),
        (
            {"NEURON_RT_NUM_CORES": 2},
            ConfigError,
            r"^environment variable NEURON_RT_NUM_CORES=2: values must be strings$",
        ),
        (
            {"1BAD": "x"},
            ConfigError,
            r"^environment variable name '1BAD' is not a valid name$",
        ),
        (
            {"A=B": "x"},
            ConfigError,
            r"^environment variable name 'A=B' is not a valid name$",
        ),
    ],
)
def test_bad_environment(env: dict, error: type[Error], message: str) -> None:
    rt = rt8()
    with pytest.raises(error, match=message):
        rt.start_process(env)
    assert rt.processes == () and rt.free_cores() == tuple(range(8))


def test_environment_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match=r"^environment: expected a mapping of names to strings"):
        rt8().start_process(["NEURON_RT_NUM_CORES=2"])  # type: ignore[arg-type]


def test_other_environment_variables_are_kept_and_ignored() -> None:
    env = {"NEURON_RT_NUM_CORES": "2", "OMP_NUM_THREADS": "1"}
    rt = rt8()
    p = rt.start_process(env)
    assert p.cores == (0, 1)
    assert p.env == env
    env["NEURON_RT_NUM_CORES"] = "5"  # the process keeps its own copy
    assert rt.layout().processes[0].env == {"NEURON_RT_NUM_CORES": "2", "OMP_NUM_THREADS": "1"}


def test_stop_frees_cores_and_leaves_the_layout() -> None:
    rt = rt8()
    p0 = rt.start_process({"NEURON_RT_NUM_CORES": "2"})
    p1 = rt.start_process({"NEURON_RT_NUM_CORES": "2"})
    p0.load("a")
    p1.load("b")
    p0.stop()
    p0.stop()  # stopping twice is harmless
    assert rt.processes == (p1,)
    assert rt.free_cores() == (0, 1, 4, 5, 6, 7)
    layout = rt.layout()
    assert [s.cores for s in layout.processes] == [(2, 3)]
    assert [(m.model, m.process, m.replicas) for m in layout.placements] == [("b", 0, ((2,),))]
    assert rt.start_process({"NEURON_RT_NUM_CORES": "2"}).cores == (0, 1)


def test_a_stopped_process_refuses_work() -> None:
    p = rt8().start_process()
    p.stop()
    for action in (
        lambda: p.load("m"),
        lambda: p.neuron_cores_context(0).__enter__(),
        lambda: p.multicore_context().__enter__(),
    ):
        with pytest.raises(PlacementError, match=r"^the process has stopped; start a new one$"):
            action()


def test_runtime_arguments() -> None:
    with pytest.raises(ConfigError, match=r"^framework 'jax' is not one of torch-neuron, torch-"):
        Runtime(EIGHT, "jax")
    with pytest.raises(ConfigError, match=r"^Runtime instance: expected an Instance"):
        Runtime("inf1.xlarge")  # type: ignore[arg-type]
    assert Runtime(instance("inf2.xlarge")).framework == "torch-neuronx"
    assert Runtime(instance("inf2.xlarge"), "torch-neuron").framework == "torch-neuron"
    assert Runtime(EIGHT).framework == "torch-neuron"


# Rule 2: groups --------------------------------------------------------------------------------


def test_loads_go_to_groups_in_turn() -> None:
    p = rt8().start_process({"NEURONCORE_GROUP_SIZES": "1,3,2"})
    got = [p.load(f"m{i}").replicas for i in range(7)]
    assert got == [((0,),), ((1,),), ((4,),), ((0,),), ((1,),), ((4,),), ((0,),)]


def test_a_load_larger_than_its_group_spills_into_the_next() -> None:
    p = rt8().start_process({"NEURONCORE_GROUP_SIZES": "2,2,2"})
    assert p.load("a", cores=3).replicas == ((0, 1, 2),)
    assert p.load("b", cores=4).replicas == ((2, 3, 4, 5),)


def test_a_load_past_the_process_last_core() -> None:
    p = rt8().start_process({"NEURONCORE_GROUP_SIZES": "2,2"})
    p.load("m0", cores=2)
    with pytest.raises(
        PlacementError,
        match=r"^load 'm1': load 1 goes to group 1 at nc2 and needs 3 cores, past the "
        r"process's last core nc3$",
    ):
        p.load("m1", cores=3)
    assert p.load("m2", cores=1).replicas == ((2,),)  # the failed load did not take a turn
    assert [m.name for m in p.loaded] == ["m0", "m2"]


def test_a_group_load_may_spill_into_ungrouped_process_cores() -> None:
    p = rt8().start_process({"NEURON_RT_NUM_CORES": "6", "NEURONCORE_GROUP_SIZES": "2,2"})
    p.load("a", cores=2)
    assert p.load("b", cores=4).replicas == ((2, 3, 4, 5),)


def test_groups_of_a_later_process_are_relative_to_its_cores() -> None:
    rt = rt8()
    rt.start_process({"NEURON_RT_NUM_CORES": "2"})
    p = rt.start_process({"NEURONCORE_GROUP_SIZES": "1,1"})
    assert [p.load(f"m{i}").replicas for i in range(3)] == [((2,),), ((3,),), ((2,),)]


def test_context_loads_ignore_groups_and_do_not_take_a_turn() -> None:
    p = rt8().start_process({"NEURONCORE_GROUP_SIZES": "2,2"})
    with p.neuron_cores_context(start_nc=3):
        assert p.load("x").replicas == ((3,),)
    with p.multicore_context():
        assert p.load("y", cores=2).replicas == ((0, 1), (2, 3))
    assert p.load("a").replicas == ((0,),)
    assert p.load("b").replicas == ((2,),)


# Rule 3: default placement, least used ----------------------------------------------------------


def _pinned(p: Process, counts: list[int]) -> None:
    """Put ``counts[i]`` 1-core copies on relative core i with explicit placement."""
    for core, count in enumerate(counts):
        for _ in range(count):
            with p.neuron_cores_context(core):
                p.load(f"pin{core}")


def test_default_placement_spreads_one_core_models() -> None:
    p = rt8().start_process()
    got = [p.load(f"m{i}").replicas[0] for i in range(10)]
    assert got == [(0,), (1,), (2,), (3,), (4,), (5,), (6,), (7,), (0,), (1,)]
    assert p.copy_counts() == (2, 2, 1, 1, 1, 1, 1, 1)


def test_least_used_first_criterion_is_the_busiest_core_of_the_window() -> None:
    p = rt8().start_process({"NEURON_RT_VISIBLE_CORES": "0-5"})
    _pinned(p, [1, 1, 1, 2, 0, 0])
    # windows of 3: [1,1,1] max 1; [1,1,2] max 2; [1,2,0] max 2; [2,0,0] max 2 but fewest copies
    assert p.load("m", cores=3).replicas == ((0, 1, 2),)


def test_least_used_second_criterion_is_the_total_copy_count() -> None:
    p = rt8().start_process({"NEURON_RT_VISIBLE_CORES": "0-3"})
    _pinned(p, [1, 1, 1, 0])
    # windows of 2 all have max 1; totals 2, 2, 1
    assert p.load("m", cores=2).replicas == ((2, 3),)


def test_least_used_third_criterion_is_the_lowest_start() -> None:
    p = rt8().start_process({"NEURON_RT_VISIBLE_CORES": "0-3"})
    _pinned(p, [1, 0, 0, 1])
    assert p.load("m", cores=1).replicas == ((1,),)
    p2 = rt8().start_process({"NEURON_RT_VISIBLE_CORES": "4-7"})
    _pinned(p2, [0, 1, 0, 0])
    assert p2.load("m", cores=2).replicas == ((6, 7),)
    assert p2.load("n", cores=1).replicas == ((4,),)


def test_a_load_wider_than_the_process() -> None:
    p = rt8().start_process({"NEURON_RT_NUM_CORES": "2"})
    with pytest.raises(
        PlacementError,
        match=r"^load 'big': a copy needs 3 cores but the process owns 2 \(nc0-nc1\)$",
    ):
        p.load("big", cores=3)


@pytest.mark.parametrize("cores", [0, -1, True, 1.0, "2"])
def test_load_cores_must_be_a_positive_integer(cores: object) -> None:
    with pytest.raises(
        PlacementError, match=rf"^load 'm': cores={cores!r}; expected an integer >= 1$"
    ):
        rt8().start_process().load("m", cores=cores)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", None, 3])
def test_load_name_must_be_text(name: object) -> None:
    with pytest.raises(
        PlacementError, match=rf"^load: model name must be a non-empty string, got {name!r}$"
    ):
        rt8().start_process().load(name)  # type: ignore[arg-type]


# Rule 4: neuron_cores_context ------------------------------------------------------------------


def test_start_nc_is_relative_to_the_process_cores() -> None:
    p = rt8().start_process({"NEURON_RT_VISIBLE_CORES": "4-7"})
    with p.neuron_cores_context(start_nc=1):
        assert p.load("m", cores=2).replicas == ((5, 6),)


def test_nc_count_replicates_floor_nc_count_over_k() -> None:
    p = rt8().start_process()
    with p.neuron_cores_context(start_nc=1, nc_count=5):
        assert p.load("a", cores=2).replicas == ((1, 2), (3, 4))
        assert p.load("b", cores=1).replicas == ((1,), (2,), (3,), (4,), (5,))
        assert p.load("c", cores=5).replicas == ((1, 2, 3, 4, 5),)


def test_nc_count_minus_one_loads_one_copy() -> None:
    p = rt8().start_process()
    with p.neuron_cores_context(start_nc=4, nc_count=-1):
        assert p.load("a", cores=3).replicas == ((4, 5, 6),)


def test_nc_count_too_small_for_one_copy() -> None:
    p = rt8().start_process()
    with (
        p.neuron_cores_context(start_nc=0, nc_count=1),
        pytest.raises(
            PlacementError,
            match=r"^load 'm': nc_count=1 holds no copy of a 2-core model; expected nc_count >= 2$",
        ),
    ):
        p.load("m", cores=2)


@pytest.mark.parametrize("nc_count", [0, -2, -10, 9])
def test_invalid_nc_count_is_a_value_error(nc_count: int) -> None:
    p = rt8().start_process()
    with (
        pytest.raises(
            ValueError,
            match=rf"^neuron_cores_context nc_count={nc_count}: invalid; "
            r"expected -1 \(the model's own cores\) or 1\.\.8 \(the cores visible",
        ),
        p.neuron_cores_context(0, nc_count),
    ):
        pass
    with pytest.raises(PlacementError), p.neuron_cores_context(0, nc_count):
        pass


def test_nc_count_is_bounded_by_the_process_not_the_instance() -> None:
    p = rt8().start_process({"NEURON_RT_NUM_CORES": "4"})
    with (
        pytest.raises(ValueError, match=r"nc_count=5: invalid; .* or 1\.\.4 \(the cores visible"),
        p.neuron_cores_context(0, 5),
    ):
        pass


@pytest.mark.parametrize("start_nc", [-2, -5])
def test_start_nc_below_minus_one(start_nc: int) -> None:
    p = rt8().start_process()
    with (
        pytest.raises(
            PlacementError,
            match=rf"^neuron_cores_context start_nc={start_nc}: invalid; "
            r"expected -1 \(least used\) or 0\.\.7 \(relative to the process's cores\)$",
        ),
        p.neuron_cores_context(start_nc),
    ):
        pass


@pytest.mark.parametrize(("label", "args"), [("start_nc", ("1", -1)), ("nc_count", (0, 2.0))])
def test_context_arguments_must_be_integers(label: str, args: tuple) -> None:
    p = rt8().start_process()
    with (
        pytest.raises(PlacementError, match=rf"^neuron_cores_context {label}=.*: must be an int"),
        p.neuron_cores_context(*args),
    ):
        pass


def test_a_block_past_the_last_core() -> None:
    p = rt8().start_process({"NEURON_RT_NUM_CORES": "4"})
    with (
        p.neuron_cores_context(start_nc=3),
        pytest.raises(
            PlacementError,
            match=r"^load 'm': 1 copy of 2 core\(s\) from start_nc=3 need relative cores 3-4, "
            r"but the process has 0-3$",
        ),
    ):
        p.load("m", cores=2)
    with (
        p.neuron_cores_context(start_nc=1, nc_count=4),
        pytest.raises(
            PlacementError,
            match=r"^load 'n': 4 copies of 1 core\(s\) from start_nc=1 need relative cores 1-4",
        ),
    ):
        p.load("n")
    with (
        p.neuron_cores_context(start_nc=9),
        pytest.raises(PlacementError, match=r"from start_nc=9 need relative cores 9-9"),
    ):
        p.load("o")
    assert p.loaded == [] and p.copy_counts() == (0, 0, 0, 0)


def test_start_nc_minus_one_places_the_block_by_least_use() -> None:
    p = rt8().start_process()
    with p.neuron_cores_context(0):
        p.load("pin")
    with p.neuron_cores_context(start_nc=-1, nc_count=4):
        assert p.load("m", cores=2).replicas == ((1, 2), (3, 4))
    with p.neuron_cores_context():
        assert p.load("n", cores=3).replicas == ((5, 6, 7),)


def test_contexts_nest_and_restore() -> None:
    p = rt8().start_process()
    with p.neuron_cores_context(start_nc=6):
        with p.multicore_context():
            assert len(p.load("inner").replicas) == 8
        assert p.load("outer").replicas == ((6,),)
    assert p.load("after").replicas == ((0,),)


def test_context_is_left_even_when_the_load_fails() -> None:
    p = rt8().start_process()
    with pytest.raises(PlacementError), p.neuron_cores_context(start_nc=7):
        p.load("m", cores=2)
    assert p.load("n", cores=2).replicas == ((0, 1),)


# Rule 5: multicore_context ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("visible", "k", "replicas"),
    [
        ("0-7", 1, tuple((c,) for c in range(8))),
        ("0-7", 3, ((0, 1, 2), (3, 4, 5))),
        ("2-6", 2, ((2, 3), (4, 5))),
        ("2-6", 5, ((2, 3, 4, 5, 6),)),
    ],
)
def test_multicore_fills_the_process_from_its_first_core(
    visible: str, k: int, replicas: tuple
) -> None:
    p = rt8().start_process({"NEURON_RT_VISIBLE_CORES": visible})
    with p.multicore_context():
        assert p.load("m", cores=k).replicas == replicas


def test_multicore_model_wider_than_the_process() -> None:
    p = rt8().start_process({"NEURON_RT_NUM_CORES": "2"})
    with p.multicore_context(), pytest.raises(PlacementError, match="a copy needs 3 cores"):
        p.load("m", cores=3)


# Rule 6: torch-neuronx -------------------------------------------------------------------------


def test_neuronx_default_placement_is_round_robin() -> None:
    rt = rt8("torch-neuronx")
    p = rt.start_process({"NEURON_RT_VISIBLE_CORES": "2-4"})
    got = [p.load(f"m{i}").replicas for i in range(5)]
    assert got == [((2,),), ((3,),), ((4,),), ((2,),), ((3,),)]


def test_neuronx_round_robin_ignores_copy_counts_and_context_loads() -> None:
    p = rt8("torch-neuronx").start_process({"NEURON_RT_NUM_CORES": "3"})
    with p.neuron_cores_context(0):
        p.load("pinned")  # nc0 now busier, round-robin still starts there
    assert p.load("a").replicas == ((0,),)
    with p.multicore_context():
        assert p.load("b").replicas == ((0,), (1,), (2,))
    assert p.load("c").replicas == ((1,),)


def test_neuronx_contexts_place_as_in_torch_neuron() -> None:
    p = Runtime(instance("inf2.24xlarge")).start_process()
    with p.neuron_cores_context(start_nc=4, nc_count=3):
        assert p.load("m").replicas == ((4,), (5,), (6,))
    with p.multicore_context():
        assert len(p.load("n").replicas) == 12


def test_neuronx_has_no_pipelines() -> None:
    p = rt8("torch-neuronx").start_process()
    with pytest.raises(
        PlacementError,
        match=r"^load 'm': torch-neuronx has no NeuronCore Pipeline; models use 1 core, "
        r"got cores=2$",
    ):
        p.load("m", cores=2)


# Layout from the runtime ------------------------------------------------------------------------


def test_layout_lists_processes_and_loads_in_order() -> None:
    rt = rt8()
    p0 = rt.start_process({"NEURON_RT_NUM_CORES": "4", "NEURONCORE_GROUP_SIZES": "2,2"})
    p1 = rt.start_process({"NEURON_RT_VISIBLE_CORES": "6-7"})
    a = p0.load("a", cores=2)
    b = p1.load("b")
    c = p0.load("c")
    layout = rt.layout()
    assert isinstance(layout, Layout) and layout.instance == EIGHT
    assert [(s.cores, s.groups, dict(s.env)) for s in layout.processes] == [
        (
            (0, 1, 2, 3),
            ((0, 1), (2, 3)),
            {"NEURON_RT_NUM_CORES": "4", "NEURONCORE_GROUP_SIZES": "2,2"},
        ),
        ((6, 7), (), {"NEURON_RT_VISIBLE_CORES": "6-7"}),
    ]
    assert [(m.model, m.process, m.replicas) for m in layout.placements] == [
        ("a", 0, ((0, 1),)),
        ("c", 0, ((2,),)),
        ("b", 1, ((6,),)),
    ]
    assert (a.cores, b.cores, c.cores) == ((0, 1), (6,), (2,))
    assert a.process is p0 and b.process is p1
    p0.load("d")
    assert len(layout.placements) == 3  # a layout is a snapshot
    assert len(rt.layout().placements) == 4


def test_loaded_cores_are_the_union_of_its_copies() -> None:
    p = rt8().start_process()
    with p.neuron_cores_context(start_nc=1, nc_count=6):
        assert p.load("m", cores=3).cores == (1, 2, 3, 4, 5, 6)


def test_runtime_is_exported() -> None:
    assert ncplace.Runtime is Runtime and ncplace.Process is Process


# Properties over random scripts -----------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One load of a random script: process (by start order), cores, context."""

    process: int
    k: int
    context: tuple[int, int] | str | None


@st.composite
def scripts(draw: st.DrawFn) -> tuple[str, Instance, list[dict[str, str]], list[Step]]:
    framework = draw(st.sampled_from(["torch-neuron", "torch-neuronx"]))
    cpc = draw(st.sampled_from([1, 2, 4]))
    chips = draw(st.integers(1, 16 // cpc))
    inst = Instance(cores=cpc * chips, cores_per_chip=cpc)
    n = inst.cores
    envs: list[dict[str, str]] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["none", "num", "visible", "groups", "num+groups"]))
        env: dict[str, str] = {}
        if kind in ("num", "num+groups"):
            env["NEURON_RT_NUM_CORES"] = str(draw(st.integers(0, n)))
        if kind == "visible":
            first = draw(st.integers(0, n - 1))
            env["NEURON_RT_VISIBLE_CORES"] = f"{first}-{draw(st.integers(first, n - 1))}"
        if kind in ("groups", "num+groups"):
            sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
            env["NEURONCORE_GROUP_SIZES"] = ",".join(map(str, sizes))
        envs.append(env)
    steps = []
    for _ in range(draw(st.integers(0, 12))):
        k = 1 if framework == "torch-neuronx" else draw(st.integers(1, 4))
        context = draw(
            st.one_of(
                st.none(),
                st.just("multicore"),
                st.tuples(st.integers(-2, n), st.integers(-2, n + 1)),
            )
        )
        steps.append(Step(draw(st.integers(0, len(envs) - 1)), k, context))
    return framework, inst, envs, steps


def _run(
    framework: str, inst: Instance, envs: list[dict[str, str]], steps: list[Step]
) -> tuple[Runtime, list[tuple[Process, Step, tuple[tuple[int, ...], ...]]]]:
    rt = Runtime(inst, framework)
    processes = []
    for env in envs:
        with contextlib.suppress(ConfigError, CoresUnavailable):
            processes.append(rt.start_process(env))
    done = []
    for step in steps:
        if not processes:
            break
        p = processes[step.process % len(processes)]
        before = p.copy_counts()
        try:
            if step.context == "multicore":
                with p.multicore_context():
                    loaded = p.load("m", cores=step.k)
            elif isinstance(step.context, tuple):
                with p.neuron_cores_context(*step.context):
                    loaded = p.load("m", cores=step.k)
            else:
                loaded = p.load("m", cores=step.k)
        except PlacementError:
            assert p.copy_counts() == before  # a failed load changes nothing
            continue
        done.append((p, step, loaded.replicas))
    return rt, done


@settings(max_examples=100, deadline=None)
@given(scripts())
def test_every_copy_stays_inside_its_process(script: tuple) -> None:
    rt, done = _run(*script)
    layout = rt.layout()
    for placement in layout.placements:
        owned = set(layout.processes[placement.process].cores)
        for replica in placement.replicas:
            assert set(replica) <= owned
    for _, step, replicas in done:
        for replica in replicas:
            assert len(replica) == step.k
            assert replica == tuple(range(replica[0], replica[0] + step.k))


@settings(max_examples=100, deadline=None)
@given(scripts())
def test_processes_never_share_a_core(script: tuple) -> None:
    rt, _ = _run(*script)
    seen: set[int] = set()
    for p in rt.processes:
        assert p.cores == tuple(range(p.cores[0], p.cores[-1] + 1))  # contiguous
        assert not seen & set(p.cores)
        seen |= set(p.cores)
        for group in p.groups:
            assert set(group) <= set(p.cores)
    assert set(rt.free_cores()) == set(range(rt.instance.cores)) - seen


@settings(max_examples=100, deadline=None)
@given(scripts())
def test_copy_counts_follow_the_floor_rule(script: tuple) -> None:
    _, done = _run(*script)
    for p, step, replicas in done:
        n = len(p.cores)
        if step.context == "multicore":
            assert len(replicas) == n // step.k
            assert replicas[0][0] == p.cores[0]
        elif isinstance(step.context, tuple):
            start_nc, nc_count = step.context
            assert len(replicas) == (1 if nc_count == -1 else nc_count // step.k)
            if start_nc >= 0:
                assert replicas[0][0] == p.cores[start_nc]
            flat = [c for r in replicas for c in r]
            assert flat == list(range(flat[0], flat[0] + len(flat)))  # consecutive blocks
        else:
            assert len(replicas) == 1


@settings(max_examples=100, deadline=None)
@given(scripts())
def test_process_copy_counts_match_the_layout(script: tuple) -> None:
    rt, _ = _run(*script)
    counts = rt.layout().copies_per_core()
    for p in rt.processes:
        assert p.copy_counts() == tuple(counts[c] for c in p.cores)


def _least_used_oracle(counts: list[int], k: int) -> int:
    windows = [counts[s : s + k] for s in range(len(counts) - k + 1)]
    best = min((max(w), sum(w)) for w in windows)
    return next(s for s, w in enumerate(windows) if (max(w), sum(w)) == best)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 3), min_size=1, max_size=10),
    st.lists(st.integers(1, 4), min_size=1, max_size=8),
)
def test_default_placement_matches_a_brute_force_oracle(pins: list[int], ks: list[int]) -> None:
    n = len(pins)
    p = Runtime(Instance(cores=n, cores_per_chip=1)).start_process()
    _pinned(p, pins)
    counts = list(pins)
    for k in ks:
        if k > n:
            continue
        start = _least_used_oracle(counts, k)
        assert p.load("m", cores=k).replicas == (tuple(range(start, start + k)),)
        for c in range(start, start + k):
            counts[c] += 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=4), st.lists(st.integers(1, 3), max_size=8))
def test_group_loads_start_at_group_i_mod_g(sizes: list[int], ks: list[int]) -> None:
    rt = Runtime(Instance(cores=16, cores_per_chip=4))
    p = rt.start_process({"NEURONCORE_GROUP_SIZES": ",".join(map(str, sizes))})
    turn = 0
    for k in ks:
        group = p.groups[turn % len(p.groups)]
        if group[0] + k - 1 > p.cores[-1]:
            with pytest.raises(PlacementError, match=r"past the process's last core|process owns"):
                p.load("m", cores=k)
            continue
        assert p.load("m", cores=k).replicas == (tuple(range(group[0], group[0] + k)),)
        turn += 1


def test_neuronx_groups_come_before_round_robin() -> None:
    p = rt8("torch-neuronx").start_process({"NEURONCORE_GROUP_SIZES": "1,2"})
    assert [p.load(f"m{i}").replicas for i in range(3)] == [((0,),), ((1,),), ((0,),)]


def test_unload_frees_copy_counts_for_later_default_loads():
    rt = Runtime(Instance(cores=4, cores_per_chip=4))
    p = rt.start_process()
    a = p.load("a", cores=2)
    p.load("b", cores=2)
    assert p.copy_counts() == (1, 1, 1, 1)
    p.unload(a)
    assert p.copy_counts() == (0, 0, 1, 1)
    assert [m.name for m in p.loaded] == ["b"]
    assert p.load("c", cores=1).replicas == ((0,),)
    with pytest.raises(PlacementError, match="model 'a' is not loaded in this process"):
        p.unload(a)
