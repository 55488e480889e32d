"""Moved to :mod:`ncplace.benchmarking.summary` (installed with the package). This name
stays an alias of that module: both import one and the same object."""

import sys

from ncplace.benchmarking import summary

sys.modules[__name__] = summary
