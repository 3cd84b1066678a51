"""LCER (Wen et al., eqs. 7-12, Algorithm 1) on tiny hand-built scorers."""

import jax
import jax.numpy as jnp
import numpy as np

from cfjax.explain.lcer import (dense_item_score, explain_in_chunks, gumbel_softmax_st,
                                make_lcer, make_lcer_stepper, pad_histories, pair_keys, removed_items)

ITEMS = 6


def linear_score(params, x):
  return x @ params["w"] + params["b"]


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
  # User has items 0..3; target item 4 gets 1.0 from item 0 and 0.3 from each of 1..3.
  w = np.zeros((ITEMS, ITEMS), np.float32)
  w[:4, 4] = [1.0, 0.3, 0.3, 0.3]
  params = {"w": jnp.asarray(w), "b": jnp.asarray([0, 0, 0, 0, 0, 1.5], jnp.float32)}
  x = np.array([[1, 1, 1, 1, 0, 0]], np.float32)
  hist, mask = pad_histories(x)
  explain = make_lcer(dense_item_score(linear_score, ITEMS), lam=0.01, alpha=0.1, steps=300,
                      learning_rate=0.05)
  # g_{K+1}(x_f) for K = 1 is item 5's score 1.5; removing {0} is the only size-1 solution.
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
  alone = explain_in_chunks(explain, params, hist, mask, items, margins, keys, chunk_size=1)
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
