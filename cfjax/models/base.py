"""The recommender contract shared by every model in cfjax.

A recommender is a bundle of pure functions over a params pytree (Flax Linen `init`/`apply`
underneath). Training code only ever needs `init` and `row_losses`/`penalty`; explainers and
evaluation need `predict` and `scores`. Keeping the loss *per row* is what makes a
counterfactual model a reweighting of the original one (Yao et al., eq. 1).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from cfjax.types import Array, Params, PRNGKey


@dataclasses.dataclass(frozen=True)
class Recommender:
  """A recommender as pure functions. Static: hashable by identity, never traced.

  Attributes:
    name: registry name, e.g. "mf".
    num_users: U.
    num_items: I.
    init: key -> params.
    predict: (params, users: int32[B], items: int32[B]) -> float32[B] predicted scores.
    scores: (params, users: int32[B]) -> float32[B, I] scores of every item.
    row_losses: (params, users[B], items[B], ratings[B]) -> float32[B], the loss of each
      training row, including any per-row regulariser.
    penalty: params -> scalar, a regulariser on the parameters that does not depend on rows.
    optimizer: the optax optimizer the model is trained with.
    hparams: the hyperparameters, for config files.
  """

  name: str
  num_users: int
  num_items: int
  init: Callable[[PRNGKey], Params]
  predict: Callable[[Params, Array, Array], Array]
  scores: Callable[[Params, Array], Array]
  row_losses: Callable[[Params, Array, Array, Array], Array]
  penalty: Callable[[Params], Array]
  optimizer: optax.GradientTransformation
  hparams: dict = dataclasses.field(default_factory=dict)

  __hash__ = object.__hash__
  __eq__ = object.__eq__


def weighted_loss(model: Recommender, params: Params, users: Array, items: Array,
                  ratings: Array, weights: Array) -> Array:
  """Weighted training loss over a batch of rows (Yao et al., eq. 1).

  L(theta) = sum_n w_n * l_n(theta) / max(sum_n w_n, 1) + penalty(theta).
  Normalising by the kept weight makes full-batch training with rows weighted zero
  identical to training on the data without those rows.

  Args:
    model: the recommender.
    params: its parameters.
    users, items, ratings: [B] rows of the batch.
    weights: [B] per-row multipliers (0 deletes a row).

  Returns:
    The scalar loss.
  """
  losses = model.row_losses(params, users, items, ratings)
  total_weight = jnp.maximum(jnp.sum(weights), 1.0)
  return jnp.sum(weights * losses) / total_weight + model.penalty(params)


def linen_functions(module) -> tuple[Callable, Callable, Callable]:
  """(init, predict, scores) of a Linen module with `__call__(users, items)` and `all_scores`.

  init: key -> params; predict: (params, users[B], items[B]) -> [B];
  scores: (params, users[B]) -> [B, I].
  """
  dummy = jnp.zeros((1,), jnp.int32)

  def init(key):
    return module.init(key, dummy, dummy)["params"]

  def predict(params, users, items):
    return module.apply({"params": params}, users, items)

  def scores(params, users):
    return module.apply({"params": params}, users, method=type(module).all_scores)

  return init, predict, scores


def l2_penalty(params: Params) -> Array:
  """1/2 * sum of squares of every parameter (TensorFlow's `l2_loss` summed)."""
  return 0.5 * sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(params))
