"""Recommenders by name. Each is a `Recommender`: pure functions over a params pytree, plus
the hooks explainers use (`base.HOOKS`). Bring your own with `Recommender(...)` or
`from_linen(module, ...)`.

The registry `MODELS` (`cfjax.models.registry`) holds each model's factory, its default
training recipe and tiny test settings; Mult-VAE is there as an amortised entry."""

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
