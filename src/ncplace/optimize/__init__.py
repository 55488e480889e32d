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

The core sweep (:mod:`.sweep`), for the peak level in block mode with fixed copy counts (up to
100 models): an exact left-to-right search over the cores (every model starting at core 0 or
where another ends, the spare capacity ``N L - sum w D`` spent as cores are closed). A short
probe before CP-SAT proves capacities above the floor infeasible and adds ``peak >= bound``; when
its layout meets its bound the peak level is proven without CP-SAT. A longer search after CP-SAT
looks for a layout below CP-SAT's. CP-SAT does not start from the sweep's layout.

The tabu search (:mod:`.tabu`), for the peak level in any mode (it keeps the copy counts of the
layout it starts from): moves of one block or copy and swaps of two of the same width, scored by the
excess ``sum_c max(0, load_c - T)`` over a target one below the best peak, with a tabu tenure
against cycling. It runs from the best baseline before CP-SAT (CP-SAT's hint is then its layout, and
a layout at the proven bound settles the level without CP-SAT) and from CP-SAT's layout after it,
before the sweep's search for lower layouts, which then starts below its result.

Decision solves (:func:`.solve._decide`), last in the peak level on mixes of at most one model
per core on up to 16 cores: the same model with no objective and ``L <= best - 1``. With the
capacity a constant, the cumulative propagates pairwise exclusions (two copies whose loads sum
above it cannot share a core) that the minimisation, whose ``L`` is a variable, does not; an
infeasible answer proves the best layout optimal, a layout lowers the peak and the question is
asked again.

Never worse than a baseline (:mod:`.baselines`): the best feasible baseline that keeps the mix's
copy counts hints the solve and is returned instead whenever the solver's layout is worse on the
first two objectives; the bound is then taken over both (see :func:`.solve._finish`), and
``sum_m k_m d_m / N``, a lower bound on the peak of any layout at all, can prove such a layout
optimal.

Why this formulation: the cumulative keeps the model at ``O(models x copy counts)`` intervals
plus ``O(cores)`` per-core variables, and propagates load by time-tabling and energetic
reasoning. A boolean start-assignment model (``x_{m,s}``, the HiGHS benchmark's) needs
``O(models x cores)`` literals and ``O(cores)`` long linear rows; tried here as an alternative it
found worse layouts and weaker bounds in the same time, and per-(unit, core) coverage literals for
memory and overlap made presolve alone take seconds on 300 models.

What was measured for speed (``benchmarks.generator`` ``scale`` mixes, one worker, 2 cores shared
with another benchmark run, ``time_limit=10`` on inf1.6xlarge and 30 on inf1.24xlarge):

- Kept: the bin-packing bound of :mod:`.packing` (dual feasible functions). On 16 models / 16
  cores it lifts the bound from the energy bound 0.70 to 0.740-0.786 (seeds 0-4): two plans end
  with gap 5.5 % and 2.0 % instead of 11.6 % and 7.7 %, the search being unchanged. It costs
  under 5 ms on 300 models. On 20-40 models it adds nothing: their items are small.
- Kept: budgets in deterministic time (:mod:`.budget`), for reproducibility, and a cap on the
  tie-break levels' time (:func:`.solve._share`): a 16-model mix whose peak is proven in 0.03 s
  returned in 8.2 s (its chip-crossings level ran out the clock), now in 1.1 s.
- Kept: the core sweep (:mod:`.sweep`). It settles some mixes alone (10 models seed 1, 16 models
  seed 4: proven in 0.3 s and 0.06 s), lifts the bound of the 20-model mixes by 0.001-0.002 (e.g.
  0.7145 to 0.716), and is otherwise neutral on the 131-instance suite: lower peaks on 7
  instances, higher on 8 (all within 0.7 %), none newly proven. It costs mixes CP-SAT proves in
  milliseconds its short probe (8 cores: 0.05-0.12 s became 0.25 s). Tried and dropped: hinting
  CP-SAT with the sweep's layout instead of the best baseline (worse peaks, e.g. 40 models seed
  3: 0.743 vs 0.740), and randomised restarts of the sweep (40 restarts of 20 thousand steps at
  each capacity still found nothing within 3 units of the floor on 40-model mixes).
- Kept: the tabu search (:mod:`.tabu`), before and after CP-SAT. Against the run before it (full
  suite, 131 instances): lower peaks on 22 (by up to 2.9 %), higher on 2 (0.21 % and 0.07 %),
  no bound or proof changed; 300 models on 64 cores end at gap 0.06 % instead of 0.77-0.88 %,
  128-256 models on 128-256 cores at 1.4-2.4 % instead of 3.9-4.5 %. Measured alternatives: one
  search after CP-SAT only, or before it only (worse on 4 and 1 of the 15 20-40-model mixes on 16
  cores, better on 9 and 8), and giving up without progress after CP-SAT as well as before
  (worse on 6 of 15, better on 1).
- Tried, no gain: ``linearization_level=2`` and the ``lb_tree_search``, ``objective_lb_search``,
  ``objective_shaving`` and ``probing`` subsolvers (the interleaved one-thread portfolio ignores
  ``extra_subsolvers``: identical runs); the cumulative overload checker and timetable
  edge-finding (same wall time, 15 mixes of 20-40 models: better incumbent on 6, worse on 7,
  bound unchanged); channelling the starts to ``x_{m,s}`` literals with per-core linear load rows
  (worse incumbents in the same deterministic time: 0.7805 vs 0.746, 0.741 vs 0.7145, ...).
- Kept: the decision solves. 16 models on 16 cores (``scale`` seed 0), 10 s: proven optimal
  at 0.74275 (the minimisation ends with bound 0.7402, gap 0.34 %); alone, CP-SAT decides
  "0.74275 - 1 unit" infeasible in 0.9 deterministic seconds and seed 1's "0.8020 - 1 unit" in
  3.2 (7 s; more than a 10 s plan has for it), while the minimisation leaves seed 1 at 0.758.
  With its interleaved portfolio the same decision took 10.7 units, so it runs the default
  one-thread search (as reproducible). Not on denser mixes: on 20-40 models on 16 cores it
  raised no bound and its share cost CP-SAT's minimisation better layouts (20 models, seed 0:
  0.7140 instead of 0.7115); on 32 and 64 models on 32 and 64 cores it doubled the wall time.
- Issue 4's targets (full suite at the tabu search's commit). inf1.6xlarge, 10 models: proven
  optimal in a median 0.40 s (0.04-0.55 s; 0.28 s before the tabu search); 16 models: 1 of 2
  proven (4.2 s); 20, 30 and 40 models: none proven, gaps 0.64-4.02 %, 0.64-0.99 %, 0.14-0.71 %
  after a median 6.2, 9.0 and 8.9 s (CP-SAT and the sweep alone gave 0.64-4.02 %, 0.64-1.13 %,
  0.27-0.95 %). Their bound stays within a few units of the energy bound (exclusive cores
  removed), and HiGHS finds no better layouts; a 30 s two-worker CP-SAT run asked for a layout
  at most 0.0005-0.001 above that bound (20 models, seeds 0 and 3; 40 models, seed 4) neither
  found one nor proved there is none; the core sweep proves the first 2-5 integer units above
  the floor infeasible on the 20-model mixes and no more (each further unit costs 3-5 times the
  steps of the last), and on the 40-model mixes it cannot prove even the floor infeasible
  within 4 million steps, while the tabu search ends 2-24 units above it. These mixes are
  multiway number partitioning near its hard phase: proving their optimum is beyond any of
  these methods in seconds, so "proven optimal, median under 1 s" holds for the structured
  families (all proven, median 0.02-0.48 s) and not beyond about 16 random-load models.
  inf1.24xlarge, 300 models: gap 0.06 % (seeds 0-2) in 27-32 s: the 1 % target is met.
- Why, in numbers (an estimate by counting, not a proof). ``n`` random models of 1-4 cores on
  16 cores have about ``14^n`` block layouts; in a random one a core carries 3-6 copies and its
  load varies by about ``sigma`` = 0.48, 0.39, 0.34 around the mean (20, 30, 40 models). The
  layouts whose 16 loads all lie within a total slack ``S`` below a peak make up about
  ``(S / (sigma sqrt(2 pi)))^15 / 15!`` of them, so about one layout exists at
  ``S = sigma sqrt(2 pi) (15! / 14^n)^(1/15)``: 0.014 per core above the energy floor for 20
  models, 0.002 for 30 and 0.0003 for 40 (measured optima and best layouts: 0.0035-0.03,
  0.003-0.007 and 0.001-0.005 above it). The optimum thus sits where layouts turn from abundant
  to absent, the hard phase of number partitioning: a proof must rule out ``10^23-10^46``
  layouts, very many of which miss by only a few thousandths. The
  core sweep with remembered states and waste counting (:mod:`.sweep`) does this for 20 models
  in millions of steps (seed 3 proven optimal at 0.704 in 1.7 million steps, 16 s, given the
  time), not in seconds.
"""

from typing import TYPE_CHECKING, Any

from .plan import Level, Plan, Status

if TYPE_CHECKING:
    from .solve import optimize


def __getattr__(name: str) -> Any:
    """``optimize`` is imported on first use: it loads OR-Tools (about half a second), which
    emulating, replaying, scoring and reading reports do not need."""
    if name == "optimize":
        from .solve import optimize

        return optimize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Level", "Plan", "Status", "optimize"]
