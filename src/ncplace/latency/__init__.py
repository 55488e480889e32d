"""Latency: will a layout hold each model's p99 target, and how much traffic can it take?

Busy time (:func:`ncplace.score`) says how far traffic can grow before a core saturates; it
does not see queueing (bursts pile up on a shared core), the smoothing gained by spreading a
model over more copies, or the core time lost switching between models. This package judges a
layout by the latency its calls see, under one queueing model with these rules:

1. **Arrivals.** Each model's calls form a gamma renewal process of rate ``rate x scale`` whose
   gaps have coefficient of variation ``arrival_cv`` (1: Poisson, the default; above 1 bursty;
   0 evenly spaced).
2. **Routing.** A model's calls are split equally over its handles (the loads of split replicas
   or several processes), round-robin: call ``i`` goes to handle ``i mod H``; a handle sends its
   calls round-robin over its copies, as the runtime documents for a loaded model's copies.
3. **Cores.** Each NeuronCore is one non-preemptive FIFO server shared by every copy placed on
   it; calls arriving together are served in mix order of their models, then call order.
4. **Pipelines.** A copy of k cores is k stages in tandem: stage j runs on the copy's j-th core
   and keeps it busy ``1 / throughput`` s (times a gamma factor of mean 1 and coefficient of
   variation ``service_cv``), the busy time the scorer charges. A tensor-parallel copy
   (``parallel: tensor``) runs one rank on each of its cores at once, each busy
   ``1 / throughput`` s; the call ends with its last rank (collectives inside a call are not
   modelled).
5. **Response time.** From arrival until the call leaves its last stage, plus the fixed
   overhead ``latency_ms - busy_ms`` when ``latency_ms`` is given (``busy_ms = stages /
   throughput``).
6. **Switching.** A core that starts a job of a different (model, copy) from the last one it
   ran first spends ``switch_ms`` of core time (the model's own, else the caller's, else
   :data:`DEFAULT_SWITCH_MS`). The first job a core runs pays nothing.
7. **Targets.** A model meets its target when its p99 response is within ``slo_ms`` (default
   ``5 x latency_ms``). Models without ``rate`` carry no traffic and are not judged.

Two evaluators apply them: :func:`simulate` (a discrete-event simulation, exact for these rules
up to sampling) and :func:`estimate` (per-core queueing formulas, for ranking many layouts).
:func:`max_scale` (alpha*) is the largest factor on every rate at which the simulated p99 of
every model stays within its target.
"""

from .estimate import Estimate, ModelEstimate, estimate
from .evaluate import CoreActivity, ModelLatency, Simulation, max_scale, simulate
from .traffic import DEFAULT_SWITCH_MS, SWITCH_SWEEP_MS

__all__ = [
    "DEFAULT_SWITCH_MS",
    "SWITCH_SWEEP_MS",
    "CoreActivity",
    "Estimate",
    "ModelEstimate",
    "ModelLatency",
    "Simulation",
    "estimate",
    "max_scale",
    "simulate",
]
