"""RCF (Xin et al. 2019) as ACCENT trains it: the score by hand, the attention, deletions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

from cfjax.data.rcf import synthetic_rcf
from cfjax.models import make_model
from cfjax.models.rcf import build_tables, make_rcf, relational_loss
from cfjax.train import RetrainProtocol, retrain, to_train_data
from cfjax.train.fit import fit, init_state

# 3 users, 4 items; genres (type 1) and directors (type 2) only: item 0 {g0, d0}, item 1 {g0},
# item 2 {g1, d0}, item 3 {} (shares nothing).
ATTRIBUTES = {"genre": ([0], [0], [1], []), "director": ([0], [], [0], []),
              "actor": ([], [], [], [])}
NUM_VALUES = {"genre": 2, "director": 1, "actor": 1}
USERS = np.array([0, 0, 0, 1, 1, 2])
ITEMS = np.array([0, 1, 3, 2, 3, 1])
RELATIONS = np.array([[0, 1, 0, 1, 3], [0, 2, 0, 2, 1]])


def small_model(alpha=0.5):
  tables = build_tables(USERS, ITEMS, 3, 4, ATTRIBUTES, NUM_VALUES, RELATIONS)
  return make_rcf(tables, 3, 4, hidden=3, attention=2, layers=(2,), alpha=alpha, init_seed=7)


def gelu(x):
  return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def hand_score(p, user, item, alpha, kept=None):
  """f(u, i) with loops over the entries, straight from the formulas of cfjax/models/rcf.py."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), p)
  kept = np.ones(len(USERS)) if kept is None else kept
  e_u, e_i = p["user_embeddings"][user], p["item_embeddings"][item]
  logits = [gelu((e_u * p["type_embeddings"][t]) @ p["type_hidden"]["kernel"]
                 + p["type_hidden"]["bias"]) @ p["type_out"]["kernel"][:, 0] for t in range(4)]
  a = np.exp(logits) / np.sum(np.exp(logits))
  history = [ITEMS[r] for r in range(len(USERS))
             if USERS[r] == user and kept[r] > 0 and ITEMS[r] != item]
  names = ("genre", "director", "actor")
  latent = np.zeros(3)
  for t in range(4):
    layer = p[f"att{t}"]
    entries = []  # (item j, value embedding or None)
    for j in history:
      shared = {n: set(ATTRIBUTES[n][j]) & set(ATTRIBUTES[n][item]) for n in names}
      if t == 0 and not any(shared.values()):
        entries.append((j, None))
      elif t > 0:
        entries += [(j, p[f"{names[t - 1]}_embeddings"][v]) for v in shared[names[t - 1]]]
    if not entries:
      continue
    s = []
    for j, g in entries:
      x = e_i @ layer["item"]["kernel"] + p["item_embeddings"][j] @ layer["hist"]["kernel"]
      if g is not None:
        x = x + g @ layer["value"]["kernel"]
      s.append(np.tanh(x) @ layer["out"]["kernel"][:, 0])
    b = np.exp(s) / (np.sum(np.exp(s)) + 1e-9) ** alpha
    latent += a[t] * sum(w * p["item_embeddings"][j] for w, (j, _) in zip(b, entries))
  hidden = (e_u + latent) * e_i
  for layer in p["mlp"]:
    hidden = gelu(hidden @ layer["kernel"] + layer["bias"])
  return float(hidden @ p["prediction"][:, 0])


@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_score_equals_hand_computation(alpha):
  model = small_model(alpha)
  params = model.init(jax.random.PRNGKey(0))
  users, items = np.repeat(np.arange(3), 4), np.tile(np.arange(4), 3)
  got = np.asarray(model.predict(params, users, items))
  want = [hand_score(params, u, i, alpha) for u, i in zip(users, items)]
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.asarray(model.scores(params, jnp.arange(3))).ravel(), got,
                             rtol=1e-5, atol=1e-7)


def test_deleting_a_row_removes_its_item_from_the_history():
  model = small_model()
  params = model.init(jax.random.PRNGKey(0))
  kept = np.ones(len(USERS), np.float32)
  kept[0] = 0  # user 0 loses item 0
  bound = model.attach_weights(params, jnp.asarray(kept))
  got = np.asarray(model.predict(bound, np.array([0, 0, 1]), np.array([2, 1, 0])))
  want = [hand_score(params, 0, 2, 0.5, kept), hand_score(params, 0, 1, 0.5, kept),
          hand_score(params, 1, 0, 0.5, kept)]
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  assert abs(got[0] - hand_score(params, 0, 2, 0.5)) > 1e-6  # the deletion mattered


def test_attention_weights_sum_to_one_over_the_users_items():
  model = small_model(alpha=1.0)  # the plain softmax (ACCENT's alpha 0.5 smooths it)
  params = model.init(jax.random.PRNGKey(1))
  # user 0 has items 0, 1, 3; for target 2: item 0 shares genre-less d0 (type 2), item 3
  # shares nothing (type 0), item 1 shares nothing (type 0); type 1 (genre) has no entry, so
  # the weights sum to a_0 + a_2.
  rows = jnp.array([0, 1, 2, -1])
  weights = np.asarray(model.attention_weights(params, 0, 2, rows))
  assert weights[3] == 0 and (weights[:3] > 0).all()
  from cfjax.models.rcf import type_attention
  a = np.asarray(type_attention(params, params["user_embeddings"][0]))
  np.testing.assert_allclose(weights.sum(), a[0] + a[2], rtol=1e-6)
  # in general the weights sum to the type attention of the types that reach the target,
  # and to exactly 1 when every type does:
  data = synthetic_rcf(num_users=3, num_items=8, per_user=5, seed=1)
  full = make_model("rcf", data, hidden=3, attention=2, layers=(2,), alpha=1.0)
  p = full.init(jax.random.PRNGKey(0))
  from cfjax.models.rcf import value_attention
  tables = _tables(data)
  for user in range(3):
    for item in range(8):
      per_type, types = value_attention(p, tables, user, item, 1.0)
      reached = np.asarray(per_type).sum(axis=1) > 0
      rows = jnp.asarray(data.history_rows(user), jnp.int32)
      total = float(np.sum(full.attention_weights(p, user, item, rows)))
      np.testing.assert_allclose(total, float(np.asarray(types)[reached].sum()), rtol=1e-5)
      if reached.all():
        np.testing.assert_allclose(total, 1.0, rtol=1e-5)


def _tables(data):
  return build_tables(data.user, data.item, data.num_users, data.num_items, data.attributes,
                      data.num_values, data.relations)


def test_relational_loss_by_hand():
  model = small_model()
  p = jax.tree.map(np.asarray, model.init(jax.random.PRNGKey(2)))
  tables = build_tables(USERS, ITEMS, 3, 4, ATTRIBUTES, NUM_VALUES, RELATIONS)
  losses = []
  for head, t, v, pos, neg in RELATIONS:
    trans = p["type_embeddings"][t] + p[("genre", "director")[t - 1] + "_embeddings"][v]
    g = lambda tail: np.sum(p["item_embeddings"][head] * trans * p["item_embeddings"][tail])
    losses.append(np.log1p(np.exp(-(g(pos) - g(neg)))))
  np.testing.assert_allclose(float(relational_loss(p, tables)), np.mean(losses), rtol=1e-5)


def test_init_is_fixed_and_kept_is_frozen():
  data = synthetic_rcf(num_users=4, num_items=8, per_user=3)
  model = make_model("rcf", data, hidden=3, attention=2, layers=(2,))
  a, b = model.init(jax.random.PRNGKey(0)), model.init(jax.random.PRNGKey(1))
  assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  weights = jnp.ones(len(data)).at[0].set(0.0)
  state = fit(model, to_train_data(data), weights, state=init_state(model, jax.random.PRNGKey(0)),
              order_key=jax.random.PRNGKey(0), steps=3, batch_size=4)
  kept = np.asarray(state.params["kept"])
  assert kept[0] == 0 and (kept[1:] == 1).all()  # bound from the weights, never trained


@pytest.mark.slow  # about a minute of compiling on 2 shared cores
def test_deleting_nothing_reproduces_the_original_exactly():
  data = synthetic_rcf(num_users=4, num_items=8, per_user=3)
  model = make_model("rcf", data, hidden=3, attention=2, layers=(2,))
  train = to_train_data(data)
  result = retrain(model, train, np.array([[-1], [0]]),
                   RetrainProtocol(steps=4, batch_size=4, seeds=[5], chunk_size=2), control=True,
                   progress=False)
  control = jax.tree.leaves(result.control)
  nothing = jax.tree.leaves(jax.tree.map(lambda leaf: leaf[0], result.outputs))
  assert all(np.array_equal(x, y) for x, y in zip(nothing, control))
  deleted = jax.tree.map(lambda leaf: leaf[1, 0], result.outputs)
  assert np.asarray(deleted["kept"])[0] == 0
  assert not np.array_equal(np.asarray(deleted["user_embeddings"]),
                            np.asarray(result.control["user_embeddings"][0]))


def test_rcf_needs_side_data():
  from cfjax.data import make_synthetic
  with pytest.raises(ValueError, match="accent-rcf"):
    make_model("rcf", make_synthetic(num_users=3, num_items=8, density=0.8, min_per_user=2))
