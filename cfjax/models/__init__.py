"""Recommenders by name. Each is a `Recommender`: pure functions over a params pytree, plus
the hooks explainers use (`base.HOOKS`). Bring your own with `Recommender(...)` or
`from_linen(module, ...)`.

  base.py       `Recommender`, its hooks, `MissingHookError`, `from_linen`, `weighted_loss`
  registry.py   `MODELS`: each model's factory, default training recipe and tiny settings;
                `make_model`, `available_models` (Mult-VAE as an amortised entry)
  domains.py    the domain of every hyperparameter, checked before a model is built
  mf.py         biased matrix factorisation (rating regression)
  ncf.py        ACCENT's NeuMF (GMF + MLP)
  rcf.py        RCF, relational collaborative filtering (ACCENT's second model)
  multvae.py    Mult-VAE (Liang et al. 2018) and its fold-in view for explainers
  bpr.py        BPR-MF (pairwise ranking on implicit feedback)
  lightgcn.py   LightGCN (a graph whose edges are the training rows)
  ease.py       EASE (closed form; exact counterfactuals by a Woodbury update)
"""

from cfjax.models.base import (HOOKS, MissingHookError, Recommender, from_linen, l2_penalty,
                               linen_functions, weighted_loss, zero_penalty)
from cfjax.models.bpr import make_bpr
from cfjax.models.ease import make_ease
from cfjax.models.lightgcn import make_lightgcn
from cfjax.models.mf import make_mf
from cfjax.models.multvae import MultVAE, fold_in_recommender, make_multvae, train_multvae
from cfjax.models.ncf import make_ncf
from cfjax.models.rcf import build_tables, make_rcf
from cfjax.models.registry import (DEFAULT_RECIPE, MODELS, ModelEntry, Recipe, available_models,
                                   make_model)

__all__ = ["DEFAULT_RECIPE", "HOOKS", "MODELS", "MissingHookError", "ModelEntry", "MultVAE",
           "Recipe", "Recommender", "available_models", "fold_in_recommender", "from_linen",
           "l2_penalty", "linen_functions", "make_bpr", "make_ease", "make_lightgcn", "make_mf",
           "make_model", "make_multvae", "make_ncf", "train_multvae", "weighted_loss",
           "zero_penalty"]
