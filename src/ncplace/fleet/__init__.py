"""Fleet planning: the cheapest set of instances for a catalogue of models, each instance placed.

``plan_fleet(catalogue, types, prices=..., target_scale=X)`` assigns every model's copies to
instances of the candidate types (:mod:`.assign`, CP-SAT), proves a lower bound on the cost
(:mod:`.bound`), and optimises each instance with :func:`ncplace.optimize` on a local process
pool or Ray (:mod:`.execute`). OR-Tools is imported only when a fleet is solved.
"""

from .catalogue import Catalogue, PriceList
from .plan import FleetPlan, InstancePlan
from .solve import plan_fleet

__all__ = ["Catalogue", "FleetPlan", "InstancePlan", "PriceList", "plan_fleet"]
