"""ncplace: where to put PyTorch models on AWS Inferentia and Trainium NeuronCores.

Emulate the Neuron runtime's documented placement, compare the documented techniques, optimise
explicit ``neuron_cores_context`` placements with CP-SAT, and generate the code that reproduces
them.
"""

from typing import TYPE_CHECKING, Any

from .codegen import generate_code, generate_scripts
from .comparison import Comparison, compare
from .deploy import k8s_manifests, launch_script
from .dryrun import ReplayReport, replay, replay_file, replay_report
from .errors import ConfigError, CoresUnavailable, Error, InfeasibleMix, PlacementError
from .hardware import INSTANCES, Instance, instance
from .latency import Simulation, max_scale, simulate
from .layout import Layout, Placement, ProcessSpan
from .mix import Mix, Model
from .monitor import Observation, ObservedModel, read_monitor
from .optimize import Plan, Status
from .policies import POLICIES, Policy
from .processes import ProcessSpec
from .runtime import Loaded, Process, Runtime
from .scenario import Scenario, emulate_file, load_scenario
from .score import Score, score

if TYPE_CHECKING:
    from .optimize.solve import optimize

# Importing the subpackage above bound ``optimize`` to it; the name is the function, which
# __getattr__ imports on first use together with OR-Tools.
del globals()["optimize"]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "optimize":
        from .optimize.solve import optimize

        globals()["optimize"] = optimize
        return optimize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "INSTANCES",
    "POLICIES",
    "Comparison",
    "ConfigError",
    "CoresUnavailable",
    "Error",
    "InfeasibleMix",
    "Instance",
    "Layout",
    "Loaded",
    "Mix",
    "Model",
    "Observation",
    "ObservedModel",
    "Placement",
    "PlacementError",
    "Plan",
    "Policy",
    "Process",
    "ProcessSpan",
    "ProcessSpec",
    "ReplayReport",
    "Runtime",
    "Scenario",
    "Score",
    "Simulation",
    "Status",
    "__version__",
    "compare",
    "emulate_file",
    "generate_code",
    "generate_scripts",
    "instance",
    "k8s_manifests",
    "launch_script",
    "load_scenario",
    "max_scale",
    "optimize",
    "read_monitor",
    "replay",
    "replay_file",
    "replay_report",
    "score",
    "simulate",
]
