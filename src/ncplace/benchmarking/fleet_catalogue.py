"""Seeded fleet catalogues: ``catalogue(n_models, seed) -> ncplace.fleet.Catalogue``.

A torch-neuronx catalogue in the shape of a model zoo served on inf2: Zipf-distributed traffic
(a few hot models, a long tail), throughputs from {250, 500, 1000, 2000} requests/s per copy,
memory 0.2-6 GiB per model, one model in 20 tensor-parallel over 2, 4 or 8 cores with 4-15 GiB
per rank, one in 25 of the others exclusive. The same ``(n_models, seed)`` always gives the same
catalogue.
"""

from __future__ import annotations

import random

from ncplace import Model
from ncplace.fleet import Catalogue

THROUGHPUTS = (250.0, 500.0, 1000.0, 2000.0)


def catalogue(n_models: int, seed: int = 0, total_demand: float | None = None) -> Catalogue:
    """``n_models`` models whose demands sum to ``total_demand`` (default ``0.4 n_models``)."""
    rng = random.Random(f"fleet-{n_models}-{seed}")
    weights = [(rank + 1) ** -1.1 for rank in range(n_models)]
    rng.shuffle(weights)
    total = 0.4 * n_models if total_demand is None else total_demand
    scale = total / sum(weights)
    models = []
    for i, w in enumerate(weights):
        throughput = rng.choice(THROUGHPUTS)
        rate = max(1.0, round(w * scale * throughput))
        if rng.random() < 0.05:
            cores = rng.choice((2, 4, 8))
            memory = round(rng.uniform(4, 15) * cores, 1)
            models.append(
                Model(
                    f"tp{i}",
                    cores=cores,
                    parallel="tensor",
                    rate=rate,
                    throughput=throughput,
                    memory_gib=memory,
                )
            )
        else:
            models.append(
                Model(
                    f"m{i}",
                    rate=rate,
                    throughput=throughput,
                    memory_gib=round(rng.uniform(0.2, 6.0), 1),
                    exclusive=rng.random() < 0.04,
                )
            )
    return Catalogue(tuple(models))
