"""The CP-SAT optimizer: explicit placements for a mix, with a proven bound.

``optimize(mix)`` returns a :class:`Plan`: one process owning the used cores, each model loaded
once with ``neuron_cores_context(start_nc, nc_count = r k)`` so that its ``r`` copies of ``k``
cores sit back to back behind one handle (or, with ``split_replicas=True``, each copy loaded on
its own), the status, the objective recomputed by :func:`ncplace.score`, a proven lower bound and
the gap.

Formulation (interval/cumulative over the core axis; the shared spec is
``briefs/optmodel.md``). Data: ``N`` cores in chips of ``P``, chip memory ``M``; model ``m`` has
pipeline size ``k_m``, allowed copy counts ``R_m`` (one value unless ``replicas`` is ``"auto"`` or a
range), demand ``d_m``, memory ``mem_m`` per copy, ``exclusive`` flag, optional pinned start.

Variables (:mod:`.variables`)
  ``s_m`` start of the block; ``y_{m,r}`` one-hot copy count; ``e_m = s_m + sum_r r k_m y_{m,r}``;
  one optional interval ``[s_m, s_m + r k_m)`` per ``r`` present iff ``y_{m,r}``. In split mode one
  ``k_m``-core interval per copy ``j``, present iff ``r_m > j``, ordered
  ``s_{m,j+1} >= s_{m,j} + k_m``. No literal says which unit covers which core: every per-core
  quantity is read from a cumulative constraint over the intervals.

Constraints (:mod:`.constraints`)
  peak ``Cumulative(intervals, D_{m,r}, L)``, ``D_{m,r}`` the scaled ``d_m / r``; blocks inside
  ``[0, N)`` by domains; exclusivity by one cumulative with demand ``T`` for exclusive intervals
  and 1 for the others against capacity ``T`` (plus ``NoOverlap`` of the exclusive ones); memory
  by per-core variables ``a_c >= sum_{u covering c} mem_m / k_m`` (a cumulative whose one-core
  filler interval at ``c`` has demand ``M - a_c``) and ``sum_{c in chip} a_c <= M`` on every chip
  where the rule can bind; pins by domain; ``s_a <= s_b`` for interchangeable models; redundant
  cuts ``L >= sum_r D_{m,r} y_{m,r}`` and ``N L >= sum_m sum_r k_m r D_{m,r} y_{m,r}`` (energy).

Objectives (:mod:`.objectives`), lexicographic, solved level by level (:mod:`.solve`):
  (1) peak ``L``; (2) overlap ``sum_c (a_c - 1)`` with ``1 <= a_c``, ``a_c >= copies on c`` (the
  same filler-cumulative device); (3) chip crossings, ``T_r[s mod P]`` by element constraints on
  ``s = P h + q``; (4) moves from ``current``; (5) the highest used core ``max_u e_u``.
  ``objective="overlap"`` swaps (1) and (2).

Scaling (:mod:`.problem`): exact integer loads with the LCM of the denominators when the demands
are small rationals, otherwise ``2**40 / sum d`` with rounding down, so the reported bound never
exceeds the true optimum; the reported objective is always the scorer's value of the layout.

The search (:mod:`.stages`): the first level is a list of named stages sharing one incumbent
and one proven bound. For the peak: the certified LP bound of bin packing (:mod:`.arcflow`),
the core sweep's probe (:mod:`.sweep`, proofs above that bound), the tabu search from the best
baseline (:mod:`.tabu`), CP-SAT's minimisation, the tabu search from CP-SAT's layout, the core
sweep below it (down to a proof when it can), and CP-SAT decision solves one unit below the
best peak (small mixes). A stage whose layout meets the bound ends the level: the layout is
proven optimal over the model. The later levels are CP-SAT minimisations (:mod:`.solve`).

Never worse than a baseline (:mod:`.baselines`): the best feasible baseline that keeps the mix's
copy counts hints the solve and is returned instead whenever the solver's layout is worse on the
first two objectives; the bound is then taken over both (see :func:`.solve._finish`), and
``sum_m k_m d_m / N``, a lower bound on the peak of any layout at all, can prove such a layout
optimal.

Why this formulation: the cumulative keeps the model at ``O(models x copy counts)`` intervals
plus ``O(cores)`` per-core variables, and propagates load by time-tabling and energetic
reasoning. A boolean start-assignment model (``x_{m,s}``) needs ``O(models x cores)`` literals
and ``O(cores)`` long linear rows, and found worse layouts and weaker bounds in the same time.
What was measured, kept and dropped is in ``docs/optimizer.md``.
"""

from typing import TYPE_CHECKING, Any

from .plan import Level, Plan, Status

if TYPE_CHECKING:
    from .solve import optimize


def __getattr__(name: str) -> Any:
    """``optimize`` is imported on first use, and it loads OR-Tools (about 0.3 s with the
    pandas it imports) only when it builds a model (:mod:`.search`): emulating, replaying,
    scoring, reading reports and a plan with no time to search do not need it."""
    if name == "optimize":
        from .solve import optimize

        return optimize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Level", "Plan", "Status", "optimize"]
