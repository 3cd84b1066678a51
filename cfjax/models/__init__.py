"""Recommenders by name. Each is a `Recommender`: pure functions over a params pytree, plus
the hooks explainers use (`base.HOOKS`). Bring your own with `Recommender(...)` or
`from_linen(module, ...)`."""

from __future__ import annotations

from typing import Callable

from cfjax.models.base import (HOOKS, MissingHookError, Recommender, from_linen, l2_penalty,
                               linen_functions, weighted_loss, zero_penalty)
from cfjax.models.bpr import make_bpr
from cfjax.models.ease import make_ease
from cfjax.models.lightgcn import make_lightgcn
from cfjax.models.mf import make_mf
from cfjax.models.multvae import MultVAE, fold_in_recommender, make_multvae, train_multvae
from cfjax.models.ncf import make_ncf
from cfjax.models.rcf import build_tables, make_rcf


def _mf(data, **hparams) -> Recommender:
  hparams.setdefault("global_mean", float(data.rating.mean()) if len(data) else 0.0)
  return make_mf(data.num_users, data.num_items, **hparams)


def _ncf(data, **hparams) -> Recommender:
  return make_ncf(data.num_users, data.num_items, **hparams)


def _rcf(data, **hparams) -> Recommender:
  if not getattr(data, "attributes", None):
    raise ValueError("rcf needs item side data (genres, directors, actors, relations); load "
                     "the data with load('accent-rcf')")
  tables = build_tables(data.user, data.item, data.num_users, data.num_items, data.attributes,
                        data.num_values, data.relations)
  return make_rcf(tables, data.num_users, data.num_items, **hparams)


def _lightgcn(data, **hparams) -> Recommender:
  return make_lightgcn(data.num_users, data.num_items, data.user, data.item, **hparams)


def _ease(data, **hparams) -> Recommender:
  return make_ease(data.num_users, data.num_items, data.user, data.item, data.rating,
                   **hparams)


# name -> (interactions, **hparams) -> Recommender; data-dependent defaults live here.
_FACTORIES: dict[str, Callable[..., Recommender]] = {"mf": _mf, "ncf": _ncf}
_FACTORIES["bpr"] = lambda data, **hparams: make_bpr(data.num_users, data.num_items, **hparams)
_FACTORIES["lightgcn"] = _lightgcn
_FACTORIES["ease"] = _ease
_FACTORIES["rcf"] = _rcf


def available_models() -> tuple[str, ...]:
  """Names accepted by `make_model`."""
  return tuple(sorted(_FACTORIES))


def make_model(name: str, data, **hparams) -> Recommender:
  """Builds the recommender `name` sized for `data` (an `Interactions`).

  For "mf", the global bias starts at the training mean rating unless given. "lightgcn" and
  "ease" are built for `data`'s rows (the graph's edges, EASE's X): train them on that data.
  "bpr", "lightgcn" and "ease" treat every row as an implicit positive.

  Raises:
    ValueError: on an unknown name or hyperparameter (one line naming the choices).
  """
  if name not in _FACTORIES:
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(available_models())}")
  try:
    return _FACTORIES[name](data, **hparams)
  except TypeError as error:
    raise ValueError(f"model {name!r}: {error}") from None


__all__ = ["HOOKS", "MissingHookError", "MultVAE", "Recommender", "available_models",
           "fold_in_recommender", "from_linen", "l2_penalty", "linen_functions", "make_bpr",
           "make_ease", "make_lightgcn", "make_mf",
           "make_model", "make_multvae", "make_ncf", "train_multvae", "weighted_loss",
           "zero_penalty"]
