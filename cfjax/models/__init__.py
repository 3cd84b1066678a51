"""Recommenders by name. Each is a `Recommender`: pure functions over a params pytree."""

from __future__ import annotations

from cfjax.models.base import Recommender, l2_penalty, weighted_loss
from cfjax.models.mf import make_mf
from cfjax.models.multvae import MultVAE, make_multvae, train_multvae
from cfjax.models.ncf import make_ncf

_FACTORIES = {"mf": make_mf, "ncf": make_ncf}


def available_models() -> tuple[str, ...]:
  return tuple(sorted(_FACTORIES))


def make_model(name: str, data, **hparams) -> Recommender:
  """Builds the recommender `name` sized for `data` (an `Interactions`).

  For "mf", the global bias starts at the training mean rating unless given.
  """
  if name not in _FACTORIES:
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(available_models())}")
  if name == "mf":
    hparams.setdefault("global_mean", float(data.rating.mean()) if len(data) else 0.0)
  return _FACTORIES[name](data.num_users, data.num_items, **hparams)


__all__ = ["MultVAE", "make_multvae", "train_multvae", "Recommender", "available_models", "l2_penalty", "make_mf", "make_model",
           "make_ncf", "weighted_loss"]
