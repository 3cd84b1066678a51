"""Simulating counterfactual outcomes (Yao et al., Algorithm 2) and their resumable store.

  sampling.py   deterministic deletion subsets of a user's history (Algorithm 2, line 6)
  targets.py    the four definitions of the change Delta y on a target (eqs. 3, 4, 11, 12)
  generate.py   the simulation itself, on the batched engine, in resumable blocks
  store.py      an append-only, interruption-safe store of simulated outcomes
"""

from cfjax.simulate.sampling import deletion_size, sample_subsets, user_subsets
from cfjax.simulate.generate import (SimulationConfig, SimulationData, SimulationPlan,
                                     load_simulation, plan_fingerprint, plan_simulation,
                                     simulate)
from cfjax.simulate.store import SimulationStore
from cfjax.simulate.targets import (DEFINITIONS, all_targets, batched_targets, delta_clf,
                                    delta_cross, delta_rank, delta_reg, minmax_normalise)

__all__ = ["DEFINITIONS", "SimulationConfig", "SimulationData", "SimulationPlan",
           "SimulationStore", "all_targets", "batched_targets", "delta_clf", "delta_cross",
           "delta_rank", "delta_reg", "deletion_size", "load_simulation", "minmax_normalise",
           "plan_fingerprint", "plan_simulation", "sample_subsets", "simulate", "user_subsets"]
