"""Counterfactual explainers behind one protocol: `get_explainer(name).explain(ctx, targets)`.

One file per method, each registering itself by name (see `base.py` for the protocol):

  random, none          controls.py      the placebo and the noise floor
  pure_attention, attention  attention.py  ACCENT's attention baselines (sec. 3.3.1), RCF
  knn                   knn.py           Yao et al. sec. 6.1 (item-embedding neighbours)
  influence_function    influence_fn.py  Yao et al. eq. 10
  pure_fia, fia         fia.py           ACCENT's FIA baselines (Tran et al., sec. 3.3.2)
  accent                accent.py        ACCENT (Tran et al., Algorithm 1)
  lasso_reg, mlp_reg, logreg_clf, mlp_clf, lasso_rank, lasso_cross, deepsets_reg,
  coupled_reg           search.py        Yao et al.'s surrogates (surrogate.py) and eq. 9
  verified              verified.py      a surrogate's candidates checked by retraining
  lcer                  lcer.py          LCER (Wen et al., Algorithm 1), amortised models
  kaffes                kaffes.py        KaffesCE (a reconstruction), amortised models
  loo_fia, loo_accent   loo.py           Wen et al.'s footnote-9 FIA / ACCENT
  metagrad, metagrad_adaptive  metagrad.py  exact derivatives through training (MAGIC)
  certified             certified.py     any attribution's candidates, confirmed by retraining
  exhaustive            exhaustive.py    every subset up to a size: the exact minimal sets
"""

from cfjax.explain import (accent, attention, controls, fia, influence_fn, kaffes, knn, lcer, loo,
                           search, surrogate, surrogate_models, verified)
from cfjax.explain import certified, exhaustive, metagrad  # noqa: F401  (registration)
from cfjax.explain.base import (Explainer, ExplainContext, MissingHookError, Targets,
                                available_explainers, check_supports, explainers_for,
                                get_explainer, has_attributions, missing_hooks, register,
                                run_explainer, top1_targets)

__all__ = ["ExplainContext", "Explainer", "MissingHookError", "Targets", "accent", "attention",
           "available_explainers", "check_supports", "controls", "explainers_for", "fia",
           "get_explainer", "has_attributions", "influence_fn", "kaffes", "knn", "lcer", "loo",
           "missing_hooks", "register", "run_explainer", "search", "surrogate", "surrogate_models",
           "top1_targets", "verified"]
