"""EASE (Steck, WWW 2019): a closed-form item-item model, and its exact counterfactuals.

With X the [U, I] user-item matrix (binary: each training row is a 1), EASE solves
min_B ||X - X B||_F^2 + lambda ||B||_F^2 subject to diag(B) = 0 in closed form (Steck, eq. 8):

  P = (X^T X + lambda I)^{-1},     B = I - P diag(1 / diag P),     f(u, .) = x_u B.

A row weight w_n scales the entry X[u_n, i_n] = w_n (0: the interaction is absent), so EASE
trained on weights with some rows at 0 IS EASE trained without them, in closed form: there is
no optimizer, no seed and no noise. That makes EASE cfjax's noise-free ground truth.

**Counterfactuals by a low-rank update.** Deleting R rows (u_n, i_n) with values v_n changes X
by D = sum_n v_n e_{u_n} e_{i_n}^T, hence the Gram matrix G = X^T X + lambda I by

  Delta G = -X^T D - D^T X + D^T D = -A E^T - E A^T + E S E^T = W C W^T,

with A = [v_n x_{u_n}] and E = [e_{i_n}] ([I, R] each), S_nm = v_n v_m [u_n = u_m], W = [A, E]
([I, 2R]) and C = [[0, -I], [-I, S]] (C^{-1} = [[-S, -I], [-I, 0]]). Woodbury then gives
P' = P - P W K^{-1} W^T P with K = C^{-1} + W^T P W ([2R, 2R]; invertible because G' is), and
a user's counterfactual scores x'_u B' need only x'_u P' and diag(P'): O(I^2 R) per deletion
instead of a fresh O(I^3) inversion. `counterfactual_scores` does this vmapped over
deletions; it is the model's `exact_retrain` hook, which `cfjax.train.retrain_user_scores`
(hence `verify`) uses instead of the engine. The engine route also works and is exact: the
model's `closed_form` hook solves EASE from the attached weights (`attach_weights`) in `fit`.

EASE has no per-row loss (its objective is quadratic in the entries of X, not a weighted sum
of per-interaction terms), so explainers built on row losses (influence functions, FIA,
ACCENT, the surrogates) do not apply; knn reads B's rows as item embeddings.

The model is built for its training rows (`make_ease(..., users, items)`, or
make_model("ease", train)); the engine's rows must be those, in that order.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from cfjax.models.domains import check_domains
from cfjax.models.base import Recommender, row_weights_leaf
from cfjax.types import Array, Params


def dense_matrix(users: Array, items: Array, values: Array, num_users: int,
                 num_items: int) -> Array:
  """X [U, I] with X[users[n], items[n]] += values[n]."""
  return jnp.zeros((num_users, num_items), jnp.float32).at[users, items].add(values)


def ease_weights(x: Array, l2: float) -> tuple[Array, Array]:
  """(B [I, I], P [I, I]) of EASE on X (Steck eq. 8): P = (X^T X + l2 I)^{-1},
  B = I - P diag(1/diag P) with diag(B) = 0 exactly."""
  num_items = x.shape[1]
  gram = x.T @ x + l2 * jnp.eye(num_items, dtype=x.dtype)
  precision = jnp.linalg.inv(gram)
  precision = 0.5 * (precision + precision.T)
  b = -precision / jnp.diag(precision)[None, :]
  return b.at[jnp.diag_indices(num_items)].set(0.0), precision


def woodbury_user_scores(precision: Array, x: Array, del_users: Array, del_items: Array,
                         del_values: Array, user: Array) -> Array:
  """One user's EASE scores after deleting R rows, by a rank-2R update (module docstring).

  Args:
    precision: P [I, I] of the full data.
    x: X [U, I] of the full data.
    del_users: int32[R] the deleted rows' user ids (any, where del_values is 0).
    del_items: int32[R] the deleted rows' item ids (any, where del_values is 0).
    del_values: float32[R] the deleted entries' values v_n (0 for padding).
    user: the user whose scores to return.

  Returns:
    float32[I]: x'_u B' (the deleted entries of x_u set to 0).
  """
  num_rows = del_users.shape[0]
  active = (del_values != 0).astype(x.dtype)
  a = (del_values[:, None] * x[del_users]).T                                # [I, R]
  e = (jax.nn.one_hot(del_items, x.shape[1], dtype=x.dtype) * active[:, None]).T  # [I, R]
  same_user = (del_users[:, None] == del_users[None, :]).astype(x.dtype)
  s = del_values[:, None] * del_values[None, :] * same_user                 # [R, R]
  eye, zero = jnp.eye(num_rows, dtype=x.dtype), jnp.zeros((num_rows, num_rows), x.dtype)
  c_inverse = jnp.block([[-s, -eye], [-eye, zero]])
  pw = jnp.concatenate([precision @ a, precision @ e], axis=1)             # P W [I, 2R]
  w = jnp.concatenate([a, e], axis=1)
  k = c_inverse + w.T @ pw
  x_user = x[user] - jnp.sum(e * (del_values * (del_users == user))[None, :], axis=1)
  xp = x_user @ precision - (x_user @ pw) @ jnp.linalg.solve(k, pw.T)
  diag = jnp.diag(precision) - jnp.sum(pw * jnp.linalg.solve(k, pw.T).T, axis=1)
  return x_user - xp / diag


def make_ease(num_users: int, num_items: int, users, items, ratings=None, *,
              l2: float = 200.0, use_ratings: bool = False) -> Recommender:
  """Builds EASE (Steck 2019) over the training rows (users[n], items[n]).

  Args:
    num_users: U.
    num_items: I.
    users: int[N] the training rows' users, in the engine's row order.
    items: int[N] the training rows' items.
    ratings: float[N] their ratings (used only with use_ratings).
    l2: lambda of the ridge term (Steck: 500 on ML-20M; smaller data want less).
    use_ratings: X holds the ratings instead of 1 (default: binary, as Steck).

  Returns:
    A `Recommender` with no row_losses and the hooks attach_weights, closed_form,
    exact_retrain (Woodbury, vmapped over deletions), item_embeddings (B's rows) and
    user_embeddings (the rows of X).
  """
  check_domains("ease", l2=l2)
  users = np.asarray(users, np.int32)
  items = np.asarray(items, np.int32)
  if users.shape != items.shape or users.ndim != 1:
    raise ValueError(f"ease: users {users.shape} and items {items.shape} must be equal [N] "
                     "arrays (the training rows)")
  if float(l2) <= 0:
    raise ValueError(f"ease: l2={l2} must be > 0 (X^T X alone is singular for sparse data)")
  if use_ratings and ratings is None:
    raise ValueError("ease: use_ratings=True needs ratings=")
  values_np = (np.asarray(ratings, np.float32) if use_ratings
               else np.ones(users.shape, np.float32))
  num_rows = int(users.size)
  row_users, row_items, row_values = map(jnp.asarray, (users, items, values_np))

  def matrix(weights):
    # the barrier stops XLA from constant-folding X^T X when the weights are constants
    # (e.g. all ones inside a jitted training of the original): minutes of compile for nothing
    weights = jax.lax.optimization_barrier(weights)
    return dense_matrix(row_users, row_items, weights * row_values, num_users, num_items)

  def init(key):
    del key
    return {"B": jnp.zeros((num_items, num_items), jnp.float32),
            "weights": jnp.ones((num_rows,), jnp.float32)}

  attach_weights = row_weights_leaf("ease", num_rows, "weights")

  def closed_form(params):
    return {"B": ease_weights(matrix(params["weights"]), float(l2))[0],
            "weights": params["weights"]}

  def scores(params, users):
    return matrix(params["weights"])[users] @ params["B"]

  def predict(params, users, items):
    x = matrix(params["weights"])
    return jnp.sum(x[users] * params["B"][:, items].T, axis=-1)

  @functools.lru_cache(maxsize=1)
  def full_solution():
    x = matrix(jnp.ones((num_rows,), jnp.float32))
    return x, ease_weights(x, float(l2))[1]

  @jax.jit
  def _counterfactual(x, precision, rows, readout_users):
    def one(deleted, user):
      valid = deleted >= 0
      index = jnp.where(valid, deleted, 0)
      return woodbury_user_scores(precision, x, row_users[index], row_items[index],
                                  jnp.where(valid, row_values[index], 0.0), user)
    return jax.vmap(one)(rows, readout_users)

  def exact_retrain(deleted_rows, readout_users):
    """float32[M, I]: user readout_users[m]'s scores under EASE refit without the rows
    deleted_rows[m] (int[M, R], -1 padding), by Woodbury from the full data's P."""
    x, precision = full_solution()
    rows = jnp.asarray(deleted_rows, jnp.int32)
    if rows.ndim != 2 or (rows.size and int(rows.max()) >= num_rows):
      raise ValueError(f"deleted_rows must be int[M, R] row indices below {num_rows}, padded "
                       "with -1")
    return _counterfactual(x, precision, rows, jnp.asarray(readout_users, jnp.int32))

  return Recommender(
      name="ease", num_users=num_users, num_items=num_items, init=init, predict=predict,
      scores=scores, row_losses=None, hparams=dict(l2=float(l2), use_ratings=bool(use_ratings)),
      attach_weights=attach_weights, closed_form=closed_form, exact_retrain=exact_retrain,
      item_embeddings=lambda params: params["B"],
      user_embeddings=lambda params: matrix(params["weights"]))


def counterfactual_scores(model: Recommender, deleted_rows, users) -> np.ndarray:
  """[M, I] scores of users[m] under `model` (EASE) refit exactly without deleted_rows[m]
  (int[M, R], -1 padding): the model's `exact_retrain` hook."""
  return np.asarray(model.require("exact_retrain", "exact counterfactual scores")(
      deleted_rows, users))


def fitted_params(model: Recommender) -> Params:
  """EASE's params on all its training rows (closed form, no training loop)."""
  params = model.init(jax.random.PRNGKey(0))
  return model.closed_form(params)
