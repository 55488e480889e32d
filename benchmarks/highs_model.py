"""Moved to :mod:`ncplace.benchmarking.highs_model` (installed with the package). This name
stays an alias of that module: both import one and the same object."""

import sys

from ncplace.benchmarking import highs_model

sys.modules[__name__] = highs_model
