"""The compiled core sweep (``ncplace.optimize._sweep``); everything else is in pyproject.toml.

The extension is optional: without a C compiler the install still succeeds and the sweep runs
its pure-Python search (``ncplace.optimize.sweep.backend()`` says which one runs).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ncplace.optimize._sweep",
            ["src/ncplace/optimize/_sweep.c"],
            extra_compile_args=["-O2", "-std=c99"],
            optional=True,
        )
    ]
)
