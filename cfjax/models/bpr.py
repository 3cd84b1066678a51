"""BPR-MF: matrix factorisation trained with Bayesian personalised ranking (Rendle et al. 2009).

f(u, i) = <p_u, q_i> + b_i. Each training row (u, i) is a positive; at every optimizer step it
is paired with a negative item j drawn uniformly from all items with the step's key, and its
loss is BPR-Opt's (Rendle et al., eq. 4 and the per-triple regulariser of LearnBPR):

  l_uij = -log sigma(f(u, i) - f(u, j)) + lambda (|p_u|^2 + |q_i|^2 + |q_j|^2 + b_i^2 + b_j^2).

The negatives come from `key` (`Recommender.samples_negatives`): a function of the seed and
the step only, so every deletion retrained under a seed draws the same negatives. They are
drawn from ALL items, not from the items the user has not seen (LearnBPR's D_S): excluding the
user's positives would make the draw depend on the training rows, so a model with a row
weighted 0 would sample differently from the original, and deleting the row would no longer be
the only difference. On ML-100K about 6 % of uniform draws hit a positive of the user.
Ratings are ignored (implicit feedback: every row is a positive).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from cfjax.models.domains import check_domains
from cfjax.models.base import Recommender, adam_with_schedule
from cfjax.types import Array, PRNGKey


def uniform_negatives(key: PRNGKey, num_rows: int, num_items: int) -> Array:
  """int32[num_rows] items drawn uniformly from [0, num_items) with `key`: a function of the
  key and the batch shape only (never of the rows' weights)."""
  return jax.random.randint(key, (num_rows,), 0, num_items, dtype=jnp.int32)


def make_bpr(num_users: int, num_items: int, *, dim: int = 64, l2: float = 1e-4,
             learning_rate: float = 0.01, init_std: float = 0.1,
             schedule: str = "constant", decay_steps: int | None = None) -> Recommender:
  """Builds BPR-MF (Rendle et al. 2009) with uniformly sampled negatives, trained with Adam.

  Args:
    num_users: U.
    num_items: I.
    dim: latent dimension D.
    l2: lambda of the per-triple L2 term (on p_u, q_i, q_j, b_i, b_j).
    learning_rate: Adam step size.
    init_std: standard deviation of the normal init of the factors.
    schedule: "constant" Adam, or "cosine" decaying to 0 over decay_steps.
    decay_steps: steps of the cosine decay.

  Returns:
    A `Recommender` with `samples_negatives=True` and the hooks item_embeddings,
    user_embeddings and related_rows (FIA's rows of f(u, i): p_u, q_i, b_i).
  """
  check_domains("bpr", dim=dim, l2=l2, learning_rate=learning_rate, init_std=init_std,
                decay_steps=decay_steps)

  def init(key):
    user_key, item_key = jax.random.split(key)
    return {"user_factors": init_std * jax.random.normal(user_key, (num_users, dim)),
            "item_factors": init_std * jax.random.normal(item_key, (num_items, dim)),
            "item_bias": jnp.zeros((num_items,))}

  def predict(params, users, items):
    return (jnp.sum(params["user_factors"][users] * params["item_factors"][items], axis=-1)
            + params["item_bias"][items])

  def scores(params, users):
    return params["user_factors"][users] @ params["item_factors"].T + params["item_bias"]

  def row_losses(params, users, items, ratings, *, key):
    del ratings  # implicit: every row is a positive
    negatives = uniform_negatives(key, users.shape[0], num_items)
    p = params["user_factors"][users]
    q_pos, q_neg = params["item_factors"][items], params["item_factors"][negatives]
    b_pos, b_neg = params["item_bias"][items], params["item_bias"][negatives]
    margin = jnp.sum(p * (q_pos - q_neg), axis=-1) + b_pos - b_neg
    norms = (jnp.sum(p * p, -1) + jnp.sum(q_pos * q_pos, -1) + jnp.sum(q_neg * q_neg, -1)
             + b_pos * b_pos + b_neg * b_neg)
    return -jax.nn.log_sigmoid(margin) + l2 * norms

  return Recommender(
      name="bpr", num_users=num_users, num_items=num_items, init=init, predict=predict,
      scores=scores, row_losses=row_losses,
      optimizer=adam_with_schedule(learning_rate, schedule, decay_steps),
      hparams=dict(dim=dim, l2=l2, learning_rate=learning_rate, init_std=init_std,
                   **({} if schedule == "constant" else
                      {"schedule": schedule, "decay_steps": decay_steps})),
      samples_negatives=True,
      item_embeddings=lambda params: params["item_factors"],
      user_embeddings=lambda params: params["user_factors"],
      related_rows=lambda user, item: ((("user_factors",), user), (("item_factors",), item),
                                       (("item_bias",), item)))
