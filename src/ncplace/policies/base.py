"""What a baseline policy is, and the few helpers the baselines share.

A policy lays a :class:`~ncplace.mix.Mix` out the way one documented placement technique would:
it drives the :class:`~ncplace.runtime.Runtime` emulator with the same environment variables,
contexts and ``torch.jit.load`` calls a user of that technique would write, and returns the
emulator's :class:`~ncplace.layout.Layout`. When the technique cannot express the mix at all it
raises :class:`~ncplace.errors.PlacementError` saying why, with the arithmetic.

Baselines cannot choose copy counts, so they place ``model.min_replicas`` copies of each model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import check_type
from ..layout import Layout
from ..mix import Mix, Model
from ..runtime import Process, Runtime


@runtime_checkable
class Policy(Protocol):
    """A baseline: ``policy(mix) -> Layout``, with a one-line ``description`` the CLI shows."""

    @property
    def description(self) -> str: ...

    def __call__(self, mix: Mix) -> Layout: ...


@dataclass(frozen=True)
class Baseline:
    """A registered policy: a name, a one-line description and the function that places a mix.

    The function's docstring shows the code a user of the technique would write.
    """

    name: str
    description: str
    place: Callable[[Mix], Layout]
    copies: Callable[[Mix], int] | None = None

    def copies_to_load(self, mix: Mix) -> int:
        """How many copies the policy loads for ``mix`` (:func:`copies_to_load`)."""
        return copies_to_load(self, mix)

    def __call__(self, mix: Mix) -> Layout:
        """The layout of ``mix``: tensor-parallel models started first as servers and the other
        declared processes each on a run of its own (:mod:`.servers`, :mod:`.ranges`); for a
        pool of workers (``workers: N``), the technique used inside each worker on its slice and
        repeated in every worker, as a pool started that way runs
        (:func:`ncplace.optimize.processes.repeat_slice`)."""
        from .servers import with_servers

        check_type(mix, Mix, f"policy {self.name}: mix")
        if not mix.workers:
            return with_servers(self.place, mix)
        from ..optimize.processes import repeat_slice, worker_slice

        return repeat_slice(mix, with_servers(self.place, worker_slice(mix)))


def describe(policy: Callable[[Mix], Layout]) -> str:
    """A policy's one-line description: its ``description``, else its docstring's first line."""
    text = getattr(policy, "description", None)
    if isinstance(text, str) and text.strip():
        return text.strip()
    doc = getattr(policy, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def runtime_for(mix: Mix) -> Runtime:
    """A fresh emulator for the mix's instance and framework."""
    return Runtime(mix.instance, mix.framework)


def load_each_copy(process: Process, models: Iterable[Model]) -> None:
    """``min_replicas`` plain loads of each model, in order, outside any context."""
    for m in models:
        for _ in range(m.min_replicas):
            process.load(m.name, cores=m.cores)


def copies_to_load(policy: Callable[[Mix], Layout], mix: Mix) -> int:
    """How many copies ``policy`` loads for ``mix``: what a registered policy's technique decides
    (multicore: every model on every core), else each model's ``min_replicas`` (the baselines'
    rule, and a policy of your own is counted by it)."""
    if isinstance(policy, Baseline) and policy.copies is not None:
        return policy.copies(mix)
    return sum(m.min_replicas for m in mix.models)


SUM_TERMS_SHOWN = 8
"""How many models :func:`copies_sum` writes out before summing the rest in one term."""


def copies_sum(models: Iterable[Model]) -> tuple[str, int]:
    """``("bert 4x2 + resnet 1x3", 11)``: the cores one block per model needs, as arithmetic;
    past :data:`SUM_TERMS_SHOWN` models the rest is one term (``+ 9,992 more models 19,980``),
    so that a message about a mix of thousands stays one readable line."""
    models = list(models)
    shown = models[:SUM_TERMS_SHOWN]
    terms = " + ".join(f"{m.name} {m.cores}x{m.min_replicas}" for m in shown)
    rest = models[SUM_TERMS_SHOWN:]
    if rest:
        terms += f" + {len(rest):,} more models {sum(m.width for m in rest):,}"
    return terms, sum(m.width for m in models)
