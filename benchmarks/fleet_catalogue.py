"""Moved to :mod:`ncplace.benchmarking.fleet_catalogue` (installed with the package). This name
stays an alias of that module: both import one and the same object."""

import sys

from ncplace.benchmarking import fleet_catalogue

sys.modules[__name__] = fleet_catalogue
