"""`fit(..., remat_every=B)`: the checkpointed blocks run the same steps as plain `fit`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfjax.data import make_synthetic
from cfjax.models import make_mf
from cfjax.train import fit, init_state, seed_keys, to_train_data


@pytest.mark.parametrize("batch_size,steps,remat", [(None, 23, 5), (None, 4, 10), (7, 23, 3),
                                                    (7, 25, 4)])
def test_checkpointed_fit_equals_fit(batch_size, steps, remat):
  data = make_synthetic(num_users=6, num_items=8, density=0.5, seed=0, min_per_user=3)
  model = make_mf(data.num_users, data.num_items, dim=2)
  init_key, order_key = seed_keys(1)
  weights = jnp.ones((len(data),)).at[2].set(0.0)
  run = lambda every: fit(model, to_train_data(data), weights, state=init_state(model, init_key),
                          order_key=order_key, steps=steps, batch_size=batch_size,
                          remat_every=every)
  plain, blocked = run(None), run(remat)
  for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(blocked)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
  assert int(blocked.opt_state[0].count) == steps  # every step ran
