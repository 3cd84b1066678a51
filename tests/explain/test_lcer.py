"""LCER (Wen et al., eqs. 7-12, Algorithm 1) on tiny hand-built scorers, and its explainer."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfjax.data.interactions import Interactions
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer
from cfjax.explain.lcer import (dense_item_score, explain_in_chunks, gumbel_softmax_st,
                                make_lcer, make_lcer_stepper, pad_histories, pair_keys,
                                removed_items)
from cfjax.models import Recommender, fold_in_recommender, make_multvae

ITEMS = 6


def linear_score(params, x):
  return x @ params["w"] + params["b"]


def linear_view(rows, params) -> ExplainContext:
  """A context whose user u scores items by linear_score(params, rows[u]) (an input-row model
  like Mult-VAE's fold-in view, with a known answer)."""
  inputs = jnp.asarray(rows, jnp.float32)
  model = Recommender(name="linear", num_users=inputs.shape[0], num_items=inputs.shape[1],
                      init=lambda key: params,
                      predict=lambda p, users, items: linear_score(p, inputs[users])[
                          jnp.arange(users.shape[0]), items],
                      scores=lambda p, users: linear_score(p, inputs[users]),
                      score_rows=linear_score)
  return ExplainContext(model=model, params=params, train=Interactions.from_dense(rows))


def one_item_case():
  """User 0 has items 0..3; item 4 scores 1.0 from item 0 and 0.3 from each of 1..3 (1.9);
  item 5 a constant 1.5, the (K+1)-th = 2nd item for K = 1: removing {0} alone (0.9) is the
  only size-1 counterfactual set, and every other valid set is larger."""
  w = np.zeros((ITEMS, ITEMS), np.float32)
  w[:4, 4] = [1.0, 0.3, 0.3, 0.3]
  params = {"w": jnp.asarray(w), "b": jnp.asarray([0, 0, 0, 0, 0, 1.5], jnp.float32)}
  return params, np.array([[1, 1, 1, 1, 0, 0]], np.float32)


def test_gumbel_straight_through_is_hard_with_soft_gradient():
  key = jax.random.key(0)
  logits = jax.random.normal(jax.random.key(1), (7, 2))
  sample = gumbel_softmax_st(key, logits)
  np.testing.assert_array_equal(np.sort(np.asarray(sample), axis=-1),
                                np.tile([0.0, 1.0], (7, 1)))
  weights = jnp.arange(14.0).reshape(7, 2)
  u = jax.random.uniform(key, logits.shape)
  soft = lambda l: jax.nn.softmax(l - jnp.log(1e-10 - jnp.log(u + 1e-10)), axis=-1)
  g_st = jax.grad(lambda l: jnp.sum(gumbel_softmax_st(key, l) * weights))(logits)
  g_soft = jax.grad(lambda l: jnp.sum(soft(l) * weights))(logits)
  np.testing.assert_allclose(g_st, g_soft, rtol=1e-5, atol=1e-6)


def test_finds_the_minimal_removal_set():
  params, x = one_item_case()
  hist, mask = pad_histories(x)
  explain = make_lcer(dense_item_score(linear_score, ITEMS), lam=0.01, alpha=0.1, steps=300,
                      learning_rate=0.05)
  out = explain(params, jnp.asarray(hist), jnp.asarray(mask), jnp.array([4]), jnp.array([1.5]),
                pair_keys(jax.random.key(0), 1))
  assert bool(out.found[0])
  assert removed_items(out, hist) == [(0,)]


def test_vmapped_equals_one_at_a_time():
  rng = np.random.default_rng(0)
  params = {"w": jnp.asarray(rng.normal(size=(ITEMS, ITEMS)), jnp.float32),
            "b": jnp.zeros(ITEMS)}
  x = (rng.random((20, ITEMS)) < 0.6).astype(np.float32)
  x[:, 0] = 1.0
  hist, mask = pad_histories(x)
  items = rng.integers(0, ITEMS, 20)
  margins = rng.normal(size=20).astype(np.float32)
  keys = pair_keys(jax.random.key(3), 20)
  explain = make_lcer(dense_item_score(linear_score, ITEMS), lam=0.05, alpha=0.1, steps=40,
                      learning_rate=0.05)
  together = explain_in_chunks(explain, params, hist, mask, items, margins, keys)
  alone = explain_in_chunks(explain, params, hist, mask, items, margins, keys, targets_per_batch=1)
  np.testing.assert_array_equal(together.removed, alone.removed)
  np.testing.assert_array_equal(together.found, alone.found)
  np.testing.assert_array_equal(together.best_step, alone.best_step)
  np.testing.assert_allclose(together.best_loss, alone.best_loss, rtol=1e-5, atol=1e-6)


def test_python_stepped_equals_scanned():
  """make_lcer_stepper (one call per optimiser step) does make_lcer's arithmetic."""
  rng = np.random.default_rng(1)
  params = {"w": jnp.asarray(rng.normal(size=(ITEMS, ITEMS)), jnp.float32),
            "b": jnp.zeros(ITEMS)}
  x = (rng.random((2, ITEMS)) < 0.6).astype(np.float32)
  x[:, 0] = 1.0
  hist, mask = pad_histories(x)
  items, margins = np.array([1, 2]), np.array([0.1, -0.2], np.float32)
  keys = pair_keys(jax.random.key(4), 2)
  kw = dict(lam=0.05, alpha=0.1, learning_rate=0.05)
  score = dense_item_score(linear_score, ITEMS)
  batched = make_lcer(score, steps=20, **kw)(params, hist, mask, items, margins, keys)
  init, step, finish = make_lcer_stepper(score, **kw)
  for p in range(2):
    state = init(mask[p], keys[p])
    for t in range(20):
      state = step(params, hist[p], mask[p], items[p], margins[p], state, np.int32(t))
    one = finish(mask[p], margins[p], state)
    np.testing.assert_array_equal(one.removed, batched.removed[p])
    assert int(one.best_step) == int(batched.best_step[p])
    np.testing.assert_allclose(one.best_loss, batched.best_loss[p], rtol=1e-5, atol=1e-6)


def test_explainer_finds_the_known_set_through_the_protocol():
  params, x = one_item_case()
  ctx = linear_view(x, params)
  targets = Targets([0], [4])
  (record,) = run_explainer(get_explainer("lcer", k=1, steps=300, seed=0), ctx, targets)
  assert (record.user, record.item, record.deleted_items) == (0, 4, (0,))
  assert record.method == "lcer" and record.extra["found"] and record.extra["k"] == 1


def test_explainer_equals_the_batched_core_with_position_keys():
  """On a Mult-VAE fold-in view the explainer is make_lcer on the users' histories with
  margins g_{K+1}(x_u) and keys fold_in(key(seed), target position)."""
  rng = np.random.default_rng(2)
  rows = (rng.random((3, 12)) < 0.4).astype(np.float32)
  rows[:, 0] = 1.0
  vae = make_multvae(12, hidden=8, latent=4)
  params = vae.init(jax.random.key(0))
  ctx = ExplainContext(model=fold_in_recommender(vae, rows), params=params,
                       train=Interactions.from_dense(rows))
  users = np.repeat(np.arange(3), 2)
  top, top_scores = ctx.top_k(users, 3)
  targets = Targets(users, top[np.arange(6), np.tile([0, 1], 3)])  # each user's top-2
  records = run_explainer(get_explainer("lcer", k=2, lam=0.01, alpha=0.1, steps=30, seed=7),
                          ctx, targets)
  hist, mask = pad_histories(rows[users])
  core = make_lcer(vae.history_item_score, lam=0.01, alpha=0.1, steps=30)
  expected = removed_items(explain_in_chunks(core, params, hist, mask, targets.items,
                                             top_scores[:, 2], pair_keys(jax.random.key(7), 6)),
                           hist)
  assert [r.deleted_items for r in records] == expected


def test_explainer_refuses_items_outside_the_top_k():
  params, x = one_item_case()
  with pytest.raises(ValueError, match="top-1"):
    run_explainer(get_explainer("lcer", k=1, steps=5), linear_view(x, params),
                  Targets([0], [5]))
