"""LightGCN (He et al., SIGIR 2020): embeddings propagated over the user-item graph.

The training rows are the edges of a bipartite graph. With A the user-item matrix, degrees d
and the symmetric normalisation of He et al. (eq. 3, 5):

  e_u^(k+1) = sum_i  a_ui / sqrt(d_u d_i) e_i^(k),   e_i^(k+1) = sum_u a_ui / sqrt(d_u d_i) e_u^(k),
  e = 1/(K+1) sum_{k=0..K} e^(k),   f(u, i) = <e_u, e_i>,

trained with BPR over uniformly sampled negatives (eq. 15) and L2 on the layer-0 embeddings of
the triple's user and items (per row, like BPR-MF: `cfjax.models.bpr`).

**Why the row weight is also the edge weight.** An interaction enters LightGCN twice: as a
BPR loss term and as an edge that carries embeddings between u and i (and, through the
degrees, rescales every other edge of u and of i). The model trained on the data without the
interaction has neither. So here a_ui = w_n, the weight of row n, and the degrees are sums of
weights, d_u = sum_{n of u} w_n: a row weighted 0 removes its loss term AND its edge, and the
normalised graph equals the one built without the row (tested). Deleting only the loss term
would leave the deleted item's embedding flowing into e_u at every layer, so the
"counterfactual" would still be trained on the very interaction it claims to remove.
`Recommender.attach_weights` puts the weights into the params (the untrained leaf
"edge_weight") before training, so the engine's deletions reach the graph, and the scores of a
retrained model use its own graph. Influence-style explainers (which differentiate the loss
w.r.t. the embeddings at a fixed graph) see only the loss term of a row, not its edge: their
first-order estimate misses the graph change, which retraining-based verification measures.

The model is built for its training rows (`make_lightgcn(..., users, items)`, or
make_model("lightgcn", train)); the engine's rows must be those, in that order.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cfjax.models.domains import check_domains
from cfjax.models.base import Recommender, adam_with_schedule, row_weights_leaf
from cfjax.models.bpr import uniform_negatives
from cfjax.types import Array, Params


def _inverse_sqrt(degree: Array) -> Array:
  """1 / sqrt(d), and 0 for an isolated node (degree 0: no edge to normalise)."""
  safe = jnp.where(degree > 0, degree, 1.0)
  return jnp.where(degree > 0, jax.lax.rsqrt(safe), 0.0)


def propagate(user_embedding: Array, item_embedding: Array, users: Array, items: Array,
              edge_weight: Array, num_layers: int) -> tuple[Array, Array]:
  """The layer-averaged embeddings of He et al. eq. 5 over a weighted bipartite graph.

  Args:
    user_embedding: [U, D] layer-0 user embeddings.
    item_embedding: [I, D] layer-0 item embeddings.
    users: int32[N] the edges' users (training rows).
    items: int32[N] the edges' items.
    edge_weight: float32[N] a_ui of each edge (0: no edge); degrees are sums of weights.
    num_layers: K.

  Returns:
    (users [U, D], items [I, D]): 1/(K+1) sum_k e^(k).
  """
  num_users, num_items = user_embedding.shape[0], item_embedding.shape[0]
  user_degree = jax.ops.segment_sum(edge_weight, users, num_users)
  item_degree = jax.ops.segment_sum(edge_weight, items, num_items)
  norm = (edge_weight * _inverse_sqrt(user_degree)[users] * _inverse_sqrt(item_degree)[items])
  layer_u, layer_i = user_embedding, item_embedding
  total_u, total_i = layer_u, layer_i
  for _ in range(num_layers):
    layer_u, layer_i = (jax.ops.segment_sum(norm[:, None] * layer_i[items], users, num_users),
                        jax.ops.segment_sum(norm[:, None] * layer_u[users], items, num_items))
    total_u, total_i = total_u + layer_u, total_i + layer_i
  return total_u / (num_layers + 1), total_i / (num_layers + 1)


def make_lightgcn(num_users: int, num_items: int, users, items, *, dim: int = 64,
                  num_layers: int = 3, l2: float = 1e-4, learning_rate: float = 0.01,
                  init_std: float = 0.1, schedule: str = "constant",
                  decay_steps: int | None = None) -> Recommender:
  """Builds LightGCN over the graph of the training rows (users[n], items[n]).

  Args:
    num_users: U.
    num_items: I.
    users: int[N] the training rows' users (the graph's edges), in the engine's row order.
    items: int[N] the training rows' items.
    dim: embedding dimension D (64 in He et al.).
    num_layers: propagation layers K (3 in He et al.).
    l2: lambda of the per-row L2 term on the triple's layer-0 embeddings.
    learning_rate: Adam step size.
    init_std: standard deviation of the normal init (He et al.: Xavier; 0.1 here).
    schedule: "constant" Adam, or "cosine" decaying to 0 over decay_steps.
    decay_steps: steps of the cosine decay.

  Returns:
    A `Recommender` with samples_negatives, attach_weights (the row weights are the edge
    weights) and the hooks item_embeddings / user_embeddings (propagated) and related_rows
    (the layer-0 rows of u and i).

  Raises:
    ValueError: users/items of different lengths or out of range.
  """
  check_domains("lightgcn", dim=dim, num_layers=num_layers, l2=l2, learning_rate=learning_rate,
                init_std=init_std, decay_steps=decay_steps)
  users = np.asarray(users, np.int32)
  items = np.asarray(items, np.int32)
  if users.shape != items.shape or users.ndim != 1:
    raise ValueError(f"lightgcn: users {users.shape} and items {items.shape} must be equal "
                     "[N] arrays (the training rows)")
  if users.size and (users.min() < 0 or users.max() >= num_users or items.min() < 0
                     or items.max() >= num_items):
    raise ValueError("lightgcn: the training rows' ids must lie in [0, num_users) and "
                     "[0, num_items); pass the training data's dense ids")
  num_rows = int(users.size)
  edge_users, edge_items = jnp.asarray(users), jnp.asarray(items)

  def init(key):
    user_key, item_key = jax.random.split(key)
    return {"user_embedding": init_std * jax.random.normal(user_key, (num_users, dim)),
            "item_embedding": init_std * jax.random.normal(item_key, (num_items, dim)),
            "edge_weight": jnp.ones((num_rows,), jnp.float32)}

  def final(params: Params) -> tuple[Array, Array]:
    weight = jax.lax.stop_gradient(params["edge_weight"])  # the data, not a parameter
    return propagate(params["user_embedding"], params["item_embedding"], edge_users,
                     edge_items, weight, num_layers)

  def predict(params, users, items):
    user_final, item_final = final(params)
    return jnp.sum(user_final[users] * item_final[items], axis=-1)

  def scores(params, users):
    user_final, item_final = final(params)
    return user_final[users] @ item_final.T

  def row_losses(params, users, items, ratings, *, key):
    del ratings  # implicit: every row is a positive
    negatives = uniform_negatives(key, users.shape[0], num_items)
    user_final, item_final = final(params)
    margin = jnp.sum(user_final[users] * (item_final[items] - item_final[negatives]), axis=-1)
    ego_u = params["user_embedding"][users]
    ego_i, ego_j = params["item_embedding"][items], params["item_embedding"][negatives]
    norms = jnp.sum(ego_u * ego_u, -1) + jnp.sum(ego_i * ego_i, -1) + jnp.sum(ego_j * ego_j, -1)
    return -jax.nn.log_sigmoid(margin) + l2 * norms

  attach_weights = row_weights_leaf("lightgcn", num_rows, "edge_weight")

  return Recommender(
      name="lightgcn", num_users=num_users, num_items=num_items, init=init, predict=predict,
      scores=scores, row_losses=row_losses,
      optimizer=adam_with_schedule(learning_rate, schedule, decay_steps),
      hparams=dict(dim=dim, num_layers=num_layers, l2=l2, learning_rate=learning_rate,
                   init_std=init_std,
                   **({} if schedule == "constant" else
                      {"schedule": schedule, "decay_steps": decay_steps})),
      samples_negatives=True, attach_weights=attach_weights,
      item_embeddings=lambda params: final(params)[1],
      user_embeddings=lambda params: final(params)[0],
      related_rows=lambda user, item: ((("user_embedding",), user),
                                       (("item_embedding",), item)))
