"""ncplace: where to put PyTorch models on AWS Inferentia and Trainium NeuronCores.

Emulate the Neuron runtime's documented placement, compare the documented techniques, optimise
explicit ``neuron_cores_context`` placements with CP-SAT, and generate the code that reproduces them.
"""

from .errors import ConfigError, CoresUnavailable, Error, PlacementError
from .hardware import INSTANCES, Instance, instance
from .layout import Layout, Placement, ProcessSpan
from .mix import Mix, Model
from .runtime import Loaded, Process, Runtime
from .score import Score, score

__version__ = "0.1.0"

__all__ = [
    "INSTANCES",
    "ConfigError",
    "CoresUnavailable",
    "Error",
    "Instance",
    "Layout",
    "Loaded",
    "Mix",
    "Model",
    "Placement",
    "PlacementError",
    "Process",
    "ProcessSpan",
    "Runtime",
    "Score",
    "__version__",
    "instance",
    "score",
]
