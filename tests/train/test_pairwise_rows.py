"""Rows beyond (user, item, rating): extra columns (pairwise triples) and sampled negatives.

The contract (cfjax/models/base.py): a model names its extra row columns in `row_columns` and
reads them as keyword arguments of `row_losses`; a model with `samples_negatives` gets a `key`
per step that depends on the seed and the step only, so every deletion retrained under a seed
draws the same negatives. Deleting a row is still one weight set to 0.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cfjax.data import Interactions
from cfjax.data.transforms import data_checksum
from cfjax.models import Recommender
from cfjax.train import (Convergence, RetrainProtocol, deleted_weights, fit, init_state, retrain,
                         seed_keys, to_train_data)
from cfjax.train.fit import step_key

USERS, ITEMS, DIM = 4, 6, 3


def triples() -> Interactions:
  """(user, positive, negative) triples: 3 rows per user, negatives never seen by the user."""
  user = np.repeat(np.arange(USERS), 3)
  positive = np.asarray([0, 1, 2, 1, 2, 3, 2, 3, 4, 3, 4, 5])
  negative = np.asarray([5, 4, 3, 0, 5, 4, 0, 1, 5, 0, 1, 2])
  return Interactions(user=user.astype(np.int32), item=positive.astype(np.int32),
                      rating=np.ones(12, np.float32), num_users=USERS, num_items=ITEMS,
                      columns={"negative": negative})


def pairwise_mf() -> Recommender:
  """BPR over given negatives: l = -log sigmoid(<p_u, q_i+> - <p_u, q_i->)."""

  def init(key):
    user_key, item_key = jax.random.split(key)
    return {"user": 0.1 * jax.random.normal(user_key, (USERS, DIM)),
            "item": 0.1 * jax.random.normal(item_key, (ITEMS, DIM))}

  def predict(params, users, items):
    return jnp.sum(params["user"][users] * params["item"][items], axis=-1)

  def row_losses(params, users, items, ratings, *, negative):
    del ratings
    return -jax.nn.log_sigmoid(predict(params, users, items) - predict(params, users, negative))

  return Recommender(name="pairwise-test", num_users=USERS, num_items=ITEMS, init=init,
                     predict=predict, row_losses=row_losses, optimizer=optax.sgd(0.5),
                     row_columns=("negative",))


def key_recorder() -> Recommender:
  """A model whose loss is p * u(key) on every row: its trained p is -lr * sum_t u(key_t),
  whatever the rows and weights, so equal parameters mean equal keys at every step."""

  def row_losses(params, users, items, ratings, *, key):
    del items, ratings
    return jnp.full(users.shape, params["p"] * jax.random.uniform(key))

  return Recommender(name="key-recorder", num_users=USERS, num_items=ITEMS,
                     init=lambda key: {"p": jnp.zeros(())},
                     predict=lambda params, users, items: jnp.zeros(users.shape),
                     row_losses=row_losses, optimizer=optax.sgd(1.0), samples_negatives=True)


def test_a_deleted_triple_equals_training_without_it():
  data = triples()
  model = pairwise_mf()
  init_key, order_key = seed_keys(0)
  deleted = np.asarray([1, 7])
  weights = deleted_weights(jnp.asarray(deleted, jnp.int32), len(data))
  weighted = fit(model, to_train_data(data), weights, state=init_state(model, init_key),
                 order_key=order_key, steps=30)
  kept = data.select(np.setdiff1d(np.arange(len(data)), deleted))
  assert list(kept.columns["negative"]) == [5, 3, 0, 5, 4, 0, 5, 0, 1, 2]
  without = fit(model, to_train_data(kept), jnp.ones(len(kept)), state=init_state(model, init_key),
                order_key=order_key, steps=30)
  np.testing.assert_allclose(weighted.params["user"], without.params["user"], atol=1e-6)
  np.testing.assert_allclose(weighted.params["item"], without.params["item"], atol=1e-6)
  assert not np.allclose(weighted.params["user"], init_state(model, init_key).params["user"])


@pytest.mark.parametrize("batch_size", [None, 4])
def test_sampled_negatives_are_the_same_for_every_deletion_of_a_seed(batch_size):
  data = to_train_data(triples())
  model = key_recorder()
  deletions = np.asarray([[-1, -1], [0, 1], [5, 11]])
  result = retrain(model, data, deletions,
                   RetrainProtocol(steps=6, batch_size=batch_size, seeds=[0, 1]), progress=False)
  p = np.asarray(result.outputs["p"])  # [M, S]
  # same draws (up to the rounding of sum w * l / sum w, which differs with the weights)
  np.testing.assert_allclose(p[1:], np.broadcast_to(p[0], p[1:].shape), rtol=1e-6)
  assert abs(p[0, 0] - p[0, 1]) > 0.1  # another seed draws others
  expected = -sum(float(jax.random.uniform(step_key(seed_keys(0)[1], step))) for step in range(6))
  np.testing.assert_allclose(p[0, 0], expected, rtol=1e-5)


def test_a_missing_row_column_is_named_in_one_line():
  data = triples()
  bare = Interactions(user=data.user, item=data.item, rating=data.rating, num_users=USERS,
                      num_items=ITEMS)
  model = pairwise_mf()
  with pytest.raises(ValueError, match=r"column\(s\) \['negative'\].*extra=") as error:
    fit(model, to_train_data(bare), jnp.ones(len(bare)), state=init_state(model, seed_keys(0)[0]),
        order_key=seed_keys(0)[1], steps=1)
  assert "\n" not in str(error.value)


def test_columns_are_checked_and_change_the_checksum():
  data = triples()
  with pytest.raises(ValueError, match="column 'negative' has shape"):
    Interactions(user=data.user, item=data.item, rating=data.rating, num_users=USERS,
                 num_items=ITEMS, columns={"negative": np.zeros(3)})
  bare = Interactions(user=data.user, item=data.item, rating=data.rating, num_users=USERS,
                      num_items=ITEMS)
  assert data_checksum(bare) != data_checksum(data)


def test_sampling_models_refuse_training_to_convergence():
  model = key_recorder()
  with pytest.raises(ValueError, match="samples negatives"):
    retrain(model, to_train_data(triples()), np.asarray([[-1]]),
            RetrainProtocol(steps=1, seeds=[0], until=Convergence(tol=1e-3, max_steps=5)),
            progress=False)
