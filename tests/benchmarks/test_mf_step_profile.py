"""The scatter-free MF gradients of benchmarks/mf_step_profile.py equal autodiff's (eq. 1)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from benchmarks import mf_step_profile as profile
from cfjax.models import make_mf
from cfjax.train import TrainData, deleted_weights, fit, init_state


@pytest.fixture(scope="module")
def tiny():
  rng = np.random.default_rng(0)
  users, items, rows = 7, 9, 40
  pairs = rng.choice(users * items, rows, replace=False)
  user, item = np.divmod(pairs, items)
  user[:items] = 6  # one heavy user, and item 8 may have no row at all: empty segments
  user, item = np.unique(np.stack([user, item]), axis=1)
  rating = rng.integers(1, 6, user.size).astype(np.float32)
  model = make_mf(users, items, dim=3, l2=0.1, global_mean=float(rating.mean()))
  return model, user.astype(np.int32), item.astype(np.int32), rating


DELETED = [0, 5, 11]
STEPS = 30


@pytest.fixture(scope="module")
def trained(tiny):
  """fit's parameters after STEPS full-batch Adam steps, with DELETED rows and with none."""
  model, user, item, rating = tiny
  data = TrainData(jnp.asarray(user), jnp.asarray(item), jnp.asarray(rating))
  state = init_state(model, jax.random.PRNGKey(3))
  run = jax.jit(lambda w: fit(model, data, w, state=state, order_key=None, steps=STEPS).params)
  return state, run(deleted_weights(jnp.array(DELETED), len(user))), run(jnp.ones(len(user)))


@pytest.mark.parametrize("name", ["scatter", "segment_sorted", "csr_cumsum", "padded"])
def test_same_parameters_as_autodiff_with_deletions(tiny, trained, name):
  model, user, item, rating = tiny
  state, deleted_params, all_rows_params = trained
  variants = profile.gradient_variants(model, user, item, rating)
  to_layout, grad_fn = variants[name]
  grad_fn = jax.jit(grad_fn)
  weights = np.asarray(deleted_weights(jnp.array(DELETED), len(user)))
  # one gradient
  expected = variants["autodiff"][1](state.params, jnp.asarray(weights))
  got = grad_fn(state.params, to_layout(weights))
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
    np.testing.assert_allclose(a, b, atol=1e-6)
  # STEPS Adam steps with this gradient reach fit's parameters (the engine's training)
  params, opt_state, layout_weights = state.params, state.opt_state, to_layout(weights)
  for _ in range(STEPS):
    updates, opt_state = model.optimizer.update(grad_fn(params, layout_weights), opt_state,
                                                params)
    params = optax.apply_updates(params, updates)
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(deleted_params)):
    np.testing.assert_allclose(a, b, atol=2e-5)
  # and the deletion mattered (the test can fail): the all-ones weights train elsewhere
  assert not np.allclose(all_rows_params["user_factors"], params["user_factors"], atol=1e-4)
