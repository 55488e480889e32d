"""Tabu search on the starts: lowers the peak of a layout that keeps every hard rule.

Why. On mixes of many models with unrelated loads, the peak level is a multiway number
partitioning problem: the best layouts keep every core within a few units of the same load, and
CP-SAT's large-neighbourhood search, which re-solves a few models at a time, rarely finds them.
The local moves of number-partitioning heuristics fit the problem better: move one model, or
swap two models of the same width (measurements in ``docs/optimizer.md``). The optimizer runs it
twice (:mod:`.stages`): from the best baseline before CP-SAT, which then starts from its layout,
and from the best layout after CP-SAT.

The search. Each model is a *unit* of ``w = r k`` cores carrying ``D`` per core (in split mode,
each of its ``r`` copies is a unit of ``k`` cores, and a model's copies never share a core); the
copy counts stay those of the starting layout. Pinned and exclusive models stay where they are,
and no other unit may cover an exclusive unit's cores. For a target ``T`` one below the best peak so
far, the *excess* of a layout is ``E = sum_c max(0, load_c - T)``; ``E = 0`` means the layout's
peak is at most ``T``. Each iteration picks a core with ``load_c > T`` (seeded random choice),
and among the units covering it evaluates every move to another start and every swap with a
unit of the same width and another load, exactly (only the cores a move touches change). It
takes the move with the lowest ``E`` (ties broken at random), even when ``E`` rises, except
moves that put a unit back on a start it left within the last 5-15 iterations (the *tabu*
rule, which stops the search from cycling); a move reaching ``E = 0`` is always allowed. Moves
that would break chip memory are skipped, so every layout visited keeps every hard rule. On
``E = 0`` the layout is recorded, ``T`` drops to one below its peak, and the search goes on; it
stops at the proven lower bound, when its steps run out, or when a share ``patience`` of them
has gone by without a lower peak.

Work is counted in steps (one per move evaluated, plus one per iteration), so with the same
seed the result is the same on every run; :data:`STEPS_PER_SECOND` converts nominal seconds.
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass

from .problem import Assignment, Problem

STEPS_PER_SECOND = 400_000
"""Moves evaluated per nominal second of ``time_limit``: measured 300-460 thousand per second on
the project's machine (CPython 3.11) on the benchmark's ``scale`` mixes of 20-300 models, so a
search takes about the seconds it is charged."""

WALL_CHECK_STEPS = 4096
"""How often (in steps) the search looks at the wall clock for its safety limit."""

TENURE = (5, 15)
"""How many iterations a unit may not return to a start it left (drawn per move)."""


@dataclass(frozen=True)
class TabuResult:
    """What a search found: ``assignment`` and ``peak`` (integer, scaled loads) when it lowered
    the peak of the layout it started from, else ``None``; ``steps`` spent; ``wall_cut`` when the
    wall-clock safety limit stopped it; ``interrupted`` when a ``KeyboardInterrupt`` did."""

    assignment: dict[int, Assignment] | None
    peak: int | None
    steps: int
    wall_cut: bool
    interrupted: bool = False


def improve(
    problem: Problem,
    assignment: dict[int, Assignment],
    lower: int,
    steps: int,
    seed: int = 0,
    wall_limit_s: float = float("inf"),
    patience: float = 1.0,
) -> TabuResult:
    """Look for a layout with a lower peak than ``assignment`` (which must keep every hard rule),
    stopping at ``lower`` (a proven bound), after ``steps``, or after ``patience * steps`` steps
    without a lower peak. See the module doc."""
    search = _Tabu(problem, assignment, steps, seed, time.perf_counter() + wall_limit_s)
    return search.run(lower, int(patience * steps))


class _WallCut(Exception):
    """The wall-clock safety limit ran out during a search step."""


class _Tabu:
    """The mutable state of one search."""

    def __init__(
        self,
        problem: Problem,
        assignment: dict[int, Assignment],
        budget: int,
        seed: int,
        deadline: float,
    ) -> None:
        self.problem = problem
        self.budget = budget
        self.deadline = deadline
        self.rng = random.Random(seed)
        self.steps = 0
        self.next_check = WALL_CHECK_STEPS
        self.wall_cut = False
        n = problem.cores
        self.owner: list[int] = []
        self.width: list[int] = []
        self.demand: list[int] = []
        self.memory: list[int] = []
        self.start: list[int] = []
        self.movable: list[bool] = []
        self.copies = [assignment[m.index][0] for m in problem.models]
        for position, m in enumerate(problem.models):
            copies, starts = assignment[m.index]
            blocks = starts[:copies] if problem.split else starts[:1]
            for start in blocks:
                self.owner.append(position)
                self.width.append(m.cores if problem.split else copies * m.cores)
                self.demand.append(m.demand_of(copies))
                self.memory.append(m.memory)
                self.start.append(start)
                self.movable.append(m.start is None and not m.exclusive)
        units = range(len(self.width))
        owned: dict[int, list[int]] = {}
        for u in units:
            owned.setdefault(self.owner[u], []).append(u)
        self.siblings = [[v for v in owned[self.owner[u]] if v != u] for u in units]
        self.load = [0] * n
        blocked = [False] * n
        for u in units:
            for c in range(self.start[u], self.start[u] + self.width[u]):
                self.load[c] += self.demand[u]
                blocked[c] = blocked[c] or problem.models[self.owner[u]].exclusive
        self.starts_for: dict[int, list[int]] = {}
        for w in {self.width[u] for u in units if self.movable[u]}:
            self.starts_for[w] = [s for s in range(n - w + 1) if not any(blocked[s : s + w])]
        self.per_chip = problem.memory_cores
        self.chip_use = [0] * problem.pools
        for u in units:
            self._shift_memory(u, self.start[u], 1)
        self.same_width: dict[int, list[int]] = {}
        for u in units:
            if self.movable[u]:
                self.same_width.setdefault(self.width[u], []).append(u)
        self.tabu: dict[tuple[int, int], int] = {}
        self.best: tuple[int, list[int]] = (0, [])

    def run(self, lower: int, patience: int) -> TabuResult:
        """Search down to ``lower``; a ``KeyboardInterrupt`` ends it with the best layout so far
        (``best`` is replaced in one assignment, so it always holds a layout and its peak)."""
        first = max(self.load, default=0)
        self.best = (first, list(self.start))
        interrupted = False
        try:
            self._search(lower, patience)
        except KeyboardInterrupt:
            interrupted = True
        best_peak, best_start = self.best
        if best_peak >= first:
            return TabuResult(None, None, self.steps, self.wall_cut, interrupted)
        starts: dict[int, list[int]] = {}
        for u, start in enumerate(best_start):
            starts.setdefault(self.owner[u], []).append(start)
        assignment: dict[int, Assignment] = {}
        for position, m in enumerate(self.problem.models):
            assignment[m.index] = (self.copies[position], tuple(sorted(starts[position])))
        return TabuResult(assignment, best_peak, self.steps, self.wall_cut, interrupted)

    def _tick(self) -> None:
        """Count a step; every :data:`WALL_CHECK_STEPS` look at the wall clock (one move's scan
        of a 10,000-model mix is hundreds of thousands of steps)."""
        self.steps += 1
        if self.steps >= self.next_check:
            self.next_check = self.steps + WALL_CHECK_STEPS
            if time.perf_counter() > self.deadline:
                self.wall_cut = True
                raise _WallCut

    def _search(self, lower: int, patience: int) -> None:
        with contextlib.suppress(_WallCut):
            self._descend(lower, patience)

    def _descend(self, lower: int, patience: int) -> None:
        target = self.best[0] - 1
        excess = self._excess(target)
        iteration = 0
        last_gain = 0
        while target >= lower and self.steps < self.budget and self.steps - last_gain <= patience:
            iteration += 1
            self._tick()
            move = self._best_move(target, excess, iteration)
            if move is None:
                break
            excess += move[0]
            self._apply(move, iteration)
            if excess == 0:
                last_gain = self.steps
                self.best = (max(self.load), list(self.start))
                target = self.best[0] - 1
                excess = self._excess(target)

    def _excess(self, target: int) -> int:
        return sum(max(0, x - target) for x in self.load)

    def _best_move(
        self, target: int, excess: int, iteration: int
    ) -> tuple[int, int, int, int] | None:
        """The best allowed move as ``(change of E, unit, new start or -1, swap partner or -1)``."""
        over = [c for c, x in enumerate(self.load) if x > target]
        self.rng.shuffle(over)
        for core in over:
            choice = self._best_move_at(core, target, excess, iteration)
            if choice is not None:
                return choice
        return None

    def _best_move_at(
        self, core: int, target: int, excess: int, iteration: int
    ) -> tuple[int, int, int, int] | None:
        """The best allowed move of a unit covering ``core``."""
        best: tuple[int, float] | None = None
        choice: tuple[int, int, int, int] | None = None
        for u in range(len(self.width)):
            s0, w = self.start[u], self.width[u]
            if not self.movable[u] or not s0 <= core < s0 + w:
                continue
            d = self.demand[u]
            for s in self.starts_for[w]:
                if s == s0:
                    continue
                self._tick()
                change = self._change(((s0, -d), (s, d)), w, target)
                key = (change, self.rng.random())
                if best is not None and key >= best:
                    continue
                allowed = self.tabu.get((u, s), 0) < iteration or excess + change == 0
                if allowed and self._apart(u, s) and self._fits_shift(u, s):
                    best, choice = key, (change, u, s, -1)
            for v in self.same_width[w]:
                e, s1 = self.demand[v], self.start[v]
                if e == d or s1 == s0:
                    continue
                self._tick()
                change = self._change(((s0, e - d), (s1, d - e)), w, target)
                key = (change, self.rng.random())
                if best is not None and key >= best:
                    continue
                allowed = self.tabu.get((u, s1), 0) < iteration or excess + change == 0
                if allowed and self._apart(u, s1) and self._apart(v, s0) and self._fits_swap(u, v):
                    best, choice = key, (change, u, -1, v)
        return choice

    def _change(self, deltas: tuple[tuple[int, int], ...], width: int, target: int) -> int:
        """The change of ``E`` when each ``(start, delta)`` adds ``delta`` to ``width`` cores."""
        touched: dict[int, int] = {}
        for start, delta in deltas:
            for c in range(start, start + width):
                touched[c] = touched.get(c, 0) + delta
        change = 0
        for c, delta in touched.items():
            if delta:
                x = self.load[c]
                change += max(0, x + delta - target) - max(0, x - target)
        return change

    def _apply(self, move: tuple[int, int, int, int], iteration: int) -> None:
        _, u, s, v = move
        if v >= 0:
            s, s_v = self.start[v], self.start[u]
            self._tabu(v, self.start[v], iteration)
            self._place(v, s_v)
        self._tabu(u, self.start[u], iteration)
        self._place(u, s)

    def _tabu(self, u: int, start: int, iteration: int) -> None:
        self.tabu[(u, start)] = iteration + self.rng.randint(*TENURE)

    def _place(self, u: int, s: int) -> None:
        w, d = self.width[u], self.demand[u]
        for c in range(self.start[u], self.start[u] + w):
            self.load[c] -= d
        self._shift_memory(u, self.start[u], -1)
        self.start[u] = s
        for c in range(s, s + w):
            self.load[c] += d
        self._shift_memory(u, s, 1)

    def _apart(self, u: int, s: int) -> bool:
        """Unit ``u`` at ``s`` shares no core with another copy of its model (split mode)."""
        w = self.width[u]
        return all(s + w <= self.start[v] or self.start[v] + w <= s for v in self.siblings[u])

    def _shift_memory(self, u: int, start: int, sign: int) -> None:
        if self.memory[u]:
            for c in range(start, start + self.width[u]):
                self.chip_use[c // self.per_chip] += sign * self.memory[u]

    def _fits_shift(self, u: int, s: int) -> bool:
        return not self.memory[u] or self._fits(((u, self.start[u], s),))

    def _fits_swap(self, u: int, v: int) -> bool:
        su, sv = self.start[u], self.start[v]
        return self.memory[u] == self.memory[v] or self._fits(((u, su, sv), (v, sv, su)))

    def _fits(self, moves: tuple[tuple[int, int, int], ...]) -> bool:
        """Every chip keeps within its memory once each ``(unit, old start, new start)`` moved."""
        for unit, old, new in moves:
            self._shift_memory(unit, old, -1)
            self._shift_memory(unit, new, 1)
        ok = max(self.chip_use) <= self.problem.chip_memory
        for unit, old, new in moves:
            self._shift_memory(unit, new, -1)
            self._shift_memory(unit, old, 1)
        return ok
