"""The KNN baseline (Yao et al., sec. 6.1): the history items nearest the target by cosine."""

import jax
import jax.numpy as jnp
import numpy as np

from cfjax.data.interactions import Interactions
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer
from cfjax.models import Recommender, make_ncf

# Item embeddings in the plane: the target (item 0) points along x; history items at
# decreasing cosine to it, with norms that would reverse the order under a dot product.
ANGLES = np.radians([0, 80, 10, 30, 60, 45])
NORMS = np.asarray([1.0, 9.0, 0.2, 0.5, 4.0, 1.0])
EMBEDDINGS = (NORMS[:, None] * np.stack([np.cos(ANGLES), np.sin(ANGLES)], 1)).astype(np.float32)


def hand_made_context(embeddings=EMBEDDINGS):
  """One user who interacted with items 1..5 of a model whose item embeddings are given."""
  num_items = len(embeddings)
  model = Recommender(name="hand", num_users=1, num_items=num_items, init=lambda key: {},
                      predict=lambda params, users, items: jnp.zeros(users.shape),
                      item_embeddings=lambda params: params["items"])
  items = np.arange(1, num_items, dtype=np.int32)
  train = Interactions(np.zeros_like(items), items, np.ones(len(items), np.float32), 1,
                       num_items)
  return ExplainContext(model=model, params={"items": jnp.asarray(embeddings)}, train=train)


def test_knn_picks_the_most_cosine_similar_history_items():
  ctx = hand_made_context()
  [record] = run_explainer(get_explainer("knn", e=3), ctx, Targets([0], [0]))
  assert record.deleted_items == (2, 3, 5)  # 10, 30 and 45 degrees; not the long item 4
  np.testing.assert_allclose(record.extra["cosine"], np.cos(np.radians([10, 30, 45])),
                             rtol=1e-5)


def test_knn_breaks_ties_by_history_order():
  ctx = hand_made_context(np.asarray([[1, 0], [0, 1], [2, 0], [1, 0], [3, 0]], np.float32))
  [record] = get_explainer("knn", e=2).explain(ctx, Targets([0], [0]))
  assert record.deleted_items == (2, 3)  # items 2, 3 and 4 are all at cosine 1


def test_knn_on_ncf_reads_the_gmf_and_mlp_item_embeddings_side_by_side():
  model = make_ncf(2, 8, dim=3, mlp_layers=(4, 2))
  params = model.init(jax.random.PRNGKey(1))
  train = Interactions(np.zeros(6, np.int32), np.arange(2, 8, dtype=np.int32),
                       np.ones(6, np.float32), 2, 8)
  ctx = ExplainContext(model=model, params=params, train=train)
  [record] = get_explainer("knn", e=2).explain(ctx, Targets([0], [0]))
  both = np.concatenate([np.asarray(params["gmf_item"]["embedding"]),
                         np.asarray(params["mlp_item"]["embedding"])], axis=1)
  unit = both / np.linalg.norm(both, axis=1, keepdims=True)
  expected = np.arange(2, 8)[np.argsort(-(unit[2:] @ unit[0]), kind="stable")[:2]]
  assert record.deleted_items == tuple(int(i) for i in expected)
