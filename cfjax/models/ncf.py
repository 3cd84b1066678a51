"""NeuMF (He et al., 2017) exactly as ACCENT (Tran et al., 2021) trains it on ratings.

Four embedding tables of size 16 (GMF user/item, MLP user/item); the MLP tower maps the
concatenated MLP embeddings 32 -> 16 -> 8 with ReLU; the GMF tower is the elementwise
product of the GMF embeddings (16); their concatenation (24) goes through one linear layer to
the predicted rating. All weights start from a truncated normal with std 1/sqrt(16). Loss:
mean squared error over the batch plus 1e-3 * 1/2 ||w||^2 over all weights; Adam 1e-3;
batches of 1246 rows, reshuffled each epoch.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from cfjax.models.domains import check_domains
from cfjax.models.base import Recommender, adam_with_schedule, l2_penalty, linen_functions


class NeuMF(nn.Module):
  """GMF and MLP towers fused by a linear layer."""

  num_users: int
  num_items: int
  dim: int = 16
  mlp_layers: tuple[int, ...] = (16, 8)

  def setup(self):
    init = nn.initializers.truncated_normal(stddev=1.0 / jnp.sqrt(16.0))
    self.gmf_user = nn.Embed(self.num_users, self.dim, embedding_init=init)
    self.gmf_item = nn.Embed(self.num_items, self.dim, embedding_init=init)
    self.mlp_user = nn.Embed(self.num_users, self.dim, embedding_init=init)
    self.mlp_item = nn.Embed(self.num_items, self.dim, embedding_init=init)
    self.mlp = [nn.Dense(width, kernel_init=init) for width in self.mlp_layers]
    self.output = nn.Dense(1, kernel_init=init)

  def _head(self, gmf_user, gmf_item, mlp_user, mlp_item):
    hidden = jnp.concatenate([mlp_user, mlp_item], axis=-1)
    for layer in self.mlp:
      hidden = nn.relu(layer(hidden))
    return self.output(jnp.concatenate([gmf_user * gmf_item, hidden], axis=-1))[..., 0]

  def __call__(self, users, items):
    return self._head(self.gmf_user(users), self.gmf_item(items),
                      self.mlp_user(users), self.mlp_item(items))

  def all_scores(self, users):
    """Scores of every item for each user: [B, I]."""
    shape = (users.shape[0], self.num_items, self.dim)
    return self._head(
        jnp.broadcast_to(self.gmf_user(users)[:, None], shape),
        jnp.broadcast_to(self.gmf_item.embedding[None], shape),
        jnp.broadcast_to(self.mlp_user(users)[:, None], shape),
        jnp.broadcast_to(self.mlp_item.embedding[None], shape))


def make_ncf(num_users: int, num_items: int, *, dim: int = 16,
             mlp_layers: tuple[int, ...] = (16, 8), weight_decay: float = 1e-3,
             learning_rate: float = 1e-3, schedule: str = "constant",
             decay_steps: int | None = None) -> Recommender:
  """Builds ACCENT's NeuMF rating model.

  Args:
    num_users: U.
    num_items: I.
    dim: size of each of the 4 embedding tables (16 in ACCENT).
    mlp_layers: widths of the MLP tower after the 2*dim input (16, 8 in ACCENT).
    weight_decay: coefficient of 1/2 ||w||^2 over all weights (1e-3 in ACCENT).
    learning_rate: Adam step size (1e-3 in ACCENT).
    schedule: "constant" Adam (ACCENT), or "cosine" decaying to 0 over
      decay_steps (`adam_with_schedule`).
    decay_steps: steps of the cosine decay.

  Returns:
    A `Recommender`.
  """
  check_domains("ncf", dim=dim, mlp_layers=tuple(mlp_layers), weight_decay=weight_decay,
                learning_rate=learning_rate, decay_steps=decay_steps)
  module = NeuMF(num_users, num_items, dim, tuple(mlp_layers))
  init, predict, scores = linen_functions(module)

  def row_losses(params, users, items, ratings):
    return jnp.square(ratings - predict(params, users, items))

  def embeddings(params, kind):  # [GMF | MLP] embedding of every user or item
    return jnp.concatenate([params[f"gmf_{kind}"]["embedding"],
                            params[f"mlp_{kind}"]["embedding"]], axis=1)

  return Recommender(
      name="ncf", num_users=num_users, num_items=num_items, init=init, predict=predict,
      scores=scores, row_losses=row_losses,
      penalty=lambda params: weight_decay * l2_penalty(params),
      optimizer=adam_with_schedule(learning_rate, schedule, decay_steps),
      hparams=dict(dim=dim, mlp_layers=list(mlp_layers), weight_decay=weight_decay,
                   learning_rate=learning_rate,
                   **({} if schedule == "constant" else
                      {"schedule": schedule, "decay_steps": decay_steps})),
      item_embeddings=lambda params: embeddings(params, "item"),
      user_embeddings=lambda params: embeddings(params, "user"),
      # FIA's 64 parameters in ACCENT: the user's and the item's rows of all four tables.
      related_rows=lambda user, item: (
          (("gmf_user", "embedding"), user), (("mlp_user", "embedding"), user),
          (("gmf_item", "embedding"), item), (("mlp_item", "embedding"), item)))
