"""Benchmarks for ncplace: generated instances, a second exact method (HiGHS), and the runner.

- :mod:`benchmarks.generator`: seeded instance families, ``generate(family, size, n, seed)``.
- :mod:`benchmarks.highs_model`: the optimizer's placement model as a MIP for HiGHS.
- :mod:`benchmarks.run`: ``python -m benchmarks.run --suite quick|full`` (CSV + markdown summary).

Results of a full run and how to reproduce them are in ``benchmarks/RESULTS.md``.
"""
