"""Moved to :mod:`ncplace.benchmarking.suites` (installed with the package). This name
stays an alias of that module: both import one and the same object."""

import sys

from ncplace.benchmarking import suites

sys.modules[__name__] = suites
