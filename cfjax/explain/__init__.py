"""Counterfactual explainers behind one protocol: `get_explainer(name).explain(ctx, targets)`.

One file per method, each registering itself by name (see `base.py` for the protocol):

  random, none          controls.py      the placebo and the noise floor
  pure_attention, attention  attention.py  ACCENT's attention baselines (sec. 3.3.1), RCF
  knn                   knn.py           Yao et al. sec. 6.1 (item-embedding neighbours)
  influence_function    influence_fn.py  Yao et al. eq. 10
  pure_fia, fia         fia.py           ACCENT's FIA baselines (Tran et al., sec. 3.3.2)
  accent                accent.py        ACCENT (Tran et al., Algorithm 1)
  lasso_reg, mlp_reg, logreg_clf, mlp_clf, lasso_rank, lasso_cross, deepsets_reg,
  coupled_reg           search.py        Yao et al.'s surrogates (surrogate.py, their model
                                         families in surrogate_models.py) and eq. 9
  verified              verified.py      a surrogate's candidates checked by retraining
  lcer                  lcer.py          LCER (Wen et al., Algorithm 1), amortised models
  kaffes                kaffes.py        KaffesCE (a reconstruction), amortised models
  loo_fia, loo_accent   loo.py           Wen et al.'s footnote-9 FIA / ACCENT
  metagrad, metagrad_adaptive  metagrad.py  exact derivatives through training (MAGIC)
  certified             certified.py     any attribution's candidates, confirmed by retraining
  exhaustive            exhaustive.py    every subset up to a size: the exact minimal sets

Every module of this package is imported here (`discover`), so a new method is one file with
one `register` line and no list to edit. Modules that register nothing are declared in
`HELPER_MODULES`; tests/explain/test_discovery.py fails on any other module that registers
nothing. Each method declares its `cost` ("fast", "simulating", "slow"; `base.COSTS`).
"""

import importlib
import pkgutil

from cfjax.explain.base import (COSTS, EXPLAINERS, Explainer, ExplainContext, MissingHookError,
                                Targets, available_explainers, check_supports, cost_of,
                                explainers_costing, explainers_for, get_explainer,
                                has_attributions, missing_hooks, register, run_explainer,
                                top1_targets)

# The modules of this package that register no explainer: the protocol and shared machinery.
HELPER_MODULES = ("base", "surrogate", "surrogate_models")


def discover() -> tuple[str, ...]:
  """Imports every module of this package (each registers its explainers on import), also
  modules on paths added to `cfjax.explain.__path__`; returns their names, sorted."""
  names = sorted(info.name for info in pkgutil.iter_modules(__path__))
  for name in names:
    importlib.import_module(f"{__name__}.{name}")
  return tuple(names)


def unregistered_modules() -> tuple[str, ...]:
  """The discovered modules that register no explainer and are not in `HELPER_MODULES`
  (a method file missing its `register` line); empty when all is well."""
  registering = {EXPLAINERS.origin(name) for name in EXPLAINERS.names()}
  return tuple(name for name in discover()
               if name not in HELPER_MODULES and f"{__name__}.{name}" not in registering)


MODULES = discover()

__all__ = ["COSTS", "EXPLAINERS", "ExplainContext", "Explainer", "HELPER_MODULES", "MODULES",
           "MissingHookError", "Targets", "available_explainers", "check_supports", "cost_of",
           "discover", "explainers_costing", "explainers_for", "get_explainer",
           "has_attributions", "missing_hooks", "register", "run_explainer", "top1_targets",
           "unregistered_modules", *MODULES]
