"""The benchmark harness, installed with the package so that it runs outside a checkout.

- :mod:`.generator`: seeded mix families (``generate(family, size, n_models, seed)``);
- :mod:`.fleet_catalogue`: seeded fleet catalogues (``catalogue(n_models, seed)``);
- :mod:`.suites`: the benchmark suites and their cases;
- :mod:`.run`: one row of measurements per case (the baselines, ``ncplace.optimize``, and a
  HiGHS MIP of the same block model from :mod:`.highs_model` when ``highspy`` is installed,
  the ``bench`` extra), ``python -m ncplace.benchmarking.run --suite quick``;
- :mod:`.summary`: the Markdown summary of a run.

The repository's ``benchmarks/`` folder holds the other benchmark scripts (proofs, latency,
fleets, wall time) and keeps ``python -m benchmarks.run`` working through small shims.
"""
