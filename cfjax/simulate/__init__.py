"""Simulating counterfactual outcomes (Yao et al., Algorithm 2) and their resumable store."""

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
