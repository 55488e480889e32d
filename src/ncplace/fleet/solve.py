"""``plan_fleet``: the cheapest instances for a catalogue, then each instance's placement.

1. Copies and loads at the target (:mod:`.copies`); which types each model fits.
2. Baselines (:mod:`.packing`): one instance per model, first fit decreasing.
3. The assignment (:mod:`.assign`): the cheapest of the baselines and first fit in two more
   orders (widest copies first, most memory first), each instance downsized to the cheapest
   type that holds it, then the exact CP-SAT model over all copies when it is small
   enough, else its large neighbourhood search a few instances at a time.
4. The lower bound (:mod:`.bound`), the larger of it and the exact model's.
5. Each instance's mix optimised with :func:`ncplace.optimize` on the executor
   (:mod:`.instance_plan`, :mod:`.execute`). Every instance's assignment is a layout meeting
   the target, so no instance needs to be re-assigned: the optimizer only improves on it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import check_type
from ..hardware import Instance
from ..layout import layout_from_dict, layout_to_dict
from ..optimize.limits import check_seed, check_time_limit
from ..score import score
from .assign import MAX_LITERALS, improve, literal_count, solve_exact
from .bound import lower_bound
from .catalogue import MICRO, Catalogue, PriceList, parse_types
from .copies import (
    CopyItem,
    TypeSpec,
    check_target_scale,
    copy_count,
    copy_items,
    fit_table,
    type_specs,
)
from .execute import check_executor, connect, run_map
from .instance_plan import InstanceTask, fill_layout, instance_mix, solve_instance
from .packing import (
    ORDERS,
    Assignment,
    Fill,
    downsize,
    first_fit_decreasing,
    one_per_model,
    tighter,
)
from .plan import FleetPlan, InstancePlan

BASELINE_NAMES = ("one instance per model", "first fit decreasing")

MAX_REPACKS = 4
REPACK_FACTOR = 0.85
"""Instances whose alpha* misses the target are packed again at 0.85, 0.72, 0.61, 0.52 of the
load target, one round after the other."""

ALPHA_TOLERANCE = 1 - 1e-9


def plan_fleet(
    catalogue: Catalogue | str | Path,
    types: str | Sequence[str] | Sequence[Instance],
    *,
    prices: PriceList | str | Path | None = None,
    target_scale: float = 1.0,
    time_limit: float = 10.0,
    instance_time_limit: float = 1.0,
    seed: int = 0,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
) -> FleetPlan:
    """The cheapest fleet of ``types`` found for ``catalogue`` at ``target_scale``, each instance
    placed, with a proven lower bound on the cost (see the module docstring).

    ``time_limit`` is the assignment's (CP-SAT, deterministic), ``instance_time_limit`` each
    instance's :func:`ncplace.optimize`; ``seed`` seeds both, so the plan is the same on every
    executor. ``prices`` defaults to the bundled list (:meth:`PriceList.bundled`).
    """
    start = time.perf_counter()
    catalogue, prices = _read_inputs(catalogue, prices)
    scale = check_target_scale(target_scale)
    _check_limits(time_limit, instance_time_limit, seed)
    check_executor(executor, workers, address)
    specs = type_specs(parse_types(types), prices)  # type: ignore[arg-type]
    items = copy_items(catalogue, scale)
    fit = fit_table(catalogue, specs)
    connect(executor, workers, address)

    baselines = {
        BASELINE_NAMES[0]: one_per_model(items, specs, fit),
        BASELINE_NAMES[1]: first_fit_decreasing(items, specs, fit),
    }
    best, method, exact_bound, cuts = _assign(items, specs, fit, baselines, time_limit, seed)
    assigned = time.perf_counter()
    bound, _, bound_cut = lower_bound(items, specs, fit, seed=seed)
    cuts += ["the lower bound"] if bound_cut else []
    bound = min(max(bound, exact_bound), best.cost)
    bounded = time.perf_counter()

    totals = tuple(copy_count(m, scale) for m in catalogue.models)
    latency = any(m.gives_latency for m in catalogue.models)
    alpha_target = float(target_scale) if latency else None
    run = _Run(
        catalogue=catalogue,
        items=tuple(items),
        specs=tuple(specs),
        fit=tuple(fit),
        totals=totals,
        alpha_target=alpha_target,
        time_limit=instance_time_limit,
        seed=seed,
        executor=executor,
        workers=workers,
        address=address,
    )
    fills = sorted(best.fills, key=lambda f: (-specs[f.type].price, f.type, f.copies))
    fills, instances, rounds = _meet_alpha(run, fills, _solve_instances(run, fills))
    cost = sum(specs[f.type].price for f in fills)
    if rounds:
        method += (
            f"; then {rounds} round(s) of repacking instances below alpha* {target_scale:g} "
            "(any proof above is of the peak-load assignment)"
        )
    if cuts:
        method += f"; not reproducible: the wall-clock safety limit stopped {', '.join(cuts)}"
    where = executor if executor == "ray" else f"{workers} local worker(s)"
    return FleetPlan(
        catalogue=catalogue,
        prices=prices,
        target_scale=float(target_scale),
        copies={m.name: n for m, n in zip(catalogue.models, totals, strict=True)},
        instances=tuple(replace(p, index=k) for k, p in enumerate(instances)),
        cost_per_hour=cost / MICRO,
        bound_per_hour=bound / MICRO,
        status="optimal" if bound >= cost else "feasible",
        baselines={name: a.cost / MICRO for name, a in baselines.items()},
        method=method,
        executor=where,
        runtime_s=time.perf_counter() - start,
        stage_s={
            "assignment": assigned - start,
            "bound": bounded - assigned,
            "instances": time.perf_counter() - bounded,
        },
        target_kind="peak load" if run.alpha_target is None else "alpha*",
    )


@dataclass(frozen=True)
class _Run:
    """What every instance solve of one :func:`plan_fleet` call shares."""

    catalogue: Catalogue
    items: tuple[CopyItem, ...]
    specs: tuple[TypeSpec, ...]
    fit: tuple[int, ...]
    totals: tuple[int, ...]
    alpha_target: float | None
    time_limit: float = 1.0
    seed: int = 0
    executor: str = "local"
    workers: int = 1
    address: str | None = None


def _read_inputs(
    catalogue: Catalogue | str | Path, prices: PriceList | str | Path | None
) -> tuple[Catalogue, PriceList]:
    """The catalogue and the price list, read from their files when given as paths."""
    if isinstance(catalogue, (str, Path)):
        catalogue = Catalogue.from_file(catalogue)
    check_type(catalogue, Catalogue, "plan_fleet: catalogue")
    if prices is None:
        prices = PriceList.bundled()
    elif isinstance(prices, (str, Path)):
        prices = PriceList.from_file(prices)
    check_type(prices, PriceList, "plan_fleet: prices")
    return catalogue, prices


def _check_limits(time_limit: object, instance_time_limit: object, seed: object) -> None:
    """The same ranges as :func:`ncplace.optimize` (:mod:`ncplace.optimize.limits`)."""
    check_time_limit(time_limit, "plan_fleet")
    check_time_limit(instance_time_limit, "plan_fleet", "instance_time_limit")
    check_seed(seed, "plan_fleet")


def _assign(
    items: Sequence[CopyItem],
    specs: Sequence[TypeSpec],
    fit: Sequence[int],
    baselines: dict[str, Assignment],
    time_limit: float,
    seed: int,
) -> tuple[Assignment, str, int, list[str]]:
    """The assignment, how it was found, the exact model's bound (0 when it did not run), and
    the solves the wall-clock safety limit cut (their answers may differ between runs)."""
    candidates = dict(baselines)
    for order in ORDERS:
        if order != "largest first":  # the first-fit-decreasing baseline's order
            candidates[f"first fit, {order}"] = first_fit_decreasing(items, specs, fit, order)
    name, start = min(candidates.items(), key=lambda kv: kv[1].cost)
    best = min((start, downsize(start, items, specs, fit)), key=lambda a: a.cost)
    method = f"{name}, downsized" if best is not start else name
    everything = range(len(items))
    if literal_count(items, everything, specs, fit, best.cost) <= MAX_LITERALS:
        result = solve_exact(items, everything, specs, fit, best.fills, time_limit, seed)
        cuts = ["the CP-SAT assignment"] if result.cut else []
        if result.fills is not None:
            exact = Assignment(result.fills, sum(specs[f.type].price for f in result.fills))
            proof = "proven cheapest" if result.optimal else "time limit"
            if exact.cost <= best.cost:
                return exact, f"CP-SAT assignment ({proof})", result.bound, cuts
        return best, f"{method}; CP-SAT assignment found nothing cheaper", result.bound, cuts
    improved, cut = improve(best, items, specs, fit, time_limit, seed)
    cuts = ["the neighbourhood search"] if cut else []
    if improved.cost < best.cost:
        return improved, f"{method}, then CP-SAT neighbourhood search", 0, cuts
    return best, f"{method}; CP-SAT neighbourhood search found nothing cheaper", 0, cuts


def _solve_instances(run: _Run, fills: Sequence[Fill]) -> list[InstancePlan]:
    """Each fill's instance optimised on the executor (:func:`.instance_plan.solve_instance`)."""
    mixes, tasks = [], []
    for fill in fills:
        counts: dict[int, int] = {}
        for i, _ in fill.copies:
            counts[run.items[i].model] = counts.get(run.items[i].model, 0) + 1
        mix = instance_mix(run.catalogue, run.specs[fill.type].instance, counts, run.totals)
        mixes.append(mix)
        tasks.append(
            InstanceTask(
                mix=mix.to_dict(),
                fill_layout=layout_to_dict(fill_layout(fill, run.items, mix)),
                time_limit=run.time_limit,
                seed=run.seed,
                alpha_target=run.alpha_target,
            )
        )
    results = run_map(solve_instance, tasks, run.executor, run.workers, run.address)
    plans = []
    for k, (fill, mix, result) in enumerate(zip(fills, mixes, results, strict=True)):
        layout = layout_from_dict(result["layout"], mix.instance)
        plans.append(
            InstancePlan(
                index=k,
                type_name=run.specs[fill.type].name,
                price=run.specs[fill.type].price / MICRO,
                mix=mix,
                layout=layout,
                score=score(layout, mix),
                source=result["source"],
                optimizer_summary=result["summary"],
                runtime_s=result["runtime_s"],
                alpha=result["alpha"],
            )
        )
    return plans


def _meet_alpha(
    run: _Run, fills: list[Fill], plans: list[InstancePlan]
) -> tuple[list[Fill], list[InstancePlan], int]:
    """With latency targets: the copies of every instance whose alpha* misses the target are
    packed again at ``REPACK_FACTOR^r`` of the load target (round ``r``) onto new instances, and
    these are solved, for at most :data:`MAX_REPACKS` rounds. Returns the fills, their plans and
    the rounds run."""
    rounds = 0
    target = run.alpha_target
    while target is not None and rounds < MAX_REPACKS:
        missing = [k for k, p in enumerate(plans) if (p.alpha or 0.0) < target * ALPHA_TOLERANCE]
        if not missing:
            break
        rounds += 1
        subset = [i for k in missing for i, _ in fills[k].copies]
        scaled = [tighter(item, REPACK_FACTOR**rounds) for item in run.items]
        new = list(first_fit_decreasing(scaled, run.specs, run.fit, subset=subset).fills)
        keep = [k for k in range(len(fills)) if k not in missing]
        fills = [fills[k] for k in keep] + new
        plans = [plans[k] for k in keep] + _solve_instances(run, new)
    return fills, plans, rounds
